-- nn_spec.lua - ember.nn: hand-computed layer outputs, finite-difference gradients of every layer w.r.t.
-- its input and parameters, dropout and batch-norm statistics, the module protocol (names, state dicts,
-- train/eval, printing), user-defined modules, initialisation, penalties, error messages and LeNet.
local ember = require "ember"
local nn = require "ember.nn"
local gradcheck = dofile("tests/lua/gradcheck.lua")
local h = dofile("tests/lua/spec_helper.lua")

local function close(a, b, tol)
  return math.abs(a - b) <= (tol or 1e-6) * math.max(1, math.abs(a), math.abs(b))
end

-- every element of tensor t against a flat list of expected numbers
local function assert_values(t, want, tol)
  local got = t:reshape(-1):totable()
  assert.are.equal(#want, #got)
  for i = 1, #want do
    assert(close(got[i], want[i], tol), ("element %d: got %.9g, want %.9g"):format(i, got[i], want[i]))
  end
end

local function set(t, values)
  ember.no_grad(function() t:copy(ember.tensor(values)) end)
end

local function check_grad(f, inputs, opts)
  local ok, msg = gradcheck(f, inputs, opts or {eps = 1e-2, tol = 1e-2})
  assert(ok, msg)
end

local errmsg = h.errmsg

-- values spaced 0.1 apart in random order, so pooling windows have no ties and +-eps moves no winner
local function distinct(...)
  local x = ember.empty(...)
  local n = x:numel()
  local v = {}
  for i = 1, n do v[i] = (i - 1) * 0.1 end
  for i = n, 2, -1 do local j = math.random(i); v[i], v[j] = v[j], v[i] end
  ember.no_grad(function() x:copy(ember.tensor(v)) end)
  return x:requires_grad()
end

local function lenet()
  return nn.Sequential{
    nn.Conv2d(1, 10, 5), nn.MaxPool2d(2), nn.ReLU(),
    nn.Conv2d(10, 20, 5), nn.MaxPool2d(2), nn.ReLU(),
    nn.Flatten(), nn.Linear(320, 10)}
end

describe("layer outputs on hand-computed cases", function()
  it("Conv2d: 3x3 kernel on a 4x4 image, without and with padding/stride", function()
    -- x(i, j) = 4 i + j + 1, k = [[1,2,0],[0,1,0],[0,0,-1]]:
    -- out(i, j) = x(i,j) + 2 x(i,j+1) + x(i+1,j+1) - x(i+2,j+2) (+ bias 0.5)
    local conv = nn.Conv2d(1, 1, 3)
    set(conv.weight, {{{{1, 2, 0}, {0, 1, 0}, {0, 0, -1}}}})
    set(conv.bias, {0.5})
    local x = ember.arange(1, 17):reshape(1, 1, 4, 4)
    local y = conv(x)
    assert.are.same({1, 1, 2, 2}, y:shape())
    assert_values(y, {0.5, 3.5, 12.5, 15.5})
    -- padding 1, stride 2: windows start at (-1,-1), (-1,1), (1,-1), (1,1)
    local c2 = nn.Conv2d(1, 1, 3, {stride = 2, padding = 1, bias = false})
    set(c2.weight, {{{{1, 2, 0}, {0, 1, 0}, {0, 0, -1}}}})
    assert_values(c2(x), {-5, -5, 5, 15})
    -- dilation 2 on a 5x5 image: one window reading x(0,0), x(0,2), ... x(4,4) with a sum kernel
    local c3 = nn.Conv2d(1, 1, 3, {dilation = 2, bias = false})
    set(c3.weight, {{{{1, 1, 1}, {1, 1, 1}, {1, 1, 1}}}})
    local x5 = ember.arange(0, 25):reshape(1, 1, 5, 5)
    assert_values(c3(x5), {0 + 2 + 4 + 10 + 12 + 14 + 20 + 22 + 24})
  end)

  it("Conv2d keeps channels apart and sums over input channels", function()
    local conv = nn.Conv2d(2, 2, 1, {bias = false})
    set(conv.weight, {{{{1}}, {{10}}}, {{{-1}}, {{0}}}})
    local x = ember.tensor{{{{1, 2}}, {{3, 4}}}}   -- [1 x 2 x 1 x 2]
    assert_values(conv(x), {31, 42, -1, -2})
    -- unbatched [C x H x W] input gives an unbatched output
    assert.are.same({2, 1, 2}, conv(x[1]):shape())
  end)

  it("MaxPool2d and AvgPool2d on a 4x4 image", function()
    local x = ember.tensor{{{{1, 5, 2, 0}, {3, 4, 8, 7}, {9, 0, 1, 1}, {2, 6, 3, 5}}}}
    assert_values(nn.MaxPool2d(2)(x), {5, 8, 9, 5})
    assert_values(nn.AvgPool2d(2)(x), {13 / 4, 17 / 4, 17 / 4, 10 / 4})
    -- 3x3 windows, stride 1, padding 1: the corner sees 1 5 3 4
    assert_values(nn.MaxPool2d(3, 1, {padding = 1})(x):narrow(3, 1, 1):narrow(4, 1, 1), {5})
    assert_values(nn.AvgPool2d(3, {stride = 1, padding = 1})(x):narrow(3, 1, 1):narrow(4, 1, 1), {13 / 9})
    assert_values(nn.AvgPool2d(3, {stride = 1, padding = 1, count_include_pad = false})(x)
      :narrow(3, 1, 1):narrow(4, 1, 1), {13 / 4})
    -- ceil_mode keeps the partial last window of a 5-wide input
    local x5 = ember.arange(1, 26):reshape(1, 1, 5, 5)
    assert.are.same({1, 1, 2, 2}, nn.MaxPool2d(2)(x5):shape())
    local y = nn.MaxPool2d(2, {ceil_mode = true})(x5)
    assert.are.same({1, 1, 3, 3}, y:shape())
    assert_values(y, {7, 9, 10, 17, 19, 20, 22, 24, 25})
  end)

  it("MaxPool2d sends the gradient to each window's maximum", function()
    local x = ember.tensor{{{{1, 5, 2, 0}, {3, 4, 8, 7}, {9, 0, 1, 1}, {2, 6, 3, 5}}}}:requires_grad()
    nn.MaxPool2d(2)(x):backward(ember.tensor{{{{1, 2}, {3, 4}}}})
    assert_values(x.grad, {0, 1, 0, 0, 0, 0, 2, 0, 3, 0, 0, 0, 0, 0, 0, 4})
  end)

  it("Linear computes x W^T + b, also for inputs with more dims", function()
    local lin = nn.Linear(2, 3)
    set(lin.weight, {{1, 0}, {0, 1}, {1, 1}})
    set(lin.bias, {0.5, -1, 0})
    assert_values(lin(ember.tensor{{1, 2}, {3, 4}}), {1.5, 1, 3, 3.5, 3, 7})
    assert.are.same({2, 5, 3}, lin(ember.ones(2, 5, 2)):shape())
    assert_values(lin(ember.tensor{1, 2}), {1.5, 1, 3})
    local nob = nn.Linear(2, 1, {bias = false})
    assert.is_nil(rawget(nob, "bias"))
    assert.are.equal(1, #nob:parameters())
  end)

  it("activations", function()
    local x = ember.tensor{-2, -0.5, 0, 1, 3}
    assert_values(nn.ReLU()(x), {0, 0, 0, 1, 3})
    assert_values(nn.LeakyReLU(0.1)(x), {-0.2, -0.05, 0, 1, 3})
    assert_values(nn.LeakyReLU()(x), {-0.02, -0.005, 0, 1, 3})
    assert_values(nn.Sigmoid()(ember.tensor{0, 2}), {0.5, 1 / (1 + math.exp(-2))})
    assert_values(nn.Tanh()(ember.tensor{0, 1}), {0, math.tanh(1)})
    -- GELU(1) = Phi(1) = 0.8413447461; the tanh form gives 0.8411919906
    assert_values(nn.GELU()(ember.tensor{0, 1}), {0, 0.8413447461}, 1e-6)
    assert_values(nn.GELU{approximate = "tanh"}(ember.tensor{0, 1}), {0, 0.8411919906}, 1e-6)
    local e = math.exp(1)
    assert_values(nn.Softmax()(ember.tensor{{0, 1}}), {1 / (1 + e), e / (1 + e)})
    assert_values(nn.Softmax(1)(ember.tensor{{0}, {1}}), {1 / (1 + e), e / (1 + e)})
    assert_values(nn.LogSoftmax(2)(ember.tensor{{0, 1}}), {-math.log(1 + e), 1 - math.log(1 + e)})
    assert.are.same({2, 12}, nn.Flatten()(ember.zeros(2, 3, 2, 2)):shape())
    assert.are.same({2, 3, 4}, nn.Flatten(3)(ember.zeros(2, 3, 2, 2)):shape())
    assert.are.same({6, 2, 2}, nn.Flatten(1, 2)(ember.zeros(2, 3, 2, 2)):shape())
    assert.are.equal(x, nn.Identity()(x))
  end)
end)

describe("gradients (finite differences)", function()
  math.randomseed(5)
  ember.manual_seed(5)

  it("Linear w.r.t. input, weight and bias", function()
    local lin = nn.Linear(4, 3)
    check_grad(function(t) return lin(t[1]) end, {ember.randn(5, 4):requires_grad(), lin.weight, lin.bias})
  end)

  for _, c in ipairs{
    {"plain", {}},
    {"stride 2, padding 1", {stride = 2, padding = 1}},
    {"dilation 2, padding 2", {dilation = 2, padding = 2}},
    {"stride {2, 1}, padding {1, 0}, dilation {1, 2}, kernel {3, 2}", {stride = {2, 1}, padding = {1, 0},
                                                                        dilation = {1, 2}}, {3, 2}},
  } do
    it("Conv2d w.r.t. input, weight and bias: " .. c[1], function()
      local conv = nn.Conv2d(2, 3, c[3] or 3, c[2])
      check_grad(function(t) return conv(t[1]) end,
                 {ember.randn(2, 2, 7, 6):requires_grad(), conv.weight, conv.bias})
    end)
  end

  it("MaxPool2d (no ties), plain, padded and dilated", function()
    check_grad(function(t) return nn.MaxPool2d(2)(t[1]) end, {distinct(2, 2, 6, 6)})
    check_grad(function(t) return nn.MaxPool2d(2)(t[1]) end, {distinct(2, 3, 5, 7)})   -- a row and a column left over
    check_grad(function(t) return nn.MaxPool2d(3, 2, {padding = 1})(t[1]) end, {distinct(1, 2, 7, 5)})
    check_grad(function(t) return nn.MaxPool2d(2, 1, {dilation = 2, ceil_mode = true})(t[1]) end, {distinct(1, 1, 6, 7)})
  end)

  it("AvgPool2d, plain, padded and ceil_mode", function()
    check_grad(function(t) return nn.AvgPool2d(2)(t[1]) end, {ember.randn(2, 2, 6, 6):requires_grad()})
    check_grad(function(t) return nn.AvgPool2d(3, 2, {padding = 1})(t[1]) end, {ember.randn(1, 2, 7, 5):requires_grad()})
    check_grad(function(t) return nn.AvgPool2d(2, {ceil_mode = true, count_include_pad = false})(t[1]) end,
               {ember.randn(1, 1, 5, 5):requires_grad()})
  end)

  it("BatchNorm1d and BatchNorm2d in training mode w.r.t. input, weight and bias", function()
    local bn1 = nn.BatchNorm1d(3)
    set(bn1.weight, {0.5, 1.5, -1})
    set(bn1.bias, {0.1, 0.2, 0.3})
    check_grad(function(t) return bn1(t[1]) end, {ember.randn(6, 3):requires_grad(), bn1.weight, bn1.bias})
    check_grad(function(t) return bn1(t[1]) end, {ember.randn(4, 3, 5):requires_grad(), bn1.weight, bn1.bias})
    local bn2 = nn.BatchNorm2d(2)
    set(bn2.weight, {2, 0.5})
    check_grad(function(t) return bn2(t[1]) end, {ember.randn(3, 2, 3, 4):requires_grad(), bn2.weight, bn2.bias})
  end)

  it("BatchNorm2d in eval mode", function()
    local bn = nn.BatchNorm2d(2)
    set(bn.running_mean, {0.5, -0.5})
    set(bn.running_var, {2, 0.5})
    bn:eval()
    check_grad(function(t) return bn(t[1]) end, {ember.randn(2, 2, 3, 3):requires_grad(), bn.weight, bn.bias})
  end)

  it("Dropout with a fixed mask, and the activations", function()
    local d = nn.Dropout(0.4)
    check_grad(function(t) ember.manual_seed(9); return d(t[1]) end, {ember.randn(4, 5):requires_grad()})
    local away = (ember.rand(3, 4) + 0.2) * (ember.rand(3, 4):gt(0.5) * 2 - 1)
    for _, layer in ipairs{nn.ReLU(), nn.LeakyReLU(0.2), nn.Sigmoid(), nn.Tanh(), nn.GELU(),
                           nn.GELU{approximate = "tanh"}, nn.Softmax(2), nn.LogSoftmax(1), nn.Flatten(1)} do
      check_grad(function(t) return layer(t[1]) end, {away:detach():requires_grad()})
    end
  end)

  it("a Sequential LeNet-like stack end to end", function()
    local m = nn.Sequential{nn.Conv2d(1, 2, 3, {padding = 1}), nn.Tanh(), nn.AvgPool2d(2), nn.Flatten(),
                            nn.Linear(18, 3)}
    local inputs = {ember.randn(2, 1, 6, 6):requires_grad()}
    for _, p in ipairs(m:parameters()) do inputs[#inputs + 1] = p end
    check_grad(function(t) return m(t[1]) end, inputs)
  end)
end)

describe("Dropout", function()
  it("drops about p of the elements in training and scales the rest by 1 / (1 - p)", function()
    ember.manual_seed(1)
    local d = nn.Dropout(0.25)
    local y = d(ember.ones(200, 500)):reshape(-1):totable()
    local zeros, ok = 0, true
    for _, v in ipairs(y) do
      if v == 0 then zeros = zeros + 1 else ok = ok and close(v, 1 / 0.75) end
    end
    assert.is_true(ok)
    -- zeros ~ Binomial(1e5, 0.25): sd 137, 5 sd = 685
    assert(math.abs(zeros - 25000) < 685, "zeros: " .. zeros)
  end)

  it("is the identity in eval mode and for p = 0; p = 1 drops everything", function()
    local x = ember.randn(10, 10)
    local d = nn.Dropout(0.5):eval()
    assert.are.equal(x, d(x))
    assert.are.equal(x, nn.Dropout(0)(x))
    d:train()
    assert.are_not.equal(x, d(x))
    assert.are.equal(0, nn.Dropout(1)(x):abs():sum():item())
  end)

  it("draws its mask from ember's seeded generator", function()
    local x = ember.ones(100)
    ember.manual_seed(3)
    local a = nn.Dropout()(x):totable()
    ember.manual_seed(3)
    local b = nn.Dropout()(x):totable()
    assert.are.same(a, b)
  end)
end)

describe("BatchNorm", function()
  it("updates running statistics after known batches", function()
    local bn = nn.BatchNorm1d(2)
    -- batch 1: channel 1 = 1 2 3 4 (mean 2.5, unbiased var 5/3), channel 2 = 2 4 6 8 (mean 5, var 20/3)
    local y = bn(ember.tensor{{1, 2}, {2, 4}, {3, 6}, {4, 8}})
    assert_values(y:narrow(2, 1, 1), {-1.5 / math.sqrt(1.25 + 1e-5), -0.5 / math.sqrt(1.25 + 1e-5),
                                      0.5 / math.sqrt(1.25 + 1e-5), 1.5 / math.sqrt(1.25 + 1e-5)}, 1e-5)
    assert_values(bn.running_mean, {0.25, 0.5})
    assert_values(bn.running_var, {0.9 + 0.1 * 5 / 3, 0.9 + 0.1 * 20 / 3})
    -- batch 2: channel 1 = 0 0 (mean 0, var 0), channel 2 = 1 3 (mean 2, unbiased var 2)
    bn(ember.tensor{{0, 1}, {0, 3}})
    assert_values(bn.running_mean, {0.9 * 0.25, 0.9 * 0.5 + 0.1 * 2})
    assert_values(bn.running_var, {0.9 * (0.9 + 0.1 * 5 / 3), 0.9 * (0.9 + 0.1 * 20 / 3) + 0.1 * 2})
    assert.are.equal(2, bn.num_batches_tracked:item())
    -- eval normalises by the running statistics and leaves them alone
    bn:eval()
    local rm, rv = bn.running_mean:totable(), bn.running_var:totable()
    assert_values(bn(ember.tensor{{1, 1}}), {(1 - rm[1]) / math.sqrt(rv[1] + 1e-5), (1 - rm[2]) / math.sqrt(rv[2] + 1e-5)}, 1e-5)
    assert.are.same(rm, bn.running_mean:totable())
    assert.are.equal(2, bn.num_batches_tracked:item())
  end)

  it("BatchNorm2d takes statistics over N, H and W; momentum and eps are options", function()
    local bn = nn.BatchNorm2d(1, {momentum = 0.5, eps = 0})
    bn(ember.tensor{{{{1, 3}}}, {{{5, 7}}}})   -- [2 x 1 x 1 x 2]: mean 4, unbiased var 20/3
    assert_values(bn.running_mean, {2})
    assert_values(bn.running_var, {0.5 + 0.5 * 20 / 3})
    local y = nn.BatchNorm2d(1, {eps = 0})(ember.tensor{{{{1, 3}}}, {{{5, 7}}}})
    assert_values(y, {-3 / math.sqrt(5), -1 / math.sqrt(5), 1 / math.sqrt(5), 3 / math.sqrt(5)}, 1e-6)
  end)

  -- issue 17: data of mean 1000 and spread 2 lost 3e-5 of the output to the mean's rounding (PyTorch
  -- float32: 1e-5); the mean kept as two floats brings it to float rounding
  it("BatchNorm2d on data far from zero is as accurate as float allows", function()
    ember.manual_seed(12)
    local x = (ember.randn(32, 3, 8, 8) * 2 + 1000):requires_grad()
    local y = nn.BatchNorm2d(3)(x)
    local g = ember.randn(32, 3, 8, 8)
    y:backward(g)
    local xv, gv, yv, dv = x:detach():reshape(-1):totable(), g:reshape(-1):totable(), y:detach():reshape(-1):totable(),
                           x.grad:reshape(-1):totable()
    local ey, ry, ed, rd = 0, 0, 0, 0
    for c = 0, 2 do   -- the definition in double precision, channel by channel
      local idx = {}
      for n = 0, 31 do for k = 1, 64 do idx[#idx + 1] = (n * 3 + c) * 64 + k end end
      local mu, var, sg, sgx = 0, 0, 0, 0
      for _, i in ipairs(idx) do mu = mu + xv[i] / #idx end
      for _, i in ipairs(idx) do var = var + (xv[i] - mu) ^ 2 / #idx end
      local inv = 1 / math.sqrt(var + 1e-5)
      for _, i in ipairs(idx) do sg, sgx = sg + gv[i], sgx + gv[i] * (xv[i] - mu) * inv end
      for _, i in ipairs(idx) do
        local xh = (xv[i] - mu) * inv
        local d = inv * (gv[i] - sg / #idx - xh * sgx / #idx)
        ey, ry, ed, rd = ey + (yv[i] - xh) ^ 2, ry + xh ^ 2, ed + (dv[i] - d) ^ 2, rd + d ^ 2
      end
    end
    assert(math.sqrt(ey / ry) < 1e-6, ("output off by %.3g"):format(math.sqrt(ey / ry)))
    assert(math.sqrt(ed / rd) < 1e-6, ("input gradient off by %.3g"):format(math.sqrt(ed / rd)))
  end)

  it("momentum = false keeps a cumulative average; affine and tracking can be turned off", function()
    local bn = nn.BatchNorm1d(1, {momentum = false})
    bn(ember.tensor{{1}, {3}})        -- mean 2
    bn(ember.tensor{{5}, {7}})        -- mean 6
    bn(ember.tensor{{10}, {10}})      -- mean 10
    assert_values(bn.running_mean, {6})
    local plain = nn.BatchNorm1d(3, {affine = false, track_running_stats = false})
    assert.are.equal(0, #plain:parameters())
    assert.are.same({}, plain:state_dict())
    plain:eval()   -- without running statistics eval still uses the batch's
    assert_values(plain(ember.tensor{{1, 2, 3}, {3, 2, 1}}):narrow(2, 1, 1), {-1, 1}, 1e-4)
  end)
end)

describe("module protocol", function()
  it("names parameters with stable dotted names, and counts them", function()
    local m = lenet()
    local names = {}
    for i, p in ipairs(m:named_parameters()) do names[i] = p[1] end
    assert.are.same({"1.weight", "1.bias", "4.weight", "4.bias", "8.weight", "8.bias"}, names)
    assert.are.equal(6, #m:parameters())
    assert.are.equal(m[1].weight, m:parameters()[1])
    -- 10*1*25 + 10 + 20*10*25 + 20 + 10*320 + 10
    assert.are.equal(8490, m:num_parameters())
  end)

  it("prints the architecture with parameter counts and a total", function()
    local want = table.concat({
      "Sequential(",
      "  (1): Conv2d(1 -> 10, kernel 5)  260 params",
      "  (2): MaxPool2d(kernel 2, stride 2)",
      "  (3): ReLU()",
      "  (4): Conv2d(10 -> 20, kernel 5)  5,020 params",
      "  (5): MaxPool2d(kernel 2, stride 2)",
      "  (6): ReLU()",
      "  (7): Flatten()",
      "  (8): Linear(320 -> 10)  3,210 params",
      ")",
      "Total: 8,490 parameters"}, "\n")
    assert.are.equal(want, tostring(lenet()))
    assert.are.equal("Conv2d(3 -> 8, kernel 3x5, stride 2, padding 1, dilation 2, bias = false)  360 params",
                     tostring(nn.Conv2d(3, 8, {3, 5}, {stride = 2, padding = 1, dilation = 2, bias = false})))
    assert.are.equal("ReLU()", tostring(nn.ReLU()))
    assert.are.equal("BatchNorm2d(4, momentum = 0.2)  8 params", tostring(nn.BatchNorm2d(4, {momentum = 0.2})))
  end)

  -- f(...) run with a budget of VM instructions: an error instead of minutes of work (or none) when
  -- f does not stop
  local function bounded(budget, f, ...)
    local co = coroutine.create(f)
    debug.sethook(co, function() error("still running after " .. budget .. " instructions", 0) end, "", budget)
    local res = table.pack(coroutine.resume(co, ...))
    assert(res[1], res[2])
    return table.unpack(res, 2, res.n)
  end

  it("prints a module cycle and a shared module as references, with bounded work", function()
    local Loop = nn.Module:extend("Loop")
    function Loop:init() self.fc = nn.Linear(2, 2) end
    local net = Loop()
    net.body = nn.Sequential{nn.ReLU()}
    net.body:add("back", net)              -- net -> body -> back = net: a cycle
    local lin = nn.Linear(3, 3)
    net.tied = nn.Sequential{lin, lin}     -- one Linear under two names
    local want = table.concat({
      "Loop(",
      "  (fc): Linear(2 -> 2)  6 params",
      "  (body): Sequential(",
      "    (1): ReLU()",
      "    (back): Loop()  cycle: back to the model",
      "  )  18 params",
      "  (tied): Sequential(",
      "    (1): Linear(3 -> 3)  12 params",
      "    (2): Linear(3 -> 3)  same module as tied.1",
      "  )  12 params",
      ")",
      "Total: 18 parameters"}, "\n")
    assert.are.equal(want, bounded(1000000, tostring, net))
    -- apply goes once around the cycle; the shared Linear is visited under both names
    local visits = 0
    bounded(1000000, net.apply, net, function() visits = visits + 1 end)
    assert.are.equal(7, visits)
    -- sharing doubled 30 times: 2^30 paths, printed in 30 containers of two lines each
    local m = nn.Linear(1, 1)
    for _ = 1, 30 do m = nn.Sequential{m, m} end
    local lines = h.lines(bounded(10000000, tostring, m) .. "\n")
    assert.are.equal(30 * 3 + 2, #lines)
    assert.are.equal("Total: 2 parameters", lines[#lines])
  end)

  it("train() and eval() recurse and return the module", function()
    local inner = nn.Sequential{nn.Dropout(), nn.BatchNorm1d(2)}
    local m = nn.Sequential{nn.Linear(2, 2), inner}
    assert.are.equal(m, m:eval())
    assert.is_false(m.training)
    assert.is_false(inner[1].training)
    assert.is_false(inner[2].training)
    assert.are.equal(m, m:train())
    assert.is_true(inner[2].training)
    m:train(false)
    assert.is_false(inner[1].training)
  end)

  it("zero_grad drops every gradient", function()
    local m = nn.Sequential{nn.Linear(3, 2), nn.ReLU(), nn.Linear(2, 1)}
    m(ember.randn(4, 3)):sum():backward()
    assert.is_not_nil(m[1].weight.grad)
    assert.are.equal(m, m:zero_grad())
    for _, p in ipairs(m:parameters()) do assert.is_nil(p.grad) end
  end)

  it("state_dict round trip, buffers included, copying into the existing tensors", function()
    ember.manual_seed(1)
    local a = nn.Sequential{nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 2)}
    a(ember.randn(4, 1, 4, 4))   -- moves the running statistics
    ember.manual_seed(2)
    local b = nn.Sequential{nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 2)}
    local sd = a:state_dict()
    local keys = {}
    for k in pairs(sd) do keys[#keys + 1] = k end
    table.sort(keys)
    assert.are.same({"1.bias", "1.weight", "2.bias", "2.num_batches_tracked", "2.running_mean", "2.running_var",
                     "2.weight", "4.bias", "4.weight"}, keys)
    local w_before = b[1].weight
    local missing, unexpected = b:load_state_dict(sd)
    assert.are.same({}, missing)
    assert.are.same({}, unexpected)
    assert.are.equal(w_before, b[1].weight)   -- the same tensor object, new values
    a:eval(); b:eval()
    local x = ember.randn(3, 1, 4, 4)
    assert.are.same(a(x):totable(), b(x):totable())
    assert.are.same(a[2].running_var:totable(), b[2].running_var:totable())
    assert.are.equal(1, b[2].num_batches_tracked:item())
    -- copies, not shared storage
    ember.no_grad(function() a[4].bias:fill(42) end)
    assert.are_not.equal(42, b[4].bias:totable()[1])
    -- but state_dict itself shares storage with the model (as PyTorch's)
    assert.are.equal(42, a:state_dict()["4.bias"]:totable()[1])
  end)

  it("load_state_dict names missing, unexpected and mismatched entries", function()
    local m = nn.Sequential{nn.Linear(2, 3)}
    local sd = m:state_dict()
    sd["1.bias"] = nil
    sd["2.weight"] = ember.zeros(1)
    local e = errmsg(m.load_state_dict, m, sd)
    assert.are.equal("Sequential:load_state_dict: keys do not match the model (missing 1.bias; unexpected 2.weight); "
                     .. "pass strict = false to load the matching ones", e)
    local before = m[1].bias:totable()
    sd["1.weight"] = ember.ones(3, 2)
    local missing, unexpected = m:load_state_dict(sd, false)
    assert.are.same({"1.bias"}, missing)
    assert.are.same({"2.weight"}, unexpected)
    assert.are.same({1, 1}, m[1].weight:totable()[3])
    assert.are.same(before, m[1].bias:totable())
    e = errmsg(m.load_state_dict, m, {["1.weight"] = ember.zeros(2, 3), ["1.bias"] = ember.zeros(3)})
    assert.are.equal("Sequential:load_state_dict: 1.weight: shape [2 x 3] in the state dict, [3 x 2] in the model", e)
    -- nothing was copied before the error
    assert.are.same({1, 1}, m[1].weight:totable()[1])
    -- a number loads into a one-element tensor
    local bn = nn.BatchNorm1d(1)
    local s = bn:state_dict()
    s.num_batches_tracked = 7
    bn:load_state_dict(s)
    assert.are.equal(7, bn.num_batches_tracked:item())
  end)

  it("the same seed builds the same model; another seed a different one", function()
    ember.manual_seed(123)
    local a = lenet()
    ember.manual_seed(123)
    local b = lenet()
    ember.manual_seed(124)
    local c = lenet()
    assert.are.same(a[4].weight:totable(), b[4].weight:totable())
    assert.are.same(a[8].bias:totable(), b[8].bias:totable())
    assert.are_not.same(a[4].weight:totable(), c[4].weight:totable())
  end)

  it("initialises as PyTorch: weights and biases in U(-1/sqrt(fan_in), 1/sqrt(fan_in))", function()
    ember.manual_seed(7)
    local lin, conv = nn.Linear(320, 10), nn.Conv2d(10, 20, 5)
    for _, c in ipairs{{lin.weight, 320}, {lin.bias, 320}, {conv.weight, 250}, {conv.bias, 250}} do
      local b = 1 / math.sqrt(c[2])
      local hi, lo = c[1]:max():item(), c[1]:min():item()
      assert(hi <= b and lo >= -b, "outside the bound")
      if c[1]:numel() > 100 then   -- and fills it: the extremes come within 2% of the bound
        assert(hi > 0.98 * b and lo < -0.98 * b, ("extremes %g %g for bound %g"):format(lo, hi, b))
        assert(math.abs(c[1]:mean():item()) < 0.1 * b)
      end
    end
  end)
end)

describe("user-defined modules", function()
  local Net = nn.Module:extend("Net")
  function Net:init(k)
    self.features = nn.Sequential{nn.Linear(3, 4), nn.Tanh()}
    self.scale = ember.full({2}, k):requires_grad()     -- a parameter by assignment
    self.head = nn.Linear(4, 2)
    self:buffer("steps", ember.zeros(1))
    self.constant = ember.ones(2)                         -- not registered: no grad
  end
  function Net:forward(x)
    return self.head(self.features(x)) * self.scale
  end

  it("registers parameters by assignment, own ones first, then children in order", function()
    local net = Net(2)
    local names = {}
    for i, p in ipairs(net:named_parameters()) do names[i] = p[1] end
    assert.are.same({"scale", "features.1.weight", "features.1.bias", "head.weight", "head.bias"}, names)
    local bufs = net:named_buffers()
    assert.are.equal(1, #bufs)
    assert.are.equal("steps", bufs[1][1])
    assert.is_not_nil(net:state_dict().steps)
    assert.is_nil(net:state_dict().constant)
    assert.are.equal(2 + 12 + 4 + 8 + 2, net:num_parameters())
  end)

  it("gets gradients for free", function()
    local net = Net(3)
    local x = ember.randn(5, 3)
    net(x):sum():backward()
    -- d/dscale_j sum(h_j * scale_j) = sum over the batch of h_j
    local h = ember.no_grad(function() return net.head(net.features(x)) end)
    assert_values(net.scale.grad, h:sum(1):totable(), 1e-5)
    for _, p in ipairs(net:named_parameters()) do
      assert.is_not_nil(p[2].grad, p[1] .. " has no gradient")
      assert.are.same(p[2]:shape(), p[2].grad:shape())
    end
    local inputs = {x:detach():requires_grad()}
    for _, p in ipairs(net:parameters()) do inputs[#inputs + 1] = p end
    check_grad(function(t) return net(t[1]) end, inputs)
  end)

  it("keeps a field's place when it is reassigned, and forgets it when set to nil", function()
    local net = Net(1)
    net.features = nn.Linear(3, 4)
    local names = {}
    for i, p in ipairs(net:named_parameters()) do names[i] = p[1] end
    assert.are.same({"scale", "features.weight", "features.bias", "head.weight", "head.bias"}, names)
    net.scale = nil
    assert.are.equal(4, #net:parameters())
  end)

  it("supports explicit add/param/buffer, shared parameters listed once, and nested printing", function()
    local M = nn.Module:extend("Tied")
    function M:init()
      local lin = nn.Linear(2, 2)
      self:add("a", lin)
      self:add("b", lin)
      self:param("alpha", ember.ones(1))
    end
    function M:forward(x) return self.b(self.a(x)) * self.alpha end
    local m = M()
    assert.are.equal(3, #m:parameters())
    assert.are.equal(7, m:num_parameters())
    assert.are.equal(m.a, m:add(m.a) and m[1])     -- add without a name appends as field 1
    local s = tostring(nn.Sequential{m, nn.ReLU()})
    assert.truthy(s:find("  %(1%): Tied%(\n    %(alpha%): parameter %[1%]  1 param\n    %(a%): Linear%(2 %-> 2%)  6 params"))
    assert.truthy(s:find("\n  %)  7 params\n  %(2%): ReLU%(%)\n%)\nTotal: 7 parameters$"))
    assert.are.equal(m, m:apply(function() end))
    local seen = 0
    m:apply(function() seen = seen + 1 end)
    assert.are.equal(4, seen)     -- a, b (the same Linear, visited under both names), [1], m
  end)

  it("says when forward is missing", function()
    local Empty = nn.Module:extend("Empty")
    assert.are.equal("Empty: forward is not defined (define function Empty:forward(x) ... end)",
                     errmsg(Empty(), ember.zeros(1)))
  end)
end)

describe("nn.init and penalties", function()
  it("initialisers fill in place within their bounds", function()
    local w = ember.empty(50, 40):requires_grad()
    assert.are.equal(w, nn.init.zeros_(w))
    assert.are.equal(0, w:abs():sum():item())
    nn.init.constant_(w, 0.5)
    assert.are.equal(1000, w:sum():item())
    nn.init.xavier_uniform_(w)
    local b = math.sqrt(6 / 90)
    assert(w:max():item() <= b and w:min():item() >= -b and w:max():item() > 0.95 * b)
    nn.init.kaiming_uniform_(w, {nonlinearity = "relu"})
    b = math.sqrt(2) * math.sqrt(3 / 40)
    assert(w:max():item() <= b and w:max():item() > 0.95 * b)
    nn.init.normal_(w, 1, 0.1)
    assert(math.abs(w:mean():item() - 1) < 0.02)
    local fi, fo = nn.init.calculate_fan(ember.empty(20, 10, 5, 5))
    assert.are.equal(250, fi)
    assert.are.equal(500, fo)
    assert.are.equal(5 / 3, nn.init.calculate_gain("tanh"))
  end)

  it("l1_penalty and l2_penalty are differentiable sums", function()
    local p1, p2 = ember.tensor{1, -2}:requires_grad(), ember.tensor{{3}}:requires_grad()
    local l1 = nn.l1_penalty{p1, p2}
    assert.are.equal(0, l1:dim())
    assert.are.equal(6, l1:item())
    l1:backward()
    assert.are.same({1, -1}, p1.grad:totable())
    p1.grad, p2.grad = nil, nil
    local l2 = nn.l2_penalty{p1, p2}
    assert.are.equal(7, l2:item())   -- (1 + 4 + 9) / 2
    l2:backward()
    assert.are.same({1, -2}, p1.grad:totable())
    assert.are.same({{3}}, p2.grad:totable())
    local m = nn.Linear(2, 2)
    local want = 0
    for _, p in ipairs(m:parameters()) do want = want + (p * p):sum():item() / 2 end
    assert(close(nn.l2_penalty(m):item(), want, 1e-6))
    assert.are.equal(0, nn.l1_penalty{}:item())
  end)
end)

describe("errors name the layer and the shapes", function()
  it("Linear, Conv2d, pools, BatchNorm", function()
    assert.are.equal("Linear(320 -> 10): input has 784 features ([64 x 784])",
                     errmsg(nn.Linear(320, 10), ember.zeros(64, 784)))
    assert.are.equal("Conv2d(1 -> 10, kernel 5): expected input [N x 1 x H x W], got [64 x 3 x 28 x 28]",
                     errmsg(nn.Conv2d(1, 10, 5), ember.zeros(64, 3, 28, 28)))
    assert.are.equal("Conv2d(1 -> 10, kernel 5): input [2 x 1 x 4 x 4] is smaller than the kernel (5 x 5)",
                     errmsg(nn.Conv2d(1, 10, 5), ember.zeros(2, 1, 4, 4)))
    assert.are.equal("Conv2d(1 -> 10, kernel 5): expected input [N x 1 x H x W], got [64 x 784]",
                     errmsg(nn.Conv2d(1, 10, 5), ember.zeros(64, 784)))
    assert.are.equal("MaxPool2d(kernel 2, stride 2): input [1 x 20 x 1 x 1] is smaller than the kernel (2 x 2)",
                     errmsg(nn.MaxPool2d(2), ember.zeros(1, 20, 1, 1)))
    assert.are.equal("BatchNorm2d(20): expected input [N x 20 x H x W], got [64 x 10 x 8 x 8]",
                     errmsg(nn.BatchNorm2d(20), ember.zeros(64, 10, 8, 8)))
    assert.are.equal("ember.batch_norm: expected more than 1 value per channel when training (input [1 x 4])",
                     errmsg(nn.BatchNorm1d(4), ember.zeros(1, 4)))
    assert.are.equal("Linear(2 -> 3): tensor expected (got nil)", errmsg(nn.Linear(2, 3)))
  end)

  it("a Sequential adds which layer failed, keeping the message", function()
    local m = lenet()
    assert.are.equal("in layer 8 of Sequential (Linear(320 -> 10)): Linear(320 -> 10): input has 500 features ([64 x 500])",
                     errmsg(m, ember.zeros(64, 1, 32, 32)))
    assert.are.equal("in layer 1 of Sequential (Conv2d(1 -> 10, kernel 5)): Conv2d(1 -> 10, kernel 5): "
                     .. "expected input [N x 1 x H x W], got [64 x 3 x 28 x 28]", errmsg(m, ember.zeros(64, 3, 28, 28)))
    local outer = nn.Sequential{nn.ReLU(), nn.Sequential{nn.Linear(3, 3)}}
    assert.are.equal("in layer 2 of Sequential (Sequential()): in layer 1 of Sequential (Linear(3 -> 3)): "
                     .. "Linear(3 -> 3): input has 4 features ([2 x 4])", errmsg(outer, ember.zeros(2, 4)))
  end)

  it("constructors check their arguments", function()
    assert.are.equal("ember.nn.Linear: in_features must be a positive integer (got 0)", errmsg(nn.Linear, 0, 3))
    assert.are.equal("ember.nn.Conv2d: groups must be an integer >= 1 dividing in_channels (3) and out_channels (4) "
                     .. "(got 2)", errmsg(nn.Conv2d, 3, 4, 3, {groups = 2}))
    assert.are.equal("ember.nn.Conv2d: give stride, padding and dilation as options: nn.Conv2d(1, 10, 5, {stride = 1, padding = 0})",
                     errmsg(nn.Conv2d, 1, 10, 5, 2))
    assert.are.equal("ember.nn.Conv2d: kernel_size must be an integer >= 1 or a table of 2 (got {3, 0})",
                     errmsg(nn.Conv2d, 1, 1, {3, 0}))
    assert.are.equal("ember.nn.MaxPool2d: padding must be at most half the kernel size (got padding 2, kernel 2)",
                     errmsg(nn.MaxPool2d, 2, {padding = 2}))
    assert.are.equal("ember.nn.Dropout: p must be a number in [0, 1] (got 1.5)", errmsg(nn.Dropout, 1.5))
    assert.are.equal("ember.nn.Sequential: layer 2 is not a module (got nil)",
                     errmsg(nn.Sequential, nn.ReLU(), nil, nn.ReLU()))
    assert.are.equal("ember.nn.Sequential: layer 2 is not a module (got 5)", errmsg(nn.Sequential, {nn.ReLU(), 5}))
    -- padding = "same" keeps the size
    assert.are.same({1, 2, 7, 9}, nn.Conv2d(1, 2, {3, 5}, {padding = "same"})(ember.zeros(1, 1, 7, 9)):shape())
  end)
end)

-- model:spec() and nn.from_spec: plain data that rebuilds the architecture (for ember eval and export)
describe("models that describe themselves", function()
  -- each built-in layer with options off their defaults, and an input it takes
  local function cases()
    return {
      {nn.Linear(4, 3), {5, 4}}, {nn.Linear(4, 3, {bias = false}), {5, 4}},
      {nn.Conv2d(2, 3, {3, 1}, {stride = 2, padding = {1, 0}, dilation = {1, 2}, bias = false}), {2, 2, 6, 6}},
      {nn.Conv2d(2, 3, 3, {padding = "same"}), {2, 2, 5, 5}},
      {nn.MaxPool2d(2), {2, 2, 6, 6}},
      {nn.MaxPool2d(3, 1, {padding = 1, dilation = 2, ceil_mode = true}), {2, 2, 7, 7}},
      {nn.AvgPool2d({2, 3}, {1, 2}, {padding = 1, ceil_mode = true, count_include_pad = false}), {2, 2, 6, 6}},
      {nn.ReLU(), {2, 3}}, {nn.Sigmoid(), {2, 3}}, {nn.Tanh(), {2, 3}}, {nn.LeakyReLU(0.2), {2, 3}},
      {nn.GELU(), {2, 3}}, {nn.GELU{approximate = "tanh"}, {2, 3}},
      {nn.Softmax(1), {2, 3}}, {nn.LogSoftmax(-1), {2, 3}},
      {nn.Flatten(), {2, 3, 4}}, {nn.Flatten(1, 2), {2, 3, 4}}, {nn.Identity(), {2, 3}},
      {nn.Dropout(0.3), {2, 3}},
      {nn.BatchNorm1d(3, {eps = 1e-3, momentum = false}), {4, 3}},
      {nn.BatchNorm2d(2, {affine = false, momentum = 0.5}), {3, 2, 4, 4}},
      {nn.BatchNorm2d(2, {track_running_stats = false}), {3, 2, 4, 4}},
      {nn.Sequential{nn.Linear(4, 4), nn.Sequential{nn.Tanh(), nn.Linear(4, 2)}}, {5, 4}},
      {nn.Sequential(), {2, 3}},
    }
  end

  -- only tables, strings, numbers and booleans, as ember.save writes them
  local function assert_plain(v, path)
    local t = type(v)
    assert(t == "table" or t == "string" or t == "number" or t == "boolean", path .. " is a " .. t)
    if t == "table" then
      assert(getmetatable(v) == nil, path .. " has a metatable")
      for k, x in pairs(v) do assert_plain(x, path .. "." .. tostring(k)) end
    end
  end

  -- m rebuilt from its spec: same spec and printing, fresh tensors, and with m's state dict loaded,
  -- the same output on x in eval mode
  local function round_trip(m, x)
    m:train()
    m(x)                                       -- moves BatchNorm's running statistics off their start
    local spec = m:spec()
    assert_plain(spec, "spec")
    local r = nn.from_spec(spec)
    assert.are.same(spec, r:spec())
    assert.are.equal(tostring(m), tostring(r))
    assert.is_true(r.training)
    for i, p in ipairs(r:parameters()) do assert.is_false(rawequal(m:parameters()[i], p)) end
    r:load_state_dict(m:state_dict())
    m:eval(); r:eval()
    assert.are.same(m(x):totable(), r(x):totable())
    return r
  end

  it("every built-in layer and container round-trips", function()
    local covered = {}
    for _, c in ipairs(cases()) do
      ember.manual_seed(3)
      round_trip(c[1], ember.randn(table.unpack(c[2])))
      covered[c[1].__name] = true
    end
    for name, v in pairs(nn) do   -- a new built-in layer needs a case here
      if type(v) == "table" and rawget(v, "spec_args") then assert.is_true(covered[name], name .. " has no case") end
    end
  end)

  it("LeNet round-trips, and its spec survives ember.save and ember.load", function()
    ember.manual_seed(5)
    local m = lenet()
    local r = round_trip(m, ember.rand(4, 1, 28, 28))
    assert.are.equal(8490, r:num_parameters())
    local dir = h.tmpdir()
    ember.save(dir .. "/m.ckpt", {model_spec = m:spec(), model = m:state_dict()})
    local ck = ember.load(dir .. "/m.ckpt")
    h.rmdir(dir)
    local back = nn.from_spec(ck.model_spec)
    back:load_state_dict(ck.model)
    back:eval()
    local x = ember.rand(2, 1, 28, 28)
    assert.are.same(m(x):totable(), back(x):totable())
    assert.are.same({kind = "Linear", args = {320, 10, {bias = true}}}, ck.model_spec.args[8])
  end)

  it("what a spec cannot describe is an error naming the module", function()
    local Net = nn.Module:extend("Net")
    function Net:init() self.fc = nn.Linear(2, 2) end
    function Net:forward(x) return self.fc(x) end
    assert.are.equal("Net:spec: the model: Net has no spec: only ember.nn's built-in layers and containers can "
                     .. "describe themselves (a module defined with Module:extend cannot be rebuilt from plain data)",
                     errmsg(Net().spec, Net()))
    local seq = nn.Sequential{nn.ReLU(), nn.Sequential{Net()}}
    assert.truthy(errmsg(seq.spec, seq):find("^Sequential:spec: module 2%.1: Net has no spec"))
    local MyLinear = nn.Linear:extend("MyLinear")   -- a subclass is not the built-in it extends
    assert.truthy(errmsg(MyLinear(2, 2).spec, MyLinear(2, 2)):find("MyLinear has no spec", 1, true))
    local lin = nn.Linear(2, 2)
    local tied = nn.Sequential{lin, nn.ReLU(), lin}
    assert.are.equal("Sequential:spec: module 3: Linear(2 -> 2) is the same module as module 1: a spec cannot "
                     .. "describe a module used twice", errmsg(tied.spec, tied))
    local loop = nn.Sequential{nn.ReLU()}
    loop:add(loop)
    assert.truthy(errmsg(loop.spec, loop):find("contains itself: a cycle has no spec", 1, true))
    local extra = nn.Linear(2, 2)
    extra.scale = ember.ones(1):requires_grad()
    assert.are.equal("Linear:spec: the model: Linear(2 -> 2) holds the tensor scale, added after construction: "
                     .. "its spec cannot describe it", errmsg(extra.spec, extra))
    local named = nn.Sequential{nn.ReLU()}
    named:add("head", nn.Linear(2, 2))
    assert.truthy(errmsg(named.spec, named):find("holds the module Linear(2 -> 2) in field head", 1, true))
  end)

  it("nn.from_spec names what is wrong in the spec", function()
    assert.are.equal('ember.nn.from_spec: the model: a spec table {kind = ..., args = {...}} expected (got "Linear")',
                     errmsg(nn.from_spec, "Linear"))
    assert.truthy(errmsg(nn.from_spec, {kind = "Net"}):find('unknown kind "Net" (known: AvgPool2d, ', 1, true))
    assert.are.equal("ember.nn.from_spec: module 2: ember.nn.Linear: in_features must be a positive integer (got 0)",
                     errmsg(nn.from_spec, {kind = "Sequential", args = {{kind = "ReLU"}, {kind = "Linear", args = {0, 2}}}}))
    assert.are.equal("ember.nn.from_spec: the model: args must be a list (got the key \"n\")",
                     errmsg(nn.from_spec, {kind = "Linear", args = {n = 2}}))
    assert.are.equal("value", h.errkind(nn.from_spec, {kind = "Dropout", args = {2}}))
    -- a hole: Linear(1, nil, 3) is not the call the spec describes
    assert.are.equal("ember.nn.from_spec: the model: args must be a list without holes (args[2] is nil, args[3] is not)",
                     errmsg(nn.from_spec, {kind = "Linear", args = {1, nil, 3}}))
    assert.are.equal("ember.nn.from_spec: module 1: args must be a list without holes (args[1] is nil, args[2] is not)",
                     errmsg(nn.from_spec, {kind = "Sequential", args = {{kind = "Linear", args = {[2] = 3}}}}))
    assert.are.equal("ember.nn.from_spec: the model: args must be a list without holes (args[2] is nil, args[3] is not)",
                     errmsg(nn.from_spec, {kind = "Sequential", args = {{kind = "ReLU"}, nil, {kind = "ReLU"}}}))
    assert.are.equal("value", h.errkind(nn.from_spec, {kind = "LeakyReLU", args = {[3] = 0.1}}))
    -- args[2^40] alone was a loop over 2^40 holes; a cycle and deep nesting overflowed the Lua stack
    assert.are.equal("ember.nn.from_spec: the model: args must be a list without holes (args[1] is nil, "
                     .. "args[1099511627776] is not)", errmsg(nn.from_spec, {kind = "Linear", args = {[2^40] = 1}}))
    local cycle = {kind = "Sequential", args = {{kind = "ReLU"}}}
    cycle.args[2] = cycle
    assert.are.equal("ember.nn.from_spec: module 2: the spec contains itself (a cycle)", errmsg(nn.from_spec, cycle))
    local deep = {kind = "ReLU"}
    for _ = 1, 300 do deep = {kind = "Sequential", args = {deep}} end
    assert.truthy(errmsg(nn.from_spec, deep):find(": specs nested deeper than 200 modules$"))
    local shared = {kind = "ReLU"}
    assert.are.equal(2, #nn.from_spec{kind = "Sequential", args = {shared, shared}})   -- used twice: no cycle
  end)
end)

-- what an adversarial pass over every public function of ember.nn found (issue 17): wrong types, dims
-- and sizes each give an ember error naming the function or the layer, never a raw Lua error
describe("hostile arguments", function()
  local errkind = h.errkind

  it("layer inputs: a dim out of range is the layer's shape error, not the tensor method's", function()
    assert.are.equal("Softmax(dim = 2): dim 2 is out of range for input [] (1..1 or -1..-1)",
                     errmsg(nn.Softmax(2), ember.tensor(1)))
    assert.are.equal("shape", errkind(nn.LogSoftmax(3), ember.zeros(2, 2)))
    assert.are.equal("Flatten(): start_dim 2 is out of range for input [3] (1..1 or -1..-1)",
                     errmsg(nn.Flatten(), ember.zeros(3)))
    assert.are.equal("Flatten(3, 2): end_dim 2 comes before start_dim 3 for input [2 x 2 x 2]",
                     errmsg(nn.Flatten(3, 2), ember.zeros(2, 2, 2)))
    assert.are.equal("type", errkind(nn.Linear(2, 3), "x"))
    assert.are.equal("shape", errkind(nn.Linear(2, 3), ember.zeros(1, 3)))
  end)

  it("constructors: unknown and mistyped options, dims, sizes too large", function()
    assert.are.equal("ember.nn.Linear: unknown option 'bais' (known: bias)", errmsg(nn.Linear, 2, 2, {bais = false}))
    assert.are.equal("ember.nn.Conv2d: option bias must be true or false (got 0)", errmsg(nn.Conv2d, 1, 1, 3, {bias = 0}))
    assert.are.equal("ember.nn.MaxPool2d: option ceil_mode must be true or false (got \"yes\")",
                     errmsg(nn.MaxPool2d, 2, {ceil_mode = "yes"}))
    assert.are.equal("ember.nn.BatchNorm1d: unknown option 'momentun' (known: affine, eps, momentum, track_running_stats)",
                     errmsg(nn.BatchNorm1d, 3, {momentun = 0.2}))
    assert.are.equal("ember.nn.BatchNorm2d: eps must be a finite number >= 0 (got inf)",
                     errmsg(nn.BatchNorm2d, 3, {eps = math.huge}))
    assert.are.equal("ember.nn.Softmax: dim must be a nonzero integer (1 is the first dim, -1 the last; got 0)",
                     errmsg(nn.Softmax, 0))
    assert.are.equal("ember.nn.LeakyReLU: negative_slope must be finite (got nan)", (errmsg(nn.LeakyReLU, 0 / 0):gsub("%-nan", "nan")))
    assert.are.equal("ember.nn.Conv2d: dilation must be at most 1000000 (got 4611686018427387904)",
                     errmsg(nn.Conv2d, 1, 1, 3, {dilation = 1 << 62}))
    assert.matches("^ember%.nn%.Linear: .*too large", errmsg(nn.Linear, 1 << 40, 2))
  end)

  it("module methods check their arguments", function()
    local m = nn.Sequential{nn.ReLU()}
    assert.are.equal("Sequential:apply: function expected (got nil)", errmsg(m.apply, m))
    assert.are.equal("Sequential:train: mode must be true or false (got \"no\")", errmsg(m.train, m, "no"))
    assert.are.equal("type", errkind(m.add, m, 5))
  end)

  it("nn.init: numbers, options and dims named by the function called", function()
    local w = ember.empty(3, 4)
    assert.are.equal("ember.nn.init.normal_: mean must be a number (got true)", errmsg(nn.init.normal_, w, true))
    assert.are.equal("ember.nn.init.normal_: std must be a finite number >= 0 (got -1)", errmsg(nn.init.normal_, w, 0, -1))
    assert.are.equal("ember.nn.init.uniform_: lo 2 is above hi 1", errmsg(nn.init.uniform_, w, 2))
    assert.are.equal("ember.nn.init.zeros_: tensor expected (got nil)", errmsg(nn.init.zeros_))
    assert.are.equal("ember.nn.init.kaiming_uniform_: needs a tensor of at least 2 dimensions (got [3])",
                     errmsg(nn.init.kaiming_uniform_, ember.empty(3)))
    assert.are.equal("ember.nn.init.kaiming_normal_: unknown option 'mod' (known: a, mode, nonlinearity)",
                     errmsg(nn.init.kaiming_normal_, w, {mod = "fan_out"}))
    assert.are.equal("ember.nn.init.xavier_uniform_: gain must be a number (got \"x\")",
                     errmsg(nn.init.xavier_uniform_, w, "x"))
    assert.matches("^ember%.nn%.init%.calculate_gain: unknown nonlinearity \"swish\" %(known: linear, ",
                   errmsg(nn.init.calculate_gain, "swish"))
  end)
end)

describe("LeNet", function()
  it("forward and backward on a (64, 1, 28, 28) batch", function()
    ember.manual_seed(0)
    local m = lenet()
    local x = ember.rand(64, 1, 28, 28)
    local y = m(x)
    assert.are.same({64, 10}, y:shape())
    local target = ember.randn(64, 10)
    local function loss() return ((m(x) - target) ^ 2):mean() end
    local l0 = loss()
    l0:backward()
    for _, p in ipairs(m:named_parameters()) do
      assert.is_not_nil(p[2].grad, p[1])
      assert.are.same(p[2]:shape(), p[2].grad:shape())
      assert(p[2].grad:abs():sum():item() > 0, p[1] .. " got a zero gradient")
    end
    -- a few plain gradient steps lower the loss
    for _ = 1, 5 do
      ember.no_grad(function()
        for _, p in ipairs(m:parameters()) do p:add_(p.grad, -0.05) end
      end)
      m:zero_grad()
      loss():backward()
    end
    assert(loss():item() < l0:item(), "loss did not decrease")
  end)
end)

-- The stride-1 unpadded convolutions of LeNet take the "wide" im2col path in core/conv.c; pin it
-- against the definition written with slices (out[co] = b[co] + sum over c, i, j of w[co][c][i][j] *
-- x[:, c, i:i+OH, j:j+OW]), forward and gradients, at 1 and 2 threads (images split over workers).
describe("Conv2d wide path", function()
  local ember = require "ember"
  local function by_slices(x, w, b)
    local N, C, H, W = table.unpack(x:shape())
    local CO, _, KH, KW = table.unpack(w:shape())
    local OH, OW = H - KH + 1, W - KW + 1
    local out = b:reshape(1, CO, 1, 1)
    for c = 1, C do for i = 1, KH do for j = 1, KW do
      local patch = x:narrow(2, c, 1):narrow(3, i, OH):narrow(4, j, OW)          -- N x 1 x OH x OW
      local wij = w:narrow(2, c, 1):narrow(3, i, 1):narrow(4, j, 1):reshape(1, CO, 1, 1)
      out = out + patch * wij
    end end end
    return out
  end
  for _, threads in ipairs{1, 2} do
    it("matches the definition with " .. threads .. " thread(s)", function()
      ember.set_num_threads(threads)
      ember.manual_seed(21)
      local conv = ember.nn.Conv2d(3, 4, 3)
      local x = ember.randn(20, 3, 9, 7):requires_grad()     -- OW/W = 5/7 >= 2/3: wide
      local g = ember.randn(20, 4, 7, 5)
      local y = conv(x)
      y:backward(g)
      local gx, gw, gb = x.grad:clone(), conv.weight.grad:clone(), conv.bias.grad:clone()
      x.grad = nil
      local w = conv.weight:detach():requires_grad()
      local b = conv.bias:detach():requires_grad()
      local ref = by_slices(x, w, b)
      ref:backward(g)
      local function maxdiff(a, c) return (a - c):abs():max():item() end
      assert.is_true(maxdiff(y, ref) < 1e-4)
      assert.is_true(maxdiff(gx, x.grad) < 1e-4)
      assert.is_true(maxdiff(gw, w.grad) < 1e-3)
      assert.is_true(maxdiff(gb, b.grad) < 1e-3)
      ember.set_num_threads(2)
    end)
  end
end)
