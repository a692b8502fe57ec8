-- error_spec.lua - ember.error, the one error type: kinds, public names, where (the caller's line
-- outside ember), the text, string compatibility, exit statuses, and the same type from C.
local ember = require "ember"
local E = require "ember.error"

local function catch(f, ...)
  local ok, e = pcall(f, ...)
  assert.is_false(ok, "expected an error")
  return e
end

describe("ember.error", function()
  it("raises a value with kind, fn, message and where, printed as where .. fn: message", function()
    local e = catch(function() E.raise("value", "ember.demo", "bad %s (got %d)", "size", 3) end)
    assert.is_true(E.is(e))
    assert.is_true(E.is(e, "value"))
    assert.is_false(E.is(e, "shape"))
    assert.equal("value", E.kind(e))
    assert.equal("ember.demo", e.fn)
    assert.equal("bad size (got 3)", e.message)
    assert.matches("^tests/lua/error_spec.lua:%d+: $", e.where)
    assert.equal(e.where .. "ember.demo: bad size (got 3)", tostring(e))
    assert.equal("ember.demo: bad size (got 3)", E.message(e))
  end)

  it("behaves like its text for string methods, .. and #", function()
    local e = E.new("shape", "ember.demo", "shapes [2] and [3]")
    assert.equal(1, (e:find("ember.demo", 1, true)))
    assert.equal("[2]", e:match("%[%d%]"))
    assert.equal("x: ember.demo: shapes [2] and [3]", "x: " .. e)
    assert.equal(#"ember.demo: shapes [2] and [3]", #e)
  end)

  it("is not confused with strings or other tables", function()
    assert.is_false(E.is("interrupted"))
    assert.is_nil(E.kind({kind = "usage"}))
    assert.equal(1, E.status("some error"))
    assert.equal("x", E.message("file.lua:12: x"))
  end)

  it("gives the exit status of its kind", function()
    assert.equal(2, E.status(E.new("usage", nil, "x")))
    assert.equal(130, E.status(E.new("interrupted", nil, "x")))
    assert.equal(1, E.status(E.new("diverged", nil, "x")))
    assert.equal(1, E.status(E.new("io", nil, "x")))
    assert.equal("internal", E.new("no such kind", nil, "x").kind)
  end)

  it("names functions as users type them", function()
    assert.equal("ember.nn.Linear", E.public_name("nn", "nn.Linear"))
    assert.equal("ember.loss.mse", E.public_name("loss", "mse"))
    assert.equal("ember.plot", E.public_name("plot", "plot"))
    assert.equal("ember.run", E.public_name("run", "ember.run"))
  end)

  it("reraises an internal function's error under the public name, keeping kind and where", function()
    local inner = catch(function() E.raise("shape", "ember._rescale", "sizes differ") end)
    local e = catch(E.reraise_as, inner, "ember.data.standardize")
    assert.equal("shape", e.kind)
    assert.equal("ember.data.standardize", e.fn)
    assert.equal("sizes differ", e.message)
    assert.equal(inner.where, e.where)
    e = catch(E.reraise_as, "plain.lua:3: oops", "ember.x")
    assert.equal("value", e.kind)
    assert.equal("ember.x: oops", E.message(e))
  end)

  it("is what C raises too, with the public name and the caller's line", function()
    local a, b = ember.zeros(2, 3), ember.zeros(4)
    local e = catch(function() return a + b end)
    assert.is_true(E.is(e))
    assert.equal("ember.add", e.fn)
    assert.matches("^tests/lua/error_spec.lua:%d+: ember.add: shapes %[2 x 3%] and %[4%] are not broadcastable$",
      tostring(e))
  end)

  it("points at the user's line, not at ember's own modules", function()
    local e = catch(function() return ember.loss.mse(ember.zeros(3), ember.zeros(4)) end)
    assert.matches("^tests/lua/error_spec.lua:%d+: $", e.where)
    assert.equal("ember.loss.mse", e.fn)
  end)
end)
