-- misuse_spec.lua - calls that no correct program makes: a tensor's metamethods and methods handed
-- other userdata (a file, a closed tensor) or other types. Each raises a Lua error; none crashes.
local ember = require "ember"

local h = dofile("tests/lua/spec_helper.lua")
local errmsg = h.errmsg

local function closed_tensor()
  local t <close> = ember.zeros(2)
  return t
end

describe("tensor metamethods", function()
  local mt = getmetatable(ember.zeros(1))
  it("__gc and __close refuse any userdata that is not a tensor", function()
    assert.matches("ember.Tensor expected, got FILE%*", errmsg(mt.__gc, io.stdout))
    assert.matches("ember.Tensor expected, got FILE%*", errmsg(mt.__close, io.stdout))
    assert.matches("ember.Tensor expected, got number", errmsg(mt.__gc, 1))
    io.stdout:write("")   -- the file is untouched
  end)
  it("__gc runs twice on a tensor without harm", function()
    local t = ember.ones(3)
    mt.__gc(t)
    mt.__gc(t)
    assert.matches("Tensor:sum: argument 1 must be a tensor %(got a closed tensor%)", errmsg(t.sum, t))
    assert.equal("tensor (closed)", tostring(t))
  end)
  it("every metamethod raises on every foreign value", function()
    local foreign = {io.stdout, 1, "x", {}, false, print}
    local n = 0
    for name, f in pairs(mt) do
      if type(f) == "function" then
        for _, v in ipairs(foreign) do
          local ok = pcall(f, v, v)
          assert.is_false(ok, name .. " accepted a " .. type(v))
          n = n + 1
        end
      end
    end
    assert.equal(12 * #foreign, n)   -- __index, __newindex, __gc, __close, __tostring, __len, 6 arithmetic
  end)
end)

describe("tensor methods", function()
  it("every method raises when its tensor is another userdata or a closed tensor", function()
    local x = ember.zeros(2)
    local n = 0
    for _, name in ipairs{"sum", "add", "narrow", "select", "reshape", "fill", "copy", "add_", "mul_", "item",
                          "totable", "shape", "clone", "backward", "max", "expand", "index_select"} do
      local f = x[name]
      assert.is_function(f, name)
      for _, self in ipairs{io.stdout, closed_tensor()} do
        local ok, e = pcall(f, self, 1, 1, 1)
        assert.is_false(ok, name)
        assert.matches("tensor", tostring(e), 1, true)
        n = n + 1
      end
    end
    assert.equal(34, n)
  end)
  it("a closed tensor given as an argument is refused by name", function()
    local x = ember.zeros(2)
    assert.matches("tensor was closed", errmsg(x.add, x, closed_tensor()))
    assert.matches("tensor was closed", errmsg(ember.cat, {x, closed_tensor()}))
  end)
end)

describe("in-place writes into an expanded view", function()
  it("refuse different values for elements that share memory, as PyTorch does", function()
    local e = ember.ones(1):expand(3)
    for name, f in pairs{add_ = function() e:add_(ember.tensor{1, 2, 3}) end,
                         copy = function() e:copy(ember.tensor{1, 2, 3}) end,
                         mul_ = function() e:mul_(2) end, uniform = function() e:uniform() end,
                         normal = function() e:normal() end} do
      local ok, err = pcall(f)
      assert.is_false(ok, name)
      assert.matches(name .. ": %[3%] is an expanded view whose elements share memory; clone%(%) it first",
                     tostring(err))
    end
    e:fill(2)   -- one value for all: allowed, as PyTorch's fill_
    assert.same({2, 2, 2}, e:totable())
  end)
  it("copy between overlapping views of one storage reads before it writes", function()
    local x = ember.arange(6)
    x:narrow(1, 2, 3):copy(x:narrow(1, 1, 3))
    assert.same({0, 0, 1, 2, 4, 5}, x:totable())
    local w = ember.arange(8):reshape(2, 4)
    w:narrow(2, 2, 3):copy(w:narrow(2, 1, 3))
    assert.same({{0, 0, 1, 2}, {4, 4, 5, 6}}, w:totable())
  end)
end)

describe("file name arguments", function()
  it("refuse a NUL byte, which would cut the name short in C", function()
    local E = require "ember.error"
    local w = {w = ember.ones(1)}
    for name, f in pairs{["ember.save"] = function() ember.save("/tmp/x\0y", {}) end,
                         ["ember.load"] = function() ember.load("/tmp/x\0y") end,
                         ["ember._write_atomic"] = function() ember._write_atomic("/tmp/x\0y", "") end,
                         ["ember.data.csv"] = function() ember._csv_read("/tmp/x\0y") end,
                         ["ember.data.idx"] = function() ember._idx_read("/tmp/x\0y") end,
                         ["ember.save_npz"] = function() ember.save_npz("/tmp/x\0y", w) end,
                         ["ember.save_safetensors"] = function() ember.save_safetensors("/tmp/x\0y", w) end,
                         ["ember._lock"] = function() ember._lock("/tmp/x\0y") end} do
      local ok, err = pcall(f)
      assert.is_false(ok, name)
      assert.are.equal(name .. ": a file name cannot contain a NUL byte (got '/tmp/x\\0...', 8 bytes)", E.message(err))
      assert.are.equal("value", E.kind(err), name)
    end
    assert.are.equal("ember.data.fashion_mnist: dir cannot contain a NUL byte (got \"/tmp\\0y\")",
                     h.errmsg(ember.data.fashion_mnist, "train", "/tmp\0y"))
    assert.are.equal("ember.load: a file name must be a string (got nil)", h.errmsg(ember.load, nil))
    assert.are.equal("type", h.errkind(ember.save_npz, {}, w))
  end)
end)

describe("name arguments", function()
  it("refuse a NUL byte instead of reading the name up to it", function()
    local before = ember.blas().conv
    assert.are.equal("ember.set_conv_kernel: the kernel name cannot contain a NUL byte (got 'direct\\0...', 8 bytes)",
                     h.errmsg(ember.set_conv_kernel, "direct\0x"))
    assert.are.equal("value", h.errkind(ember.set_conv_kernel, "im2col\0x"))
    assert.are.equal(before, ember.blas().conv)
    assert.are.equal("ember.conv2d: padding cannot contain a NUL byte (got 'same\\0...', 6 bytes)",
                     h.errmsg(ember.conv2d, ember.ones(1, 1, 3, 3), ember.ones(1, 1, 3, 3), nil, {padding = "same\0x"}))
    local x = ember.ones(2):requires_grad()
    x.grad = ember.ones(2)
    assert.is_nil(x["grad\0x"])
    assert.are.equal("tensor has no settable field 'grad\\0...' (a NUL byte)",
                     h.errmsg(function() x["grad\0x"] = ember.zeros(2) end))
    assert.are.same({1, 1}, x.grad:totable())
    assert.is_nil(ember["nn\0x"])
  end)
end)
