-- threads_spec.lua - the same bits at every thread count: every layer, loss and optimizer, forward and
-- gradients, at 2, 3, 4 and 8 threads against 1 thread (8 on a 2-core machine still cuts the work 8
-- ways), and a small CNN trained for a few steps. Sizes are large enough that every kernel splits its
-- work (elementwise ops above 32768 elements, products of 2^23 multiply-adds and more, optimizer steps
-- above 262144 parameters, convolutions over several groups of images).
local ember = require "ember"
local nn, loss, optim = ember.nn, ember.loss, ember.optim

local THREADS = {2, 3, 4, 8}

-- runs f (which returns a list of tensors) at 1 thread and at each of THREADS, from the same seed, and
-- asserts every element is the same (compared as floats: equal, or both NaN)
local function same_at_every_thread_count(f)
  local function at(threads)
    ember.set_num_threads(threads)
    ember.manual_seed(7)
    local out = f()
    for k, t in ipairs(out) do out[k] = t:detach():clone() end
    return out
  end
  local ref = at(1)
  for _, threads in ipairs(THREADS) do
    local got = at(threads)
    assert.are.equal(#ref, #got)
    for k = 1, #ref do
      assert.are.same(ref[k]:shape(), got[k]:shape())
      -- x ~= x only for NaN: an element differs when it is unequal and not NaN on both sides
      local both_nan = ref[k]:ne(ref[k]) * got[k]:ne(got[k])
      if (ref[k]:ne(got[k]) - both_nan):sum():item() > 0 then
        local a, b = ref[k]:reshape(-1):totable(), got[k]:reshape(-1):totable()
        for i = 1, #a do
          if a[i] ~= b[i] and (a[i] == a[i] or b[i] == b[i]) then
            error(("tensor %d element %d: %a at 1 thread, %a at %d threads"):format(k, i, a[i], b[i], threads), 0)
          end
        end
      end
    end
  end
  ember.set_num_threads(2)
end

-- output and the gradients of input and parameters of module m on x, for a fixed output weighting
local function layer_case(make, x_shape)
  return function()
    local m = make()
    local x = ember.randn(table.unpack(x_shape)):requires_grad()
    local y = m(x)
    y:backward(ember.randn(table.unpack(y:shape())))
    local out = {y, x.grad}
    for _, p in ipairs(m:parameters()) do out[#out + 1] = p.grad end
    return out
  end
end

describe("layers give the same bits at every thread count", function()
  local cases = {
    {"Linear (products cut into blocks of rows and of columns)", function() return nn.Linear(784, 256) end,
     {1024, 784}},
    {"Linear on a small batch (products of 256 to 511 rows or columns cut in two)",
     function() return nn.Linear(784, 256) end, {128, 784}},
    {"Conv2d direct (LeNet conv2)", function() return nn.Conv2d(10, 20, 5) end, {100, 10, 12, 12}},
    {"Conv2d direct, padding and dilation", function() return nn.Conv2d(3, 7, 3, {padding = 2, dilation = 2}) end,
     {37, 3, 11, 9}},
    {"Conv2d stride 2 (im2col)", function() return nn.Conv2d(4, 6, 3, {stride = 2, padding = 1}) end, {40, 4, 15, 15}},
    {"Conv2d 1x1 (pointwise)", function() return nn.Conv2d(16, 8, 1) end, {40, 16, 9, 9}},
    {"Conv2d depthwise, padding same, even kernel", function() return nn.Conv2d(8, 16, 4, {groups = 8, padding = "same"}) end,
     {40, 8, 10, 10}},
    {"MaxPool2d", function() return nn.MaxPool2d(2) end, {64, 10, 24, 24}},
    {"MaxPool2d 3 stride 2 padding 1", function() return nn.MaxPool2d(3, 2, {padding = 1}) end, {32, 8, 17, 17}},
    {"AvgPool2d", function() return nn.AvgPool2d(3, 2) end, {32, 8, 17, 17}},
    {"BatchNorm2d", function() return nn.BatchNorm2d(20) end, {64, 20, 12, 12}},
    {"BatchNorm1d", function() return nn.BatchNorm1d(300) end, {256, 300}},
    {"ReLU", function() return nn.ReLU() end, {64, 10, 12, 12}},
    {"GELU", function() return nn.GELU() end, {300, 300}},
    {"Sigmoid", function() return nn.Sigmoid() end, {300, 300}},
    {"Tanh", function() return nn.Tanh() end, {300, 300}},
    {"LeakyReLU", function() return nn.LeakyReLU(0.1) end, {300, 300}},
    {"LogSoftmax", function() return nn.LogSoftmax(2) end, {300, 300}},
    {"Softmax", function() return nn.Softmax(2) end, {300, 300}},
    {"Dropout", function() return nn.Dropout(0.3) end, {300, 300}},
    {"Flatten", function() return nn.Flatten() end, {64, 10, 12, 12}},
  }
  for _, c in ipairs(cases) do
    it(c[1], function() same_at_every_thread_count(layer_case(c[2], c[3])) end)
  end
  it("Conv2d with the im2col kernels (LeNet conv1 and conv2)", function()
    ember.set_conv_kernel("im2col")
    local ok, err = pcall(same_at_every_thread_count, function()
      local a, b = layer_case(function() return nn.Conv2d(1, 10, 5) end, {64, 1, 28, 28})(),
                   layer_case(function() return nn.Conv2d(10, 20, 5) end, {64, 10, 12, 12})()
      for _, t in ipairs(b) do a[#a + 1] = t end
      return a
    end)
    ember.set_conv_kernel("auto")
    assert(ok, err)
  end)
  it("BatchNorm2d in eval mode, and its running statistics after a training step", function()
    same_at_every_thread_count(function()
      local m = nn.BatchNorm2d(8)
      m(ember.randn(64, 8, 16, 16) * 3 + 1)
      m:eval()
      local x = ember.randn(64, 8, 16, 16):requires_grad()
      local y = m(x)
      y:backward(ember.randn(64, 8, 16, 16))
      return {y, x.grad, m.running_mean, m.running_var}
    end)
  end)
end)

describe("tensor ops give the same bits at every thread count", function()
  it("reductions over every dim and over everything, and their gradients", function()
    same_at_every_thread_count(function()
      local x = ember.randn(64, 50, 40):requires_grad()
      local parts = {x:sum(), x:mean(), x:sum(1), x:sum(2), x:mean(3), x:max(2), x:min(3), x:softmax(2):sum(3)}
      local total = parts[1]
      for k = 2, #parts do total = total + parts[k]:sum() * (k / 10) end
      total:backward()
      parts[#parts + 1] = x.grad
      return parts
    end)
  end)
  it("broadcasting arithmetic, matmul and their gradients", function()
    same_at_every_thread_count(function()
      local a = ember.randn(200, 300):requires_grad()
      local b = ember.randn(1, 300):requires_grad()
      local c = ember.randn(300, 150):requires_grad()
      local y = ((a * b + a / (b:abs() + 1)) - b):exp():log1p():matmul(c)
      y:backward(ember.randn(200, 150))
      return {y, a.grad, b.grad, c.grad}
    end)
  end)
end)

describe("losses give the same bits at every thread count", function()
  local N, C = 4000, 10
  local cases = {
    mse = function(x) return loss.mse(x, ember.randn(N, C)) end,
    rmse = function(x) return loss.rmse(x, ember.randn(N, C)) end,
    mae = function(x) return loss.mae(x, ember.randn(N, C)) end,
    huber = function(x) return loss.huber(x, ember.randn(N, C)) end,
    smooth_l1 = function(x) return loss.smooth_l1(x, ember.randn(N, C)) end,
    bce = function(x) return loss.bce(x:sigmoid(), ember.rand(N, C)) end,
    bce_with_logits = function(x) return loss.bce_with_logits(x, ember.rand(N, C)) end,
    kl_div = function(x) return loss.kl_div(x:log_softmax(2), ember.rand(N, C):softmax(2)) end,
    hinge_embedding = function(x) return loss.hinge_embedding(x, ember.rand(N, C):gt(0.5) * 2 - 1) end,
    margin_ranking = function(x) return loss.margin_ranking(x, x * 0.5 + 0.1, ember.rand(N, C):gt(0.5) * 2 - 1) end,
    cross_entropy = function(x)
      local y = {}
      for i = 1, N do y[i] = (i * 7) % C + 1 end
      return loss.cross_entropy(x, ember.tensor(y), {label_smoothing = 0.1})
    end,
    nll = function(x)
      local y = {}
      for i = 1, N do y[i] = (i * 3) % C + 1 end
      return loss.nll(x:log_softmax(2), ember.tensor(y))
    end,
  }
  local names = {}
  for name in pairs(cases) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do
    it(name .. ", mean and sum", function()
      same_at_every_thread_count(function()
        local x = ember.randn(N, C):requires_grad()
        local l = cases[name](x)
        local s = loss.mse(x, x:detach() * 0.5, {reduction = "sum"})
        l:backward()
        local g = x.grad:clone()
        x.grad = nil
        s:backward()
        return {l, g, s, x.grad}
      end)
    end)
  end
end)

describe("optimizers give the same bits at every thread count", function()
  local configs = {
    {"sgd", {lr = 0.1, momentum = 0.9, nesterov = true, weight_decay = 1e-3}},
    {"adam", {lr = 1e-2, weight_decay = 1e-3, amsgrad = true}},
    {"adamw", {lr = 1e-2, weight_decay = 1e-2}},
    {"rmsprop", {lr = 1e-2, centered = true, momentum = 0.5}},
    {"adagrad", {lr = 1e-1, lr_decay = 1e-3, l1 = 1e-4}},
  }
  for _, c in ipairs(configs) do
    it(c[1] .. ", three steps on 600,000 parameters, and gradient norms and clipping", function()
      same_at_every_thread_count(function()
        local p = ember.randn(600, 1000):requires_grad()
        local q = ember.randn(1000):requires_grad()
        local opt = optim[c[1]]({p, q}, c[2])
        local norms = {}
        for s = 1, 3 do
          opt:zero_grad()
          local l = ((p * p):sum(2) + q:sum() * 0.5):sum() * 1e-3
          l:backward()
          norms[#norms + 1] = ember.tensor(optim.clip_grad_norm({p, q}, 1.5))
          norms[#norms + 1] = ember.tensor(optim.grad_norm({p, q}, 1))
          opt:step()
        end
        local out = {p:detach(), q:detach(), p.grad}
        for _, n in ipairs(norms) do out[#out + 1] = n end
        return out
      end)
    end)
  end
end)

describe("training gives the same bits at every thread count", function()
  it("a small CNN with batch norm and dropout, 5 Adam steps", function()
    same_at_every_thread_count(function()
      local model = nn.Sequential{nn.Conv2d(1, 6, 5, {padding = 2}), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Dropout(0.2), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 10)}
      local opt = optim.adam(model:parameters(), {lr = 1e-3})
      local x = ember.randn(96, 1, 28, 28)
      local lab = {}
      for i = 1, 96 do lab[i] = (i * 7) % 10 + 1 end
      local y = ember.tensor(lab)
      local losses = {}
      for s = 1, 5 do
        opt:zero_grad()
        local l = loss.cross_entropy(model(x), y)
        l:backward()
        opt:step()
        losses[s] = l:detach()
      end
      local out = model:parameters()
      for _, l in ipairs(losses) do out[#out + 1] = l end
      return out
    end)
  end)
end)

-- the end-to-end form: `ember run` of the shipped digits CNN (batch 64, a last batch of 54: a partial
-- group of images in the direct convolution) at several thread counts writes the same metrics.tsv,
-- save the wall-clock column, and records the kernels it ran with in meta.tsv
describe("ember run at 1, 2, 3 and 4 threads", function()
  local lfs = require "lfs"
  local cwd = lfs.currentdir()
  local bin = os.getenv("EMBER_BIN") or "build/ember"
  if bin:sub(1, 1) ~= "/" then bin = cwd .. "/" .. bin end
  local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
  local function read(path)
    local f = assert(io.open(path, "rb"))
    local s = f:read("a")
    f:close()
    return s
  end
  -- metrics.tsv without its last column (time), and meta.tsv as a table
  local function run_at(root, threads)
    local dir = root .. "/t" .. threads
    local cmd = ("cd %s && %s run experiments/classify_digits.lua --set epochs=3 --set smoothing=0 --runs %s " ..
                 "--threads %d --quiet >/dev/null 2>&1"):format(q(cwd), q(bin), q(dir), threads)
    assert(os.execute(cmd), "ember run failed at " .. threads .. " threads")
    local p = io.popen("find " .. q(dir) .. " -name metrics.tsv")
    local metrics = p:read("l")
    p:close()
    local rows = {}
    for line in read(metrics):gmatch("[^\n]+") do rows[#rows + 1] = line:gsub("\t[^\t]*$", "") end
    local meta = {}
    for k, v in read(metrics:gsub("metrics%.tsv$", "meta.tsv")):gmatch("([^\t\n]+)\t([^\n]*)") do meta[k] = v end
    return table.concat(rows, "\n"), meta
  end
  it("writes the same metrics", function()
    local root = os.tmpname()
    os.remove(root)
    assert(lfs.mkdir(root))
    local ref, meta = run_at(root, 1)
    assert.is_true(#ref > 0)
    assert.are.equal(ember.blas().conv, meta.conv_kernel)
    assert.are.equal(ember.blas().kernel, meta.blas_kernel)
    for _, t in ipairs{2, 3, 4} do assert.are.equal(ref, (run_at(root, t))) end
    os.execute("rm -rf " .. q(root))
  end)
end)

-- EMBER_NUM_THREADS is read once, when ember loads: a value that is not a count 1..1024 is refused there,
-- never turned into 1 thread (atoi("1e9")) or 10^9 of them
describe("EMBER_NUM_THREADS", function()
  local h = dofile("tests/lua/spec_helper.lua")
  local q = require("ember.util").shell_quote
  local function with(value, cmd) return h.sh(("EMBER_NUM_THREADS=%s %s 2>&1"):format(q(value), cmd)) end

  it("gives the count of threads when it is an integer from 1 to 1024", function()
    for _, v in ipairs{"1", "3", "1024"} do
      local out, code = with(v, q(h.EMBER) .. " -e 'print(ember.get_num_threads())'")
      assert.are.equal(0, code, out)
      assert.are.equal(v .. "\n", out)
    end
    local out = with("abc", q(h.EMBER) .. " --threads 2 -e 'print(ember.get_num_threads())'")
    assert.are.equal("2\n", out)   -- --threads replaces it
  end)

  it("and ember.set_num_threads refuse any other count with an ember error", function()
    local E = require "ember.error"
    local before = ember.get_num_threads()
    for _, c in ipairs{{0, "0"}, {1025, "1025"}, {2.5, "2.5"}, {"x", "x"}, {{}, "table"}} do
      local ok, e = pcall(ember.set_num_threads, c[1])
      assert.is_false(ok)
      assert.are.equal("ember.set_num_threads: the thread count must be an integer from 1 to 1024 (got " .. c[2] .. ")",
                       E.message(e))
      assert.are.equal("value", E.kind(e))
    end
    assert.are.equal(before, ember.get_num_threads())
    ember.set_num_threads(2.0)
    assert.are.equal(2, ember.get_num_threads())
    ember.set_num_threads(before)
  end)

  it("ends ember with exit status 2 on any other value, and fails require in plain Lua", function()
    local cpath = (os.getenv("EMBER_BIN") or "build/ember"):gsub("ember$", "?.so")
    for _, v in ipairs{"0", "-1", "1e9", "abc", "", " 2", "2x", "1025", "99999999999999999999"} do
      local out, code = with(v, q(h.EMBER) .. " -e 'print(ember.get_num_threads())'")
      assert.are.equal(2, code, v)
      assert.are.equal(("ember: EMBER_NUM_THREADS must be an integer from 1 to 1024 (got '%s'); fix it, unset it or "
                        .. "give --threads T\n"):format(v), out)
      out, code = with(v, ("lua5.4 -e %s"):format(q(("package.cpath = %q .. ';' .. package.cpath; "
        .. "local ok, e = pcall(require, 'ember'); io.write(tostring(ok), ' ', tostring(e)); os.exit(ok and 0 or 3)")
        :format(cpath))))
      assert.are.equal(3, code, out)
      assert.are.equal(("false ember: EMBER_NUM_THREADS must be an integer from 1 to 1024 (got '%s'); fix or unset it")
                       :format(v), out)
    end
  end)
end)
