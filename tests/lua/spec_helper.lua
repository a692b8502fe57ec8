-- spec_helper.lua - what the specs share: files in scratch folders, and the message of an expected error.
-- Specs load it with `local h = dofile("tests/lua/spec_helper.lua")`.
local lfs = require "lfs"
local E = require "ember.error"

local M = {}

--- h.read(path) -> the whole file, or nil when it cannot be opened
function M.read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

--- h.write(path, text) writes a file (raises when it cannot)
function M.write(path, text)
  local f = assert(io.open(path, "wb"))
  assert(f:write(text))
  f:close()
end

--- h.tmpdir() -> a new empty folder; h.rmdir(dir) removes it with what it holds
function M.tmpdir()
  local name = os.tmpname()
  os.remove(name)
  assert(lfs.mkdir(name))
  return name
end

function M.rmdir(dir)
  os.execute("rm -rf '" .. dir:gsub("'", "'\\''") .. "'")
end

--- h.exists(path) -> true when something is at path
function M.exists(path) return lfs.attributes(path, "mode") ~= nil end

--- h.lines(text) -> the list of its lines (each ended by a newline in the text)
function M.lines(text)
  local out = {}
  for l in (text or ""):gmatch("([^\n]*)\n") do out[#out + 1] = l end
  return out
end

--- h.kv(path) -> the key<TAB>value lines of a file (params.tsv, meta.tsv) as a table
function M.kv(path)
  local m = {}
  for line in (M.read(path) or ""):gmatch("[^\n]+") do
    local k, v = line:match("^([^\t]+)\t(.*)$")
    if k then m[k] = v end
  end
  return m
end

--- h.errmsg(f, ...) -> the message of the error f(...) raises, without its "file:line: " (an ember
-- error's text starts with the public name: "ember.plot: ..."); fails the spec when f does not raise
function M.errmsg(f, ...)
  local ok, e = pcall(f, ...)
  assert(not ok, "expected an error")
  return E.message(e)
end

--- h.errkind(f, ...) -> the kind of the ember error f(...) raises (nil for another error value)
function M.errkind(f, ...)
  local ok, e = pcall(f, ...)
  assert(not ok, "expected an error")
  return E.kind(e)
end

return M
