-- session_spec.lua - ember.session: one object for what a session knows (command-line choices, the
-- seeding, the open runs, the fits per run), reached through one module.
local ember = require "ember"
local session = require "ember.session"
local h = dofile("tests/lua/spec_helper.lua")

local root
before_each(function() root = h.tmpdir(); session.finish() end)
after_each(function()
  session.current():close_runs()
  session.finish()
  h.rmdir(root)
end)

describe("ember.session", function()
  it("gives a default session with no command-line choices until one begins", function()
    local s = session.current()
    assert.equal(s, session.current())
    assert.is_false(s.command_line)
    assert.same({}, s.set)
    local t = session.begin{seed = 4, quiet = true}
    assert.equal(t, session.current())
    assert.is_true(t.command_line)
    assert.equal(4, t.seed)
    assert.is_true(t.quiet)
    session.finish()
    assert.are_not.equal(t, session.current())
  end)

  it("refuses options it does not know", function()
    assert.has_error(function() session.new{sed = 1} end)
  end)

  it("seeds ember's RNG once per seed", function()
    local s = session.current()
    s:seed_rng(5)
    local a = ember.randn(2):totable()
    s:seed_rng(5)   -- the same seed again: the stream goes on
    local b = ember.randn(2):totable()
    assert.are_not.same(a, b)
    s.seeded = nil
    s:seed_rng(5)
    assert.same(a, ember.randn(2):totable())
  end)

  it("keeps the open runs and counts the fits of each", function()
    local s = session.current()
    local r1 = ember.run{name = "a", runs = root}
    local r2 = ember.run{name = "b", runs = root}
    assert.same({r1, r2}, s.runs)
    assert.equal(1, s:next_fit(r1))
    assert.equal(2, s:next_fit(r1))
    assert.equal(1, s:next_fit(r2))
    r1:finish()
    assert.same({r2}, s.runs)
    s:close_runs()
    assert.same({}, s.runs)
    assert.equal("finished", h.kv(r2.dir .. "/meta.tsv").status)
  end)

  it("carries --name, --runs and --seed to ember.run and --set to ember.config", function()
    session.begin{name = "cli", runs = root .. "/r", seed = 9, set = {lr = "0.5"}, set_order = {"lr"}}
    local cfg = ember.config{lr = 0.1}
    assert.equal(0.5, cfg.lr)
    local run = ember.run{name = "mine"}
    assert.matches("/r/cli/", run.dir)
    assert.equal("9", h.kv(run.dir .. "/meta.tsv").seed)
    assert.equal(cfg, session.current().last_config)
  end)
end)
