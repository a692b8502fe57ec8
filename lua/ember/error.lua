-- ember.error: the one error type of ember. Every error ember raises, from Lua or from C, is a value
-- with a kind (what went wrong, for programs), a public name (the function the user called) and a
-- message (for people), plus where (the caller's "file:line:" outside ember's own modules):
--
--   local ok, err = pcall(ember.loss.mse, a, b)
--   err.kind     --> "shape"
--   err.fn       --> "ember.loss.mse"
--   err.message  --> "input [3] and target [4] have different shapes"
--   tostring(err) --> "train.lua:12: ember.loss.mse: input [3] and target [4] have different shapes"
--
-- Programs check the kind (`error.is(err, "interrupted")`), never the text. An error value also
-- behaves like its text for the string methods (err:find, err:match, ...) and `..`, so code written
-- for string errors keeps working.
--
-- Kinds, and the exit status of `ember` when one ends a script:
--   usage        bad command line or configuration (2)
--   interrupted  Ctrl-C or SIGTERM (130)
--   diverged     training produced NaN or infinity (1)
--   type         an argument of the wrong type (1)
--   value        an argument with a wrong value (1)
--   shape        tensors whose shapes do not fit (1)
--   io           a file or process the outside world refused (1)
--   format       a file that is corrupt or of the wrong format (1)
--   state        an operation that the object's state does not allow (a closed run, ...) (1)
--   memory       out of memory (1)
--   internal     a bug in ember (1)
local M = {}

M.KINDS = {usage = 2, interrupted = 130, diverged = 1, type = 1, value = 1, shape = 1, io = 1,
  format = 1, state = 1, memory = 1, internal = 1}

local Error = {}
M.Error = Error

local function text(e)
  local s = (e.where or "") .. (e.fn and (e.fn .. ": ") or "") .. tostring(e.message)
  return s
end

Error.__tostring = text
Error.__name = "ember.Error"
Error.__concat = function(a, b) return tostring(a) .. tostring(b) end
Error.__index = function(e, k)
  local f = string[k]
  if type(f) == "function" then
    return function(self, ...) return f(text(self), ...) end
  end
  return nil
end
Error.__len = function(e) return #text(e) end
Error.statuses = M.KINDS   -- read by C (lua/bind/error.c) for the exit status

-- Code that belongs to ember itself: its embedded modules ("=[ember]/fit.lua") and, in a source tree,
-- the files below EMBER_PATH/ember/. An error's `where` is the first frame outside them.
local root = os.getenv("EMBER_PATH")
local own_prefix = root and root ~= "" and ("@" .. root:gsub("/+$", "") .. "/ember/") or nil

