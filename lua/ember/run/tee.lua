-- ember.run.tee: copies what a script prints to stdout (print, io.write) into the stdout.log of the
-- newest open run, by wrapping print and io.write while a run is open (or while `ember run` captures).
local M = {}

local stack = {}      -- open runs, oldest first: the newest gets the text
local saved = nil     -- {print, write, my_print, my_write} while the wrappers are installed
local pending = nil   -- under `ember run`, the text printed before the first ember.run{}

local function print_text(...)
  local parts = {}
  for i = 1, select("#", ...) do parts[i] = tostring((select(i, ...))) end
  return table.concat(parts, "\t") .. "\n"
end

-- io.write's own formatting: floats with "%.14g", everything else as tostring gives it
local function write_text(...)
  local parts = {}
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    if math.type(v) == "float" then parts[i] = string.format("%.14g", v) else parts[i] = tostring(v) end
  end
  return table.concat(parts)
end

local function emit(text)
  local top = stack[#stack]
  if top then top:_log_text(text)
  elseif pending then pending[#pending + 1] = text end
end

local function install()
  if saved then return end
  saved = {print = print, write = io.write}
  saved.my_print = function(...)
    saved.print(...)
    emit(print_text(...))
  end
  saved.my_write = function(...)
    local r = table.pack(saved.write(...))
    if io.output() == io.stdout then emit(write_text(...)) end
    return table.unpack(r, 1, r.n)
  end
  _G.print, io.write = saved.my_print, saved.my_write
end

local function uninstall_when_idle()
  if #stack > 0 or pending or not saved then return end
  -- put back the originals unless someone replaced our wrappers meanwhile
  if _G.print == saved.my_print then _G.print = saved.print end
  if io.write == saved.my_write then io.write = saved.write end
  saved = nil
end

--- tee.push(run): the run's _log_text gets what is printed from now on (until tee.remove(run)).
-- Returns the text captured before any run was open (`ember run`), which belongs at its log's top.
function M.push(run)
  install()
  stack[#stack + 1] = run
  local before = pending and table.concat(pending) or ""
  if pending then pending = {} end
  return before
end

--- tee.remove(run): stops copying into run's log
function M.remove(run)
  for i = #stack, 1, -1 do
    if stack[i] == run then table.remove(stack, i) end
  end
  uninstall_when_idle()
end

--- tee.capture(on): `ember run` calls it with true before the script starts, so what the script prints
-- before its first ember.run{} is kept for that run's stdout.log, and with false when the script ends.
function M.capture(on)
  if on then
    pending = {}
    install()
  else
    pending = nil
    uninstall_when_idle()
  end
end

return M
