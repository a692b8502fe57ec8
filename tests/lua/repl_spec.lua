-- repl_spec.lua - the Lua side of the REPL (lua/ember/repl/): completion candidates, how values
-- print, :commands, errors, time, plot and the session's start (help texts: repl_help_spec.lua).
local ember = require "ember"
local repl = require "ember.repl"
local E = require "ember.error"
local h = dofile("tests/lua/spec_helper.lua")

-- runs fn with io.write going to a temporary file; returns what was written
local function capture(fn, ...)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  local old = io.output()
  io.output(f)
  local ok, err = pcall(fn, ...)
  io.output(old)
  f:close()
  local g = assert(io.open(path, "r"))
  local text = g:read("a")
  g:close()
  os.remove(path)
  if not ok then error(err, 0) end
  return text
end

-- the session has ember as a global; so must the names the tests resolve
rawset(_G, "ember", ember)

local function set(list)
  local s = {}
  for _, v in ipairs(list) do s[v] = true end
  return s
end

describe("repl.complete", function()
  before_each(function()
    rawset(_G, "rt_x", ember.zeros(2, 3))
    rawset(_G, "rt_obj", {alpha = 1, apply = function() end, _hidden = 2, sub = {deep = true}})
    rawset(_G, "rt_s", "text")
  end)
  after_each(function()
    rawset(_G, "rt_x", nil); rawset(_G, "rt_obj", nil); rawset(_G, "rt_s", nil)
  end)

  it("completes tensor methods after a colon, from the method table of the metatable's __index", function()
    local c, start, kind = repl.complete("y = rt_x:resh")
    assert.same({"rt_x:reshape"}, c)
    assert.equal(5, start)      -- "y = " is 4 characters
    assert.equal("name", kind)
    local all = set((repl.complete("rt_x:s")))
    for _, m in ipairs{"rt_x:sum", "rt_x:sqrt", "rt_x:softmax", "rt_x:shape", "rt_x:squeeze"} do
      assert.is_true(all[m], m)
    end
    assert.is_nil(all["rt_x:grad"])   -- a field, not a method
  end)

  it("completes tensor fields after a dot", function()
    local c = set((repl.complete("rt_x.gra")))
    assert.is_true(c["rt_x.grad"])
    assert.is_true(c["rt_x.grad_fn"])
  end)

  it("completes fields of ember, including modules not loaded yet", function()
    local c, start = repl.complete("ember.zer")
    assert.same({"ember.zeros", "ember.zeros_like"}, c)
    assert.equal(1, start)
    local mods = set((repl.complete("ember.sch")))
    assert.is_true(mods["ember.schedule"])
    assert.same({"ember.schedule.cosine", "ember.schedule.cosine_restarts"}, (repl.complete("ember.schedule.cos")))
  end)

  it("offers only callable fields after a colon and hides _names unless typed", function()
    assert.same({"rt_obj:apply"}, (repl.complete("rt_obj:")))
    assert.same({"rt_obj.alpha", "rt_obj.apply", "rt_obj.sub"}, (repl.complete("rt_obj.")))
    assert.same({"rt_obj._hidden"}, (repl.complete("rt_obj._")))
    assert.same({"rt_obj.sub.deep"}, (repl.complete("rt_obj.sub.d")))
  end)

  it("completes globals and keywords", function()
    local c = set((repl.complete("wh")))
    assert.is_true(c["while"])
    assert.same({"rt_obj"}, (repl.complete("print(rt_o")))
    assert.same({"rt_s:upper"}, (repl.complete("rt_s:upp")))   -- string methods
  end)

  it("offers nothing where no name can be resolved", function()
    assert.same({}, (repl.complete("nosuchthing_xyz.a")))
    assert.same({}, (repl.complete("f():a")))
    assert.same({}, (repl.complete("x = 1.")))
    assert.same({}, (repl.complete("-- a comment ember.ze")))
    assert.same({}, (repl.complete("rt_obj..a")))
  end)

  -- completion runs while readline waits for a key, where Ctrl-C cannot stop Lua: no user code may run
  it("never calls a user's __index, even one that loops forever", function()
    local called = 0
    rawset(_G, "rt_spy", setmetatable({alpha = 1}, {__index = function() called = called + 1 end}))
    rawset(_G, "rt_loop", setmetatable({beta = 2}, {__index = function() while true do end end}))
    -- a runaway completion fails this spec instead of hanging it
    local ran_away = false
    debug.sethook(function() ran_away = true; error("completion ran user code that does not end", 2) end, "", 1e8)
    local ok, err = pcall(function()
      assert.same({}, (repl.complete("rt_spy.nothing.")))
      assert.same({"rt_spy.alpha"}, (repl.complete("rt_spy.")))
      assert.same({}, (repl.complete("rt_loop.gamma.")))
      assert.same({}, (repl.complete("rt_loop.gamma:")))
      assert.same({"rt_loop.beta"}, (repl.complete("rt_loop.b")))
    end)
    debug.sethook()
    rawset(_G, "rt_spy", nil); rawset(_G, "rt_loop", nil)
    assert(ok, err)
    assert.is_false(ran_away)
    assert.equal(0, called)
  end)

  it("reads a table whose __pairs and __index raise, without raising", function()
    local hostile = {__pairs = function() error("no pairs") end, __index = function() error("no index") end,
                     __call = function() error("no call") end}
    rawset(_G, "rt_bad", setmetatable({alpha = 1, go = function() end, sub = setmetatable({deep = 1}, hostile)}, hostile))
    assert.same({"rt_bad.alpha", "rt_bad.go", "rt_bad.sub"}, (repl.complete("rt_bad.")))
    assert.same({"rt_bad:go", "rt_bad:sub"}, (repl.complete("rt_bad:")))   -- sub is callable
    assert.same({"rt_bad.sub.deep"}, (repl.complete("rt_bad.sub.")))
    assert.same({}, (repl.complete("rt_bad.missing.x")))
    rawset(_G, "rt_bad", nil)
  end)

  it("still finds fields through __index tables, and methods of classes", function()
    local Base = {}
    Base.__index = Base
    function Base:hello() end
    local Cls = setmetatable({}, {__index = Base})
    Cls.__index = Cls
    function Cls:world() end
    rawset(_G, "rt_inst", setmetatable({field = {x = 1}}, Cls))
    assert.same({"rt_inst:hello", "rt_inst:world"}, (repl.complete("rt_inst:")))
    assert.same({"rt_inst.field.x"}, (repl.complete("rt_inst.field.")))
    rawset(_G, "rt_inst", nil)
  end)

  it("completes file names inside a string, directories with a slash", function()
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p '" .. dir .. "/sub' && touch '" .. dir .. "/alpha.lua' '" .. dir ..
                      "/beta.txt' '" .. dir .. "/.hidden'"))
    local line = 'dofile("' .. dir .. "/"
    local c, start, kind = repl.complete(line)
    assert.same({dir .. "/alpha.lua", dir .. "/beta.txt", dir .. "/sub/"}, c)
    assert.equal(9, start)   -- just after the quote of dofile("
    assert.equal("file", kind)
    assert.same({dir .. "/alpha.lua"}, (repl.complete("x = '" .. dir .. "/al")))
    assert.same({dir .. "/.hidden"}, (repl.complete('f"' .. dir .. "/.h")))
    assert.same({}, (repl.complete('"' .. dir .. "/zzz")))
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("does not take a closed string for an open one", function()
    local c = repl.complete('print("a", "b") ember.zer')
    assert.same({"ember.zeros", "ember.zeros_like"}, c)
    assert.same({"ember.zeros", "ember.zeros_like"}, (repl.complete([[x = "say \"hi\"" .. ember.zer]])))
  end)
end)

