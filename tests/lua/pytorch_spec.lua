-- pytorch_spec.lua - where conventions differ (ties, kinks, empty ranges), ember agrees with PyTorch.
-- The expected numbers were computed once with PyTorch 1.13 and are written here; the tests never run it.
local ember = require "ember"

local function close(want, got, tol)
  tol = tol or 1e-6
  if type(want) == "table" then
    assert.equal(#want, #got)
    for i = 1, #want do close(want[i], got[i], tol) end
    return
  end
  assert(math.abs(want - got) <= tol * math.max(1, math.abs(want)), ("want %.9g, got %.9g"):format(want, got))
end

describe("max and min over every element", function()
  it("split the gradient evenly among ties", function()
    -- x = torch.tensor([1., 3., 3., 2.], requires_grad=True); x.max().backward() -> [0, .5, .5, 0]
    local x = ember.tensor{1, 3, 3, 2}:requires_grad()
    x:max():backward()
    close({0, 0.5, 0.5, 0}, x.grad:totable())
    -- (x.min() * 2).backward() on [[1, 3], [3, 0]] -> [[0, 0], [0, 2]]
    local m = ember.tensor{{1, 3}, {3, 0}}:requires_grad()
    local twice = m:min() * 2
    twice:backward()
    assert.same({{0, 0}, {0, 2}}, m.grad:totable())
    -- all equal: [1/3, 1/3, 1/3]
    local e = ember.tensor{1, 1, 1}:requires_grad()
    e:max():backward()
    close({1 / 3, 1 / 3, 1 / 3}, e.grad:totable())
    -- a NaN is the maximum and takes the gradient: [1, nan, 3] -> [0, 1, 0]
    local n = ember.tensor{1, 0 / 0, 3}:requires_grad()
    n:max():backward()
    assert.same({0, 1, 0}, n.grad:totable())
  end)
  it("over a dim still send the gradient to the first maximum", function()
    -- x.max(dim=1).values.sum().backward() on [[3, 3], [3, 0]] -> [[1, 0], [1, 0]]
    local x = ember.tensor{{3, 3}, {3, 0}}:requires_grad()
    local v = x:max(2)
    v:sum():backward()
    assert.same({{1, 0}, {1, 0}}, x.grad:totable())
  end)
end)

describe("losses at their kink", function()
  it("hinge_embedding passes the gradient where margin - x = 0", function()
    -- F.hinge_embedding_loss([0.5, 1, 2, -1], [-1, -1, 1, 1], margin=1) = 0.375,
    -- grad [-0.25, -0.25, 0.25, 0.25]
    local x = ember.tensor{0.5, 1, 2, -1}:requires_grad()
    local l = ember.loss.hinge_embedding(x, ember.tensor{-1, -1, 1, 1}, {margin = 1})
    close(0.375, l:item())
    l:backward()
    close({-0.25, -0.25, 0.25, 0.25}, x.grad:totable())
  end)
  it("margin_ranking passes the gradient where -y (x1 - x2) + margin = 0", function()
    -- F.margin_ranking_loss([1, 2, .5], [1, 3, .25], [1, -1, 1], margin=0) = 0,
    -- grads [-1/3, 0, 0] and [1/3, 0, 0]; with margin 0.25: 1/12, [-1/3, 0, -1/3], [1/3, 0, 1/3]
    local function run(margin)
      local a, b = ember.tensor{1, 2, 0.5}:requires_grad(), ember.tensor{1, 3, 0.25}:requires_grad()
      local l = ember.loss.margin_ranking(a, b, ember.tensor{1, -1, 1}, {margin = margin})
      l:backward()
      return l:item(), a.grad:totable(), b.grad:totable()
    end
    local l, ga, gb = run(0)
    close(0, l)
    close({-1 / 3, 0, 0}, ga)
    close({1 / 3, 0, 0}, gb)
    l, ga, gb = run(0.25)
    close(0.0833333358168602, l)
    close({-1 / 3, 0, -1 / 3}, ga)
    close({1 / 3, 0, 1 / 3}, gb)
  end)
end)

describe("clamp", function()
  it("with min > max returns max everywhere and passes no gradient", function()
    -- torch.tensor([0, 1.5, 3, nan]).clamp(min=2, max=1) -> [1, 1, 1, nan]; grad [0, 0, 0]
    local x = ember.tensor{0, 1.5, 3}:requires_grad()
    local c = x:clamp(2, 1)
    assert.same({1, 1, 1}, c:totable())
    c:sum():backward()
    assert.same({0, 0, 0}, x.grad:totable())
    local n = ember.tensor{0, 0 / 0}:clamp(2, 1):totable()
    assert.equal(1, n[1])
    assert.is_true(n[2] ~= n[2])
  end)
end)

describe("reshape and expand", function()
  it("take the sizes as one table too, -1 included", function()
    local x = ember.arange(8)
    assert.same({4, 2}, x:reshape({4, -1}):shape())
    assert.same({4, 2}, x:reshape(4, -1):shape())
    assert.same({2, 2, 2}, x:view({-1, 2, 2}):shape())
    assert.same({3, 2}, ember.ones(1, 2):expand({3, -1}):shape())
    local ok, e = pcall(x.reshape, x, {4, "a"})
    assert.is_false(ok)
    assert.matches("reshape: size 2 must be an integer %(got a%)", tostring(e))
  end)
end)
