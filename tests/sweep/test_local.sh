#!/bin/sh
# test_local.sh [BUILD_DIR] - `ember sweep` end to end with the real executable: a 2x2 grid over a tiny
# experiment written here (a linear model, a few epochs, well under a second per run) in which one
# combination fails at epoch 2 while a flag file exists. The local engine: run directories, names,
# sweep.tsv, the failure reported with its log, then the same sweep again resumes only the failed run
# (in its own directory) and leaves the others untouched; --dry-run, bad usage, params that disagree
# with an earlier run, Ctrl-C (runs stop and save, exit 130, then resume; a signal to the sweep and its
# process group, as timeout sends; Ctrl-C while a run starts), `ember runs` on the folder.
# The same grid through GNU parallel when it is installed. Hostile text in every field a user controls,
# through the local and the parallel engine.
# Prints "N passed, N failed"; exits non-zero on failure. The executable is $EMBER_BIN, else BUILD_DIR/ember.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"
export EMBER_PATH="${EMBER_PATH:-$ROOT/lua}"

need_bin

W=$(mktemp -d)
trap '[ -n "$KEEP" ] || rm -rf "$W"' EXIT
trap 'exit 1' INT TERM
cd "$W" || exit 1
FLAG=$W/fail-flag

write_exp

sweep() { timeout 120 "$BIN" sweep exp.lua "$@"; }
jobs_in() { tr -cd '\000' <"$1/parallel/jobs.nul" | wc -c; }   # the jobs of parallel/jobs.nul (NUL-ended)
NAMES="lr=0.05,opt=sgd lr=0.05,opt=adam lr=0.1,opt=sgd lr=0.1,opt=adam"

# --- the local engine: one run fails --------------------------------------------------------------------------
touch "$FLAG"
sweep --grid lr=0.05,0.1 --grid opt=sgd,adam --runs runs --jobs 2 >out1 2>err1
st=$?
[ "$st" = 1 ]; check $? "a sweep with a failed run exits 1 (got $st)"
S=runs/exp
n=0
for name in $NAMES; do [ -f "$(rundir "$S/$name")/meta.tsv" ] && n=$((n + 1)); done
[ "$n" = 4 ]; check $? "one run directory per combination, named by the params (got $n of 4)"
[ "$(ls -d "$S"/*=*/*/ | wc -l)" = 4 ]; check $? "exactly four run directories"
head -n 1 "$S/sweep.tsv" | grep -q "^name	lr	opt	status	metric	best	epochs	exit	dir	log$"
check $? "sweep.tsv header names the params and the columns"
[ "$(wc -l <"$S/sweep.tsv")" = 5 ]; check $? "sweep.tsv has one line per run"
[ "$(field "$S/sweep.tsv" lr=0.1,opt=adam status)" = failed ] && [ "$(field "$S/sweep.tsv" lr=0.1,opt=adam exit)" = 1 ]
check $? "sweep.tsv: the failed run has status failed and exit 1"
[ "$(field "$S/sweep.tsv" lr=0.05,opt=sgd status)" = finished ] && [ "$(field "$S/sweep.tsv" lr=0.1,opt=sgd epochs)" = 4 ] \
  && [ "$(field "$S/sweep.tsv" lr=0.05,opt=adam metric)" = valid_loss ] && [ -n "$(field "$S/sweep.tsv" lr=0.05,opt=adam best)" ]
check $? "sweep.tsv: the others finished 4 epochs, with their metric and best value"
d=$(field "$S/sweep.tsv" lr=0.1,opt=sgd dir)
[ "$S/$d" = "$(rundir "$S/lr=0.1,opt=sgd")" ]; check $? "sweep.tsv: the run directory, relative to the sweep folder ($d)"
grep -q "FAILED lr=0.1,opt=adam: failed (exit 1): ember: .*planned failure" out1 && grep -q "log: runs/exp/logs/lr=0.1,opt=adam.log" out1
check $? "the failed run is reported with its error and its log path"
grep -q "planned failure" "$S/logs/lr=0.1,opt=adam.log"; check $? "its log holds the error"
F=$(rundir "$S/lr=0.1,opt=adam")
[ "$(meta "$F" status)" = failed ]; check $? "its meta.tsv says failed"
grep -q "^lr	0.1$" "$F/params.tsv" && grep -q "^opt	adam$" "$F/params.tsv"; check $? "the run got the grid values (params.tsv)"
[ "$(meta "$(rundir "$S/lr=0.05,opt=sgd")" threads)" = 1 ]; check $? "two jobs at a time: one thread per run"
grep -q "^sweep exp: 3/4 done, 0 running, 1 failed, 0 pending" out1; check $? "the closing summary counts the runs"

