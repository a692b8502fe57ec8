-- ember.run.object: the run object ember.run{} returns: logging, meta keys, status, closing.
local ember = require "ember"
local E = require "ember.error"
local util = require "ember.util"
local show = util.show
local meta = require "ember.run.meta"
local metrics = require "ember.run.metrics"
local tee = require "ember.run.tee"

local Run = {}
Run.__index = Run

Run.STATUSES = {running = true, finished = true, ["stopped-early"] = true, diverged = true, failed = true,
  interrupted = true}

-- appends text to stdout.log (what the script printed, error messages)
function Run:_log_text(text)
  if self._log then
    self._log:write(text)
    self._log:flush()
  end
end

--- run:_start(): opens the run's files (metrics.tsv for appending, stdout.log) and starts copying
-- what the script prints into stdout.log. meta.tsv is written first, status running.
function Run:_start()
  self.status = "running"
  meta.write(self.dir, self.meta, "ember.run")
  metrics.open(self, "ember.run")
  self._log = io.open(self.dir .. "/stdout.log", "ab")
  if self._log and self.resumed then
    self._log:write(("--- resumed %s ---\n"):format(self.meta.resume_time))
  end
  local before = tee.push(self)
  if self._log then
    self._log:write(before)   -- printed by the script before this run began
    self._log:flush()
  end
end

--- run:path(name) -> the path of a file in the run directory.
function Run:path(name)
  -- a NUL would end the name at the C library: the file written would not be the one named
  if type(name) ~= "string" or name == "" or util.has_nul(name) then
    E.raise("value", "run:path", "name must be a non-empty string without a NUL byte (got %s)", show(name))
  end
  return self.dir .. "/" .. name
end

--- run:elapsed() -> seconds since the run started (continued across --resume when ember.fit resumes).
function Run:elapsed()
  return self.elapsed_offset + (ember.clock() - self.t0)
end

--- run:log(row) -- append one row to metrics.tsv and flush it. row: a table of column -> number (or
-- string/boolean). A `time` column (seconds since the run started) is added unless the row has one.
-- New columns are added to the header (ember.run.metrics). Returns the run.
function Run:log(row)
  metrics.log(self, row)
  return self
end

--- run:_truncate(rows): keep the header and the first `rows` rows of metrics.tsv (ember.fit calls it
-- on --resume with the row count its checkpoint recorded).
function Run:_truncate(rows)
  metrics.truncate(self, rows)
end

-- merges t's keys into run.meta, values as text, checked for the public function who
local function merge_meta(self, t, who)
  if type(t) ~= "table" then E.raise("type", who, "expected a table of key = value (got %s)", show(t)) end
  for k, v in pairs(t) do
    if type(k) ~= "string" or k == "" then E.raise("value", who, "keys must be non-empty strings (got %s)", show(k)) end
    self.meta[k] = meta.text(v)
  end
end

--- run:set_meta(t) -- merge key = value pairs into meta.tsv (values written as text) and rewrite it.
function Run:set_meta(t)
  merge_meta(self, t, "run:set_meta")
  meta.write(self.dir, self.meta, "run:set_meta")
  return self
end

-- a value set_used can record: what a config value can be
local function usable(v)
  local t = type(v)
  if t == "number" or t == "string" or t == "boolean" then return true end
  if t ~= "table" then return false end
  for i, x in pairs(v) do
    if math.type(i) ~= "integer" or i < 1 or i > #v or not usable(x) or type(x) == "table" then return false end
  end
  return true
end

--- run:set_used{key = value, ...} -- records the value the run actually used for config key `key`,
-- when the config holds a stand-in (lr = 0 for "the optimizer's default") or the script resolved it
-- otherwise: meta.tsv gets `used.<key>`, the value written as params.tsv writes it (numbers exactly,
-- lists comma-separated), and `ember runs` shows it in that key's column. Returns the run.
function Run:set_used(t)
  local fn = "run:set_used"
  if type(t) ~= "table" then E.raise("type", fn, "expected a table of key = value such as {lr = 0.01} (got %s)", show(t)) end
  local format = require("ember.config").format
  for k, v in pairs(t) do
    if type(k) ~= "string" or k == "" or k:find("[%c=]") then
      E.raise("value", fn, "keys must be config names, non-empty strings without '=' or control characters (got %s)", show(k))
    end
    if not usable(v) then
      E.raise("type", fn, "value of %s must be a number, string, boolean or a list of them (got %s)", k, show(v))
    end
    self.meta["used." .. k] = format(v)
  end
  meta.write(self.dir, self.meta, fn)
  return self
end

--- run:set_status(status [, meta]) -- record a status (running, finished, stopped-early, diverged, failed,
-- interrupted) and optional extra meta keys; a final status also records end_time. Returns the run.
function Run:set_status(status, extra)
  if not Run.STATUSES[status] then
    E.raise("value", "run:set_status", "unknown status %s (statuses: running, finished, stopped-early, "
      .. "diverged, failed, interrupted)", show(status))
  end
  if extra ~= nil then merge_meta(self, extra, "run:set_status") end
  self.status = status
  self.meta.status = status
  if status ~= "running" then self.meta.end_time = meta.now() end
  meta.write(self.dir, self.meta, "run:set_status")
  return self
end

--- run:finish([status]) -- close the run: status defaults to "finished" when it is still running, and a
-- final status set earlier (stopped-early, diverged, ...) is kept. Flushes and closes its files. Idempotent.
function Run:finish(status)
  if self._closed then return self end
  if status ~= nil then self:set_status(status)
  elseif self.status == "running" then self:set_status("finished") end
  self._closed = true
  if self._mf then self._mf:close(); self._mf = nil end
  tee.remove(self)
  if self._log then self._log:close(); self._log = nil end
  if self._lock then self._lock:unlock(); self._lock = nil end
  if self.session then self.session:close_run(self) end
  return self
end

-- Ends the run after the script failed or was interrupted: records the message, sets the status unless
-- a final one is already there.
function Run:_fail(err)
  if self._closed then return end
  local msg = tostring(err)
  self:_log_text(msg .. "\n")
  -- a run that ember.fit finished can still fail in what the script does after training
  if self.status == "running" or self.status == "finished" then
    self:set_status(E.is(err, "interrupted") and "interrupted" or "failed", {error = msg:match("^[^\n]*")})
  end
  self:finish()
end

-- `local run <close> = ember.run{...}`: finished on a normal exit, failed/interrupted on an error
function Run:__close(err)
  if err ~= nil then self:_fail(err) else self:finish() end
end

function Run:__tostring()
  return ("run %s/%s (%s) in %s"):format(self.name, self.id, self.status, self.dir)
end

return Run
