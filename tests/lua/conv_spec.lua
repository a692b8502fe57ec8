-- conv_spec.lua - the convolution kernels against each other and against the definition: the direct
-- kernels (core/conv_direct.c, images in vector lanes; AVX-512 where the CPU has it and the AVX2 ones
-- forced with ember.set_conv_kernel("direct-avx2")) and im2col + GEMM, forward and the three gradients,
-- on shapes that exercise partial groups of images, padding, dilation and kernel sizes 2 to 7;
-- finite-difference gradients through the direct path; exact results on integer data; channel groups
-- (depthwise convolution) and padding "same" with even kernels (PyTorch's extra row and column at the
-- bottom and right).
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

-- x with `top` zero rows and `left` zero columns before it and `bottom`, `right` after (N, C, H, W)
local function zero_pad(x, top, bottom, left, right)
  local n, c, h, w = table.unpack(x:shape())
  local parts = {}
  if top > 0 then parts[#parts + 1] = ember.zeros(n, c, top, w) end
  parts[#parts + 1] = x
  if bottom > 0 then parts[#parts + 1] = ember.zeros(n, c, bottom, w) end
  x = #parts > 1 and ember.cat(parts, 3) or x
  h = x:shape()[3]
  parts = {}
  if left > 0 then parts[#parts + 1] = ember.zeros(n, c, h, left) end
  parts[#parts + 1] = x
  if right > 0 then parts[#parts + 1] = ember.zeros(n, c, h, right) end
  return #parts > 1 and ember.cat(parts, 4) or x
end

describe("padding \"same\"", function()
  it("a 2x2 kernel pads one row and column at the bottom and right (hand-computed)", function()
    -- x = [[1, 2, 3], [4, 5, 6], [7, 8, 9]], w = [[1, 10], [100, 1000]]:
    -- out(i, j) = x(i, j) + 10 x(i, j+1) + 100 x(i+1, j) + 1000 x(i+1, j+1), zero beyond the image
    local x = ember.tensor{{{{1, 2, 3}, {4, 5, 6}, {7, 8, 9}}}}
    local w = ember.tensor{{{{1, 10}, {100, 1000}}}}
    local y = ember.conv2d(x, w, nil, {padding = "same"})
    assert.are.same({5421, 6532, 603, 8754, 9865, 906, 87, 98, 9}, y:reshape(-1):totable())
  end)
  for _, kernel in ipairs{"im2col", table.unpack(kernels)} do
    it(kernel .. ": even and odd kernels and dilations equal a valid convolution of the padded input", function()
      ember.set_conv_kernel(kernel)
      ember.manual_seed(8)
      for _, c in ipairs{{4, 1}, {2, 1}, {3, 2}, {2, 3}, {5, 1}} do
        local k, d = c[1], c[2]
        local span = d * (k - 1)
        local x = ember.randn(20, 3, 9, 8):requires_grad()
        local w = ember.randn(4, 3, k, k):requires_grad()
        local y = ember.conv2d(x, w, nil, {padding = "same", dilation = d})
        assert.are.same({20, 4, 9, 8}, y:shape())
        local g = ember.randn(20, 4, 9, 8)
        y:backward(g)
        local gx, gw = x.grad, w.grad
        x.grad, w.grad = nil, nil
        local top, bottom = span // 2, span - span // 2
        local ref = ember.conv2d(zero_pad(x, top, bottom, top, bottom), w, nil, {dilation = d})
        ref:backward(g)
        assert(maxrel(ref, y) < 2e-6 and maxrel(x.grad, gx) < 2e-6 and maxrel(w.grad, gw) < 2e-6)
      end
      ember.set_conv_kernel("auto")
    end)
  end
  it("nn.Conv2d takes it, and refuses it with a stride", function()
    local m = ember.nn.Conv2d(2, 3, 4, {padding = "same"})
    assert.are.same({5, 3, 7, 6}, m(ember.randn(5, 2, 7, 6)):shape())
    assert.has_error(function() ember.nn.Conv2d(2, 3, 4, {padding = "same", stride = 2}) end)
    local ok, err = pcall(ember.conv2d, ember.randn(1, 2, 5, 5), ember.randn(3, 2, 2, 2), nil,
                          {padding = "same", stride = 2})
    assert.is_false(ok)
    assert.truthy(tostring(err):find('padding "same" needs stride 1', 1, true))
    -- a kernel of height 0 made padding -1/2 and -1%2, refused as "padding >= 0 (got padding 0)"
    ok, err = pcall(ember.conv2d, ember.randn(1, 1, 3, 3), ember.randn(1, 1, 0, 2), nil, {padding = "same"})
    assert.is_false(ok)
    assert.truthy(tostring(err):find('ember.conv2d: padding "same" needs a kernel of at least 1 x 1 (got weight '
                                     .. '[1 x 1 x 0 x 2])', 1, true), tostring(err))
  end)
  for _, kernel in ipairs{"im2col", table.unpack(kernels)} do
    it(kernel .. ": nn.Conv2d with an even kernel on a 1x1 or 1xN input pads as PyTorch, and prints 'padding same'",
       function()
      ember.set_conv_kernel(kernel)
      ember.manual_seed(9)
      -- PyTorch's "same": (k - 1) // 2 before, the rest after; a 1x1 image is smaller than the kernel and
      -- was refused by the size check, which counted the top and left padding twice and no extra
      for _, c in ipairs{{2, {1, 1}}, {4, {1, 1}}, {4, {1, 5}}, {6, {2, 1}}, {{4, 2}, {1, 1}}} do
        local k, hw = c[1], c[2]
        local m = ember.nn.Conv2d(2, 3, k, {padding = "same"})
        local kh, kw = m.kernel_size[1], m.kernel_size[2]
        local x = ember.randn(2, 2, hw[1], hw[2])
        local y = m(x)
        assert.are.same({2, 3, hw[1], hw[2]}, y:shape())
        local top, left = (kh - 1) // 2, (kw - 1) // 2
        local ref = ember.conv2d(zero_pad(x, top, kh - 1 - top, left, kw - 1 - left), m.weight, m.bias)
        assert(maxrel(ref, y) < 2e-6)
      end
      ember.set_conv_kernel("auto")
      local function first_line(m) return tostring(m):match("^[^\n]*%)") end
      assert.are.equal("Conv2d(1 -> 1, kernel 4, padding same)", first_line(ember.nn.Conv2d(1, 1, 4, {padding = "same"})))
      assert.are.equal("Conv2d(1 -> 2, kernel 3x2, padding same, dilation 2)",
                       first_line(ember.nn.Conv2d(1, 2, {3, 2}, {padding = "same", dilation = 2})))
    end)
  end
end)

describe("channel groups", function()
  -- groups = G is G convolutions of channel blocks, concatenated
  local function by_blocks(x, w, b, G, opts)
    local cin, cout = x:shape()[2] // G, w:shape()[1] // G
    local outs = {}
    for gi = 0, G - 1 do
      outs[#outs + 1] = ember.conv2d(x:narrow(2, gi * cin + 1, cin), w:narrow(1, gi * cout + 1, cout),
                                     b and b:narrow(1, gi * cout + 1, cout), opts)
    end
    return ember.cat(outs, 2)
  end
  local cases = {
    {"2 groups, 3x3 padding 1", 24, 4, 6, 2, 3, {padding = 1}},
    {"depthwise 3x3 (groups = channels)", 20, 6, 6, 6, 3, {padding = 1}},
    {"depthwise, 2 outputs per channel, 5x5", 17, 3, 6, 3, 5, {}},
    {"3 groups, stride 2 (im2col)", 9, 6, 3, 3, 3, {stride = 2, padding = 1}},
    {"2 groups, batch 1 (im2col)", 1, 4, 4, 2, 3, {}},
  }
  for _, kernel in ipairs{"im2col", table.unpack(kernels)} do
    for _, c in ipairs(cases) do
      it(kernel .. ": " .. c[1] .. " equals a convolution per block", function()
        ember.set_conv_kernel(kernel)
        ember.manual_seed(9)
        local n, cin, cout, G, k, opts = table.unpack(c, 2)
        local x = ember.randn(n, cin, 10, 9):requires_grad()
        local w = ember.randn(cout, cin // G, k, k):requires_grad()
        local b = ember.randn(cout):requires_grad()
        local o = {groups = G}
        for key, v in pairs(opts) do o[key] = v end
        local y = ember.conv2d(x, w, b, o)
        local g = ember.randn(table.unpack(y:shape()))
        y:backward(g)
        local gx, gw, gb = x.grad, w.grad, b.grad
        x.grad, w.grad, b.grad = nil, nil, nil
        local ref = by_blocks(x, w, b, G, opts)
        ref:backward(g)
        ember.set_conv_kernel("auto")
        assert(maxrel(ref, y) < 2e-6 and maxrel(x.grad, gx) < 2e-6 and maxrel(w.grad, gw) < 2e-6 and
               maxrel(b.grad, gb) < 2e-6)
      end)
    end
    it(kernel .. ": finite-difference gradients of a depthwise convolution", function()
      ember.set_conv_kernel(kernel)
      ember.manual_seed(10)
      local inputs = {ember.randn(9, 3, 5, 6):requires_grad(), ember.randn(6, 1, 3, 3):requires_grad(),
                      ember.randn(6):requires_grad()}
      local ok, msg = gradcheck(function(t) return ember.conv2d(t[1], t[2], t[3], {groups = 3, padding = 1}) end,
                                inputs, {eps = 1e-2, tol = 1e-2})
      ember.set_conv_kernel("auto")
      assert(ok, msg)
    end)
  end
  it("nn.Conv2d with groups: the weight shape, its printing, and bad groups", function()
    local m = ember.nn.Conv2d(6, 12, 3, {groups = 3})
    assert.are.same({12, 2, 3, 3}, m.weight:shape())
    assert.truthy(tostring(m):find("groups 3", 1, true))
    assert.are.same({2, 12, 4, 4}, m(ember.randn(2, 6, 6, 6)):shape())
    local ok, err = pcall(ember.conv2d, ember.randn(1, 6, 5, 5), ember.randn(6, 3, 3, 3), nil, {groups = 3})
    assert.is_false(ok)
    assert.truthy(tostring(err):find("weight [6 x 3 x 3 x 3] needs 2 input channels per group", 1, true), tostring(err))
    ok, err = pcall(ember.conv2d, ember.randn(1, 6, 5, 5), ember.randn(4, 3, 3, 3), nil, {groups = 4})
    assert.truthy(tostring(err):find("groups 4 must divide the input channels (6)", 1, true), tostring(err))
    ok, err = pcall(ember.conv2d, ember.randn(1, 6, 5, 5), ember.randn(4, 2, 3, 3), nil, {groups = 0})
    assert.truthy(tostring(err):find("groups must be an integer >= 1 (got 0)", 1, true), tostring(err))
  end)
end)
