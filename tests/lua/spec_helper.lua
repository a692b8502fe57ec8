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

--- h.errors_with(fragment, f, ...) fails the spec unless f(...) raises an error whose text contains
-- fragment (plain text, not a pattern)
function M.errors_with(fragment, f, ...)
  local ok, err = pcall(f, ...)
  assert(not ok, "expected an error containing: " .. fragment)
  assert(tostring(err):find(fragment, 1, true), "error was: " .. tostring(err))
end

--- h.cli(cmd, args) -> exit status, stdout, stderr of `ember CMD ARGS` run in this process
-- (ember.cli.main with files in place of the terminal)
function M.cli(cmd, args)
  local out, err = io.tmpfile(), io.tmpfile()
  local status = require("ember.cli").main(cmd, args, {stdout = out, stderr = err})
  out:seek("set")
  err:seek("set")
  return status, out:read("a"), err:read("a")
end

--- h.runner(folder) -> sh, ember: sh(cmd) runs a shell command line in folder() (a function, so a spec
-- can give a new scratch folder to each test) and returns its stdout, stderr and exit status;
-- ember(args [, env]) runs `env ember args` there the same way: the built executable ($EMBER_BIN, else
-- build/ember) with the source tree's Lua modules, under `timeout 60`
function M.runner(folder)
  local quote = require("ember.util").shell_quote
  local cwd = lfs.currentdir()
  local function absolute(p) return p:sub(1, 1) == "/" and p or cwd .. "/" .. p end
  local bin = absolute(os.getenv("EMBER_BIN") or "build/ember")
  local lua_dir = absolute(os.getenv("EMBER_PATH") or "lua")
  local function sh(cmd)
    local dir = folder()
    local p = io.popen(("cd %s && (%s) 2>%s"):format(quote(dir), cmd, quote(dir .. "/.stderr")))
    local out = p:read("a")
    local _, _, code = p:close()
    return out, M.read(dir .. "/.stderr") or "", code
  end
  local function ember(args, env)
    return sh(("%sEMBER_PATH=%s timeout 60 %s %s"):format(env and env .. " " or "", quote(lua_dir), quote(bin), args))
  end
  return sh, ember, bin, lua_dir
end

return M