# --- the same sweep again: only the failed run, resumed in its own directory ---------------------------------
rm -f "$FLAG"
for name in lr=0.05,opt=sgd lr=0.05,opt=adam lr=0.1,opt=sgd; do cksum "$(rundir "$S/$name")/meta.tsv"; done >sums.before
sweep --grid lr=0.05,0.1 --grid opt=sgd,adam --runs runs --jobs 2 >out2 2>err2
st=$?
[ "$st" = 0 ]; check $? "the second sweep exits 0 (got $st)"
grep -q "1 to resume, 3 done" out2; check $? "it resumes one run and skips three"
[ "$(grep -c '^start ' out2)" = 1 ] && grep -q "^start  lr=0.1,opt=adam (resume)" out2; check $? "only the failed run starts"
for name in lr=0.05,opt=sgd lr=0.05,opt=adam lr=0.1,opt=sgd; do cksum "$(rundir "$S/$name")/meta.tsv"; done >sums.after
cmp -s sums.before sums.after; check $? "the finished runs are untouched"
[ "$(ls -d "$S"/*=*/*/ | wc -l)" = 4 ] && [ "$(rundir "$S/lr=0.1,opt=adam")" = "$F" ]; check $? "no new run directory: the failed one continued"
[ "$(meta "$F" status)" = finished ] && [ "$(meta "$F" resumes)" = 1 ]; check $? "it finished as a resumed run (resumes 1)"
[ "$(grep -c '^2	' "$F/metrics.tsv")" = 1 ] && [ "$(grep -c '^4	' "$F/metrics.tsv")" = 1 ]; check $? "its metrics.tsv has each epoch once"
[ "$(grep -c '^== ' "$S/logs/lr=0.1,opt=adam.log")" = 2 ] && grep -q "'--resume'" "$S/logs/lr=0.1,opt=adam.log"
check $? "its log keeps both attempts, the second an ember run --resume"
[ "$(cut -f4 "$S/sweep.tsv" | grep -c '^finished$')" = 4 ]; check $? "sweep.tsv: all four finished"

# --- nothing left: dry run, status; bad usage; a different sweep under the same name ----------------------------
cksum "$S/sweep.tsv" >tsv.before
sweep --grid lr=0.05,0.1 --grid opt=sgd,adam --runs runs --dry-run >out3 2>&1
st=$?
[ "$st" = 0 ] && grep -q "nothing to run" out3 && [ "$(grep -c '^  skip ' out3)" = 4 ]; check $? "--dry-run: four runs done, nothing to run"
cksum "$S/sweep.tsv" | cmp -s - tsv.before; check $? "--dry-run writes nothing"
sweep --grid lr=0.05,0.1,0.2 --grid opt=sgd,adam --runs runs --dry-run >out4 2>&1
grep -q "2 new, 0 to resume, 4 done" out4 && grep -q "'--name' 'lr=0.2,opt=adam' '--set' 'lr=0.2' '--set' 'opt=adam'" out4
check $? "--dry-run with a new grid value lists the two new runs and their commands"
sweep --grid lr --runs runs >out5 2>&1
[ $? = 2 ] && grep -q "ember sweep: --grid needs KEY=V1,V2" out5; check $? "a bad --grid is bad usage (exit 2)"
timeout 20 "$BIN" sweep exp.lua --seeds 1e9 --dry-run >out5b 2>&1
st=$?
[ "$st" = 2 ] && grep -q "ember sweep: this sweep would make 1000000000 runs (seeds 1000000000); at most 100000" out5b
check $? "--seeds 1e9 --dry-run is refused at once, naming the count (exit $st)"
sweep --grid lr=0.05,0.1 --grid opt=sgd,adam --set epochs=9 --runs runs >out6 2>&1
[ $? = 2 ] && grep -q "was started with epochs=4, but this sweep passes epochs=9" out6; check $? "params that disagree with a run directory: exit 2"
sweep --grid lr=0.05,0.1 --grid opt=sgd,adam --runs runs --status --where 'lr<=0.05' --where opt=adam >out6b 2>&1
[ $? = 0 ] && [ "$(grep -c finished out6b)" = 1 ] && grep -q '^lr=0.05,opt=adam ' out6b
check $? "--status --where keeps the runs the conditions hold for"
sweep --grid lr=0.05,0.1 --grid opt=sgd,adam --runs runs --status --match 'lr=0.1,*' --last 1 >out6c 2>&1
[ $? = 0 ] && [ "$(grep -c finished out6c)" = 1 ] && grep -q '^lr=0.1,opt=' out6c
check $? "--status --match and --last pick runs by name and start"
sweep --grid lr=0.05,0.1 --grid opt=sgd,adam --runs runs --where opt=adam >out6d 2>&1
[ $? = 2 ] && grep -q "give --status" out6d; check $? "--where without --status is bad usage (exit 2)"
sweep --grid lr=0.05,0.1 --grid opt=sgd,adam --runs runs --status --where 'optt=adam' >out6e 2>&1
[ $? = 2 ] && grep -q "no run has 'optt'" out6e; check $? "--where on a key no run has is bad usage naming it"
timeout 60 "$BIN" runs "$S" >out7 2>&1
[ $? = 0 ] && [ "$(grep -c finished out7)" = 4 ]; check $? "ember runs SWEEPDIR lists the four runs"
if command -v gnuplot >/dev/null 2>&1; then
  timeout 60 "$BIN" plot "$S" --by lr --out "$W/by-lr.png" >out8 2>&1 && [ -s "$W/by-lr.png" ]
  check $? "ember plot SWEEPDIR --by lr draws the sweep"
