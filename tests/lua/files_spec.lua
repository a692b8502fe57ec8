-- files_spec.lua - the files ember replaces atomically (checkpoints, meta.tsv, metrics): a symlink or
-- file planted at the temporary name is never written through, so nothing outside is changed.
local ember = require "ember"
local util = require "ember.util"
local lfs = require "lfs"
local h = dofile("tests/lua/spec_helper.lua")

describe("atomic file replacement", function()
  local dir, victim
  before_each(function()
    dir = h.tmpdir()
    victim = dir .. "/victim"
    h.write(victim, "precious\n")
  end)
  after_each(function() h.rmdir(dir) end)
  local function plant(path)   -- symlinks at the names this process's temporary file has had
    for _, fmt in ipairs{"%s.tmp.%d", "%s.tmp-%d"} do assert(lfs.link(victim, fmt:format(path, ember.getpid()), true)) end
  end

  it("write_atomic does not follow a symlink planted at its temporary name", function()
    local path = dir .. "/meta.tsv"
    plant(path)
    assert.is_true(util.write_atomic(path, "status\tdone\n"))
    assert.equal("status\tdone\n", h.read(path))
    assert.equal("precious\n", h.read(victim))
    assert.equal("link", lfs.symlinkattributes(("%s.tmp.%d"):format(path, ember.getpid()), "mode"))
  end)
  it("write_atomic replaces a file and leaves no temporary file", function()
    local path = dir .. "/a.txt"
    h.write(path, "old")
    assert.is_true(util.write_atomic(path, "new"))
    assert.equal("new", h.read(path))
    for name in lfs.dir(dir) do assert.is_nil(name:find(".tmp.", 1, true), name) end
  end)
  it("write_atomic reports why it cannot write, as io.open does", function()
    local ok, err = util.write_atomic(dir .. "/missing/a.txt", "x")
    assert.is_nil(ok)
    assert.equal("No such file or directory", err)
  end)
  it("ember.save does not follow a symlink planted at its temporary name", function()
    local path = dir .. "/last.ckpt"
    plant(path)
    ember.save(path, {w = ember.ones(3), epoch = 4})
    assert.equal("precious\n", h.read(victim))
    local s = ember.load(path)
    assert.equal(4, s.epoch)
    assert.same({1, 1, 1}, s.w:totable())
  end)
  it("new files get the mode the umask allows, as fopen's", function()
    local path = dir .. "/m.txt"
    assert.is_true(util.write_atomic(path, "x"))
    local p = io.popen("umask"):read("l")
    local want = 438 & ~tonumber(p, 8)   -- 0666
    local mode = lfs.attributes(path, "permissions")
    local bits = 0
    for i = 1, 9 do if mode:sub(i, i) ~= "-" then bits = bits | (1 << (9 - i)) end end
    assert.equal(want, bits)
  end)
end)
