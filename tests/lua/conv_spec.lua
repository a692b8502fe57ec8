-- conv_spec.lua - the convolution kernels against each other and against the definition: the direct
-- kernels (core/conv_direct.c, images in vector lanes; AVX-512 where the CPU has it and the AVX2 ones
-- forced with ember.set_conv_kernel("direct-avx2")) and im2col + GEMM, forward and the three gradients,
-- on shapes that exercise partial groups of images, padding, dilation and kernel sizes 2 to 7;
-- finite-difference gradients through the direct path; exact results on integer data.
local ember = require "ember"
local gradcheck = dofile("tests/lua/gradcheck.lua")

local direct = ember.blas().conv:match("^direct") ~= nil
local kernels = {"auto"}
if direct and pcall(ember.set_conv_kernel, "direct-avx2") then kernels[#kernels + 1] = "direct-avx2" end
ember.set_conv_kernel("auto")

-- output and gradients of conv2d with the given kernels; grads lists which inputs require grad
local function conv(kernel, c, grads)
  ember.set_conv_kernel(kernel)
  ember.manual_seed(11)
  local x = ember.randn(c.n, c.cin, c.h, c.w)
  local w = ember.randn(c.cout, c.cin, c.k, c.k)
  local b = c.bias ~= false and ember.randn(c.cout) or nil
  local g
  local ok, err = pcall(function()
    if grads.x then x:requires_grad() end
    if grads.w then w:requires_grad() end
    if b and grads.b then b:requires_grad() end
    local y = ember.conv2d(x, w, b, {padding = c.pad or 0, dilation = c.dil or 1})
    if grads.x or grads.w or (b and grads.b) then y:backward(ember.randn(table.unpack(y:shape()))) end
    g = {y = y:detach(), x = grads.x and x.grad, w = grads.w and w.grad, b = b and grads.b and b.grad}
  end)
  ember.set_conv_kernel("auto")
  assert(ok, err)
  return g
end

local function maxrel(a, b)
  local scale = math.max(a:abs():max():item(), 1e-30)
  return (a - b):abs():max():item() / scale
end

local shapes = {
  {name = "LeNet conv1 (1 channel in)", n = 64, cin = 1, cout = 10, h = 28, w = 28, k = 5},
  {name = "LeNet conv2, batch 100 (a partial group)", n = 100, cin = 10, cout = 20, h = 12, w = 12, k = 5},
  {name = "3x3 padding 1", n = 13, cin = 3, cout = 7, h = 9, w = 11, k = 3, pad = 1},
  {name = "3x3 dilation 2 padding 2, no bias", n = 20, cin = 4, cout = 6, h = 10, w = 10, k = 3, pad = 2, dil = 2,
   bias = false},
  {name = "2x2 padding 1", n = 37, cin = 2, cout = 3, h = 7, w = 8, k = 2, pad = 1},
  {name = "4x4 padding 3 (full)", n = 8, cin = 5, cout = 9, h = 6, w = 6, k = 4, pad = 3},
  {name = "7x7 on 32 channels", n = 16, cin = 32, cout = 5, h = 9, w = 9, k = 7},
}

describe("direct convolution kernels against im2col + GEMM", function()
  it("ember.blas().conv names the kernels", function()
    assert.is_string(ember.blas().conv)
    ember.set_conv_kernel("im2col")
    assert.truthy(ember.blas().conv:match("^im2col"))
    ember.set_conv_kernel("auto")
    local ok, err = pcall(ember.set_conv_kernel, "winograd")
    assert.is_false(ok)
    assert.truthy(tostring(err):find('ember.set_conv_kernel: expected "auto", "im2col" or "direct-avx2" (got "winograd")',
                                     1, true), tostring(err))
  end)
  for _, kernel in ipairs(kernels) do
    for _, c in ipairs(shapes) do
      it(kernel .. ": " .. c.name, function()
        for _, grads in ipairs{{x = true, w = true, b = true}, {w = true, b = true}, {x = true}, {b = true}} do
          local ref, got = conv("im2col", c, grads), conv(kernel, c, grads)
          for _, key in ipairs{"y", "x", "w", "b"} do
            assert.are.equal(ref[key] == nil, got[key] == nil)
            if ref[key] then
              local e = maxrel(ref[key], got[key])
              assert(e < 2e-6, ("%s: relative difference %.3g in %s"):format(c.name, e, key))
            end
          end
        end
      end)
    end
  end
  it("integer data gives exact results, equal to im2col's", function()
    -- small integers: every product and partial sum is exact in float32, so any order gives the same bits
    math.randomseed(3)
    local function ints(...)
      local shape, v = {...}, {}
      local n = 1
      for _, d in ipairs(shape) do n = n * d end
      for i = 1, n do v[i] = math.random(-3, 3) end
      return ember.tensor(v):reshape(...)
    end
    local x0, w0, b0, g0 = ints(24, 3, 8, 8), ints(4, 3, 3, 3), ints(4), ints(24, 4, 8, 8)
    local results = {}
    for _, kernel in ipairs{"im2col", table.unpack(kernels)} do
      ember.set_conv_kernel(kernel)
      local x, w, b = x0:clone():requires_grad(), w0:clone():requires_grad(), b0:clone():requires_grad()
      local y = ember.conv2d(x, w, b, {padding = 1})
      y:backward(g0)
      results[#results + 1] = {y, x.grad, w.grad, b.grad}
    end
    ember.set_conv_kernel("auto")
    for r = 2, #results do
      for k = 1, 4 do assert.are.equal(0, (results[1][k] - results[r][k]):abs():max():item()) end
    end
  end)
end)

describe("finite-difference gradients through the direct kernels", function()
  local cases = {
    {"5x5, 2 channels, batch 9", 9, 2, 3, 8, 7, 5, 0, 1},
    {"3x3 padding 1, batch 11", 11, 3, 2, 6, 5, 3, 1, 1},
    {"2x2 dilation 2 padding 1, batch 8", 8, 2, 2, 6, 6, 2, 1, 2},
  }
  for _, kernel in ipairs(kernels) do
    for _, c in ipairs(cases) do
      it(kernel .. ": " .. c[1], function()
        ember.set_conv_kernel(kernel)
        ember.manual_seed(4)
        local n, cin, cout, h, w, k, pad, dil = table.unpack(c, 2)
        local inputs = {ember.randn(n, cin, h, w):requires_grad(), ember.randn(cout, cin, k, k):requires_grad(),
                        ember.randn(cout):requires_grad()}
        local ok, msg = gradcheck(function(t) return ember.conv2d(t[1], t[2], t[3], {padding = pad, dilation = dil}) end,
                                  inputs, {eps = 1e-2, tol = 1e-2})
        ember.set_conv_kernel("auto")
        assert(ok, msg)
      end)
    end
  end
end)