fi

# --- Ctrl-C: the runs stop after their step and save, exit 130; the same sweep resumes them ------------------
# --foreground: timeout passes the signal to the sweep alone (else it also signals its process group,
# and a second signal means "stop at once")
SLOW=1 timeout --foreground 120 "$BIN" sweep exp.lua --grid lr=0.05,0.1 --runs runs --name slow --jobs 2 >out9 2>&1 &
sp=$!
i=0
until [ "$(cat runs/slow/*/*/metrics.tsv 2>/dev/null | grep -c '^1	')" -ge 2 ] || [ $i -ge 200 ]; do sleep 0.1; i=$((i + 1)); done
kill -INT $sp
wait $sp
st=$?
[ "$st" = 130 ]; check $? "Ctrl-C stops the sweep with exit 130 (got $st)"
[ "$(cut -f3 runs/slow/sweep.tsv | grep -c '^interrupted$')" = 2 ] \
  && [ "$(meta "$(rundir runs/slow/lr=0.05)" status)" = interrupted ]; check $? "both runs are interrupted, in sweep.tsv and meta.tsv"
grep -q "Continue with: ember run" "runs/slow/logs/lr=0.1.log"; check $? "the run saved its state before it stopped"
sweep --grid lr=0.05,0.1 --runs runs --name slow >out10 2>&1
st=$?
[ "$st" = 0 ] && grep -q "2 to resume" out10 && [ "$(meta "$(rundir runs/slow/lr=0.1)" status)" = finished ]
check $? "the same sweep resumes the interrupted runs to the end (exit $st)"

# --- a signal to the sweep and then to its process group, as `timeout -s INT` and `kill -INT -PGID` send ------
# The two signals (0.2 s apart here, so that the kernel cannot merge them) come from one process: one
# request. The runs finish their step and save; the sweep waits for them and writes their final statuses.
group_stop() {   # group_stop NAME SIGNALLER: a slow 2-run sweep in its own process group, stopped by SIGNALLER PID
  SLOW=1 setsid timeout 120 "$BIN" sweep exp.lua --grid lr=0.05,0.1 --runs runs --name "$1" --jobs 2 >"out-$1" 2>&1 &
  sp=$!
  i=0
  until [ "$(cat "runs/$1"/*/*/metrics.tsv 2>/dev/null | grep -c '^1	')" -ge 2 ] || [ $i -ge 200 ]; do sleep 0.1; i=$((i + 1)); done
  $2 "$sp"
  wait $sp
  st=$?
  [ "$st" = 130 ] && [ "$(cut -f3 "runs/$1/sweep.tsv" | grep -c '^interrupted$')" = 2 ]
  check $? "$1: the sweep waits for its runs and writes their final statuses (exit $st)"
  grep -q "Continue with: ember run" "runs/$1/logs/lr=0.05.log" && grep -q "Continue with: ember run" "runs/$1/logs/lr=0.1.log"
  check $? "$1: both runs saved their state (one request, not two)"
}
pid_then_group() { sh -c 'kill -INT "$1"; sleep 0.2; kill -INT "-$1" 2>/dev/null' sh "$1"; }
group_stop pid-then-group pid_then_group
timeout_int() { kill -INT "$1"; }   # timeout passes it on to the sweep and to its group, as when time is up
group_stop timeout-int timeout_int

