-- repl_help_spec.lua - the REPL's help (lua/ember/repl/help.lua, describe.lua, docs.lua, sources.lua):
-- texts from the doc comments and from the docs of the C functions, for users only: no source paths,
-- C headers or internal names, and the section of docs/api.md that says more.
local ember = require "ember"
local repl = require "ember.repl"
local h = dofile("tests/lua/spec_helper.lua")

-- the session has ember as a global; so must the names the tests resolve
rawset(_G, "ember", ember)

describe("repl.help_text", function()
  it("shows the C docs of ember functions and tensor methods", function()
    assert.truthy(repl.help_text(ember.zeros):find("^ember.zeros%(d1, d2, ...%)"))
    assert.truthy(repl.help_text("ember.zeros"):find("^ember.zeros%("))
    local reshape = repl.help_text("reshape")
    assert.truthy(reshape:find("^x:reshape%(d1, d2, ...%)"))
    assert.equal(reshape, repl.help_text("Tensor:reshape"))
    rawset(_G, "rt_t", ember.ones(3))
    assert.equal(reshape, repl.help_text("rt_t:reshape"))
    rawset(_G, "rt_t", nil)
  end)

  it("documents every tensor method that existed when the REPL was written", function()
    for _, m in ipairs{"sum", "mean", "max", "matmul", "reshape", "view", "t", "narrow", "softmax", "backward",
                       "detach", "requires_grad", "item", "shape", "fill", "copy", "add_", "index_select"} do
      assert.is_string(repl.docs["Tensor:" .. m], m)
      assert.is_function(repl._tensor_methods()[m], m)
    end
  end)

  it("reads the doc comment above a Lua module function", function()
    local text = repl.help_text(require("ember.plot").dumb_curve)
    assert.truthy(text:find("^plot%.dumb_curve%(src, metric, width, height %[, opts%]%): a text preview"))
    assert.truthy(text:find("never raises", 1, true))
    assert.equal(text, repl.help_text("ember.plot.dumb_curve"))
    assert.equal(text, repl.help_text("plot.dumb_curve"))   -- as the docs spell it
  end)

  it("finds a bare name in the ember modules", function()
    assert.truthy(repl.help_text("cosine"):find("^schedule%.cosine{optimizer, t_max"))
  end)

  it("describes a module: its leading comment and its functions", function()
    local text = repl.help_text(require("ember.plot"))
    assert.truthy(text:find("^ember%.plot: loss curves"))
    assert.truthy(text:find("\nfunctions:\n", 1, true))
    assert.truthy(text:find("\n  plot.dumb_curve(src, metric", 1, true))
    assert.falsy(text:find("_shell_quote", 1, true))   -- private names stay out
  end)

  it("reads doc comments from a script file, and says when there is none", function()
    local path = os.tmpname()
    local f = assert(io.open(path, "w"))
    f:write("local M = {}\n-- add(a, b): the sum of a and b.\n-- Returns a number.\nfunction M.add(a, b) return a + b end\n",
            "\nfunction M.bare(x, ...) return x end\nreturn M\n")
    f:close()
    local mod = dofile(path)
    local add, bare = repl.help_text(mod.add), repl.help_text(mod.bare)
    os.remove(path)
    assert.equal("add(a, b): the sum of a and b.\nReturns a number.", add)
    assert.truthy(bare:find("^function%(x, ...%)\n%(no doc comment; defined at "))
  end)

  it("describes tensors, Lua's own functions, unknown names and nil", function()
    local t = repl.help_text(ember.zeros(2, 5))
    assert.truthy(t:find("^tensor of shape %[2 x 5%]"))
    assert.truthy(t:find(" reshape ", 1, true))
    assert.truthy(repl.help_text(print):find("^print: a Lua standard function; see https://www.lua.org/manual/5.4/manual.html#pdf%-print"))
    assert.truthy(repl.help_text(string.format):find("#pdf%-string%.format$"))
    assert.equal("help: nothing named 'no_such_name_q' (try ?ember for the list of functions)",
                 repl.help_text("no_such_name_q"))
    assert.truthy(repl.help_text(nil):find("^help: the value is nil"))
    assert.truthy(repl.help_text():find("?NAME", 1, true))
  end)

  it("lists the methods of an object from its class", function()
    local Cls = {}
    Cls.__index = Cls
    -- obj:go(n): goes n steps.
    function Cls:go(n) return n end
    local text = repl.help_text(setmetatable({}, Cls))
    assert.truthy(text:find("methods:\n  obj:go(n): goes n steps.", 1, true))
  end)

  describe("classes and objects of a module", function()
    local dir, fixt
    setup(function()
      dir = os.tmpname()
      os.remove(dir)
      assert(os.execute("mkdir -p '" .. dir .. "/ember'"))
      local f = assert(io.open(dir .. "/ember/fixt.lua", "w"))
      f:write([=[
-- ember.fixt: a module for the REPL's tests.
local M = {}
local Box = {}
Box.__index = Box
M.Box = setmetatable(Box, {__call = function(c, ...) return c.new(...) end})
--- fixt.Box(n): a box holding n.
function Box.new(n) return setmetatable({n = n}, Box) end
--- box:get(): the n it holds.
function Box:get() return self.n end
local function make(name) return setmetatable({}, {__call = function() return name end}) end
--- fixt.One(): the first;  fixt.Two(): the second
M.One = make("one")
M.Two = make("two")
return M
]=])
      f:close()
      package.path = dir .. "/?.lua;" .. package.path
      fixt = require "ember.fixt"
    end)
    teardown(function()
      package.loaded["ember.fixt"] = nil
      os.execute("rm -rf '" .. dir .. "'")
    end)

    it("documents a class from its constructor and lists its methods", function()
      assert.equal("fixt.Box(n): a box holding n.\nmethods:\n  box:get(): the n it holds.", repl.help_text(fixt.Box))
    end)

    it("documents an object by its class", function()
      assert.equal("an object of class ember.fixt.Box:\nfixt.Box(n): a box holding n.\nmethods:\n" ..
                   "  box:get(): the n it holds.", repl.help_text(fixt.Box(3)))
    end)

    it("finds the doc of a class made by a helper where the module mentions it", function()
      assert.equal("fixt.Two(): the second", repl.help_text(fixt.Two))
      assert.equal("ember.fixt: a module for the REPL's tests.\nfunctions:\n  fixt.Box(n): a box holding n.\n" ..
                   "  fixt.One(): the first\n  fixt.Two(): the second", repl.help_text(fixt))
    end)
  end)

end)

