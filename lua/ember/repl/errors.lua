-- ember.repl.errors: how the REPL prints an error: its message, then a short traceback when there is
-- one worth reading. An ember error (lua/ember/error.lua) carries its traceback in a field (the
-- message handler of lua/main.c puts it there); any other error value arrives as text with the
-- traceback appended, as lua.c's handler writes it.
local E = require "ember.error"

local M = {}

local MAX_FRAMES = 8

-- frames of the machinery between the failing call and the user's code
local function is_glue(f)
  return f == "[C]: in ?" or f:match("^%[C%]: in function '[%w_.]*error'") ~= nil
      or f:match("^%[C%]: in function 'assert'") ~= nil or f:match("^%[C%]: in function 'pcall'") ~= nil
end

local own_dir = os.getenv("EMBER_PATH")
own_dir = own_dir and own_dir ~= "" and (own_dir:gsub("/+$", "") .. "/ember/") or nil

-- a frame in ember's own modules: "[ember]/fit.lua:12: ..." when embedded, else a file below
-- $EMBER_PATH/ember/ (whose name a traceback may shorten to ".../lua/ember/fit.lua")
local function is_own(f)
  if f:sub(1, 8) == "[ember]/" then return true end
  local path = own_dir and f:match("^(.-):%d+:")
  if not path then return false end
  if path:sub(1, #own_dir) == own_dir then return true end
  if path:sub(1, 3) ~= "..." then return false end
  local rel = path:match(".*/ember/(.*)$")
  local full = rel and own_dir .. rel
  return full ~= nil and full:sub(-(#path - 3)) == path:sub(4)
end

-- ember's own frames: its modules, its internal C functions (ember._mse) and the calls lost between them
local function is_ember_frame(f)
  return is_own(f) or f:match("^%[C%]: in function '[%w_.:]*[.:]_") ~= nil or f == "(...tail calls...)"
end

-- the frames of a "stack traceback:" text worth showing; an ember error's cause is in ember's own
-- code on purpose, so its frames there are dropped too
local function frames_of(tb, drop_own)
  local frames = {}
  for l in tb:gmatch("[^\n]+") do
    local f = l:gsub("^%s+", "")
    if f ~= "stack traceback:" and not is_glue(f) and not (drop_own and is_ember_frame(f)) then
      frames[#frames + 1] = f
    end
  end
  return frames
end

--- errors.format(err) -> the text the REPL prints for an error value: the message (for an ember error,
-- its "where fn: message"), then at most 8 frames of its traceback without the C glue (error, assert,
-- pcall), and no traceback when the error happened in the typed line itself
function M.format(err)
  local head, tb, drop_own
  if E.is(err) then
    head, tb, drop_own = tostring(err), err.traceback, true
  else
    local msg = tostring(err)
    head, tb = msg:match("^(.-)\nstack traceback:\n(.*)$")
    if not head then return msg end
  end
  if type(tb) ~= "string" then return head end
  local frames = frames_of(tb, drop_own)
  if #frames == 0 or (#frames == 1 and frames[1]:match("^stdin:%d+: in main chunk$")) then return head end
  local out = {head, "stack traceback:"}
  for i = 1, math.min(#frames, MAX_FRAMES) do out[#out + 1] = "\t" .. frames[i] end
  if #frames > MAX_FRAMES then out[#out + 1] = ("\t... (%d more)"):format(#frames - MAX_FRAMES) end
  return table.concat(out, "\n")
end

return M
