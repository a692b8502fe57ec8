-- spec_helper.lua - what the specs share: files in scratch folders, and the message of an expected error.
-- Specs load it with `local h = dofile("tests/lua/spec_helper.lua")`.
local lfs = require "lfs"
local E = require "ember.error"

local M = {}

--- h.read(path) -> the whole file, or nil when it cannot be opened
M.read = require("ember.util").read_file

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
  os.execute("rm -rf " .. require("ember.util").shell_quote(dir))
end

-- ember._interrupts as loaded, for end_session to put back after a spec simulated Ctrl-C
local real_interrupts = require("ember")._interrupts

--- h.fresh_session() -> a new scratch folder, with no session open: what each test of a spec that
-- opens runs starts from (its before_each). h.end_session(root) is its after_each: closes the runs the
-- test left open, ends the session, puts back ember._interrupts and removes root.
function M.fresh_session()
  require("ember.session").finish()
  return M.tmpdir()
end

function M.end_session(root)
  local session = require "ember.session"
  session.current():close_runs()
  session.finish()
  require("ember")._interrupts = real_interrupts
  M.rmdir(root)
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

--- h.bits(t) -> the float32 bits of every element of tensor t, as a string, so that NaN payloads and -0
-- compare exactly
function M.bits(t)
  local out = {}
  local function walk(v)
    if type(v) == "table" then for _, x in ipairs(v) do walk(x) end else out[#out + 1] = string.pack("<f", v) end
  end
  walk(t:totable())
  return table.concat(out)
end

--- h.rows_without_time(dir) -> the metrics rows of run directory dir (ember.runs.read) without their
-- time, which differs between two runs that are otherwise bit-identical
function M.rows_without_time(dir)
  local r = require("ember.runs").read(dir)
  for _, row in ipairs(r.rows) do row.time = nil end
  return r.rows
end

--- h.sink() -> a file-like object (write, flush) that collects what is written to it in .text
function M.sink()
  local s = {text = ""}
  function s:write(...) for _, v in ipairs{...} do self.text = self.text .. tostring(v) end return self end
  function s:flush() return self end
  return s
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

--- h.sh(cmd) -> the stdout and the exit status of a shell command line
function M.sh(cmd)
  local p = io.popen(cmd)
  local out = p:read("a")
  local _, _, code = p:close()
  return out, code
end

local cwd = lfs.currentdir()
local function absolute(p) return p:sub(1, 1) == "/" and p or cwd .. "/" .. p end
--- h.EMBER: the built executable ($EMBER_BIN, else build/ember), as an absolute path
M.EMBER = absolute(os.getenv("EMBER_BIN") or "build/ember")

--- h.runner(folder) -> sh, ember: sh(cmd) runs a shell command line in folder() (a function, so a spec
-- can give a new scratch folder to each test) and returns its stdout, stderr and exit status;
-- ember(args [, env]) runs `env ember args` there the same way: h.EMBER with the source tree's Lua
-- modules, under `timeout 60`
function M.runner(folder)
  local quote = require("ember.util").shell_quote
  local bin = M.EMBER
  local lua_dir = absolute(os.getenv("EMBER_PATH") or "lua")
  local function sh(cmd)
    local dir = folder()
    local out, code = M.sh(("cd %s && (%s) 2>%s"):format(quote(dir), cmd, quote(dir .. "/.stderr")))
    return out, M.read(dir .. "/.stderr") or "", code
  end
  local function ember(args, env)
    return sh(("%sEMBER_PATH=%s timeout 60 %s %s"):format(env and env .. " " or "", quote(lua_dir), quote(bin), args))
  end
  return sh, ember, bin, lua_dir
end

return M