local function is_own(source)
  if source:sub(1, 8) == "=[ember]" then return true end
  return own_prefix ~= nil and source:sub(1, #own_prefix) == own_prefix
end
M._is_own = is_own

--- error.where([level]) -> "file:line: " of the first Lua function on the stack, from level on (default:
-- the caller's caller), that is not part of ember; "" when there is none (a command line, a C caller).
function M.where(level)
  level = (level or 2) + 1
  while true do
    local info = debug.getinfo(level, "Sl")
    if not info then return "" end
    if info.what ~= "C" and info.currentline and info.currentline > 0 and not is_own(info.source) then
      return info.short_src .. ":" .. info.currentline .. ": "
    end
    level = level + 1
  end
end

--- error.new(kind, fn, message [, fields]) -> an error value (not raised). kind: one of M.KINDS; fn: the
-- public name ("ember.fit") or nil; fields: extra data for programs (copied in, e.g. {dir = run.dir}).
-- where is left empty: error.raise fills it.
function M.new(kind, fn, message, fields)
  if M.KINDS[kind] == nil then kind = "internal" end
  local e = {kind = kind, fn = fn, message = message}
  if fields then for k, v in pairs(fields) do if e[k] == nil then e[k] = v end end end
  return setmetatable(e, Error)
end

--- error.raise(kind, fn, fmt, ...) raises an error whose message is string.format(fmt, ...) and whose
-- where is the user's line that led to it. Never returns.
function M.raise(kind, fn, fmt, ...)
  local msg = select("#", ...) > 0 and string.format(fmt, ...) or fmt
  local e = M.new(kind, fn, msg)
  e.where = M.where(2)
  error(e, 0)
end

--- error.raiser(fn [, kind]) -> function(fmt, ...) that raises error.raise(kind or "value", fn, fmt, ...):
-- a module's one-line `fail` for one public name.
function M.raiser(fn, kind)
  kind = kind or "value"
  return function(fmt, ...)
    local msg = select("#", ...) > 0 and string.format(fmt, ...) or fmt
    local e = M.new(kind, fn, msg)
    e.where = M.where(2)
    error(e, 0)
  end
end

--- error.public_name(module, name) -> the name a user types for a function of ember.<module>:
-- ("nn", "nn.Linear") -> "ember.nn.Linear"; ("loss", "mse") -> "ember.loss.mse"; names that start with
-- "ember" stay as they are
function M.public_name(module, name)
  name = tostring(name)
  if name:find("^ember[.:]") then return name end
  if name == module then return "ember." .. name end
  local head = name:sub(1, #module + 1)
  if head == module .. "." or head == module .. ":" then return "ember." .. name end
  return "ember." .. module .. "." .. name
end

--- error.module_fail(module [, kind]) -> function(name, fmt, ...) that raises an error of kind (default
-- "value") naming error.public_name(module, name): a module's `fail`
function M.module_fail(module, kind)
  kind = kind or "value"
  return function(name, fmt, ...)
    local msg = select("#", ...) > 0 and string.format(fmt, ...) or fmt
    local e = M.new(kind, M.public_name(module, name), msg)
    e.where = M.where(2)
    error(e, 0)
  end
end

--- error.reraise_as(v, fn) raises v again as the error of the public function fn: an internal
-- function's error ("ember._rescale: ...") reported under the name the user called. An ember error
-- keeps its kind, message and where; any other value becomes a "value" error. Never returns.
function M.reraise_as(v, fn)
  local e
  if getmetatable(v) == Error then
    e = M.new(v.kind, fn, v.message)
    e.where = v.where
  else
    e = M.new("value", fn, M.message(v))
    e.where = M.where(2)
  end
  error(e, 0)
end

--- error.is(v [, kind]) -> true when v is an ember error (of that kind, when kind is given)
function M.is(v, kind)
  if getmetatable(v) ~= Error then return false end
  return kind == nil or v.kind == kind
end

--- error.kind(v) -> the kind of an ember error, or nil for any other value
function M.kind(v)
  if getmetatable(v) ~= Error then return nil end
  return v.kind
end

--- error.message(v) -> the text of v without its where: "fn: message" for an ember error, tostring(v)
-- with a leading "file:line: " removed for anything else
function M.message(v)
  if getmetatable(v) == Error then return (v.fn and (v.fn .. ": ") or "") .. tostring(v.message) end
  return (tostring(v):gsub("^[^\n:]*:%d+: ", ""))
end

--- error.status(v) -> the exit status `ember` ends with when v ends a script: 2 usage, 130
-- interrupted, 1 anything else
function M.status(v)
  if getmetatable(v) ~= Error then return 1 end
  return M.KINDS[v.kind] or 1
end

--- error.wrap(v, kind, fn) -> v when it is an ember error; else a new error of kind (default "internal")
-- whose message is tostring(v) (a Lua runtime error keeps its own "file:line:" in the message)
function M.wrap(v, kind, fn)
  if getmetatable(v) == Error then return v end
  return M.new(kind or "internal", fn, tostring(v))
end

-- C raises errors of this type too (lua/bind/error.c finds the metatable here)
debug.getregistry()["ember.Error"] = Error

return M
