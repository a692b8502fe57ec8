-- Specs for ember.save / ember.load: nested tables round trip with their exact types and bits, tricky
-- keys stay distinct, bad values are refused with the key path, and damaged files are refused by name.
local ember = require "ember"
local h = dofile("tests/lua/spec_helper.lua")
local errors_with, write, bits = h.errors_with, h.write, h.bits

local dir = h.tmpdir()
local function tmp(name) return dir .. "/" .. name end
-- the whole file; a file that is not there fails the spec (two missing files must not compare equal)
local function read(path) return assert(h.read(path), path) end

local function same_tensor(a, b)
  assert.is_true(ember.is_tensor(b))
  assert.are.same(a:shape(), b:shape())
  assert.are.equal(bits(a), bits(b))
end

-- CRC-32 (the zlib polynomial), to hand-craft checkpoints with well-formed checksums
local function crc32(s)
  local crc = 0xffffffff
  for i = 1, #s do
    crc = crc ~ s:byte(i)
    for _ = 1, 8 do
      crc = (crc & 1 == 1) and ((crc >> 1) ~ 0xedb88320) or (crc >> 1)
    end
  end
  return crc ~ 0xffffffff
end

-- a checkpoint of the given entries (packed strings), header and CRC and all
local function craft(entries)
  local s = "EMBR" .. string.pack("<I4I4", 1, #entries) .. table.concat(entries)
  return s .. string.pack("<I4", crc32(s))
end

-- number entries (1.5) with the given names
local function craft_names(names)
  local entries = {}
  for _, n in ipairs(names) do entries[#entries + 1] = string.pack("<s4B d", n, 2, 1.5) end
  return craft(entries)
end

describe("ember.save / ember.load round trip", function()
  it("keeps nested state dicts, optimizer arrays and the types of numbers", function()
    local w = ember.tensor{{1, 2, 3}, {4, 5, 6}}
    local b = ember.tensor{0.5, -0.25}
    local m1, m2 = ember.tensor{0.1, 0.2}, ember.tensor{{7}}
    local ck = {
      model = {fc = {weight = w, bias = b}},
      optimizer = {state = {{exp_avg = m1, step = 12}, {exp_avg = m2, step = 12}},
                   param_groups = {{lr = 0.001, betas = {0.9, 0.999}, amsgrad = false}}},
      epoch = 3, loss = 1.0, best = 0.1 + 0.2}
    ember.save(tmp("a.ckpt"), ck)
    local r = ember.load(tmp("a.ckpt"))
    same_tensor(w, r.model.fc.weight)
    same_tensor(b, r.model.fc.bias)
    same_tensor(m1, r.optimizer.state[1].exp_avg)
    same_tensor(m2, r.optimizer.state[2].exp_avg)
    assert.are.equal(2, #r.optimizer.state)
    assert.are.equal(12, r.optimizer.state[2].step)
    assert.are.equal("integer", math.type(r.optimizer.state[2].step))
    assert.are.equal(0.001, r.optimizer.param_groups[1].lr)
    assert.are.same({0.9, 0.999}, r.optimizer.param_groups[1].betas)
    assert.is_false(r.optimizer.param_groups[1].amsgrad)
    assert.are.equal(3, r.epoch)
    assert.are.equal("integer", math.type(r.epoch))
    assert.are.equal("float", math.type(r.loss))        -- 1.0 stays a float
    assert.are.equal(0.30000000000000004, r.best)       -- doubles keep every bit
    -- nothing extra appeared
    local keys = {}
    for k in pairs(r) do keys[#keys + 1] = k end
    table.sort(keys)
    assert.are.same({"best", "epoch", "loss", "model", "optimizer"}, keys)
  end)

  it("keeps keys that a naive dotted name would confuse", function()
    local v = {["a.b"] = 1, a = {b = 2}, ["1"] = "string one", [1] = "integer one", [""] = true,
               ["x[1]"] = 3, ["back\\slash"] = 4, ["."] = 5, ["\\."] = 6, [-5] = 7,
               [math.maxinteger] = 8, [math.mininteger] = 9, ["nul\0byte"] = 10,
               n = {[1] = {[2] = {["3"] = 11}}}}
    ember.save(tmp("keys.ckpt"), v)
    assert.are.same(v, ember.load(tmp("keys.ckpt")))
    local r = ember.load(tmp("keys.ckpt"))
    assert.are.equal("string one", r["1"])
    assert.are.equal("integer one", r[1])
    assert.are.equal(11, r.n[1][2]["3"])
    assert.is_nil(r.n[1]["2"])
  end)

  it("keeps booleans, binary strings and empty tables", function()
    local all = {}
    for i = 0, 255 do all[#all + 1] = string.char(i) end
    local v = {yes = true, no = false, bytes = table.concat(all), empty = "", rng = ember.get_rng_state(),
               state = {}, deep = {a = {}}}
    ember.save(tmp("b.ckpt"), v)
    local r = ember.load(tmp("b.ckpt"))
    assert.are.same(v, r)
    assert.are.equal(256, #r.bytes)
    assert.are.equal("table", type(r.state))
    assert.is_nil(next(r.state))
  end)

  it("restores the RNG exactly from a saved state", function()
    ember.manual_seed(7)
    ember.randn(3)
    ember.save(tmp("rng.ckpt"), {rng = ember.get_rng_state()})
    local want = ember.randn(5)
    ember.manual_seed(99)
    ember.set_rng_state(ember.load(tmp("rng.ckpt")).rng)
    same_tensor(want, ember.randn(5))
  end)

  it("keeps float32 bits exactly: NaN payloads, -0, infinities", function()
    local nan = string.unpack("<f", "\1\0\192\127")     -- a quiet NaN with payload 1
    local t = ember.tensor{nan, -0.0, math.huge, -math.huge, 3.4028234663852886e38}
    ember.save(tmp("f.ckpt"), {t = t})
    local r = ember.load(tmp("f.ckpt")).t
    same_tensor(t, r)
    assert.are.equal("\1\0\192\127", string.pack("<f", r:totable()[1]))
    assert.are.equal("\0\0\0\128", string.pack("<f", r:totable()[2]))
  end)

  it("keeps denormals, which never pass through float arithmetic on the way", function()
    -- ember flushes denormals to zero in arithmetic, so they are written into the file by hand:
    -- load then save must give back the same bytes
    local data = "\1\0\0\0" .. "\255\255\127\128" .. "\0\0\128\0" .. "\1\0\192\255"
    local file = craft{string.pack("<s4B I4 i8", "t", 1, 1, 4) .. data, string.pack("<s4B i8", "z", 5, -3)}
    write(tmp("d.ckpt"), file)
    local r = ember.load(tmp("d.ckpt"))
    assert.are.same({4}, r.t:shape())
    assert.are.equal(-3, r.z)
    ember.save(tmp("d2.ckpt"), r)
    assert.are.equal(file, read(tmp("d2.ckpt")))
  end)

  it("saves 0-d, empty and non-contiguous tensors; loads plain contiguous copies", function()
    local x = ember.tensor{{1, 2, 3}, {4, 5, 6}}
    local w = ember.tensor{1, 2}:requires_grad()
    local v = {scalar = ember.tensor{2, 5}:sum(), empty = ember.zeros(2, 0), none = ember.zeros(0),
               t = x:t(), w = w}
    ember.save(tmp("t.ckpt"), v)
    local r = ember.load(tmp("t.ckpt"))
    assert.are.equal(0, r.scalar:dim())
    assert.are.equal(7, r.scalar:item())
    assert.are.same({2, 0}, r.empty:shape())
    assert.are.same({0}, r.none:shape())
    assert.are.same({{1, 4}, {2, 5}, {3, 6}}, r.t:totable())
    assert.is_true(r.t:is_contiguous())
    same_tensor(w, r.w)
    assert.is_nil(tostring(r.w):find("requires_grad", 1, true))
    -- a loaded tensor is a new tensor: writing to it leaves the original alone
    r.w:fill(0)
    assert.are.same({1, 2}, w:totable())
  end)

  it("saves a bare value as well as a table", function()
    local t = ember.tensor{{1.5}}
    ember.save(tmp("bare.ckpt"), t)
    same_tensor(t, ember.load(tmp("bare.ckpt")))
    ember.save(tmp("bare.ckpt"), 42)
    assert.are.equal(42, ember.load(tmp("bare.ckpt")))
    ember.save(tmp("bare.ckpt"), "s")
    assert.are.equal("s", ember.load(tmp("bare.ckpt")))
    ember.save(tmp("bare.ckpt"), {})
    assert.are.same({}, ember.load(tmp("bare.ckpt")))
    ember.save(tmp("bare.ckpt"), {[""] = 1})
    assert.are.same({[""] = 1}, ember.load(tmp("bare.ckpt")))
  end)

  it("saves a table shared by two keys twice (it is not a cycle)", function()
    local shared = {lr = 0.5}
    ember.save(tmp("shared.ckpt"), {a = shared, b = {c = shared}})
    local r = ember.load(tmp("shared.ckpt"))
    assert.are.same({a = {lr = 0.5}, b = {c = {lr = 0.5}}}, r)
  end)

  it("writes the same bytes for the same state, whatever order the keys were set in", function()
    local t1, t2 = {}, {}
    for i = 1, 50 do t1["k" .. i] = i; t1[i] = -i end
    for i = 50, 1, -1 do t2[i] = -i; t2["k" .. i] = i end
    ember.save(tmp("o1.ckpt"), t1)
    ember.save(tmp("o2.ckpt"), t2)
    assert.are.equal(read(tmp("o1.ckpt")), read(tmp("o2.ckpt")))
  end)

  it("overwrites an old checkpoint completely and leaves no temporary file", function()
    ember.save(tmp("over.ckpt"), {a = ember.zeros(100), b = 1})
    ember.save(tmp("over.ckpt"), {c = 2})
    assert.are.same({c = 2}, ember.load(tmp("over.ckpt")))
    local p = io.popen("ls '" .. dir .. "'")
    local listing = p:read("a")
    p:close()
    assert.is_nil(listing:find(".tmp.", 1, true))
  end)
end)

describe("ember.save refuses", function()
  it("functions, userdata and coroutines, naming the key path", function()
    errors_with("save: value at 'model.fc.forward' is a function",
      ember.save, tmp("x.ckpt"), {model = {fc = {weight = ember.zeros(1), forward = print}}})
    errors_with("save: value at 'f' is a userdata that is not a tensor", ember.save, tmp("x.ckpt"), {f = io.stdout})
    errors_with("save: value at 'opt.state[2].co' is a thread",
      ember.save, tmp("x.ckpt"), {opt = {state = {{}, {co = coroutine.create(print)}}}})
    errors_with("save: value at 'a\\.b' is a function", ember.save, tmp("x.ckpt"), {["a.b"] = print})
    errors_with("save: value is a function", ember.save, tmp("x.ckpt"), print)
    local closed = ember.zeros(2)
    do local c <close> = closed end
    errors_with("save: value at 'w' is a closed tensor", ember.save, tmp("x.ckpt"), {w = closed})
    errors_with("ember.save: argument 2 must be the value to save (got no value)", ember.save, tmp("x.ckpt"))
  end)

  it("cycles, however deep", function()
    local a = {x = 1}
    a.self = a
    errors_with("save: value at 'self' is a table that contains itself (a cycle)", ember.save, tmp("x.ckpt"), a)
    local b = {c = {d = {}}}
    b.c.d[1] = b.c
    errors_with("save: value at 'c.d[1]' is a table that contains itself", ember.save, tmp("x.ckpt"), b)
  end)

  it("keys that are not strings or integers", function()
    errors_with("save: value at 'opt' has key 1.5; keys must be strings or integers",
      ember.save, tmp("x.ckpt"), {opt = {[1.5] = 1}})
    errors_with("save: value has a boolean key", ember.save, tmp("x.ckpt"), {[true] = 1})
    errors_with("has a table key", ember.save, tmp("x.ckpt"), {[{}] = 1})
  end)

  it("tables nested hundreds deep", function()
    local t = {}
    local cur = t
    for _ = 1, 300 do cur.n = {}; cur = cur.n end
    errors_with("is nested more than 200 tables deep", ember.save, tmp("x.ckpt"), t)
  end)

  it("and leaves the old file untouched when it refuses or cannot write", function()
    ember.save(tmp("keep.ckpt"), {epoch = 1})
    local before = read(tmp("keep.ckpt"))
    pcall(ember.save, tmp("keep.ckpt"), {epoch = 2, f = print})
    assert.are.equal(before, read(tmp("keep.ckpt")))
    errors_with("save: cannot write '" .. tmp("no/such/dir.ckpt") .. "': No such file or directory",
      ember.save, tmp("no/such/dir.ckpt"), {epoch = 2})
    assert.are.equal(1, ember.load(tmp("keep.ckpt")).epoch)
  end)
end)

describe("ember.load refuses", function()
  local good
  setup(function()
    ember.save(tmp("good.ckpt"), {w = ember.tensor{1, 2, 3, 4}, epoch = 5})
    good = read(tmp("good.ckpt"))
  end)

  it("a missing file and a file that is not a checkpoint", function()
    errors_with("load: cannot open '" .. tmp("nope.ckpt") .. "': No such file or directory", ember.load, tmp("nope.ckpt"))
    write(tmp("text.ckpt"), "return os.exit(1)\n")
    errors_with("load: '" .. tmp("text.ckpt") .. "' is not an ember checkpoint (bad magic)", ember.load, tmp("text.ckpt"))
  end)

  it("a FIFO, a device or a folder, at once instead of blocking in open", function()
    local fifo = tmp("pipe.ckpt")
    assert.are.equal(0, select(2, h.sh("mkfifo " .. require("ember.util").shell_quote(fifo))))
    -- in a child, killed after 20 s: the old reader blocked in fopen until a writer came, through SIGTERM
    local q = require("ember.util").shell_quote
    for _, p in ipairs{fifo, "/dev/zero", dir} do
      local err, code = h.sh(("timeout -s KILL 20 %s -e %s 2>&1"):format(q(h.EMBER), q(("ember.load(%q)"):format(p))))
      assert.are.equal(1, code, err)
      local why = p == dir and "Is a directory" or "not a regular file"
      assert.truthy(err:find("ember.load: cannot read '" .. p .. "': " .. why, 1, true), err)
    end
    errors_with("load: cannot read '" .. fifo .. "': not a regular file", ember.load, fifo)
  end)

  it("a truncated file, cut anywhere", function()
    for _, len in ipairs{0, 3, 4, 15, 16, #good // 2, #good - 5, #good - 1} do
      write(tmp("cut.ckpt"), good:sub(1, len))
      errors_with("load: '" .. tmp("cut.ckpt") .. "' is truncated", ember.load, tmp("cut.ckpt"))
    end
  end)

  it("a flipped byte in the data", function()
    local i = good:find("\0\0\128\63", 1, true)         -- the float 1.0 of w
    assert.is_truthy(i)
    write(tmp("flip.ckpt"), good:sub(1, i - 1) .. "\0\0\129\63" .. good:sub(i + 4))
    errors_with("load: '" .. tmp("flip.ckpt") .. "' is corrupt (CRC mismatch)", ember.load, tmp("flip.ckpt"))
  end)

  it("an absurd length instead of allocating it", function()
    local s = good:sub(1, 8) .. string.pack("<I4", 0xffffffff) .. good:sub(13)
    write(tmp("huge.ckpt"), s)
    errors_with("is truncated (4294967295 entries cannot fit", ember.load, tmp("huge.ckpt"))
  end)

  it("names that cannot come from ember.save, even with a valid CRC", function()
    write(tmp("n.ckpt"), craft_names{"a", "b"})
    assert.are.same({a = 1.5, b = 1.5}, ember.load(tmp("n.ckpt")))   -- the crafting itself is right
    local cases = {
      {{"a", "a"}, "entry 'a' repeats an earlier entry"},
      {{"a", "a.b"}, "entry 'a.b' goes inside an earlier entry that is not a table"},
      {{"a", ""}, "entry '' has an empty name beside other entries"},
      {{"x[1"}, "entry 'x[1' has a malformed name"},
      {{"x[]"}, "entry 'x[]' has a malformed name"},
      {{"x[1]y"}, "entry 'x[1]y' has a malformed name"},
      {{"x\\q"}, "entry 'x\\q' has a malformed name"},
      {{"x[99999999999999999999]"}, "entry 'x[99999999999999999999]' has a malformed name"},
    }
    for _, c in ipairs(cases) do
      write(tmp("n.ckpt"), craft_names(c[1]))
      errors_with("load: '" .. tmp("n.ckpt") .. "' is corrupt (" .. c[2], ember.load, tmp("n.ckpt"))
    end
  end)
end)

teardown(function()
  collectgarbage()
  h.rmdir(dir)
end)
