#!/bin/sh
# test_slurm.sh [BUILD_DIR] - `ember sweep --engine slurm --wait` against a real, throw-away, single-node
# Slurm started here: munged with its own key and socket, slurmctld and
# slurmd with proctrack/linuxproc and task/none, everything under one temporary folder, ports on
# 127.0.0.1 derived from the pid. MaxArraySize=3 so the 2x2 grid is split into two array jobs. One run
# fails at epoch 2 while a flag file exists; the same sweep again resumes only that one. The daemons are
# always torn down (trap) and every wait is bounded.
# Skips (exit 0) without slurm-wlm and munge, or when not root (slurmd starts jobs as their user).
# Prints "N passed, N failed"; exits non-zero on failure. The executable is $EMBER_BIN, else BUILD_DIR/ember.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"
export EMBER_PATH="${EMBER_PATH:-$ROOT/lua}"

missing=""
for c in munged slurmctld slurmd sbatch squeue sinfo scontrol scancel; do
  command -v "$c" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin command -v "$c" >/dev/null 2>&1 || missing="$missing $c"
done
if [ -n "$missing" ]; then
  echo "# skip: Slurm test needs slurm-wlm and munge (missing:$missing); as root: apt-get install -y --no-install-recommends slurm-wlm munge"
  finish
fi
if [ "$(id -u)" != 0 ]; then
  echo "# skip: Slurm test needs root (slurmd starts each job as its user); running as uid $(id -u)"
  finish
fi
need_bin
PATH=$PATH:/usr/sbin:/sbin

T=$(mktemp -d /tmp/ember-slurm.XXXXXX)
chmod 755 "$T"
W=$T/work
mkdir -p "$W" "$T/munge" "$T/state" "$T/spool"
chmod 700 "$T/munge"

# kills the pid in FILE with SIG and waits up to 10 s for it to go; then SIGKILL
stop_pid() {
  [ -f "$1" ] || return 0
  p=$(cat "$1" 2>/dev/null)
  [ -n "$p" ] || return 0
  kill -TERM "$p" 2>/dev/null || return 0
  i=0
  while kill -0 "$p" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
  kill -KILL "$p" 2>/dev/null
  return 0
}
teardown() {
  if [ -f "$T/slurm.conf" ]; then
    SLURM_CONF=$T/slurm.conf timeout 10 scancel --quiet --user=root >/dev/null 2>&1
  fi
  stop_pid "$T/slurmd.pid"
  stop_pid "$T/slurmctld.pid"
  stop_pid "$T/munge/munged.pid"
  # a job step still running would keep files open: a short grace, then remove everything
  [ -n "$KEEP" ] || rm -rf "$T"
}
trap teardown EXIT
trap 'exit 1' INT TERM HUP

# --- a single-node cluster under $T ------------------------------------------------------------------------------
dd if=/dev/urandom of="$T/munge/munge.key" bs=1024 count=1 2>/dev/null
chmod 400 "$T/munge/munge.key"
timeout 20 munged -f -S "$T/munge/munge.socket" --key-file="$T/munge/munge.key" --pid-file="$T/munge/munged.pid" \
  --log-file="$T/munge/munged.log" --seed-file="$T/munge/munged.seed" >"$T/munged.out" 2>&1
st=$?
chmod 755 "$T/munge"   # clients (sbatch, squeue) connect to the socket in it
i=0
while [ ! -S "$T/munge/munge.socket" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ "$st" = 0 ] && [ -S "$T/munge/munge.socket" ]; check $? "munged starts with its own key and socket"
[ "$st" = 0 ] || { cat "$T/munged.out" "$T/munge/munged.log" 2>/dev/null | tail -n 5; finish; }

# ports from the pid, away from the usual 6817/6818
P1=$((20000 + ($$ % 20000) * 2))
P2=$((P1 + 1))
HW=$(slurmd -C 2>/dev/null | head -n 1 | sed -e 's/^NodeName=[^ ]* //' -e 's/ *UpTime=.*//')
cat >"$T/slurm.conf" <<EOF
ClusterName=embertest
SlurmctldHost=localhost
SlurmctldPort=$P1
SlurmdPort=$P2
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$T/munge/munge.socket
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/slurmctld.log
SlurmdLogFile=$T/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$T/jobcomp.txt
SchedulerParameters=batch_sched_delay=0
MailProg=/bin/true
ReturnToService=2
MaxArraySize=3
NodeName=localhost NodeAddr=127.0.0.1 $HW
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$T/slurm.conf"
timeout 20 slurmctld -f "$SLURM_CONF" >"$T/slurmctld.out" 2>&1
c=$?
timeout 20 slurmd -f "$SLURM_CONF" -N localhost >"$T/slurmd.out" 2>&1
d=$?
i=0
state=""
while [ $i -lt 300 ]; do
  state=$(timeout 5 sinfo -h -N -o %T 2>/dev/null | head -n 1)
  [ "$state" = idle ] && break
  sleep 0.1
  i=$((i + 1))
