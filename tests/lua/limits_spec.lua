-- limits_spec.lua - integer arguments at the edges of what Lua can hold (math.maxinteger,
-- math.mininteger, sizes near 2^62): each gives a clear error naming the function and the values, never
-- a read outside a tensor or an overflow (make test-asan runs these under UBSan).
local ember = require "ember"

local errmsg = dofile("tests/lua/spec_helper.lua").errmsg

local maxi, mini = math.maxinteger, math.mininteger

describe("narrow", function()
  local x = ember.arange(10)
  it("refuses a length that reaches past the end, however large", function()
    assert.matches("narrow: start 2 with length 9223372036854775807 is outside dimension 1 of size 10",
                   errmsg(function() return x:narrow(1, 2, maxi):sum() end))
    assert.matches("start 9223372036854775807 with length 3", errmsg(x.narrow, x, 1, maxi, 3))
    assert.matches("length %-1 is outside", errmsg(x.narrow, x, 1, 1, -1))
  end)
  it("refuses a start before the beginning instead of reading outside the tensor", function()
    assert.matches("start %-9223372036854775808 with length 3", errmsg(x.narrow, x, 1, mini, 3))
    assert.matches("start 0 with length 3", errmsg(x.narrow, x, 1, 0, 3))
  end)
  it("still takes every range inside, the empty one at the end included", function()
    assert.same({9}, x:narrow(1, 10, 1):totable())
    assert.same({0}, x:narrow(1, 11, 0):shape())
    assert.same({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, x:narrow(1, 1, 10):totable())
  end)
end)

describe("select and indexing", function()
  local x = ember.arange(12):reshape(3, 4)
  it("refuse indices at the integer limits", function()
    assert.matches("select: index %-9223372036854775808 is out of range for dimension 1 of size 3",
                   errmsg(x.select, x, 1, mini))
    assert.matches("select: index 9223372036854775807 is out of range for dimension 2 of size 4",
                   errmsg(x.select, x, 2, maxi))
    assert.matches("index: %-9223372036854775808 is out of range 1..3", errmsg(function() return x[mini] end))
    assert.matches("index: 9223372036854775807 is out of range 1..3",
                   errmsg(function() x[maxi] = 1 end))
  end)
  it("report a dimension as given, not truncated to 32 bits", function()
    assert.matches("size: dimension %-9223372036854775808 out of range", errmsg(x.size, x, mini))
    assert.matches("sum: dimension 4294967297 out of range", errmsg(x.sum, x, 2 ^ 32 + 1))
    assert.matches("unsqueeze: dimension 9223372036854775807 out of range", errmsg(x.unsqueeze, x, maxi))
  end)
end)

describe("shapes", function()
  it("refuse empty shapes whose other sizes overflow", function()
    assert.matches("zeros: shape %[0 x 4611686018427387904 x 4611686018427387904%] is too large",
                   errmsg(ember.zeros, 0, 2 ^ 62, 2 ^ 62))
    assert.matches("ones: shape %[4611686018427387904 x 4611686018427387904 x 0%] is too large",
                   errmsg(ember.ones, {2 ^ 62, 2 ^ 62, 0}))
    assert.same({0, 1024, 1024}, ember.zeros(0, 1024, 1024):shape())
  end)
  it("refuse more than 2^40 elements", function()
    assert.matches("full: shape %[1048576 x 1048577%] is too large %(more than 2%^40 elements%)",
                   errmsg(ember.full, {2 ^ 20, 2 ^ 20 + 1}, 1))
  end)
  it("reshape checks sizes before multiplying them", function()
    local e = ember.zeros(0)
    assert.matches("reshape: shape %[0 x 4611686018427387904 x 4611686018427387904%] is too large",
                   errmsg(e.reshape, e, 0, 2 ^ 62, 2 ^ 62))
    assert.matches("reshape: cannot view %[0%] %(0 elements%) as %[4611686018427387904 x 4611686018427387904 x %-1%]",
                   errmsg(e.reshape, e, 2 ^ 62, 2 ^ 62, -1))
    assert.same({0, 5}, e:reshape(0, 5):shape())
    assert.same({3, 4}, ember.arange(12):reshape(3, -1):shape())
  end)
  it("expand checks the size of the view it makes", function()
    local one = ember.ones(1)
    assert.matches("expand: shape %[4611686018427387904 x 4611686018427387904%] is too large %(more than 2%^40 elements%)",
                   errmsg(one.expand, one, 2 ^ 62, 2 ^ 62))
    assert.matches("expand: at most 8 dimensions", errmsg(one.expand, one, 1, 1, 1, 1, 1, 1, 1, 1, 1))
    assert.same({2 ^ 40}, one:expand(2 ^ 40):shape())
  end)
end)

describe("arange", function()
  it("says how many elements are too many instead of calling the size negative", function()
    assert.matches("arange: from 0 to 1e%+30 with step 1 makes 1e%+30 elements, more than 2%^40",
                   errmsg(ember.arange, 0, 1e30))
    assert.matches("with step 1e%-300 makes 1e%+300 elements", errmsg(ember.arange, 0, 1, 1e-300))
    assert.same({0}, ember.arange(5, 0):shape())
  end)
end)

describe("data helpers", function()
  it("gather_rows refuses starts at the integer limits", function()
    local dst, src = ember.zeros(2), ember.arange(5)
    assert.matches("gather_rows: start must be >= 1 %(got %-9223372036854775808%)",
                   errmsg(ember._gather_rows, dst, src, nil, mini))
    assert.matches("gather_rows: 2 rows from row 9223372036854775807 are out of range for 5 rows",
                   errmsg(ember._gather_rows, dst, src, nil, maxi))
    assert.matches("gather_rows: 2 indices from position 9223372036854775807, but the index list has 3",
                   errmsg(ember._gather_rows, dst, src, {1, 2, 3}, maxi))
    assert.matches("gather_rows: index 9007199254740993 out of range for 5 rows",
                   errmsg(ember._gather_rows, dst, src, {1, math.tointeger(2 ^ 53) + 1}))
    assert.matches("gather_rows: index %-9223372036854775808 out of range for 5 rows",
                   errmsg(ember._gather_rows, dst, src, {mini, 1}))
    assert.matches("gather_rows: index 1%.0+%d*e%+30 out of range for 5 rows",
                   errmsg(ember._gather_rows, dst, src, ember.tensor{1e30, 1}))
    assert.same({3, 4}, ember._gather_rows(dst, src, nil, 4):totable())
  end)
  it("index_order reports the count it was given", function()
    assert.matches("index_order: n must be in 1..16777216 %(got 4294967297%)", errmsg(ember._index_order, 2 ^ 32 + 1))
  end)
  it("terminal queries refuse numbers that are not file descriptors", function()
    assert.matches("not a file descriptor", errmsg(ember.isatty, 2 ^ 32 + 1))
    assert.matches("not a file descriptor", errmsg(ember.terminal_size, -1))
  end)
end)

describe("layer options", function()
  it("report an out-of-range size as given", function()
    local x = ember.zeros(1, 1, 4, 4)
    assert.matches("max_pool2d: kernel is out of range %(got 4294967299%)",
                   errmsg(ember.max_pool2d, x, math.tointeger(2 ^ 32 + 3)))
  end)
end)

describe("empty tensors with long dimensions", function()
  it("reduce without walking their 2^40 empty rows", function()
    assert.same({0}, ember.zeros(2 ^ 40, 0):sum(1):shape())
    assert.equal(0, ember.zeros(0, 3):sum():item())
  end)
  it("totable refuses to make 2^40 Lua tables", function()
    assert.matches("totable: %[1099511627776 x 0%] would make 1099511627776 Lua values",
                   errmsg(function() return ember.zeros(2 ^ 40, 0):totable() end))
    assert.same({{}, {}, {}}, ember.zeros(3, 0):totable())
  end)
  it("a size table whose __len lies is bounded before it is read", function()
    local x = ember.arange(4)
    local lying = setmetatable({}, {__len = function() return 2 ^ 40 end})
    assert.matches("reshape: at most 8 dimensions", errmsg(x.reshape, x, lying))
  end)
end)
