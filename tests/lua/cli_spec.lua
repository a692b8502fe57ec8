-- End-to-end specs of `ember run` and `ember runs`: they drive the real executable (build/ember, or
-- $EMBER_BIN) on small experiment scripts written here, each command under `timeout 60`, and check exit
-- statuses, messages and the run directories left behind: contents, --set overrides and their types,
-- --name/--runs/--seed/--threads, exact resume after Ctrl-C, divergence, signals, bad scripts, and the
-- table printed by `ember runs`.
local lfs = require "lfs"
local runs = require "ember.runs"
local runmod = require "ember.run"
local h = dofile("tests/lua/spec_helper.lua")
local read, write, lines, kv, exists = h.read, h.write, h.lines, h.kv, h.exists
local q = require("ember.util").shell_quote

local root
local sh, ember, EMBER, LUA_DIR = h.runner(function() return root end)

local function run_dirs(parent)
  if not exists(root .. "/" .. parent) then return {} end
  return runs.find(root .. "/" .. parent)
end

local rows_without_time = h.rows_without_time

-- A small classification experiment: a hand-made MLP (4 -> hidden -> 3) trained by SGD with momentum on
-- 90 shuffled samples (batches of 16: 6 steps per epoch), validated on 30. Environment variables make
-- it signal itself: KILL_EPOCH=e (SIGINT at the end of epoch e), KILL_STEP=s (SIGINT during training
-- step s), KILL2_STEP=s (SIGINT and SIGTERM at once during step s: the second signal stops at once).
local EXP = [[
local ember = require "ember"
local cfg = ember.config{lr = 0.1, epochs = 4, batch = 16, hidden = 8, boost_at = 0, flag = true, tag = "base"}
print("hello from exp")
local function linear(i, o)
  local w = (ember.randn(i, o) * (1 / math.sqrt(i))):requires_grad()
  return w, ember.zeros(o):requires_grad()
end
local w1, b1 = linear(4, cfg.hidden)
local w2, b2 = linear(cfg.hidden, 3)
local model = setmetatable({}, {__call = function(_, x) return (x:matmul(w1) + b1):relu():matmul(w2) + b2 end})
function model:parameters() return {w1, b1, w2, b2} end
function model:state_dict() return {w1 = w1, b1 = b1, w2 = w2, b2 = b2} end
function model:load_state_dict(s)
  ember.no_grad(function() w1:copy(s.w1); b1:copy(s.b1); w2:copy(s.w2); b2:copy(s.b2) end)
end
local x = ember.randn(120, 4)
local y = x:narrow(2, 1, 3):argmax(2)
local tr, va = ember.data.tensor_dataset(x, y):split(0.75)
local opt = ember.optim.sgd(model:parameters(), {lr = cfg.lr, momentum = 0.9})
local run = ember.run{name = "exp", config = cfg}
local function env(k) return tonumber(os.getenv(k) or "") end
local function signal(sigs)
  local cmd = {}
  for _, s in ipairs(sigs) do cmd[#cmd + 1] = ("kill -%s %d"):format(s, ember.getpid()) end
  io.popen(table.concat(cmd, "; ")):close()
end
local steps = 0
local function loss(out, t)
  if ember.is_grad_enabled() then
    steps = steps + 1
    if steps == env("KILL_STEP") then signal{"INT"} end
    if steps == env("KILL2_STEP") then signal{"INT", "TERM"} end
  end
  return ember.loss.cross_entropy(out, t)
end
ember.fit{model = model, loss = loss, optimizer = opt, train = tr, valid = va, epochs = cfg.epochs,
  batch = cfg.batch, run = run, metrics = {"accuracy"},
  schedule = function(e) if cfg.boost_at > 0 and e + 1 >= cfg.boost_at then return 1e6 end return cfg.lr end,
  on_epoch = function(ctx) if ctx.epoch == env("KILL_EPOCH") then signal{"INT"} end end}
print("fit done")
]]

before_each(function()
  root = h.tmpdir()
  write(root .. "/exp.lua", EXP)
end)

after_each(function() h.rmdir(root) end)

describe("ember run", function()
  it("writes a complete run directory: params, meta (with git commit), metrics, stdout.log, checkpoints", function()
    local has_git = os.execute("git --version >/dev/null 2>&1")
    if has_git then
      sh("git init -q . && git -c user.email=t@t -c user.name=t add exp.lua && "
         .. "git -c user.email=t@t -c user.name=t commit -q -m init")
    end
    local out, err, code = ember("run exp.lua")
    assert.equal(0, code, err)
    local dirs = run_dirs("runs/exp")
    assert.equal(1, #dirs)
    local d = dirs[1]
    assert.matches("/runs/exp/%d%d%d%d%d%d%d%d%-%d%d%d%d%d%d%-%x%x%x%x%x%x$", d)
    for _, f in ipairs{"params.tsv", "meta.tsv", "metrics.tsv", "stdout.log", "last.ckpt", "best.ckpt"} do
      assert.is_true(exists(d .. "/" .. f), f)
    end
    assert.equal("batch\t16\nboost_at\t0\nepochs\t4\nflag\ttrue\nhidden\t8\nlr\t0.1\ntag\tbase\n",
      read(d .. "/params.tsv"))
    local meta = kv(d .. "/meta.tsv")
    assert.equal("finished", meta.status)
    assert.equal("exp", meta.name)
    assert.equal("0", meta.seed)
    assert.equal("exp.lua", meta.script)
    assert.equal("fnv1a64:" .. runmod.fnv1a64(EXP), meta.script_sha)
    assert.equal(require("ember").version, meta.ember_version)
    assert.matches("^%d+$", meta.threads)
    assert.is_string(meta.blas_kernel)
    assert.is_string(meta.host)
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT", meta.start_time)
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT", meta.end_time)
    if has_git then
      local head = sh("git rev-parse HEAD"):match("%x+")
      assert.equal(head, meta.git_commit)
      assert.equal("false", meta.git_dirty)
    end
    local m = lines(read(d .. "/metrics.tsv"))
    assert.equal(5, #m)
    assert.equal("epoch\tstep\ttrain_loss\tvalid_loss\ttrain_accuracy\tvalid_accuracy\tlr\ttime", m[1])
    for e = 1, 4 do
      assert.matches(("^%d\t%d\t"):format(e, 6 * e), m[e + 1])   -- 90 samples / 16 = 6 steps per epoch
    end
    -- not a terminal: one plain line per epoch on stdout, and the same in stdout.log
    local epoch_lines = 0
    for _, l in ipairs(lines(out)) do if l:match("^epoch %d/4  train_loss ") then epoch_lines = epoch_lines + 1 end end
    assert.equal(4, epoch_lines)
    assert.is_nil(out:find("\r", 1, true))
    local log = read(d .. "/stdout.log")
    assert.matches("^hello from exp\n", log)
    assert.matches("\nepoch 4/4  train_loss [^\n]+\nfit done\n$", log)
  end)

  it("--set keeps numbers numbers and booleans booleans", function()
    write(root .. "/types.lua", [[
local ember = require "ember"
local cfg = ember.config{lr = 0.1, epochs = 3, flag = true, name = "a", betas = {0.9, 0.999}}
for _, k in ipairs{"lr", "epochs", "flag", "name"} do
  print(k, type(cfg[k]), math.type(cfg[k]) or "-", tostring(cfg[k]))
end
print("betas", cfg.betas[1], cfg.betas[2])
]])
    local out, err, code = ember("run types.lua --set lr=0.5 --set epochs=12 --set flag=false --set name=7 --set betas=0.8,0.99")
    assert.equal(0, code, err)
    assert.equal("lr\tnumber\tfloat\t0.5\nepochs\tnumber\tinteger\t12\nflag\tboolean\t-\tfalse\n"
      .. "name\tstring\t-\t7\nbetas\t0.8\t0.99\n", out)
    out, err, code = ember("run types.lua --set=lr=2")
    assert.equal(0, code, err)
    assert.matches("lr\tnumber\tinteger\t2\n", out)
  end)

  it("refuses an unknown --set key listing the known ones, and a badly typed value, with exit 2", function()
    local _, err, code = ember("run exp.lua --set lrr=0.1")
    assert.equal(2, code)
    assert.matches("unknown key 'lrr' in %-%-set lrr=0.1 %(known keys: batch, boost_at, epochs, flag, hidden, lr, tag%)", err)
    _, err, code = ember("run exp.lua --set epochs=many")
    assert.equal(2, code)
    assert.matches("epochs must be an integer %(default 4%)", err)
    _, err, code = ember("run exp.lua --set flag=perhaps")
    assert.equal(2, code)
    assert.matches("flag must be a boolean", err)
    _, err, code = ember("run exp.lua --set noequals")
    assert.equal(2, code)
    assert.matches("%-%-set needs KEY=VALUE", err)
    assert.equal(0, #run_dirs("runs"))   -- the script stopped at ember.config, before ember.run
  end)

  it("takes --name, --runs, --seed and --threads", function()
    write(root .. "/seed.lua", [[
local ember = require "ember"
local cfg = ember.config{lr = 0.1}
local run = ember.run{name = "ignored", config = cfg}
print(string.format("%.9g", ember.rand(1):item()))
]])
    local out1, err, code = ember("run seed.lua --name other --runs out --seed 7 --threads 1")
    assert.equal(0, code, err)
    local dirs = run_dirs("out/other")
    assert.equal(1, #dirs)
    local meta = kv(dirs[1] .. "/meta.tsv")
    assert.equal("7", meta.seed)
    assert.equal("1", meta.threads)
    assert.equal("other", meta.name)
    local out2 = ember("run seed.lua --runs out --seed 7")
    local out3 = ember("run seed.lua --runs out --seed 8")
    assert.equal(out1, out2)
    assert.are_not.equal(out1, out3)
    local _, err4, code4 = ember("run seed.lua --seed x")
    assert.equal(2, code4)
    assert.matches("%-%-seed needs a non%-negative integer", err4)
  end)

  it("resumes an interrupted run to the same metrics, bit for bit (stopped after epoch 2 and mid-epoch)", function()
    local _, err, code = ember("run exp.lua --name full")
    assert.equal(0, code, err)
    local expected = rows_without_time(run_dirs("runs/full")[1])
    assert.equal(4, #expected)
    for _, case in ipairs{{name = "cut", env = "KILL_EPOCH=2", rows = 2}, {name = "mid", env = "KILL_STEP=15", rows = 2}} do
      local out
      out, err, code = ember("run exp.lua --name " .. case.name, case.env)
      assert.equal(130, code, err)
      local d = run_dirs("runs/" .. case.name)[1]
      assert.equal("interrupted", kv(d .. "/meta.tsv").status)
      assert.is_true(exists(d .. "/last.ckpt"))
      assert.equal(case.rows, #runs.read(d).rows)
      assert.matches("ember.fit: interrupted: training stopped", err)
      assert.matches("ember run exp.lua %-%-resume " .. d:sub(#root + 2):gsub("%p", "%%%0"), err)
      -- the script defaults to the one the run recorded
      out, err, code = ember("run --resume " .. q(d:sub(#root + 2)))
      assert.equal(0, code, err)
      assert.matches("fit done", out)
      assert.same(expected, rows_without_time(d))
      local meta = kv(d .. "/meta.tsv")
      assert.equal("finished", meta.status)
      assert.equal("1", meta.resumes)
      assert.matches("%-%-%- resumed ", read(d .. "/stdout.log"))
    end
  end)

  it("refuses to resume a folder that is not a run, or a finished run, with exit 2", function()
    lfs.mkdir(root .. "/notarun")
    local _, err, code = ember("run exp.lua --resume notarun")
    assert.equal(2, code)
    assert.matches("cannot resume: 'notarun' is not a run directory %(no meta.tsv%)", err)
    _, err, code = ember("run exp.lua --resume nowhere")
    assert.equal(2, code)
    assert.matches("'nowhere' is not a directory", err)
    ember("run exp.lua --set epochs=1")
    local d = run_dirs("runs/exp")[1]:sub(#root + 2)
    _, err, code = ember("run exp.lua --resume " .. q(d))
    assert.equal(2, code)
    assert.matches("has status finished: there is nothing to resume", err)
  end)

  it("stops a diverging run: status diverged, epoch/step/lr and a hint in the message, earlier rows kept", function()
    -- the lr jumps to 1e6 at epoch 3
    local _, err, code = ember("run exp.lua --set boost_at=3")
    assert.equal(1, code)
    assert.matches("training diverged at epoch 3, step %d+ %(batch %d/6, lr 1e%+06%): the loss is [%-a-z]+%. Hint: lower the learning rate", err)
    assert.is_nil(err:find("stack traceback", 1, true))
    local d = run_dirs("runs/exp")[1]
    local meta = kv(d .. "/meta.tsv")
    assert.equal("diverged", meta.status)
    assert.matches("diverged at epoch 3", meta.error)
    local r = runs.read(d)
    assert.equal(3, #r.rows)
    assert.equal(1, r.rows[1].epoch)
    assert.equal(2, r.rows[2].epoch)
    assert.equal(0.1, r.rows[2].lr)
    assert.equal(3, r.rows[3].epoch)
    local bad = r.rows[3].train_loss
    assert.is_true(bad ~= bad or bad == math.huge or bad == -math.huge)
  end)

  it("on SIGINT from outside finishes the step, writes last.ckpt, marks interrupted and exits 130", function()
    write(root .. "/slow.lua", [[
local ember = require "ember"
local w = ember.randn(4, 1):requires_grad()
local model = setmetatable({}, {__call = function(_, x) return x:matmul(w) end})
function model:parameters() return {w} end
function model:state_dict() return {w = w} end
function model:load_state_dict(s) ember.no_grad(function() w:copy(s.w) end) end
local x = ember.randn(64, 4)
local opt = ember.optim.sgd(model:parameters(), {lr = 0.01})
ember.fit{model = model, loss = "mse", optimizer = opt, train = ember.data.tensor_dataset(x, x:sum(2, true)),
  epochs = 100000, batch = 4, run = ember.run{name = "slow"},
  on_epoch = function() local t = ember.clock() while ember.clock() - t < 0.02 do end end}
]])
    for _, sig in ipairs{"INT", "TERM"} do
      os.execute("rm -rf " .. q(root .. "/runs"))
      -- start in the background, wait (at most 30 s) for two rows, signal, collect the exit status
      -- --foreground: plain timeout forwards a signal to its child AND to the child's process group,
      -- so ember would see two signals, and a second one stops at once by design
      local out = sh(("EMBER_PATH=%s timeout --foreground 60 %s run slow.lua --quiet >run.out 2>run.err & pid=$!; n=0; "
        .. "while [ $n -lt 600 ]; do f=$(ls runs/slow/*/metrics.tsv 2>/dev/null | head -n 1); "
        .. "if [ -n \"$f\" ] && [ $(wc -l < \"$f\") -ge 3 ]; then break; fi; sleep 0.05; n=$((n+1)); done; "
        .. "kill -%s $pid; wait $pid; echo \"rc=$?\""):format(q(LUA_DIR), q(EMBER), sig))
      assert.matches("rc=130", out, read(root .. "/run.err"))
      local d = run_dirs("runs/slow")[1]
      local meta = kv(d .. "/meta.tsv")
      assert.equal("interrupted", meta.status)
      assert.is_true(exists(d .. "/last.ckpt"))
      local r = runs.read(d)
      assert.is_true(#r.rows >= 2)
      assert.matches("ember.fit: interrupted: training stopped at epoch %d+, step %d+; state saved in runs/slow/",
        read(root .. "/run.err"))
    end
  end)

  it("stops at once on a second signal, keeping the rows already logged", function()
    -- SIGINT and SIGTERM during step 9 (epoch 2): the second one raises in the running Lua code
    local _, err, code = ember("run exp.lua", "KILL2_STEP=9")
    assert.equal(130, code)
    assert.matches("^ember: exp.lua:%d+: interrupted\n", err)
    assert.is_nil(err:find("state saved", 1, true))
    local d = run_dirs("runs/exp")[1]
    assert.equal("interrupted", kv(d .. "/meta.tsv").status)
    local r = runs.read(d)
    assert.equal(1, #r.rows)
    assert.equal(1, r.rows[1].epoch)
  end)

  it("reports a missing script (exit 1), a syntax error with file:line (exit 1), a failing script (failed)", function()
    local _, err, code = ember("run missing.lua")
    assert.equal(1, code)
    assert.matches("cannot open script 'missing.lua'", err)
    write(root .. "/bad.lua", "local a = 1\nlocal b = = 2\n")
    _, err, code = ember("run bad.lua")
    assert.equal(1, code)
    assert.matches("bad.lua:2: unexpected symbol near '='", err)
    write(root .. "/boom.lua", 'local ember = require "ember"\nlocal run = ember.run{}\nprint("before")\nerror("boom here")\n')
    _, err, code = ember("run boom.lua")
    assert.equal(1, code)
    assert.matches("boom.lua:4: boom here", err)
    local d = run_dirs("runs/boom")[1]
    local meta = kv(d .. "/meta.tsv")
    assert.equal("failed", meta.status)
    assert.equal("boom.lua:4: boom here", meta.error)
    assert.matches("^before\nboom.lua:4: boom here\nstack traceback:", read(d .. "/stdout.log"))
  end)

  it("refuses bad usage with exit 2", function()
    local _, err, code = ember("run")
    assert.equal(2, code)
    assert.matches("give the script to run", err)
    _, err, code = ember("run exp.lua --bogus")
    assert.equal(2, code)
    assert.matches("unknown option '%-%-bogus'", err)
    _, err, code = ember("run exp.lua --threads 0")
    assert.equal(2, code)
    assert.matches("%-%-threads needs an integer from 1 to 1024", err)
    _, err, code = ember("run exp.lua --set \"$(printf 'epochs=2\\n3')\"")
    assert.equal(2, code)
    assert.truthy(err:find("--set epochs=2 3: the value of epochs holds a control character (\\n (newline) at byte 2)",
                           1, true), err)
  end)

  it("--quiet prints no epoch lines but stdout.log still has them", function()
    local out, err, code = ember("run exp.lua --quiet --set epochs=2")
    assert.equal(0, code, err)
    assert.equal("hello from exp\nfit done\n", out)
    local d = run_dirs("runs/exp")[1]
    assert.matches("\nepoch 2/2  train_loss ", read(d .. "/stdout.log"))
  end)

  it("--live draws the monitored curve in the terminal's text after each epoch", function()
    if os.execute("command -v gnuplot >/dev/null 2>&1") ~= true then return end   -- drawn by gnuplot
    local out, err, code = ember("run exp.lua --live --set epochs=3")
    assert.equal(0, code, err)
    -- a plot's x-axis label stands alone on its line; plain epoch lines say "epoch 1/3 ..."
    local _, plots = out:gsub("\n%s+epoch\n", "")
    assert.equal(3, plots)
    assert.matches("\n%s+valid_loss\n", out)   -- the panel names the monitored metric
    local plain = ember("run exp.lua --set epochs=3")
    assert.is_nil(plain:find("\n%s+epoch\n"))
  end)

  it("passes arguments after -- to the script in arg", function()
    write(root .. "/args.lua", 'print(arg[0], arg[1], arg[2], select("#", ...))\n')
    local out, err, code = ember("run args.lua -- one --two")
    assert.equal(0, code, err)
    assert.equal("args.lua\tone\t--two\t2\n", out)
  end)
end)

describe("ember runs", function()
  it("lists runs oldest first with the differing params, best and last of the main metric", function()
    for _, lr in ipairs{"0.1", "0.05"} do
      local _, err, code = ember("run exp.lua --set epochs=2 --set lr=" .. lr)
      assert.equal(0, code, err)
    end
    local dirs = run_dirs("runs/exp")
    assert.equal(2, #dirs)
    local list = {runs.read(dirs[1]), runs.read(dirs[2])}
    table.sort(list, function(a, b)
      if a.meta.start_time ~= b.meta.start_time then return a.meta.start_time < b.meta.start_time end
      return a.dir < b.dir
    end)
    local out, err, code = ember("runs --tsv")
    assert.equal(0, code, err)
    local l = lines(out)
    assert.equal(3, #l)
    assert.equal("name\tid\tstatus\tlr\tmetric\tbest\tlast\tepoch\tduration", l[1])
    for i, r in ipairs(list) do
      local v1, v2 = r.rows[1].valid_loss, r.rows[2].valid_loss
      local best = math.min(v1, v2)
      local f = {}
      for field in (l[i + 1] .. "\t"):gmatch("([^\t]*)\t") do f[#f + 1] = field end
      assert.equal(9, #f)
      assert.same({"exp", r.id, "finished", r.params.lr, "valid_loss"}, {f[1], f[2], f[3], f[4], f[5]})
      assert.equal(best, tonumber(f[6]))
      assert.equal(v2, tonumber(f[7]))
      assert.equal("2", f[8])
      assert.matches("^%d+$", f[9])
    end
    -- the table for people: aligned columns, one line per run
    out, err, code = ember("runs runs")
    assert.equal(0, code, err)
    l = lines(out)
    assert.equal(3, #l)
    assert.matches("^name%s+id%s+status%s+lr%s+metric%s+best%s+last%s+epoch%s+duration$", l[1])
    local function lit(s) return (s:gsub("%p", "%%%0")) end
    assert.matches("^exp%s+" .. lit(list[1].id) .. "%s+finished%s+" .. lit(list[1].params.lr) .. "%s+valid_loss%s", l[2])
    assert.matches("^exp%s+" .. lit(list[2].id) .. "%s+finished%s+" .. lit(list[2].params.lr) .. "%s+valid_loss%s", l[3])
    assert.equal(l[1]:find("status"), l[2]:find("finished"))
  end)

  it("filters, sorts, chooses any column (set_meta keys, values set_used recorded) and writes CSV and JSON", function()
    write(root .. "/m.lua", [=[
local ember = require "ember"
local cfg = ember.config{lr = 0.0, tag = "x"}
local run = ember.run{name = "m", config = cfg}
run:set_meta{note = "tag " .. cfg.tag}
if cfg.lr == 0 then run:set_used{lr = 0.001} end
run:log{epoch = 1, valid_loss = 1 + (cfg.lr == 0 and 0.001 or cfg.lr)}
run:log{epoch = 2, valid_loss = 0.5 + (cfg.lr == 0 and 0.001 or cfg.lr)}
run:finish()
]=])
    for _, set in ipairs{"--set lr=0.1", "--set lr=0 --set tag=y", "--set lr=0.01"} do
      local _, err, code = ember("run m.lua " .. set)
      assert.equal(0, code, err)
    end
    local out, err, code = ember("runs --columns lr,note,best.valid_loss --sort lr --csv")
    assert.equal(0, code, err)
    assert.equal("lr,used.lr,note,best.valid_loss\r\n0.001,0.001,tag y,0.501\r\n0.01,,tag x,0.51\r\n"
      .. "0.1,,tag x,0.6\r\n", out)
    -- runs started within one second have no order but their ids: sort by a value
    out, err, code = ember("runs --where 'lr<=0.01' --columns +note --sort lr")
    assert.equal(0, code, err)
    local l = lines(out)
    assert.equal(4, #l)
    assert.matches("^name%s+id%s+status%s+lr%s+tag%s+metric%s+best%s+last%s+epoch%s+duration%s+note$", l[1])
    assert.matches("^m%s+%S+%s+finished%s+0%.001%*%s+y%s+valid_loss%s+0%.501%s+0%.501%s+2%s+%d+s%s+tag y$", l[2])
    assert.matches("^m%s+%S+%s+finished%s+0%.01%s+x%s+valid_loss%s+0%.51%s+0%.51%s+2%s+%d+s%s+tag x$", l[3])
    assert.matches("^%* the value the run used", l[4])
    out = ember("runs --where 'lr<=0.01' --where note='tag x' --columns id")
    assert.equal(2, #lines(out))
    out, err, code = ember("runs --json --columns lr --where tag=x --sort -lr --match m")
    assert.equal(0, code, err)
    assert.equal('[\n  {"lr": 0.1},\n  {"lr": 0.01}\n]\n', out)
    out, err, code = ember("runs --sort nope")
    assert.equal(2, code)
    assert.matches("%-%-sort: no run has 'nope'", err)
  end)

  it("says when the folder does not exist (exit 1) and rejects unknown options (exit 2)", function()
    local _, err, code = ember("runs nowhere")
    assert.equal(1, code)
    assert.matches("no such directory 'nowhere'", err)
    _, err, code = ember("runs --wide")
    assert.equal(2, code)
    assert.matches("unknown option '%-%-wide'", err)
  end)
end)

describe("ember help", function()
  it("prints the usage of a topic, and refuses an unknown topic with exit 2", function()
    local out, _, code = ember("help run")
    assert.equal(0, code)
    assert.matches("%-%-resume RUNDIR", out)
    out, _, code = ember("help")
    assert.equal(0, code)
    assert.matches("ember runs %[DIR%]", out)
    local _, err
    _, err, code = ember("help nonsense")
    assert.equal(2, code)
    assert.matches("unknown topic 'nonsense'", err)
  end)

end)