-- what no help text of ember's own may show: paths of the source tree, C files and headers, internal names
local DEVELOPER = {"core/", "lua/ember", "tests/", "DESIGN", "%w%.[ch]%f[^%w_]", "%f[%w_]ember%._", "%f[%w_]util%.",
                   "defined at", "no doc comment"}

local function developer_text(text)
  for _, p in ipairs(DEVELOPER) do
    local at = text:find(p)
    if at then return text:sub(math.max(at - 30, 1), at + 30) end
  end
end

local function lines_of(text)
  local out = {}
  for l in (text .. "\n"):gmatch("(.-)\n") do out[#out + 1] = l end
  return out
end

local function assert_user_text(text, what)
  local bad = developer_text(text)
  assert(bad == nil, ("%s shows developers' text: ...%s..."):format(what, bad))
  local seen = {}
  for _, l in ipairs(lines_of(text)) do
    assert(l == "" or not seen[l], ("%s repeats the line %q"):format(what, l))
    seen[l] = true
    assert(not l:match("^  [%w_.:]*[.:]_"), ("%s lists an internal name: %s"):format(what, l))
  end
end

describe("help shows what users read", function()
  setup(function()
    for _, k in ipairs{"nn", "loss", "optim"} do rawset(_G, k, ember[k]) end
    rawset(_G, "rt_x", ember.zeros(2, 3))
  end)
  teardown(function()
    for _, k in ipairs{"nn", "loss", "optim", "rt_x"} do rawset(_G, k, nil) end
  end)

  it("?ember.run: what a run is, its functions, and where the manual says more", function()
    local text = repl.help_text("ember.run")
    assert_user_text(text, "?ember.run")
    assert.truthy(text:find("^ember%.run{name, config} %-> a run"))
    assert.truthy(text:find("\n  run.check_resumable(dir)", 1, true))
    assert.falsy(text:find("read_kv", 1, true))     -- a helper of ember.util, not the run's
    assert.falsy(text:find("basename", 1, true))    -- undocumented helpers stay out
    assert.truthy(text:find('\nMore: docs/api.md, section "ember.run".$'))
  end)

  it("?nn: the layers once each, no C header, no helper of another module", function()
    local text = repl.help_text("nn")
    assert_user_text(text, "?nn")
    assert.truthy(text:find("^ember%.nn: layers"))
    assert.truthy(text:find("\n  nn.Linear(in_features, out_features", 1, true))
    assert.truthy(text:find("\n  nn.ReLU(): max(x, 0)\n", 1, true))
    assert.truthy(text:find("\n  nn.Tanh(): tanh(x)\n", 1, true))
    assert.truthy(text:find("\n  nn.Module: the base class of layers and of your own models:\n", 1, true))
    assert.falsy(text:find("shape_str", 1, true))
    assert.truthy(text:find('\nMore: docs/api.md, section "Layers: ember.nn".$'))
    assert.equal(text, repl.help_text(ember.nn))
  end)

  it("?ember.zeros: the doc of a C function as users call it", function()
    assert.equal("ember.zeros(d1, d2, ...) or ember.zeros{d1, d2, ...}: a tensor of zeros of that shape.\n" ..
                 'More: docs/api.md, section "Tensors".', repl.help_text("ember.zeros"))
    assert.truthy(repl.help_text("ember.save"):find('More: docs/api.md, section "Checkpoints".', 1, true))
    assert.truthy(repl.help_text("ember.conv2d"):find('section "Layers: ember.nn"', 1, true))
  end)

  it("?ember.loss.mse: the call first when the doc does not open with it", function()
    local text = repl.help_text("ember.loss.mse")
    assert_user_text(text, "?ember.loss.mse")
    assert.truthy(text:find("^ember%.loss%.mse%(input, target, opts%)\nMean squared error"))
    assert.truthy(text:find('\nMore: docs/api.md, section "Losses: ember.loss".$'))
    assert.equal(text, repl.help_text("loss.mse"))   -- through the global loss
    assert.equal(text, repl.help_text(ember.loss.mse))
  end)

  it("?Tensor and the tensor methods", function()
    local text = repl.help_text("Tensor")
    assert_user_text(text, "?Tensor")
    assert.truthy(text:find("^Tensor: an n%-dimensional float32 array"))
    assert.truthy(text:find(" reshape ", 1, true))
    assert.falsy(text:find(" _", 1, true))
    assert.truthy(text:find('More: docs/api.md, sections "Tensors" and "Autograd".$'))
    assert.truthy(repl.help_text("rt_x"):find("^tensor of shape %[2 x 3%]\nTensor: "))
    assert.equal("x:sum([dim [, keepdim]]): sum of all elements (0-d), or over dim (kept as size 1 with keepdim).\n" ..
                 'More: docs/api.md, section "Tensors".', repl.help_text("rt_x:sum"))
    assert.equal(repl.help_text("rt_x:sum"), repl.help_text("Tensor:sum"))
    assert.truthy(repl.help_text("Tensor:backward"):find('section "Autograd".$'))
  end)

  it("documents every public tensor method and ember function written in C", function()
    for m in pairs(repl._tensor_methods()) do
      if not m:match("^_") then assert.is_string(repl.docs["Tensor:" .. m], "Tensor:" .. m) end
    end
    for k, v in next, ember do
      if type(v) == "function" and not k:match("^_") and debug.getinfo(v, "S").what == "C" then
        assert.is_string(repl.docs["ember." .. k], "ember." .. k)
      end
    end
  end)

  it("says a name starting with _ is internal", function()
    assert.equal("ember._mse is internal to ember: names that start with _ may change without notice",
                 repl.help_text("ember._mse"))
  end)

  it("points only at sections docs/api.md has", function()
    local headings = {}
    for line in h.read("docs/api.md"):gmatch("[^\n]+") do
      local title = line:match("^#+%s+(.-)%s*$")
      if title then headings[title] = true end
    end
    local docs = require "ember.repl.docs"
    for name, info in pairs(docs.MODULES) do assert.is_true(headings[info[1]], name .. ": " .. info[1]) end
    for name, section in pairs(docs.section) do assert.is_true(headings[section], name .. ": " .. section) end
  end)

  it("shows no developers' text for any public module or anything it lists", function()
    local docs = require "ember.repl.docs"
    for mname in pairs(docs.MODULES) do
      local mod = require(mname)
      assert_user_text(repl.help_text(mname), "?" .. mname)
      for k, v in next, mod do
        if type(k) == "string" and not k:match("^_") and (type(v) == "function" or type(v) == "table") then
          assert_user_text(repl.help_text(mname .. "." .. k), "?" .. mname .. "." .. k)
        end
      end
    end
    assert_user_text(repl.help_text("ember"), "?ember")
  end)
end)

describe("sources.user_text", function()
  local sources = require "ember.repl.sources"

  it("cuts remarks that cite the source tree and drops lines about internals", function()
    assert.equal("Mean squared error, mean((x - y)^2).\nReturns a tensor.",
                 sources.user_text("Mean squared error, mean((x - y)^2) (fused kernel: core/loss.c).\n" ..
                                   "Calls ember._mse underneath.\nReturns a tensor."))
    assert.equal("Layers over the kernels.", sources.user_text("Layers over the kernels (core/nn.h)."))
    assert.is_nil(sources.user_text("see lua/ember/fit.lua"))
    assert.equal("A value (PyTorch's default).", sources.user_text("A value (PyTorch's default)."))
  end)
end)