# --- Ctrl-C while a run starts: no half run directory --------------------------------------------------------
# start.lua signals the sweep itself (the closest ancestor running `ember sweep`) while ember.run has
# written params.tsv but not yet meta.tsv, and holds there a second: a SIGTERM sent then would leave a
# folder with params.tsv alone.
cat >start.lua <<EOF
local ember = require "ember"
local cfg = ember.config{x = 1}
local flag = io.open("$FLAG")
if flag then
  flag:close()
  local real_open = io.open
  io.open = function(path, mode)
    if type(path) == "string" and path:match("/metrics%.tsv$") then
      io.open = real_open
      local pid, sweep = "self"
      for _ = 1, 5 do
        pid = real_open("/proc/" .. pid .. "/stat"):read("a"):match("%) %S+ (%d+)")
        if real_open("/proc/" .. pid .. "/cmdline"):read("a"):find("%zsweep%z") then sweep = pid; break end
      end
      os.execute("kill -INT " .. assert(sweep, "no ember sweep above this run") .. "; sleep 1")
    end
    return real_open(path, mode)
  end
end
local run = ember.run{config = cfg}
if flag then for _ = 1, 100 do os.execute("sleep 0.1") end end   -- a long run, until stopped
EOF
touch "$FLAG"
timeout 120 "$BIN" sweep start.lua --grid x=1 --runs runs >out9c 2>&1
st=$?
D=$(rundir runs/start/run)
[ "$st" = 130 ] && [ "$(ls -d runs/start/run/*/ | wc -l)" = 1 ] && [ -f "$D/params.tsv" ] && [ -f "$D/metrics.tsv" ] \
  && [ "$(meta "$D" status)" = interrupted ] && [ "$(cut -f3 runs/start/sweep.tsv | tail -n 1)" = interrupted ]
check $? "Ctrl-C while a run starts: the run stops once its run directory is complete (exit $st)"
rm -f "$FLAG"
timeout 120 "$BIN" sweep start.lua --grid x=1 --runs runs >out9d 2>&1
st=$?
[ "$st" = 0 ] && grep -q "1 to resume" out9d && [ "$(ls -d runs/start/run/*/ | wc -l)" = 1 ] && [ "$(meta "$D" status)" = finished ]
check $? "Ctrl-C while a run starts: the same sweep resumes it in its own directory (exit $st)"

# --- GNU parallel -----------------------------------------------------------------------------------------------
if command -v parallel >/dev/null 2>&1 && parallel --version 2>/dev/null | grep -q "GNU parallel"; then
  touch "$FLAG"
  sweep --grid lr=0.05,0.1 --grid opt=sgd,adam --runs runs --name par --engine parallel --jobs 2 >out11 2>&1
  st=$?
  P=runs/par
  [ "$st" = 1 ] && grep -q "FAILED lr=0.1,opt=adam" out11; check $? "parallel: the failed run is reported, exit 1 (got $st)"
  [ -f "$P/parallel/parallel.sh" ] && [ "$(jobs_in "$P")" = 4 ]; check $? "parallel: parallel.sh and one job per run"
  [ "$(tail -n +2 "$P/parallel/joblog" | wc -l)" = 4 ] && [ "$(tail -n +2 "$P/parallel/joblog" | awk -F '\t' '$7 != 0' | wc -l)" = 1 ]
  check $? "parallel: the joblog has four jobs, one failed"
  [ "$(cut -f4 "$P/sweep.tsv" | grep -c '^finished$')" = 3 ]; check $? "parallel: sweep.tsv has three finished"
  rm -f "$FLAG"
  sweep --grid lr=0.05,0.1 --grid opt=sgd,adam --runs runs --name par --engine parallel --jobs 2 >out12 2>&1
  st=$?
  [ "$st" = 0 ] && grep -q "1 to resume, 3 done" out12 && [ "$(jobs_in "$P")" = 1 ] \
    && [ "$(meta "$(rundir "$P/lr=0.1,opt=adam")" resumes)" = 1 ]
  check $? "parallel: the second sweep resumes only the failed run (exit $st)"
