-- cli_run_spec.lua - `ember run` end to end, for what guards a run directory: config values checked on
-- the command line, one process per run directory (the lock), which script --resume executes, and the
-- hygiene of a directory after a crash (stale temporary files, a torn metrics row, os.exit, SIGHUP).
-- Each command runs build/ember (or $EMBER_BIN) under `timeout 60` in a scratch folder.
local lfs = require "lfs"
local runs = require "ember.runs"
local h = dofile("tests/lua/spec_helper.lua")
local read, write, kv, exists = h.read, h.write, h.kv, h.exists

local q = require("ember.util").shell_quote

local root
local sh, ember, EMBER, LUA_DIR = h.runner(function() return root end)

local function the_run(parent)
  local dirs = runs.find(root .. "/" .. parent)
  assert.equal(1, #dirs)
  return dirs[1], dirs[1]:sub(#root + 2)
end

-- A linear regression trained by ember.fit in a run. Environment variables steer it: KILL_EPOCH=e
-- sends itself SIGINT at the end of epoch e; EXIT_EPOCH=e calls os.exit(EXIT_CODE) there (before the
-- epoch's row is logged); SLOW=s makes every epoch last s seconds more (so that another process can act
-- while it runs).
local TRAIN = [[
local ember = require "ember"
local cfg = ember.config{epochs = 6, lr = 0.05}
local x = ember.randn(64, 3)
local data = ember.data.tensor_dataset(x, x:sum(2, true))
local model = ember.nn.Linear(3, 1)
local opt = ember.optim.sgd(model:parameters(), {lr = cfg.lr})
local function env(k) return tonumber(os.getenv(k) or "") end
ember.fit{model = model, loss = "mse", optimizer = opt, train = data, epochs = cfg.epochs, batch = 16,
  run = ember.run{name = "train"}, quiet = true,
  on_epoch = function(ctx)
    local slow = env("SLOW")
    if slow then local t = ember.clock() while ember.clock() - t < slow do end end
    if ctx.epoch == env("KILL_EPOCH") then io.popen("kill -INT " .. ember.getpid()):close() end
    if ctx.epoch == env("EXIT_EPOCH") then os.exit(env("EXIT_CODE") or 0) end
  end}
print("trained")
]]

local rows_without_time = h.rows_without_time

-- an interrupted run (2 of 6 epochs logged) and the rows of the same run uninterrupted
local function interrupted_run()
  local _, err, code = ember("run train.lua --name full")
  assert.equal(0, code, err)
  local expected = rows_without_time(the_run("runs/full"))
  _, err, code = ember("run train.lua", "KILL_EPOCH=2")
  assert.equal(130, code, err)
  local dir, rel = the_run("runs/train")
  assert.equal("interrupted", kv(dir .. "/meta.tsv").status)
  return dir, rel, expected
end

before_each(function()
  root = h.tmpdir()
  write(root .. "/train.lua", TRAIN)
end)
after_each(function() h.rmdir(root) end)

describe("ember run --set", function()
  it("refuses a value that is not one of an ember.choice's choices, listing them, with exit 2", function()
    write(root .. "/c.lua", [[
local ember = require "ember"
local cfg = ember.config{sched = ember.choice{"cosine", "step", "none"}, lr = ember.number{0.1, above = 0}}
print(cfg.sched, cfg.lr)
]])
    local out, err, code = ember("run c.lua --set sched=step --set lr=0.5")
    assert.equal(0, code, err)
    assert.equal("step\t0.5\n", out)
    _, err, code = ember("run c.lua --set sched=cosin")
    assert.equal(2, code)
    assert.matches("ember run: ember.config: %-%-set sched=cosin: sched must be one of cosine, step, none %(default cosine%)", err)
    _, err, code = ember("run c.lua --set lr=0")
    assert.equal(2, code)
    assert.matches("lr must be a number above 0 %(default 0.1%)", err)
  end)

  it("refuses a non-finite number and a fraction for an integer default, with exit 2", function()
    write(root .. "/n.lua", 'local cfg = require("ember").config{lr = 0.1, epochs = 4}\nprint(cfg.lr, cfg.epochs)\n')
    local _, err, code = ember("run n.lua --set lr=1e999")
    assert.equal(2, code)
    assert.matches("lr must be a finite number %(default 0.1%)", err)
    _, err, code = ember("run n.lua --set epochs=2.5")
    assert.equal(2, code)
    assert.matches("epochs must be an integer %(default 4, an integer: a script that wants fractions writes it 4.0%)", err)
    local out
    out, err, code = ember("run n.lua --set epochs=2.0 --set lr=2")
    assert.equal(0, code, err)
    assert.equal("2\t2\n", out)
  end)
end)

describe("ember run --resume", function()
  it("refuses a run another process has open, naming its pid, and resumes it once that process ends", function()
    local dir, rel = interrupted_run()
    -- resume it slowly in the background (no timeout in between, so $! is ember's pid), and try a
    -- second resume once the first has reopened the run (meta.tsv counts a resume)
    local out, err = sh(("EMBER_PATH=%s SLOW=0.5 %s run --resume %s >bg.out 2>bg.err & pid=$!; echo $pid; "
      .. "n=0; while [ $n -lt 400 ] && ! grep -q '^resumes' %s/meta.tsv; do sleep 0.05; n=$((n+1)); done; "
      .. "EMBER_PATH=%s timeout 60 %s run --resume %s; echo \"rc=$?\"; wait $pid; echo \"bg=$?\""):format(
      q(LUA_DIR), q(EMBER), q(rel), q(rel), q(LUA_DIR), q(EMBER), q(rel)))
    local pid = out:match("^(%d+)")
    assert.matches("rc=2\n", out, err)
    assert.matches("bg=0\n", out, read(root .. "/bg.err"))
    assert.matches("ember run: cannot resume: run directory '" .. rel:gsub("%p", "%%%0") .. "' is in use by process "
      .. pid .. ", whose run is still open", err)
    assert.equal("finished", kv(dir .. "/meta.tsv").status)
    assert.equal(6, #runs.read(dir).rows)   -- one writer: no row twice
    assert.is_true(exists(dir .. "/lock"))
  end)

  it("refuses a second resume of the same directory within one process", function()
    local _, rel = interrupted_run()
    write(root .. "/twice.lua", 'local ember = require "ember"\nember.config{epochs = 6, lr = 0.05}\n'
      .. 'local a = ember.run{}\nlocal b = ember.run{}\n')
    local _, err, code = ember("run twice.lua --resume " .. q(rel))
    assert.equal(1, code)
    assert.matches("ember.run: cannot resume: run directory '[^']+' is already open in this process", err)
  end)

  it("says which script it runs, and never one inside the run directory (symlinks and .. resolved)", function()
    local dir, rel, expected = interrupted_run()
    local evil = 'local f = io.open(os.getenv("EVIL"), "w"); f:write("ran"); f:close()\n'
    write(dir .. "/evil.lua", evil)
    lfs.link(dir .. "/evil.lua", root .. "/link.lua", true)
    local meta = read(dir .. "/meta.tsv")
    for _, script in ipairs{rel .. "/evil.lua", "link.lua", rel .. "/../" .. h.lines(rel:gsub("^.*/", "") .. "\n")[1] .. "/evil.lua"} do
      write(dir .. "/meta.tsv", (meta:gsub("\nscript\t[^\n]*", "\nscript\t" .. script)))
      local _, err, code = ember("run --resume " .. q(rel), "EVIL=" .. q(root .. "/ran"))
      assert.equal(2, code, err)
      assert.matches("will not run '" .. script:gsub("%p", "%%%0") .. "': it is inside the run directory", err)
      assert.is_false(exists(root .. "/ran"))
      -- given on the command line, the same refusal
      _, err, code = ember("run " .. q(script) .. " --resume " .. q(rel), "EVIL=" .. q(root .. "/ran"))
      assert.equal(2, code, err)
      assert.is_false(exists(root .. "/ran"))
    end
    write(dir .. "/meta.tsv", meta)
    local out, err, code = ember("run --resume " .. q(rel))
    assert.equal(0, code, err)
    assert.matches("^ember run: resuming " .. rel:gsub("%p", "%%%0") .. " with train.lua %(the script its meta.tsv records%)\n", err)
    assert.equal("trained\n", out)
    assert.same(expected, rows_without_time(dir))
  end)

  it("refuses a run directory holding a symbolic link where the run writes", function()
    local dir, rel = interrupted_run()
    write(root .. "/victim", "precious\n")
    os.remove(dir .. "/stdout.log")
    lfs.link(root .. "/victim", dir .. "/stdout.log", true)
    local _, err, code = ember("run --resume " .. q(rel))
    assert.equal(2, code)
    assert.matches("cannot resume: '" .. rel:gsub("%p", "%%%0") .. "/stdout.log' is a symbolic link", err)
    assert.equal("precious\n", read(root .. "/victim"))
    -- a lock file linked to another file is not written either
    os.remove(dir .. "/stdout.log")
    os.remove(dir .. "/lock")
    assert(lfs.link(root .. "/victim", dir .. "/lock"))   -- a hard link
    local out
    out, err, code = ember("run --resume " .. q(rel))
    assert.equal(0, code, err)
    assert.matches("cannot lock '[^']*/lock': not a plain file of its own", err)
    assert.equal("trained\n", out)
    assert.equal("precious\n", read(root .. "/victim"))
  end)

  it("removes the temporary files a killed process left, and repairs a torn last row of metrics.tsv", function()
    local dir, rel, expected = interrupted_run()
    local dead = tonumber((sh("sh -c 'echo $$'")))   -- a process that has ended
    for _, f in ipairs{"last.ckpt.tmp." .. dead, "meta.tsv.tmp-" .. dead, "best.ckpt.tmp.1"} do
      write(dir .. "/" .. f, string.rep("x", 1000))
    end
    write(dir .. "/keep.tmp.txt", "not a temporary file of ember")
    local f = assert(io.open(dir .. "/metrics.tsv", "ab"))
    f:write("3\t12\t0.1")   -- a row cut short by kill -9
    f:close()
    local _, err, code = ember("run --resume " .. q(rel))
    assert.equal(0, code, err)
    assert.matches("metrics.tsv ended in a torn line %(8 bytes", err)
    for _, f2 in ipairs{"last.ckpt.tmp." .. dead, "meta.tsv.tmp-" .. dead, "best.ckpt.tmp.1"} do
      assert.is_false(exists(dir .. "/" .. f2), f2)
    end
    assert.is_true(exists(dir .. "/keep.tmp.txt"))
    assert.same(expected, rows_without_time(dir))
  end)
end)

describe("ember run closes its runs", function()
  it("when the script calls os.exit: finished after status 0, failed after another", function()
    local out, err, code = ember("run train.lua", "EXIT_EPOCH=3 EXIT_CODE=0")
    assert.equal(0, code, err)
    assert.equal("", out)
    local dir = the_run("runs/train")
    assert.equal("finished", kv(dir .. "/meta.tsv").status)
    assert.equal(2, #runs.read(dir).rows)
    h.rmdir(root .. "/runs")
    _, err, code = ember("run train.lua", "EXIT_EPOCH=2 EXIT_CODE=3")
    assert.equal(3, code, err)
    dir = the_run("runs/train")
    local meta = kv(dir .. "/meta.tsv")
    assert.equal("failed", meta.status)
    assert.equal("os.exit: the script exited with status 3", meta.error)
    assert.matches("^%d%d%d%d%-", meta.end_time)
  end)

  it("closes the script's runs even when it leaves a debug hook set that raises", function()
    -- Lua runs a line hook before each line: ember's own code after the script failed in it, and the
    -- run stayed at status running
    write(root .. "/hooked.lua", 'local r = ember.run{name = "hooked"}\nr:log{epoch = 1, loss = 2}\n'
      .. 'debug.sethook(function() error("raised by the hook") end, "l")\n')
    local _, err, code = ember("run hooked.lua")
    assert.equal(0, code, err)
    assert.equal("finished", kv(the_run("runs/hooked") .. "/meta.tsv").status)
  end)

  it("on SIGHUP as on SIGTERM: last.ckpt written, status interrupted, exit 130", function()
    local out = sh(("EMBER_PATH=%s SLOW=0.02 timeout --foreground 60 %s run train.lua --set epochs=100000 >run.out 2>run.err & "
      .. "pid=$!; n=0; while [ $n -lt 600 ]; do f=$(ls runs/train/*/metrics.tsv 2>/dev/null | head -n 1); "
      .. "if [ -n \"$f\" ] && [ $(wc -l < \"$f\") -ge 3 ]; then break; fi; sleep 0.05; n=$((n+1)); done; "
      .. "kill -HUP $pid; wait $pid; echo \"rc=$?\""):format(q(LUA_DIR), q(EMBER)))
    assert.matches("rc=130", out, read(root .. "/run.err"))
    local dir = the_run("runs/train")
    assert.equal("interrupted", kv(dir .. "/meta.tsv").status)
    assert.is_true(exists(dir .. "/last.ckpt"))
    assert.matches("ember.fit: interrupted: training stopped", read(root .. "/run.err"))
  end)
end)
