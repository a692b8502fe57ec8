-- cli_run_spec.lua - `ember run` end to end, for what guards a run directory: config values checked on
-- the command line, one process per run directory (the lock), which script --resume executes, and the
-- hygiene of a directory after a crash (stale temporary files, a torn metrics row, os.exit, SIGHUP).
-- Each command runs build/ember (or $EMBER_BIN) under `timeout 60` in a scratch folder.
local lfs = require "lfs"
local runs = require "ember.runs"
local h = dofile("tests/lua/spec_helper.lua")
local read, write, kv, exists = h.read, h.write, h.kv, h.exists

local cwd = lfs.currentdir()
local function absolute(p) return p:sub(1, 1) == "/" and p or cwd .. "/" .. p end
local EMBER = absolute(os.getenv("EMBER_BIN") or "build/ember")
local LUA_DIR = absolute(os.getenv("EMBER_PATH") or "lua")
local q = require("ember.util").shell_quote

local root

-- runs a shell command line in root; returns stdout, stderr, exit status
local function sh(cmd)
  local p = io.popen(("cd %s && (%s) 2>%s"):format(q(root), cmd, q(root .. "/.stderr")))
  local out = p:read("a")
  local _, _, code = p:close()
  return out, read(root .. "/.stderr") or "", code
end

-- `ember ARGS` in root, with the source tree's Lua modules
local function ember(args, env)
  return sh(("%sEMBER_PATH=%s timeout 60 %s %s"):format(env and env .. " " or "", q(LUA_DIR), q(EMBER), args))
end

local function the_run(parent)
  local dirs = runs.find(root .. "/" .. parent)
  assert.equal(1, #dirs)
  return dirs[1], dirs[1]:sub(#root + 2)
end

before_each(function() root = h.tmpdir() end)
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
    assert.matches("epochs must be an integer %(default 4%)", err)
    local out
    out, err, code = ember("run n.lua --set epochs=2.0 --set lr=2")
    assert.equal(0, code, err)
    assert.equal("2\t2\n", out)
  end)
end)