done
[ "$c" = 0 ] && [ "$d" = 0 ] && [ "$state" = idle ]; check $? "slurmctld and slurmd start; the node is idle (state '$state')"
if [ "$state" != idle ]; then tail -n 5 "$T/slurmctld.log" "$T/slurmd.log" "$T/slurmctld.out" "$T/slurmd.out" 2>/dev/null; finish; fi

# --- the experiment -------------------------------------------------------------------------------------------------
cd "$W" || exit 1
FLAG=$W/fail-flag
write_exp
sweep() { timeout 180 "$BIN" sweep exp.lua --grid lr=0.05,0.1 --grid opt=sgd,adam --runs "$W/runs" --engine slurm "$@"; }
S=$W/runs/exp

touch "$FLAG"
sweep --dry-run >out0 2>&1
grep -q "^'sbatch' '--parsable' '--job-name=ember-sweep-exp' '--array=0-2' " out0 && grep -q "'--array=0-0' .* '3'$" out0
check $? "--dry-run shows two sbatch commands: MaxArraySize=3 splits the four runs"
[ ! -e "$S" ]; check $? "--dry-run writes nothing"

sweep --wait --time=5 >out1 2>&1
st=$?
[ "$st" = 1 ]; check $? "the first sweep follows the array to its end and exits 1 for the failed run (got $st)"
[ "$(wc -l <"$S/slurm/jobs.tsv")" = 2 ]; check $? "two array jobs submitted (slurm/jobs.tsv)"
grep -q "submitted 4 run(s) as array jobs" out1; check $? "it says what it submitted"
n=0
for name in lr=0.05,opt=sgd lr=0.05,opt=adam lr=0.1,opt=sgd lr=0.1,opt=adam; do
  [ "$(meta "$(rundir "$S/$name")" host)" = "$(uname -n)" ] && n=$((n + 1))
done
[ "$n" = 4 ]; check $? "the array tasks wrote the four run directories ($n)"
[ "$(cut -f4 "$S/sweep.tsv" | grep -c '^finished$')" = 3 ] && [ "$(field "$S/sweep.tsv" lr=0.1,opt=adam status)" = failed ]
check $? "sweep.tsv: three finished, lr=0.1,opt=adam failed"
grep -q "FAILED lr=0.1,opt=adam: failed (exit 1): .*planned failure" out1 && grep -q "log: .*logs/lr=0.1,opt=adam.log" out1
check $? "the failure is reported with its log"
grep -q "(slurm job [0-9]*_[0-9]*)" "$S/logs/lr=0.05,opt=sgd.log"; check $? "the log names the array task"
ls "$S"/slurm/*_*.out >/dev/null 2>&1; check $? "slurm's own output files are in the sweep folder"
F=$(rundir "$S/lr=0.1,opt=adam")

rm -f "$FLAG"
sweep --wait --time=5 >out2 2>&1
st=$?
[ "$st" = 0 ]; check $? "the same sweep again exits 0 (got $st)"
grep -q "1 to resume, 3 done" out2 && grep -q "submitted 1 run(s) as array job " out2; check $? "it submits only the failed run"
[ "$(cut -f4 "$S/sweep.tsv" | grep -c '^finished$')" = 4 ]; check $? "sweep.tsv: all four finished"
[ "$(rundir "$S/lr=0.1,opt=adam")" = "$F" ] && [ "$(meta "$F" resumes)" = 1 ] && [ "$(meta "$F" status)" = finished ]
check $? "the failed run continued in its own directory (resumes 1)"
grep -q "'--cpus-per-task=1'" "$S/logs/lr=0.1,opt=adam.log" 2>/dev/null || grep -q "'--threads' '1'" "$S/logs/lr=0.1,opt=adam.log"
check $? "one thread per run by default"

sweep --wait >out3 2>&1
st=$?
[ "$st" = 0 ] && grep -q "0 new, 0 to resume, 4 done" out3 && [ "$(wc -l <"$S/slurm/jobs.tsv")" = 3 ]
check $? "a third time: nothing to submit (exit $st)"
timeout 20 "$BIN" sweep exp.lua --grid lr=0.05,0.1 --grid opt=sgd,adam --runs "$W/runs" --status >out4 2>&1
[ $? = 0 ] && [ "$(grep -c finished out4)" = 4 ]; check $? "--status prints the four finished runs"

finish
