-- config_spec.lua - ember.config: --set overrides parsed by the type of the default, unknown keys and
-- bad values as usage errors, --seed, and --resume applying the run's own params.tsv.
local ember = require "ember"
local lfs = require "lfs"
local config = require "ember.config"
local session = require "ember.session"
local E = require "ember.error"
local h = dofile("tests/lua/spec_helper.lua")
local errmsg = h.errmsg

local root
before_each(function() root = h.fresh_session() end)
after_each(function() h.end_session(root) end)

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

  it("refuses a control character in a --set value or a string default, naming the key", function()
    -- params.tsv holds a value on one line after a tab: a newline or tab was written as a space, so the
    -- run recorded another value than the one it ran with
    for _, c in ipairs{{"a\nb", "\\n (newline) at byte 2"}, {"a\tb", "\\t (tab) at byte 2"},
                       {"\27[31m", "\\27 (escape) at byte 1"}, {"x\127", "\\127 (delete) at byte 2"},
                       {"ok\1", "\\1 at byte 3"}, {"\0", "\\0 (NUL) at byte 1"}, {"\r", "\\r (carriage return) at byte 1"}} do
      session.begin({set = {note = c[1]}, set_order = {"note"}})
      local ok, e = pcall(ember.config, {note = "", lr = 0.1})
      assert.is_false(ok)
      assert.equal("usage", E.kind(e))
      assert.equal(("ember.config: --set note=%s: the value of note holds a control character (%s); a config value "
        .. "is one line of printable text"):format(require("ember.util").tsv_field(c[1]), c[2]), E.message(e))
    end
    session.begin({set = {tags = "a,b\tc"}, set_order = {"tags"}})
    assert.equal("usage", h.errkind(ember.config, {tags = {"x"}}))
    session.begin({set = {note = "café, \"quoted\" $(x)"}, set_order = {"note"}})
    assert.equal("café, \"quoted\" $(x)", ember.config{note = ""}.note)
    session.finish()
    assert.equal("ember.config: default note holds a control character (\\n (newline) at byte 4); a config value is "
      .. "one line of printable text", errmsg(ember.config, {note = "two\nlines"}))
    assert.matches("default tags%[2%] holds a control character", errmsg(ember.config, {tags = {"a", "b\tc"}}))
    assert.equal("value", h.errkind(ember.config, {note = "\t"}))
  end)

  it("refuses defaults it cannot override", function()
    assert.matches("expected a table of defaults", errmsg(ember.config, 3))
    assert.matches("default f must be a number, boolean, string, list, ember.choice or ember.number %(got function%)",
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

describe("ember.config's checks of numbers", function()
  local function set(k, v) session.begin{set = {[k] = v}, set_order = {k}} end

  it("refuses a non-finite number for a number default, as it refuses nan", function()
    for _, text in ipairs{"1e999", "-1e999", "nan", "inf"} do
      set("lr", text)
      local ok, e = pcall(ember.config, {lr = 0.1})
      assert.is_false(ok)
      assert.equal("usage", E.kind(e))
      assert.matches("lr must be a finite number %(default 0.1%)$", E.message(e))
    end
  end)

  it("takes integers only for an integer default; 2.0 and 1e3 are integers", function()
    set("epochs", "2.5")
    assert.equal("ember.config: --set epochs=2.5: epochs must be an integer (default 4, an integer: a script "
      .. "that wants fractions writes it 4.0)", errmsg(ember.config, {epochs = 4}))
    set("epochs", "2.0")
    local c = ember.config{epochs = 4}
    assert.equal(2, c.epochs)
    assert.equal("integer", math.type(c.epochs))
    set("epochs", "1e3")
    assert.equal(1000, ember.config{epochs = 4}.epochs)
    set("epochs", "1e30")
    assert.matches("must be an integer", errmsg(ember.config, {epochs = 4}))
    set("lr", "2.5")   -- a float default takes any finite number
    assert.equal(2.5, ember.config{lr = 0.0}.lr)
  end)

  it("types a list's items as integers only when every default item is one", function()
    set("sizes", "64,32.5")
    assert.matches("sizes must be a comma%-separated list of integers", errmsg(ember.config, {sizes = {64, 32}}))
    set("smoothing", "0,0.05,0.2")
    assert.same({0, 0.05, 0.2}, ember.config{smoothing = {0, 0.1}}.smoothing)
  end)
end)

describe("ember.choice and ember.number", function()
  local function set(k, v) session.begin{set = {[k] = v}, set_order = {k}} end

  it("give the plain default when nothing is set, and params.tsv holds the plain values", function()
    local c = ember.config{sched = ember.choice{"cosine", "step", "none"}, lr = ember.number{1e-3, above = 0},
      opts = ember.choice{"sgd", "adam", "rmsprop", list = true}, depth = ember.number{2, min = 1, integer = true},
      k = ember.choice{1, 3, 5, default = 3}}
    assert.same({sched = "cosine", lr = 1e-3, opts = {"sgd", "adam", "rmsprop"}, depth = 2, k = 3}, c)
    local run = ember.run{name = "d", runs = root, config = c}
    assert.equal("depth\t2\nk\t3\nlr\t0.001\nopts\tsgd,adam,rmsprop\nsched\tcosine\n", h.read(run.dir .. "/params.tsv"))
  end)

  it("refuse a value that is not one of the choices, naming them, as bad usage", function()
    set("sched", "cosin")
    local ok, e = pcall(ember.config, {sched = ember.choice{"cosine", "step", "none"}})
    assert.is_false(ok)
    assert.equal("usage", E.kind(e))
    assert.equal("ember.config: --set sched=cosin: sched must be one of cosine, step, none (default cosine)",
      E.message(e))
    set("sched", "step")
    assert.equal("step", ember.config{sched = ember.choice{"cosine", "step", "none"}}.sched)
  end)

  it("match numeric choices by value and give the declared number", function()
    set("k", "5.0")
    local c = ember.config{k = ember.choice{1, 3, 5}}
    assert.equal(5, c.k)
    assert.equal("integer", math.type(c.k))
    set("k", "4")
    assert.matches("k must be one of 1, 3, 5 %(default 1%)", errmsg(ember.config, {k = ember.choice{1, 3, 5}}))
  end)

  it("take some of the choices with list = true, each once", function()
    local opts = ember.choice{"sgd", "adam", "rmsprop", list = true}
    set("opts", "adam, sgd")
    assert.same({"adam", "sgd"}, ember.config{opts = opts}.opts)
    set("opts", "sgd,adma")
    assert.matches("opts must be a comma%-separated list of sgd, adam, rmsprop %(default sgd,adam,rmsprop%)",
      errmsg(ember.config, {opts = opts}))
    set("opts", "sgd,sgd")
    assert.matches("each at most once", errmsg(ember.config, {opts = opts}))
  end)

  it("check bounds: min and max inclusive, above and below exclusive, integer", function()
    local cases = {
      {ember.number{0.5, min = 0, max = 1}, "1", 1}, {ember.number{0.5, min = 0, max = 1}, "0", 0},
      {ember.number{0.5, min = 0, max = 1}, "1.5", "a number from 0 to 1"},
      {ember.number{1e-3, above = 0}, "0", "a number above 0"},
      {ember.number{1e-3, above = 0}, "-1", "a number above 0"},
      {ember.number{1e-3, above = 0}, "1e999", "a number above 0"},
      {ember.number{0.5, above = 0, below = 1}, "1", "a number above 0 and below 1"},
      {ember.number{3, min = 1, integer = true}, "2.5", "an integer at least 1"},
      {ember.number{3, min = 1, integer = true}, "0", "an integer at least 1"},
      {ember.number{3, min = 1, integer = true}, "7", 7},
      {ember.number{3, max = 10}, "2.5", 2.5},
    }
    for i, case in ipairs(cases) do
      set("x", case[2])
      if type(case[3]) == "number" then
        assert.equal(case[3], ember.config{x = case[1]}.x, "case " .. i)
      else
        assert.matches("x must be " .. case[3]:gsub("%-", "%%-") .. " %(default ", errmsg(ember.config, {x = case[1]}), "case " .. i)
      end
    end
  end)

  it("apply to a resumed run's params.tsv too", function()
    local dir = root .. "/r"
    lfs.mkdir(dir)
    h.write(dir .. "/params.tsv", "sched\tcosin\n")
    session.begin({resume = dir, set = {}, set_order = {}})
    assert.matches("params.tsv of the resumed run: sched must be one of cosine, step",
      errmsg(ember.config, {sched = ember.choice{"cosine", "step"}}))
  end)

  it("refuse declarations that make no sense, naming the function", function()
    assert.matches("^ember.choice: give the choices", errmsg(ember.choice, {}))
    assert.matches("^ember.choice: the choices must all be strings or all numbers", errmsg(ember.choice, {"a", 1}))
    assert.matches("^ember.choice: choice \"a\" is listed twice", errmsg(ember.choice, {"a", "a"}))
    assert.matches("^ember.choice: the default \"c\" is not one of a, b", errmsg(ember.choice, {"a", "b", default = "c"}))
    assert.matches("^ember.choice: unknown option \"defualt\"", errmsg(ember.choice, {"a", defualt = "a"}))
    assert.matches("^ember.choice: choice \"a,b\" must be non%-empty, without commas", errmsg(ember.choice, {"a,b"}))
    assert.matches("^ember.number: the first item must be the default", errmsg(ember.number, {min = 0}))
    assert.matches("^ember.number: the default 2 is not a number from 0 to 1", errmsg(ember.number, {2, min = 0, max = 1}))
    assert.matches("^ember.number: the default 0.5 is not an integer", errmsg(ember.number, {0.5, integer = true}))
    assert.matches("^ember.number: give min or above, not both", errmsg(ember.number, {1, min = 0, above = 0}))
    assert.matches("^ember.number: max must be a finite number", errmsg(ember.number, {1, max = 0 / 0}))
    assert.matches("^ember.number: unknown option \"mn\"", errmsg(ember.number, {1, mn = 0}))
  end)
end)