describe("repl.show", function()
  it("prints strings as they are and numbers as Lua does", function()
    assert.equal("hello", repl.show("hello"))
    assert.equal("3", repl.show(3))
    assert.equal("0.5", repl.show(0.5))
    assert.equal("nil", repl.show(nil))
  end)

  it("prints tables: array part, then sorted keys, small tables inside on one line", function()
    assert.equal("{1, 2, 3}", repl.show({1, 2, 3}))
    assert.equal('{1, "two", a = 3, b = {1}, c = {}}', repl.show({1, "two", b = {1}, a = 3, c = {}}))
    assert.equal("{a = {b = {...}}, l = {{...}, {...}}}", repl.show({a = {b = {c = 1}}, l = {{1}, {2}}}))
    assert.equal('{["end"] = 1, ["x y"] = 2}', repl.show({["end"] = 1, ["x y"] = 2}))
    assert.equal("{}", repl.show({}))
  end)

  it("shows a table met again inside itself as <cycle>", function()
    local t = {1}
    t.me = t
    assert.equal("{1, me = <cycle>}", repl.show(t))
    local a, b = {name = "a"}, {name = "b"}
    a.peer, b.peer = b, a
    assert.equal('{name = "a", peer = {name = "b", peer = <cycle>}}', repl.show(a))
    local shared = {1}
    assert.equal("{x = {1}, y = {1}}", repl.show({x = shared, y = shared}))   -- shared, not a cycle
  end)

  it("bounds what it prints: big tables inside as {...}, long items cut, a few hundred lines at most", function()
    local big = {}
    for i = 1, 100000 do big[i] = i end
    assert.equal("{big = {...}, n = 1}", repl.show({big = big, n = 1}))
    local wide = {}
    for i = 1, 10 do wide[i] = ("x"):rep(50) end
    assert.equal("{{...}}", repl.show({wide}))
    local rows = {}
    for i = 1, 1000 do rows[i] = {epoch = i, loss = 1 / i} end
    local s = repl.show(rows)
    assert.truthy(s:find("^{\n  {epoch = 1, loss = 1.0}, {epoch = 2, loss = 0.5}", 1))
    assert.truthy(s:find("\n  %.%.%. %(800 more%)\n}$"))
    local nlines, longest = 0, 0
    for l in s:gmatch("[^\n]+") do nlines = nlines + 1; longest = math.max(longest, #l) end
    assert.is_true(nlines <= 210 and longest <= 200, nlines .. " lines, longest " .. longest)
    local many = setmetatable({}, {__tostring = function() return ("y"):rep(10000) .. "\nmore" end})
    assert.is_true(#repl.show({many}) < 200)
  end)

  it("prints a table whose keys and values have a __tostring that fails", function()
    local bad = setmetatable({}, {__tostring = function() error("no text") end})
    local bad2 = setmetatable({}, {__tostring = function() error("no text") end})
    local s = repl.show({[bad] = 1, [bad2] = 2, [true] = 3, v = bad})
    assert.truthy(s:find("^{v = {}, %[true%] = 3, %[{}%] = [12], %[{}%] = [12]}$"), s)
  end)

  it("shows tensors inside tables by shape, and 0-d ones by value", function()
    assert.equal("{w = tensor[2 x 3], s = tensor(1.5)}",
                 repl.show({w = ember.zeros(2, 3), s = ember.tensor(1.5)}):gsub("s = (.-), w = (.-)}", "w = %2, s = %1}"))
  end)

  it("prints a tensor with its own tostring", function()
    local x = ember.tensor{{1, 2}, {3, 4}}
    assert.equal(tostring(x), repl.show(x))
    assert.truthy(repl.show(x):find("shape [2 x 2]", 1, true))
  end)

  it("uses __tostring when the table has one", function()
    local obj = setmetatable({}, {__tostring = function() return "Linear(3 -> 2)" end})
    assert.equal("Linear(3 -> 2)", repl.show(obj))
    assert.equal("{Linear(3 -> 2)}", repl.show({obj}))
  end)

  it("breaks long tables over lines and cuts very long ones", function()
    local t = {}
    for i = 1, 250 do t[i] = i end
    local s = repl.show(t)
    assert.truthy(s:find("^{\n  1, 2, 3,"))
    assert.truthy(s:find("\n  %.%.%. %(50 more%)\n}$"))
    assert.falsy(s:find("201", 1, true))
  end)

  it("names functions it knows and shows the parameters of Lua functions", function()
    assert.equal("function: ember.zeros", repl.show(ember.zeros))
    assert.equal("function: ember.plot.dumb_curve(src, metric, width, height, opts)",
                 repl.show(require("ember.plot").dumb_curve))
    assert.equal("{f = function(a, b)}", repl.show({f = function(a, b) return a + b end}))
  end)

  it("prints several values on one line, tab separated, or one per line when one is long", function()
    assert.equal("1\tx\t{1}\n", capture(repl.print, 1, "x", {1}))
    local x = ember.zeros(2, 2)
    assert.equal("1\n" .. tostring(x) .. "\n", capture(repl.print, 1, x))
    assert.equal("nil\t2\n", capture(repl.print, nil, 2))
  end)
end)

describe("repl.help", function()
  it("help() prints the text", function()
    assert.equal(repl.help_text("ember.ones") .. "\n", capture(repl.help, "ember.ones"))
  end)
end)

describe("repl.translate", function()
  it("turns ?NAME into help(\"NAME\") and ?EXPR into help((EXPR))", function()
    assert.equal('help("x:reshape")', repl.translate("?x:reshape"))
    assert.equal('help("ember.zeros")', repl.translate("? ember.zeros "))
    assert.equal("help()", repl.translate("?"))
    assert.equal("help((ember.zeros(2)\n))", repl.translate("?ember.zeros(2)"))
  end)

  it("turns :time into a call of time(), expression or statement", function()
    assert.equal("return time(function() return x:sum()\nend)", repl.translate(":time x:sum()"))
    assert.equal("return time(function() for i = 1, 3 do end\nend)", repl.translate(":time for i = 1, 3 do end"))
    local code, err = repl.translate(":time")
    assert.is_nil(code)
    assert.truthy(err:find(":time needs", 1, true))
  end)

  it("knows :help and :quit, and names the commands when one is unknown", function()
    assert.equal('help("nn")', repl.translate(":help nn"))
    assert.equal("os.exit(0, true)", repl.translate(":quit"))
    local code, err = repl.translate(":frobnicate now")
    assert.is_nil(code)
    assert.equal("unknown command ':frobnicate' (commands: :time EXPR, :help [NAME], :quit; ?NAME for help)", err)
  end)
end)

describe("repl.format_error", function()
  it("drops the traceback of an error in the typed line", function()
    assert.equal("stdin:1: boom", repl.format_error(
      "stdin:1: boom\nstack traceback:\n\t[C]: in function 'error'\n\tstdin:1: in main chunk\n\t[C]: in ?"))
  end)

  it("keeps the frames that say where, without the C glue", function()
    assert.equal("m.lua:3: bad\nstack traceback:\n\tm.lua:3: in function 'f'\n\tstdin:1: in main chunk",
      repl.format_error("m.lua:3: bad\nstack traceback:\n\t[C]: in function 'error'\n\tm.lua:3: in function 'f'" ..
                        "\n\tstdin:1: in main chunk\n\t[C]: in ?"))
  end)

  it("cuts long tracebacks to 8 frames", function()
    local frames = {}
    for i = 1, 12 do frames[i] = ("\tm.lua:%d: in function 'f%d'"):format(i, i) end
    local out = repl.format_error("m.lua:1: deep\nstack traceback:\n" .. table.concat(frames, "\n"))
    local tail = "\tm.lua:8: in function 'f8'\n\t... (4 more)"
    assert.equal(tail, out:sub(-#tail))
    assert.falsy(out:find("f9", 1, true))
  end)

  it("passes a message without traceback through", function()
    assert.equal("plain", repl.format_error("plain"))
  end)

  it("prints an ember error as where, name and message, without a traceback it does not have", function()
    local e = E.new("shape", "ember.loss.mse", "input [3] and target [4] have different shapes")
    e.where = "stdin:1: "
    assert.equal("stdin:1: ember.loss.mse: input [3] and target [4] have different shapes", repl.format_error(e))
    e.traceback = "stack traceback:\n\t[C]: in function 'error'\n\t[ember]/error.lua:94: in function " ..
                  "'ember.error.raise'\n\t[ember]/loss.lua:141: in function 'ember.loss.mse'\n\tstdin:1: in main chunk\n\t[C]: in ?"
    assert.equal("stdin:1: ember.loss.mse: input [3] and target [4] have different shapes", repl.format_error(e))
  end)

  it("shows the user's frames of an ember error's traceback, not ember's own", function()
    local e = E.new("value", "ember.zeros", "size -1 is negative")
    e.where = "stdin:2: "
    e.traceback = "stack traceback:\n\t[C]: in function 'ember._zeros'\n\t(...tail calls...)\n\t[C]: in function " ..
                  "'ember.zeros'\n\t[ember]/nn.lua:500: in function 'ember.nn.Linear.init'\n\tstdin:2: in function " ..
                  "'build'\n\tstdin:1: in main chunk\n\t[C]: in ?"
    assert.equal("stdin:2: ember.zeros: size -1 is negative\nstack traceback:\n\t[C]: in function 'ember.zeros'" ..
                 "\n\tstdin:2: in function 'build'\n\tstdin:1: in main chunk", repl.format_error(e))
  end)

  it("prints an error that is neither text nor an ember error", function()
    assert.truthy(repl.format_error({}):find("^table: "))
  end)
end)

describe("repl.time", function()
  it("returns the function's results and prints the time taken", function()
    local a, b, c
    local out = capture(function() a, b, c = repl.time(function(x) return x, nil, 3 end, 7) end)
    assert.equal(7, a); assert.is_nil(b); assert.equal(3, c)
    assert.truthy(out:match("^time: [%d.]+ [um]?s\n$"), out)
  end)

  it("formats durations in sensible units", function()
    assert.equal("2.5 us", repl._duration(2.5e-6))
    assert.equal("12.00 ms", repl._duration(0.012))
    assert.equal("1.500 s", repl._duration(1.5))
    assert.equal("2m 5.0s", repl._duration(125))
  end)

  it("refuses what it cannot call", function()
    assert.equal("time: expected a function (got number); at the prompt, :time EXPR times an expression",
                 h.errmsg(repl.time, 42))
    assert.equal("type", h.errkind(repl.time, 42))
  end)
end)

describe("repl.plot", function()
  local has_gnuplot = require("ember.plot").find_gnuplot() ~= nil

  it("refuses what it cannot draw", function()
    assert.equal("plot: expected a run directory, a run, a list of numbers or a table of named lists (got number)",
                 h.errmsg(repl.plot, 42))
    assert.equal("type", h.errkind(repl.plot, {a = "x"}))
  end)

  it("draws a list of numbers against step, and named lists against epoch", function()
    if not has_gnuplot then pending("gnuplot is not installed") return end
    local out = capture(repl.plot, {4, 3, 2, 1}, nil, {width = 50, height = 12})
    assert.truthy(out:find("loss", 1, true))
    assert.truthy(out:find("step", 1, true))
    out = capture(repl.plot, {train_loss = {3, 2, 1}, valid_loss = {3.5, 2.5, 2}}, nil, {width = 60, height = 14})
    assert.truthy(out:find("epoch", 1, true))
    assert.truthy(out:find("valid_loss", 1, true))
  end)
end)

describe("repl.init", function()
  it("marks the session interactive, installs the globals and prints the banner", function()
    local session = require "ember.session"
    session.finish()
    assert.is_nil(session.current().interactive)
    local out = capture(repl.init, {source = function() return nil end})
    assert.is_true(session.current().interactive)
    assert.truthy(out:find("^ember .*help%(%) or %?NAME for help"))
    assert.equal(repl.help, rawget(_G, "help"))
    session.finish()
    for _, k in ipairs{"help", "plot", "time"} do rawset(_G, k, nil) end
    setmetatable(_G, nil)
  end)
end)

describe("repl.install", function()
  it("sets the session's globals and resolves ember's modules lazily", function()
    local env = {}
    repl.install(env)
    assert.equal(ember, rawget(env, "ember"))
    assert.equal(repl.help, env.help)
    assert.equal(repl.plot, env.plot)
    assert.equal(repl.time, env.time)
    assert.is_nil(rawget(env, "loss"))
    assert.equal(ember.loss, env.loss)
    assert.equal(ember.loss, rawget(env, "loss"))   -- cached after the first use
    assert.is_nil(env.not_lazy)
  end)
end)
