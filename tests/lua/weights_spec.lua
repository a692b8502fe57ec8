-- Specs for ember.save_safetensors, ember.save_npz and ember.load of their files: a model's state_dict
-- round trips bit for bit into load_state_dict, files NumPy wrote load with their values, and bad
-- arguments or damaged files are refused with the function's name.
local ember = require "ember"
local h = dofile("tests/lua/spec_helper.lua")
local nn = ember.nn

local dir
before_each(function() dir = h.tmpdir() end)
after_each(function() h.rmdir(dir) end)

local bits = h.bits

local function model()
  return nn.Sequential{nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 3)}
end

describe("weights for PyTorch and NumPy", function()
  for _, format in ipairs{"safetensors", "npz"} do
    it("round-trips a state_dict through " .. format .. " into load_state_dict", function()
      ember.manual_seed(7)
      local m = model()
      local sd = m:state_dict()
      sd["0d"] = ember.tensor(0 / 0):reshape()   -- a 0-d NaN keeps its bits
      local path = dir .. "/m." .. format
      ember["save_" .. format](path, sd)
      local back = ember.load(path)
      local n = 0
      for k, v in pairs(sd) do
        n = n + 1
        assert.are.same(v:shape(), back[k]:shape())
        assert.are.equal(bits(v), bits(back[k]))
      end
      for _ in pairs(back) do n = n - 1 end
      assert.are.equal(0, n)
      back["0d"] = nil
      local m2 = model()
      m2:load_state_dict(back)
      assert.are.equal(bits(m[4].weight), bits(m2[4].weight))
    end)
  end

  it("reads the files NumPy wrote, converting other dtypes to float32", function()
    local a = ember.load("tests/data/weights/numpy_savez.npz")
    assert.are.same({{-0.5, -0.25, 0}, {0.25, 0.5, 0.75}}, a["fc.weight"]:totable())
    assert.are.same({}, a.scalar:shape())
    local b = ember.load("tests/data/weights/numpy_savez_compressed.npz")
    assert.are.same({-3, 0, 7}, b.i8:totable())
    assert.are.same({{0, 1, 2}, {3, 4, 5}}, b.fortran:totable())
    local c = ember.load("tests/data/weights/reference.safetensors")
    assert.are.same({1.5, -2.25}, c["fc.bias"]:totable())
    assert.are.equal(3, c['n\u{e9}"q']:item())
  end)

  it("writes PyTorch's metadata by default, and the caller's when given", function()
    local p = dir .. "/m.safetensors"
    ember.save_safetensors(p, {w = ember.ones(2)})
    assert.truthy(h.read(p):find('{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', 1, true))
    ember.save_safetensors(p, {w = ember.ones(2)}, {format = "pt", source = "ember"})
    assert.truthy(h.read(p):find('{"__metadata__":{"format":"pt","source":"ember"},', 1, true))
  end)

  it("refuses what is not a flat table of tensors, naming the function", function()
    assert.are.equal("ember.save_npz: 'w' must be a tensor (got table); give a flat table name -> tensor such as "
                     .. "model:state_dict()", h.errmsg(ember.save_npz, dir .. "/x.npz", {w = {1}}))
    assert.are.equal("ember.save_safetensors: every key of the table must be a tensor's name (got a number key)",
                     h.errmsg(ember.save_safetensors, dir .. "/x.st", {ember.ones(1)}))
    assert.are.equal("type", h.errkind(ember.save_safetensors, dir .. "/x.st", {w = ember.ones(1)}, {k = 1}))
    assert.are.equal("type", h.errkind(ember.save_npz, dir .. "/x.npz", "w"))
    assert.truthy(h.errmsg(ember.save_safetensors, dir .. "/x.st", {__metadata__ = ember.ones(1)})
                  :find("reserved name __metadata__", 1, true))
    assert.are.equal("io", h.errkind(ember.save_npz, dir .. "/no/such/x.npz", {w = ember.ones(1)}))
  end)

  it("refuses a damaged file with what is wrong, leaving ember checkpoints to their own reader", function()
    local p = dir .. "/m.npz"
    ember.save_npz(p, {w = ember.ones(3)})
    local bytes = h.read(p)
    h.write(p, bytes:sub(1, 100) .. "X" .. bytes:sub(102))
    local msg = h.errmsg(ember.load, p)
    assert.truthy(msg:find("^ember.load: '.*m.npz' is corrupt"), msg)
    assert.are.equal("format", h.errkind(ember.load, p))
    p = dir .. "/m.safetensors"
    h.write(p, "\16\0\0\0\0\0\0\0{\"w\":1}         ")
    assert.truthy(h.errmsg(ember.load, p):find("not a valid safetensors file", 1, true))
    -- a checkpoint whose entry count starts with '{' is still a checkpoint
    local ck = {}
    for i = 1, 123 do ck["k" .. i] = i end
    ember.save(dir .. "/many.ckpt", ck)
    assert.are.equal(123, ember.load(dir .. "/many.ckpt").k123)
  end)

  it("refuses a shape whose sizes other than 0 multiply past 2^40 as corrupt, an empty one too", function()
    local function header_only(shape)
      local text = '{"w":{"dtype":"F32","shape":' .. shape .. ',"data_offsets":[0,0]}}'
      text = text .. (" "):rep(-#text % 8)
      local p = dir .. "/big.safetensors"
      h.write(p, string.pack("<I8", #text) .. text)
      return p
    end
    for _, shape in ipairs{"[0,4611686018427387904,4611686018427387904]", "[4611686018427387904,4611686018427387904,0]",
                           "[2097152,2097152,0]"} do
      local p = header_only(shape)
      local msg = h.errmsg(ember.load, p)
      assert.truthy(msg:find("ember.load: '" .. p .. "' is corrupt (tensor 'w': shape [", 1, true), msg)
      assert.truthy(msg:find("is too large: its sizes other than 0 multiply to more than 2^40)", 1, true), msg)
      assert.are.equal("format", h.errkind(ember.load, p))
    end
    assert.are.same({1048576, 0, 1048576}, ember.load(header_only("[1048576,0,1048576]")).w:shape())
  end)
end)