else
  echo "# skip: GNU parallel is not installed (apt-get install parallel): the parallel engine is not tested"
fi

# --- hostile text: every field a user controls reaches the runs as it is, and none runs as a command ----------
# A newline (which ended a GNU parallel job line: the next line ran as a shell command) and other control
# characters in the --runs path, the script's path and a script argument; quotes, backticks and $(...) there
# and in a --grid value, a --set value and --name (config values and --name refuse control characters:
# below). A pwned-* file appears in $W if any of it is run by a shell.
NL='
'
TAB=$(printf '\t')
CR=$(printf '\r')
ESC=$(printf '\033')
ODD="odd${NL}touch pwned-dir${NL}#"
mkdir -p "$ODD"
SCRIPT="$ODD/vals${NL}touch pwned-script${NL}#.lua"
cat >"$SCRIPT" <<'LUA'
local ember = require "ember"
local cfg = ember.config{tag = "", note = ""}
local run = ember.run{config = cfg}
local f = assert(io.open(run:path("values"), "wb"))
f:write(cfg.tag, "\0", cfg.note, "\0", arg[1] or "", "\0")
f:close()
LUA
TAG="a'\"\$(touch pwned-grid)\`touch pwned-grid2\` #"
NOTE="n'\"\`touch pwned-tick\`\$(touch pwned-dollar) é #"
ARG="x${NL}touch pwned-arg${NL}#;'\$(touch pwned-arg2)${TAB}${CR}${ESC}[31m"
RUNS="runs${NL}touch pwned-runs${NL}#"
first_dir() { for d in "$1"/*/; do [ -d "$d" ] && { printf '%s' "${d%/}"; return; }; done; }
hostile() {   # hostile ENGINE
  NAME="h-$1'\"\$(touch pwned-name)\`touch pwned-name2\`;"
  timeout 120 "$BIN" sweep "$SCRIPT" --grid "tag=b,$TAG" --set "note=$NOTE" --runs "$RUNS" --name "$NAME" --engine "$1" \
    --jobs 2 -- "$ARG" >"out-h-$1" 2>&1
  st=$?
  [ -z "$(find "$W" -name 'pwned*')" ]; check $? "$1: no value, path or argument runs as a shell command"
  H="$RUNS/$NAME"
  printf '%s\0%s\0%s\0' b "$NOTE" "$ARG" | cmp -s - "$(first_dir "$H/tag=b")/values" \
    && printf '%s\0%s\0%s\0' "$TAG" "$NOTE" "$ARG" | cmp -s - "$(first_dir "$H/tag=$TAG")/values"
  check $? "$1: each run got the values and the script argument exactly"
  [ "$st" = 0 ] && [ "$(cut -f3 "$H/sweep.tsv" | grep -c '^finished$')" = 2 ]; check $? "$1: both runs finished (exit $st)"
  rm -f "$W"/pwned*
}
hostile local
if command -v parallel >/dev/null 2>&1 && parallel --version 2>/dev/null | grep -q "GNU parallel"; then hostile parallel; fi

# A control character in a config value (a --grid or a --set value) is bad usage, refused before any run
# starts: params.tsv keeps a value on one line, and wrote a newline or a tab as a space.
for bad in "--grid note=b,a${NL}touch pwned-nl${NL}#" "--set note=n${NL}touch pwned-nl${NL}#" "--set note=n${TAB}x" \
           "--set note=n${ESC}[31m"; do
  opt=${bad%% *}
  timeout 60 "$BIN" sweep "$SCRIPT" --grid "tag=p,q" "$opt" "${bad#* }" --runs "$RUNS" --name refused >out-nl 2>&1
  st=$?
  [ "$st" = 2 ] && grep -q "holds a control character" out-nl && [ ! -e "$RUNS/refused" ] \
    && [ -z "$(find "$W" -name 'pwned*')" ]
  check $? "a control character in a $opt value is refused with exit status 2 (exit $st), nothing started"
done

finish
