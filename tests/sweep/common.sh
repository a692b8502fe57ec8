# common.sh - what the two sweep tests (test_local.sh, test_slurm.sh) share: the experiment they sweep
# and readers of what a sweep leaves behind. Sourced after tests/lib.sh:
#   . "$(dirname "$0")/common.sh"

# write_exp: writes exp.lua in the current folder, a linear model trained a few epochs (well under a
# second a run) in which lr=0.1,opt=adam fails at the end of epoch 2 while the file $FLAG exists;
# SLOW=1 in a run's environment makes every epoch take 0.3 s more
write_exp() {
  cat >exp.lua <<EOF
local ember = require "ember"
local cfg = ember.config{lr = 0.05, opt = "sgd", epochs = 4}
local w = ember.zeros(3, 1):requires_grad()
local x = ember.randn(48, 3)
local y = x:matmul(ember.tensor{{1}, {-2}, {0.5}})
local tr, va = ember.data.tensor_dataset(x, y):split(0.75)
local model = setmetatable({}, {__call = function(_, a) return a:matmul(w) end})
function model:parameters() return {w} end
function model:state_dict() return {w = w} end
function model:load_state_dict(s) ember.no_grad(function() w:copy(s.w) end) end
local opt = ember.optim[cfg.opt](model:parameters(), {lr = cfg.lr})
local run = ember.run{config = cfg}
local function flagged()
  local f = io.open("$FLAG")
  if f then f:close() end
  return f ~= nil
end
ember.fit{model = model, loss = ember.loss.mse, optimizer = opt, train = tr, valid = va, epochs = cfg.epochs,
  batch = 12, run = run, on_epoch = function(c)
    if os.getenv("SLOW") then os.execute("sleep 0.3") end
    if c.epoch == 2 and cfg.opt == "adam" and cfg.lr == 0.1 and flagged() then error("planned failure") end
  end}
EOF
}

# field FILE NAME COLUMN: the value of COLUMN in the sweep.tsv line of run NAME
field() {
  awk -F '\t' -v n="$2" -v c="$3" 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
    $1 == n { print $col[c] }' "$1"
}
meta() { grep "^$2	" "$1/meta.tsv" | cut -f2; }   # meta RUNDIR KEY
rundir() { ls -d "$1"/*/ 2>/dev/null | head -n 1 | sed 's:/$::'; }   # the run directory below a run name
