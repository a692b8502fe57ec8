-- tensor_spec.lua - tensors from Lua: creation, printing, views, elementwise ops with broadcasting,
-- reductions, matmul, and the error messages that are part of the contract.
local ember = require "ember"

local function close(a, b, tol)
  tol = tol or 1e-5
  if type(a) == "table" then
    if #a ~= #b then return false end
    for i = 1, #a do if not close(a[i], b[i], tol) then return false end end
    return true
  end
  return math.abs(a - b) <= tol * math.max(1, math.abs(a), math.abs(b))
end

local errmsg = dofile("tests/lua/spec_helper.lua").errmsg

describe("creation", function()
  it("builds from nested tables and reports shape", function()
    local x = ember.tensor{{1, 2, 3}, {4, 5, 6}}
    assert.same({2, 3}, x:shape())
    assert.equal(2, x:dim())
    assert.equal(6, x:numel())
    assert.same({{1, 2, 3}, {4, 5, 6}}, x:totable())
  end)
  it("makes zeros, ones, full, arange, scalars", function()
    assert.same({{0, 0}, {0, 0}}, ember.zeros(2, 2):totable())
    assert.same({1, 1, 1}, ember.ones{3}:totable())
    assert.same({{7, 7}}, ember.full({1, 2}, 7):totable())
    assert.same({0, 1, 2, 3}, ember.arange(4):totable())
    assert.same({1, 3, 5}, ember.arange(1, 7, 2):totable())
    assert.equal(3.5, ember.tensor(3.5):item())
    assert.equal(0, ember.tensor(3.5):dim())
  end)
  it("rejects ragged tables with the position", function()
    assert.matches("ragged nested table at %[2%]", errmsg(ember.tensor, {{1, 2}, {3}}))
    assert.matches("element %[1%]%[2%] is a string", errmsg(ember.tensor, {{1, "x"}}))
  end)
  it("rejects bad sizes", function()
    assert.matches("zeros: size 1 must be a non%-negative integer", errmsg(ember.zeros, -1))
    assert.matches("at most 8 dimensions", errmsg(ember.zeros, {1, 1, 1, 1, 1, 1, 1, 1, 1}))
  end)
  it("draws the same numbers from the same seed", function()
    ember.manual_seed(7); local a = ember.randn(5):totable()
    ember.manual_seed(7); local b = ember.randn(5):totable()
    assert.same(a, b)
    ember.manual_seed(8); local c = ember.randn(5):totable()
    assert.are_not.same(a, c)
    local st = ember.get_rng_state()
    local d = ember.rand(3):totable()
    ember.set_rng_state(st)
    assert.same(d, ember.rand(3):totable())
  end)
  it("draws normals with mean 0 and std 1, uniforms in [0, 1)", function()
    ember.manual_seed(1)
    local n = ember.randn(20000)
    assert.is_true(math.abs(n:mean():item()) < 0.03)
    assert.is_true(math.abs(((n * n):mean():item()) - 1) < 0.05)
    local u = ember.rand(10000)
    assert.is_true(u:min():item() >= 0 and u:max():item() < 1)
    assert.is_true(math.abs(u:mean():item() - 0.5) < 0.02)
  end)
end)

