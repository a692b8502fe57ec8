-- config_spec.lua - ember.config: --set overrides parsed by the type of the default, unknown keys and
-- bad values as usage errors, --seed, and --resume applying the run's own params.tsv.
local ember = require "ember"
local config = require "ember.config"
local session = require "ember.session"
local E = require "ember.error"
local h = dofile("tests/lua/spec_helper.lua")
local errmsg = h.errmsg

local root
local real_interrupts = ember._interrupts

before_each(function()
  root = h.tmpdir()
  session.finish()
end)

after_each(function()
  session.current():close_runs()
  session.finish()
  ember._interrupts = real_interrupts
  h.rmdir(root)
end)

describe("ember.config", function()
  it("returns a new table equal to the defaults when nothing is overridden, and never writes the defaults", function()
    local d = {lr = 0.01, epochs = 10, name = "mlp", flag = true, betas = {0.9, 0.999}}
    local c = ember.config(d)
    assert.are_not.equal(d, c)
    assert.same(d, c)
    assert.are_not.equal(d.betas, c.betas)
    c.lr = 5
    assert.equal(0.01, d.lr)
  end)

  it("parses --set values by the type of the default", function()
    session.begin({set = {lr = "1e-3", epochs = "20", flag = "false", on = "YES", name = "big net",
                                  betas = "0.8, 0.99", tag = "007"},
                           set_order = {"lr", "epochs", "flag", "on", "name", "betas", "tag"}})
    local c = ember.config{lr = 0.01, epochs = 10, flag = true, on = false, name = "mlp", betas = {0.9, 0.999},
                           tag = "x"}
    assert.equal(0.001, c.lr)
    assert.equal("float", math.type(c.lr))
    assert.equal(20, c.epochs)
    assert.equal("integer", math.type(c.epochs))
    assert.equal(false, c.flag)
    assert.equal(true, c.on)
    assert.equal("big net", c.name)
    assert.same({0.8, 0.99}, c.betas)
    assert.equal("007", c.tag)   -- a string default keeps the text, even when it looks like a number
  end)

  it("rejects an unknown key, listing the known ones, and marks it as bad usage", function()
    session.begin{set = {lrr = "1"}, set_order = {"lrr"}}
    local ok, e = pcall(ember.config, {lr = 0.1, epochs = 3, batch = 8})
    assert.is_false(ok)
    assert.equal("ember.config: unknown key 'lrr' in --set lrr=1 (known keys: batch, epochs, lr)", E.message(e))
    assert.equal("usage", E.kind(e))
  end)

  it("rejects a value of the wrong type, naming key, expected type and default", function()
    session.begin({set = {lr = "fast"}, set_order = {"lr"}})
    assert.equal("ember.config: --set lr=fast: lr must be a number (default 0.1)", errmsg(ember.config, {lr = 0.1}))
    session.begin({set = {flag = "maybe"}, set_order = {"flag"}})
    assert.matches("flag must be a boolean", errmsg(ember.config, {flag = true}))
    session.begin({set = {b = "0.9,x"}, set_order = {"b"}})
    assert.matches("b must be a comma%-separated list of numbers", errmsg(ember.config, {b = {0.9, 0.99}}))
  end)

  it("refuses defaults it cannot override", function()
    assert.matches("expected a table of defaults", errmsg(ember.config, 3))
    assert.matches("default f must be a number, boolean, string or list %(got function%)",
      errmsg(ember.config, {f = print}))
    assert.matches("keys must be strings", errmsg(ember.config, {1, 2}))
  end)

  it("--seed sets the seed key, and a conflicting --set seed is refused", function()
    session.begin({seed = 7, set = {}, set_order = {}})
    assert.equal(7, ember.config{seed = 1, lr = 0.1}.seed)
    session.begin({seed = 7, set = {seed = "8"}, set_order = {"seed"}})
    assert.matches("disagree", errmsg(ember.config, {seed = 1}))
  end)

  it("format and parse round-trip every double exactly", function()
    for _, v in ipairs{0.1, 1 / 3, 1e-7, 2 ^ -30, 123456789.123, -0.75, 3} do
      local back = config.parse(config.format(v), 1.5)
      assert.equal(v, back)
    end
    assert.equal("0.1", config.format(0.1))
    assert.equal("3", config.format(3))
    assert.equal("0.9,0.999", config.format({0.9, 0.999}))
  end)

  it("with --resume applies the run's params.tsv, and refuses a --set that disagrees", function()
    local dir = root .. "/r"
    lfs.mkdir(dir)
    local f = io.open(dir .. "/params.tsv", "w")
    f:write("epochs\t7\nlr\t0.05\nflag\tfalse\n")
    f:close()
    session.begin({resume = dir, set = {}, set_order = {}})
    local c = ember.config{lr = 0.1, epochs = 3, flag = true, extra = "new"}
    assert.same({lr = 0.05, epochs = 7, flag = false, extra = "new"}, c)
    session.begin({resume = dir, set = {lr = "0.05"}, set_order = {"lr"}})
    assert.equal(0.05, ember.config{lr = 0.1, epochs = 3, flag = true}.lr)   -- same value: fine
    session.begin({resume = dir, set = {lr = "0.2"}, set_order = {"lr"}})
    assert.matches("differs from the resumed run's params.tsv %(lr=0.05%)",
      errmsg(ember.config, {lr = 0.1, epochs = 3, flag = true}))
  end)
end)