describe("printing", function()
  it("prints values and shape", function()
    local s = tostring(ember.tensor{{1.5, 2}, {3, 4}})
    assert.matches("tensor%(%[%[1%.5000, 2%.0000%],", s)
    assert.matches("shape %[2 x 2%]", s)
  end)
  it("summarises large tensors", function()
    local s = tostring(ember.zeros(100, 100))
    assert.matches("%.%.%.", s)
    assert.is_true(#s < 2000)
  end)
  it("shows autograd state", function()
    local w = ember.ones(2):requires_grad()
    assert.matches("requires_grad", tostring(w))
    assert.matches("grad_fn mul", tostring(w * 2))
  end)
end)

describe("elementwise ops", function()
  local a = ember.tensor{{1, 2, 3}, {4, 5, 6}}
  it("does arithmetic with numbers on either side", function()
    assert.same({{2, 3, 4}, {5, 6, 7}}, (a + 1):totable())
    assert.same({{0, -1, -2}, {-3, -4, -5}}, (1 - a):totable())
    assert.same({{2, 4, 6}, {8, 10, 12}}, (2 * a):totable())
    assert.same({{1, 4, 9}, {16, 25, 36}}, (a ^ 2):totable())
    assert.same({{-1, -2, -3}, {-4, -5, -6}}, (-a):totable())
    assert.is_true(close({{1, 0.5, 1 / 3}, {0.25, 0.2, 1 / 6}}, (1 / a):totable()))
  end)
  it("broadcasts rows and columns", function()
    local row, col = ember.tensor{10, 20, 30}, ember.tensor{{100}, {200}}
    assert.same({{11, 22, 33}, {14, 25, 36}}, (a + row):totable())
    assert.same({{101, 102, 103}, {204, 205, 206}}, (a + col):totable())
    assert.same({2, 3}, (col + row):shape())
  end)
  it("computes unary functions", function()
    local x = ember.tensor{-1, 0, 2}
    assert.same({0, 0, 2}, x:relu():totable())
    assert.same({1, 0, 2}, x:abs():totable())
    assert.is_true(close({math.exp(-1), 1, math.exp(2)}, x:exp():totable()))
    assert.is_true(close({1 / (1 + math.exp(1)), 0.5, 1 / (1 + math.exp(-2))}, x:sigmoid():totable()))
    assert.is_true(close({math.tanh(-1), 0, math.tanh(2)}, x:tanh():totable()))
    assert.same({-1, 0, 1}, x:clamp(-1, 1):totable())
    assert.is_true(close({-0.01, 0, 2}, x:leaky_relu():totable()))
    assert.is_true(close({2, 3}, ember.tensor{4, 9}:sqrt():totable()))
    assert.is_true(close({0, math.log(2)}, ember.tensor{1, 2}:log():totable()))
  end)
  it("compares elementwise", function()
    local x, y = ember.tensor{1, 2, 3}, ember.tensor{3, 2, 1}
    assert.same({1, 0, 0}, x:lt(y):totable())
    assert.same({0, 1, 0}, x:eq(y):totable())
    assert.same({0, 1, 1}, x:ge(y):totable())
    assert.same({3, 2, 3}, x:maximum(y):totable())
    assert.same({3, 2, 3}, ember.where(x:lt(y), y, x):totable())   -- the larger of each pair
  end)
  it("names both shapes when they do not broadcast", function()
    local e = errmsg(function() return ember.zeros(3, 4) + ember.zeros(5, 4) end)
    assert.matches("add: shapes %[3 x 4%] and %[5 x 4%] are not broadcastable", e)
    assert.matches("mul: shapes", errmsg(function() return ember.zeros(2) * ember.zeros(3) end))
  end)
  it("reports wrong argument types", function()
    assert.matches("expected a tensor, number or table %(got string%)", errmsg(function() return ember.zeros(2) + "x" end))
    assert.matches("Tensor:matmul: argument 1 must be a tensor %(got nil%)",
      errmsg(function() return ember.zeros(2).matmul(nil, ember.zeros(2)) end))
  end)
  it("words a binding's argument errors as ember errors naming the function and the value", function()
    local E = require "ember.error"
    local x = ember.ones(3)
    local closed = ember.zeros(2)
    do local c <close> = closed end
    local cases = {
      {"ember.manual_seed: argument 1 must be an integer %(got 1.5%)", function() ember.manual_seed(1.5) end, "value"},
      {"ember.manual_seed: argument 1 must be an integer %(got nan%)", function() ember.manual_seed(0 / 0) end, "value"},
      {"ember.manual_seed: argument 1 must be an integer %(got string%)", function() ember.manual_seed("x") end, "type"},
      {"ember.arange: argument 3 must be a number %(got string%)", function() ember.arange(1, 2, "x") end, "type"},
      {"ember.full: argument 2 must be a number %(got table%)", function() ember.full({2}, {}) end, "type"},
      -- a method numbers its arguments after self, as Lua does
      {"Tensor:narrow: argument 2 must be an integer %(got string%)", function() x:narrow(1, "a", 1) end, "type"},
      {"Tensor:clamp: argument 1 must be a number %(got string%)", function() x:clamp("a") end, "type"},
      {"ember.sum: a dimension must be an integer %(got 1.5%)", function() x:sum(1.5) end, "value"},
      {"ember.permute: a dimension must be an integer %(got string%)", function() ember.ones(2, 2):permute{1, "a"} end, "type"},
      {"ember.permute: a dimension must be an integer %(got nan%)", function() ember.ones(2, 2):permute{1, 0 / 0} end, "value"},
      -- metamethods are named after the operation, functions of a sub-table by their whole path
      {"Tensor:index: argument 1 must be a tensor %(got a closed tensor%)", function() return closed[1] end, "state"},
      {"Tensor:__len: argument 1 must be a tensor %(got a closed tensor%)", function() return #closed end, "state"},
      {"ember._process.wait: argument 1 must be a table %(got 5%)", function() ember._process.wait(5) end, "type"},
      -- keepdim and other flags are true or false: "no" and 0 would have been true
      {"Tensor:sum: argument 2 must be true or false %(got string%)", function() x:sum(1, "no") end, "type"},
      {"Tensor:max: argument 2 must be true or false %(got 0%)", function() x:max(1, 0) end, "type"},
      {"Tensor:argmax: argument 2 must be true or false %(got table%)", function() x:argmax(1, {}) end, "type"},
      {"ember.dropout: argument 3 must be true or false %(got string%)", function() ember.dropout(x, 0.5, "no") end, "type"},
      {"ember.set_grad_enabled: argument 1 must be true or false %(got string%)",
        function() ember.set_grad_enabled("no") end, "type"},
      {"ember.no_grad: argument 1 must be a function %(got 5%)", function() ember.no_grad(5) end, "type"},
      {"ember.cat: argument 1 must be a table %(got 5%)", function() ember.cat(5) end, "type"},
      -- the first element too (it was checked as stack slot -1: "argument -1 must be a tensor")
      {"ember.cat: element 1 is a number, expected a tensor", function() ember.cat({5, x}) end, "type"},
      {"ember.cat: element 3 is a string, expected a tensor", function() ember.cat({x, x, "x"}) end, "type"},
      {"ember.set_rng_state: argument 1 must be an RNG state from ember.get_rng_state %(got string%)",
        function() ember.set_rng_state("short") end, "value"},
      {"Tensor:index: the index must be an integer %(got 1.5%)", function() return x[1.5] end, "value"},
      {"Tensor:index: the index must be an integer %(got nan%)", function() x[0 / 0] = 1 end, "value"},
      {"Tensor:requires_grad: must be set to true or false %(got string%)", function() x.requires_grad = "no" end, "type"},
    }
    for _, c in ipairs(cases) do
      local ok, err = pcall(c[2])
      assert.is_false(ok, c[1])
      assert.is_true(E.is(err), c[1] .. ": " .. tostring(err))
      assert.equal(c[3], err.kind, c[1])
      assert.matches("^[^:]*spec%.lua:%d+: " .. c[1] .. "$", tostring(err))   -- the caller's line first
    end
    assert.is_false(x:grad_required())   -- the refused requires_grad left the flag as it was
  end)
end)

describe("reductions", function()
  local a = ember.tensor{{1, 5, 3}, {4, 2, 6}}
  it("sums and averages over all or one dim", function()
    assert.equal(21, a:sum():item())
    assert.same({5, 7, 9}, a:sum(1):totable())
    assert.same({9, 12}, a:sum(2):totable())
    assert.same({{9}, {12}}, a:sum(2, true):totable())
    assert.same({9, 12}, a:sum(-1):totable())
    assert.equal(3.5, a:mean():item())
    assert.same({2.5, 3.5, 4.5}, a:mean(1):totable())
  end)
  it("finds max, min and their 1-based indices", function()
    assert.equal(6, a:max():item())
    assert.equal(1, a:min():item())
    local v, i = a:max(2)
    assert.same({5, 6}, v:totable())
    assert.same({2, 3}, i:totable())
    local mv, mi = a:min(1)
    assert.same({1, 2, 3}, mv:totable())
    assert.same({1, 2, 1}, mi:totable())
    assert.same({2, 3}, a:argmax(2):totable())
    assert.equal(6, a:argmax():item())
  end)
  it("computes softmax and log_softmax stably", function()
    local x = ember.tensor{{1000, 1001}, {-1000, -1000}}
    local s = x:softmax(2):totable()
    assert.is_true(close({1 / (1 + math.exp(1)), 1 / (1 + math.exp(-1))}, s[1]))
    assert.is_true(close({0.5, 0.5}, s[2]))
    local l = x:log_softmax(2):totable()
    assert.is_true(close({-math.log(1 + math.exp(1)), -math.log(1 + math.exp(-1))}, l[1]))
  end)
  it("rejects out-of-range dims, 1-based", function()
    assert.matches("sum: dimension 3 out of range for a 2%-d tensor %(expected 1%.%.2 or %-2%.%.%-1%)", errmsg(a.sum, a, 3))
    assert.matches("dimension 0 out of range", errmsg(a.sum, a, 0))
  end)
  it("explains item() on a non-scalar", function()
    assert.matches("item: tensor %[2 x 3%] has 6 elements, expected 1", errmsg(a.item, a))
  end)
end)

describe("matmul", function()
  it("multiplies matrices, vectors and batches", function()
    local a = ember.tensor{{1, 2}, {3, 4}}
    local b = ember.tensor{{5, 6}, {7, 8}}
    assert.same({{19, 22}, {43, 50}}, a:matmul(b):totable())
    assert.same({17, 39}, a:matmul(ember.tensor{5, 6}):totable())
    assert.same({23, 34}, ember.tensor{5, 6}:matmul(a):totable())
    assert.equal(11, ember.tensor{1, 2}:matmul(ember.tensor{3, 4}):item())
    assert.same({{19, 22}, {43, 50}}, a:matmul(b:t():contiguous():t()):totable())
    assert.same({{23, 31}, {34, 46}}, a:t():matmul(b:t()):totable())
    local ab = ember.cat({a:unsqueeze(1), b:unsqueeze(1)}, 1)   -- [2 x 2 x 2]
    local r = ab:matmul(a)
    assert.same({2, 2, 2}, r:shape())
    assert.same({{7, 10}, {15, 22}}, r[1]:totable())
    assert.same({{23, 34}, {31, 46}}, r[2]:totable())
  end)
  it("matches a plain-loop product on a larger random case", function()
    ember.manual_seed(3)
    local a, b = ember.randn(17, 33), ember.randn(33, 9)
    local c = a:matmul(b):totable()
    local at, bt = a:totable(), b:totable()
    for i = 1, 17 do for j = 1, 9 do
      local s = 0
      for k = 1, 33 do s = s + at[i][k] * bt[k][j] end
      assert.is_true(close(s, c[i][j], 1e-4))
    end end
  end)
  it("copies an operand BLAS cannot read as it is (stride 0 from expand), 2-d and batched", function()
    local a = ember.tensor{{1}, {2}}:expand(2, 3)              -- {{1, 1, 1}, {2, 2, 2}}, column stride 0
    local b = ember.tensor{{1, 2}, {3, 4}, {5, 6}}
    assert.same({{9, 12}, {18, 24}}, a:matmul(b):totable())
    local batch = a:unsqueeze(1):expand(3, 2, 3)                 -- three copies, batch stride 0 too
    local r = batch:matmul(b)
    assert.same({3, 2, 2}, r:shape())
    assert.same({{9, 12}, {18, 24}}, r[3]:totable())
  end)
  it("names both shapes on a mismatch", function()
    assert.matches("matmul: shapes %[2 x 3%] and %[2 x 3%] cannot be multiplied",
      errmsg(function() return ember.zeros(2, 3):matmul(ember.zeros(2, 3)) end))
  end)
end)

describe("views", function()
  it("shares storage for reshape, transpose, narrow, select", function()
    local x = ember.arange(6):reshape(2, 3)
    assert.same({{0, 1, 2}, {3, 4, 5}}, x:totable())
    assert.same({{0, 3}, {1, 4}, {2, 5}}, x:t():totable())
    assert.same({{1, 2}, {4, 5}}, x:narrow(2, 2, 2):totable())
    assert.same({3, 4, 5}, x:select(1, 2):totable())
    assert.same({3, 4, 5}, x[2]:totable())
    x:narrow(2, 2, 1):fill(9)
    assert.same({{0, 9, 2}, {3, 9, 5}}, x:totable())
    assert.same({3, 2}, x:reshape(-1, 2):shape())
    assert.same({1, 2, 3}, x:unsqueeze(1):shape())
    assert.same({2, 3}, x:unsqueeze(1):squeeze():shape())
    assert.same({{0, 0}, {1, 1}}, ember.tensor{{0}, {1}}:expand(2, 2):totable())
    assert.same({6}, x:flatten():shape())
    assert.same({3, 2}, ember.zeros(2, 3):permute(2, 1):shape())
  end)
  it("copies when a view is not contiguous", function()
    local x = ember.arange(6):reshape(2, 3):t()
    assert.is_false(x:is_contiguous())
    assert.same({0, 3, 1, 4, 2, 5}, x:reshape(6):totable())
    assert.is_true(x:contiguous():is_contiguous())
  end)
  it("explains bad reshapes and ranges", function()
    assert.matches("reshape: cannot view %[2 x 3%] %(6 elements%) as %[4%]", errmsg(function() return ember.zeros(2, 3):reshape(4) end))
    assert.matches("narrow: start 2 with length 3 is outside dimension 1 of size 3", errmsg(function() return ember.zeros(3):narrow(1, 2, 3) end))
    assert.matches("index: 5 is out of range 1%.%.3", errmsg(function() return ember.zeros(3)[5] end))
    assert.matches("t: expects a tensor of at most 2 dimensions", errmsg(function() return ember.zeros(2, 2, 2):t() end))
  end)
end)

describe("in-place and copies", function()
  it("copies, fills and adds in place", function()
    local x = ember.zeros(2, 2)
    x:copy(ember.tensor{{1, 2}, {3, 4}})
    x:add_(ember.ones(2, 2), 2)
    assert.same({{3, 4}, {5, 6}}, x:totable())
    x:mul_(0.5)
    assert.same({{1.5, 2}, {2.5, 3}}, x:totable())
    local c = x:clone(); c:fill(0)
    assert.same({{1.5, 2}, {2.5, 3}}, x:totable())
  end)
  it("refuses in-place changes of tensors that require grad, unless under no_grad", function()
    local w = ember.ones(2):requires_grad()
    assert.matches("add_: in%-place change of a tensor that requires grad", errmsg(function() w:add_(1) end))
    ember.no_grad(function() w:add_(1) end)
    assert.same({2, 2}, w:totable())
  end)
  it("copy names both shapes", function()
    assert.matches("copy: destination %[2%] and source %[3%]", errmsg(function() ember.zeros(2):copy(ember.zeros(3)) end))
  end)
end)

describe("library state", function()
  it("reports the BLAS kernel and threads", function()
    local b = ember.blas()
    assert.is_string(b.kernel)
    assert.is_true(#b.kernel > 0)
    assert.is_true(b.threads >= 1)
    ember.set_num_threads(1)
    assert.equal(1, ember.get_num_threads())
    ember.set_num_threads(2)
  end)
  it("runs a loop of small-tensor ops in flat memory", function()
    -- ASan keeps freed blocks in quarantine on purpose, so RSS says nothing there
    if os.getenv("EMBER_ASAN") then return end
    collectgarbage(); collectgarbage()
    local a, b = ember.tensor{1}, ember.tensor{2}
    local function rss()
      local f = io.open("/proc/self/status"); local s = f:read("a"); f:close()
      return tonumber(s:match("VmRSS:%s+(%d+)"))
    end
    for _ = 1, 100000 do local _ = a + b end
    local before = rss()
    for _ = 1, 300000 do local _ = a + b end
    local after = rss()
    -- no collectgarbage() calls in the loop: tensor memory is reported to the collector
    assert.is_true(after - before < 20000, ("RSS grew by %d kB"):format(after - before))
  end)
end)
