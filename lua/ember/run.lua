-- ember.run: a run directory (format: docs/formats.md) and its logger, `ember.run{name, config}` -> run.
--
-- runs/<name>/<YYYYmmdd-HHMMSS>-<id>/ holds
--   params.tsv   key<TAB>value, the resolved config (sorted by key; values as ember.config.format writes
--                them, so `--resume` reads them back to the same values)
--   meta.tsv     key<TAB>value: status, name, id, seed, start_time, end_time, script, script_sha (FNV-1a
--                64 of the script's bytes, written "fnv1a64:<hex>"), ember_version, threads, blas_kernel,
--                conv_kernel (ember.blas().conv: with blas_kernel, what results depend on besides the seed),
--                host, pid, git_commit and git_dirty (when the script is in a git work tree), resumes,
--                error (first line of the message of a failed run); ember.fit adds monitor and mode, and
--                on an early stop best_epoch, stop_epoch and stop_reason. Rewritten atomically (temp
--                file + rename) on every change, so a reader never sees half of it.
--   metrics.tsv  one header line, then one row per run:log, written and flushed row by row.
--   stdout.log   a copy of what the script prints with print and io.write (to stdout) while the run is
--                open, plus the error message of a failed run.
-- Nothing in a run directory is ever executed or loaded as code: params.tsv and meta.tsv are parsed as text.
--
-- metrics.tsv columns: the first row fixes the header (epoch, step, train_loss, valid_loss first, then
-- the other keys in alphabetical order, lr and time last). When a later row brings new columns, they are appended to the
-- column list and the whole file is rewritten (temp file + rename) with the new header and every earlier
-- row padded with empty fields. So the file always has exactly one header line and the same number of
-- fields on every line, which gnuplot (`set datafile separator "\t"`, `columnheader`) and ember.runs both
-- read directly; an empty field is a missing value. Rewrites happen only when columns are added, which
-- in practice is in the first epoch or two.
--
-- Status (meta.tsv): running, then finished, stopped-early, diverged, failed or interrupted.
-- Under `ember run` the command closes every run the script opened: finished after a normal end,
-- failed after an error, interrupted after Ctrl-C, unless ember.fit already set a final status. In a
-- plain `ember script.lua`, write `local run <close> = ember.run{...}` (closing sets the status the same
-- way) or call run:finish().
local ember = require "ember"
local lfs = require "lfs"
local E = require "ember.error"
local session = require "ember.session"

local M = {}

local Run = {}
Run.__index = Run
M.Run = Run

M.STATUSES = {running = true, finished = true, ["stopped-early"] = true, diverged = true, failed = true,
  interrupted = true}

local META_ORDER = {"status", "name", "id", "seed", "start_time", "end_time", "script", "script_sha",
  "ember_version", "threads", "blas_kernel", "conv_kernel", "host", "pid", "git_commit", "git_dirty", "resumes",
  "resume_time", "monitor", "mode", "best_epoch", "stop_epoch", "stop_reason", "error"}

-- fail(fn, fmt, ...): an error naming the public function fn ("ember.run", "run:log")
local function fail(fn, fmt, ...) E.raise("value", fn, fmt, ...) end
local function io_fail(fn, fmt, ...) E.raise("io", fn, fmt, ...) end

local show = require("ember.util").show

-- helpers -----------------------------------------------------------------------------------------------

local function is_dir(p) return lfs.attributes(p, "mode") == "directory" end
local function is_file(p) return lfs.attributes(p, "mode") == "file" end

local function strip_slash(p)
  local s = p:gsub("/+$", "")
  if s == "" then return p:sub(1, 1) == "/" and "/" or "." end
  return s
end

local function basename(p) return (strip_slash(p):match("([^/]*)$")) end
local function dirname(p)
  local d = strip_slash(p):match("^(.*)/[^/]*$")
  if d == nil then return "." end
  if d == "" then return "/" end
  return d
end
M.basename, M.dirname = basename, dirname

-- mkdir -p; returns true or nil and the reason
local util = require "ember.util"
local mkdirs, read_all, shell_quote, num_text = util.mkdir_p, util.read_file, util.shell_quote, util.number_text

--- run.fnv1a64(text) -> FNV-1a 64-bit hash of the bytes of text, as 16 hex digits.
-- (Lua integers wrap modulo 2^64, which is exactly the arithmetic FNV needs.)
function M.fnv1a64(text)
  local h = -3750763034362895579   -- 0xcbf29ce484222325
  local prime = 1099511628211       -- 0x100000001b3
  for i = 1, #text do
    h = (h ~ text:byte(i)) * prime
  end
  return string.format("%016x", h)
end

-- tabs and newlines would break a key<TAB>value line
local function clean(v)
  return (tostring(v):gsub("[%c]", " "))
end

-- Writes text to path atomically (ember.util.write_atomic), or raises naming who failed.
local function write_atomic(path, text, who)
  local ok, err = util.write_atomic(path, text)
  if not ok then io_fail(who, "cannot write '%s': %s", path, err) end
end

local read_kv = util.read_kv
M.read_kv = read_kv


local function command_output(cmd)
  local p = io.popen(cmd, "r")
  if not p then return nil end
  local out = p:read("a")
  p:close()
  return out
end

-- git commit and dirtiness of the work tree holding dir, or nil
local function git_info(dir)
  local q = shell_quote(dir)
  local out = command_output("git -C " .. q .. " rev-parse HEAD 2>/dev/null")
  local commit = out and out:match("^(%x+)%s*$")
  if not commit or #commit < 7 then return nil end
  local st = command_output("git -C " .. q .. " status --porcelain --untracked-files=no 2>/dev/null")
  return commit, st ~= nil and st:match("%S") ~= nil
end

-- 6 hex digits from /dev/urandom; never from ember's RNG, which belongs to the experiment
local function short_id()
  local f = io.open("/dev/urandom", "rb")
  local bytes = f and f:read(3)
  if f then f:close() end
  if bytes and #bytes == 3 then
    return string.format("%02x%02x%02x", bytes:byte(1, 3))
  end
  return M.fnv1a64(tostring(os.time()) .. tostring(ember.clock()) .. tostring(ember.getpid())):sub(1, 6)
end

local function now_text() return os.date("%Y-%m-%dT%H:%M:%S") end

local function field_text(v)
  if type(v) == "number" then return num_text(v) end
  return (tostring(v):gsub("[%c]", " "))
end

-- print / io.write tee ---------------------------------------------------------------------------------------

local tee = {stack = {}}

local function tee_text_print(...)
  local n = select("#", ...)
  local parts = {}
  for i = 1, n do parts[i] = tostring((select(i, ...))) end
  return table.concat(parts, "\t") .. "\n"
end

local function tee_text_write(...)
  local parts = {}
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    if math.type(v) == "float" then parts[i] = string.format("%.14g", v) else parts[i] = tostring(v) end
  end
  return table.concat(parts)
end

local function tee_emit(text)
  local top = tee.stack[#tee.stack]
  if top then top:_log_text(text)
  elseif tee.pending then tee.pending[#tee.pending + 1] = text end
end

local function tee_install()
  if tee.print then return end
  tee.print, tee.write = print, io.write
  tee.my_print = function(...)
    tee.print(...)
    tee_emit(tee_text_print(...))
  end
  tee.my_write = function(...)
    local r = table.pack(tee.write(...))
    if io.output() == io.stdout then tee_emit(tee_text_write(...)) end
    return table.unpack(r, 1, r.n)
  end
  _G.print, io.write = tee.my_print, tee.my_write
end

local function tee_remove(run)
  for i = #tee.stack, 1, -1 do
    if tee.stack[i] == run then table.remove(tee.stack, i) end
  end
  if #tee.stack == 0 and not tee.pending and tee.print then
    -- put back the originals unless someone replaced our wrappers meanwhile
    if _G.print == tee.my_print then _G.print = tee.print end
    if io.write == tee.my_write then io.write = tee.write end
    tee.print, tee.write = nil, nil
  end
end

--- run._capture(on): `ember run` calls it with true before the script starts, so what the script prints
-- before its first ember.run{} is kept and written at the top of that run's stdout.log, and with false
-- when the script has ended.
function M._capture(on)
  if on then
    tee.pending = {}
    tee_install()
  else
    tee.pending = nil
    tee_remove(nil)
  end
end

-- the run -----------------------------------------------------------------------------------------------------

--- run.check_resumable(dir) -> meta table, or nil and a message saying why dir cannot be resumed.
function M.check_resumable(dir)
  if type(dir) ~= "string" or dir == "" then return nil, "--resume needs a run directory" end
  dir = strip_slash(dir)
  if not is_dir(dir) then return nil, ("'%s' is not a directory"):format(dir) end
  for _, f in ipairs{"meta.tsv", "params.tsv", "metrics.tsv"} do
    if not is_file(dir .. "/" .. f) then
      return nil, ("'%s' is not a run directory (no %s)"):format(dir, f)
    end
  end
  local meta = read_kv(dir .. "/meta.tsv")
  local st = meta.status
  if st == "finished" or st == "stopped-early" then
    return nil, ("run '%s' has status %s: there is nothing to resume"):format(dir, st)
  end
  return meta
end

local ARGS = {name = true, config = true, runs = true, seed = true}

local function script_path()
  local script = session.current().script
  if script then return script end
  local a = rawget(_G, "arg")
  if type(a) == "table" and type(a[0]) == "string" and a[0] ~= "-" then return a[0] end
  return nil
end

local function column_rank(c)
  if c == "epoch" then return 1 end
  if c == "step" then return 2 end
  if c == "train_loss" then return 3 end
  if c == "valid_loss" then return 4 end
  if c == "lr" then return 6 end
  if c == "time" then return 7 end
  return 5
end

local function order_columns(cols)
  table.sort(cols, function(a, b)
    local ra, rb = column_rank(a), column_rank(b)
    if ra ~= rb then return ra < rb end
    return a < b
  end)
  return cols
end

local function check_name(name)
  if type(name) ~= "string" or name == "" or name:find("/", 1, true) or name == "." or name == ".."
     or name:find("%c") then
    fail("ember.run", "name must be a non-empty string without '/' or control characters (got %s)", show(name))
  end
  return name
end

--- ember.run{name, config, runs = "runs", seed} -> a run (creates its directory; see the module comment).
-- name: default the script's file name without .lua (`--name` wins); config: default the table the last
-- ember.config call returned; runs: the root folder (`--runs` wins); seed: default --seed, else
-- config.seed, else 0: ember's RNG is seeded with it, unless ember.config already seeded it with the same
-- seed (so call ember.manual_seed after ember.run{}, or pass seed, to draw from another seed).
-- With `ember run --resume DIR` the run reopens DIR.
function M.new(args)
  if args == nil then args = {} end
  if type(args) ~= "table" then fail("ember.run", "expected a table such as {name = \"mlp\", config = cfg} (got %s)", show(args)) end
  for k in pairs(args) do
    if not ARGS[k] then fail("ember.run", "unknown option %s (options: config, name, runs, seed)", show(k)) end
  end
  local s = session.current()
  local config = args.config
  if config == nil then config = s.last_config or {} end
  if type(config) ~= "table" then fail("ember.run", "config must be a table (got %s)", show(config)) end
  local script = script_path()
  local self = setmetatable({config = config, script = script, columns = {}, rows = 0, _known = {},
                             elapsed_offset = 0, t0 = ember.clock()}, Run)
  if s.resume then
    local meta, why = M.check_resumable(s.resume)
    if not meta then fail("ember.run", "cannot resume: %s", why) end
    self.dir = strip_slash(s.resume)
    self.resumed = true
    self.id, self.name = basename(self.dir), basename(dirname(self.dir))
    self.meta = meta
    self.seed = math.tointeger(tonumber(meta.seed or "")) or 0
  else
    local name = s.name or args.name
    if name == nil and script then name = basename(script):gsub("%.lua$", "") end
    self.name = check_name(name or "run")
    local root = s.runs_root or args.runs or "runs"
    if type(root) ~= "string" or root == "" then fail("ember.run", "runs must be a folder name (got %s)", show(root)) end
    local parent = strip_slash(root) .. "/" .. self.name
    local ok, err = mkdirs(parent)
    if not ok then io_fail("ember.run", "cannot create run folder '%s': %s", parent, err) end
    for _ = 1, 20 do
      self.id = os.date("%Y%m%d-%H%M%S") .. "-" .. short_id()
      self.dir = parent .. "/" .. self.id
      local made, merr = lfs.mkdir(self.dir)
      if made then break end
      if not is_dir(self.dir) then io_fail("ember.run", "cannot create run directory '%s': %s", self.dir, merr) end
      self.dir = nil
    end
    if not self.dir then io_fail("ember.run", "cannot find a free run directory name below '%s'", parent) end
    local seed = s.seed or args.seed
    if seed == nil and config.seed ~= nil then seed = config.seed end
    if seed == nil then seed = s.seeded or 0 end
    if math.type(seed) ~= "integer" then
      local n = math.tointeger(seed)
      if not n then fail("ember.run", "seed must be an integer (got %s)", show(seed)) end
      seed = n
    end
    self.seed = seed
    self.meta = {}
  end
  s:seed_rng(self.seed)
  self.session = s
  self:_open()
  s:open_run(self)
  return self
end

function Run:_open()
  local cfg = require "ember.config"
  local meta = self.meta
  local script = self.script
  local threads = ember.get_num_threads and ember.get_num_threads() or 1
  if self.resumed then
    if meta.threads and tonumber(meta.threads) ~= threads then
      io.stderr:write(("ember: warning: resuming with %d thread(s) but the run used %s: the numbers may differ in the last bits\n")
        :format(threads, meta.threads))
    end
    if script and meta.script_sha then
      local text = read_all(script)
      if text and "fnv1a64:" .. M.fnv1a64(text) ~= meta.script_sha then
        io.stderr:write(("ember: warning: %s changed since the run started\n"):format(script))
      end
    end
    meta.status, meta.end_time, meta.error = "running", nil, nil
    meta.resumes = tostring((tonumber(meta.resumes or "0") or 0) + 1)
    meta.resume_time = now_text()
    meta.threads = tostring(threads)
    meta.pid = tostring(ember.getpid())
    -- the header of metrics.tsv, so new rows line up with the old ones
    local f = io.open(self.dir .. "/metrics.tsv", "rb")
    local head = f and f:read("l")
    if f then f:close() end
    if head and head ~= "" then
      for c in (head:gsub("\r$", "") .. "\t"):gmatch("([^\t]*)\t") do
        self.columns[#self.columns + 1] = c
        self._known[c] = true
      end
    end
    self.rows = self:_count_rows()
  else
    -- params.tsv: the resolved config
    local keys = {}
    for k in pairs(self.config) do
      if type(k) == "string" then keys[#keys + 1] = k end
    end
    table.sort(keys)
    local lines = {}
    for _, k in ipairs(keys) do lines[#lines + 1] = clean(k) .. "\t" .. clean(cfg.format(self.config[k])) .. "\n" end
    write_atomic(self.dir .. "/params.tsv", table.concat(lines), "ember.run")
    meta.status, meta.name, meta.id, meta.seed = "running", self.name, self.id, tostring(self.seed)
    meta.start_time = now_text()
    meta.ember_version = tostring(ember.version)
    meta.threads = tostring(threads)
    local okb, blas = pcall(ember.blas)
    meta.blas_kernel = okb and type(blas) == "table" and blas.kernel or "unknown"
    meta.conv_kernel = okb and type(blas) == "table" and blas.conv or "unknown"
    meta.host = ember.hostname()
    meta.pid = tostring(ember.getpid())
    if script then
      meta.script = script
      local text = read_all(script)
      if text then meta.script_sha = "fnv1a64:" .. M.fnv1a64(text) end
      local commit, dirty = git_info(dirname(script))
      if commit then meta.git_commit, meta.git_dirty = commit, tostring(dirty) end
    end
    -- an empty metrics.tsv makes the folder a run directory from the start (ember runs lists it)
    local f, err = io.open(self.dir .. "/metrics.tsv", "ab")
    if not f then io_fail("ember.run", "cannot write '%s/metrics.tsv': %s", self.dir, err) end
    f:close()
  end
  self.status = "running"
  self:_write_meta()
  local mf, merr = io.open(self.dir .. "/metrics.tsv", "ab")
  if not mf then io_fail("ember.run", "cannot write '%s/metrics.tsv': %s", self.dir, merr) end
  self._mf = mf
  self._log = io.open(self.dir .. "/stdout.log", "ab")
  if self._log and self.resumed then
    self._log:write(("--- resumed %s ---\n"):format(meta.resume_time))
  end
  if self._log and tee.pending and #tee.pending > 0 then
    self._log:write(table.concat(tee.pending))   -- printed by the script before this run began
    tee.pending = {}
  end
  if self._log then self._log:flush() end
  tee_install()
  tee.stack[#tee.stack + 1] = self
end

function Run:_count_rows()
  local text = read_all(self.dir .. "/metrics.tsv") or ""
  local n = 0
  local first = true
  for _ in text:gmatch("[^\n]*\n") do
    if first then first = false else n = n + 1 end
  end
  return n
end

function Run:_write_meta()
  local lines, done = {}, {}
  for _, k in ipairs(META_ORDER) do
    if self.meta[k] ~= nil then
      lines[#lines + 1] = k .. "\t" .. clean(self.meta[k]) .. "\n"
      done[k] = true
    end
  end
  local extra = {}
  for k in pairs(self.meta) do if not done[k] then extra[#extra + 1] = k end end
  table.sort(extra)
  for _, k in ipairs(extra) do lines[#lines + 1] = clean(k) .. "\t" .. clean(self.meta[k]) .. "\n" end
  write_atomic(self.dir .. "/meta.tsv", table.concat(lines), "ember.run")
end

function Run:_log_text(text)
  if self._log then
    self._log:write(text)
    self._log:flush()
  end
end

--- run:path(name) -> the path of a file in the run directory.
function Run:path(name)
  return self.dir .. "/" .. name
end

--- run:elapsed() -> seconds since the run started (continued across --resume when ember.fit resumes).
function Run:elapsed()
  return self.elapsed_offset + (ember.clock() - self.t0)
end

local function header_line(cols) return table.concat(cols, "\t") .. "\n" end

-- Rewrites metrics.tsv with the current columns, keeping the first keep rows (all when nil), every row
-- padded to the full width. Atomic (temp file + rename); the append handle is reopened.
function Run:_rewrite(keep)
  local path = self.dir .. "/metrics.tsv"
  if self._mf then self._mf:close(); self._mf = nil end
  local text = read_all(path) or ""
  local out = {}
  local n = 0
  local first = true
  local width = #self.columns
  for line in text:gmatch("([^\n]*)\n") do
    if first then
      first = false
    elseif keep == nil or n < keep then
      n = n + 1
      local fields = 1
      for _ in line:gmatch("\t") do fields = fields + 1 end
      out[#out + 1] = line .. string.rep("\t", math.max(0, width - fields)) .. "\n"
    end
  end
  local body = table.concat(out)
  if width > 0 then body = header_line(self.columns) .. body end
  write_atomic(path, body, "run:log")
  self.rows = n
  local mf, err = io.open(path, "ab")
  if not mf then io_fail("run:log", "cannot write '%s': %s", path, err) end
  self._mf = mf
end

--- run:_truncate(rows): keep the header and the first `rows` rows of metrics.tsv (ember.fit calls it
-- on --resume with the row count its checkpoint recorded).
function Run:_truncate(rows)
  if rows < self.rows then self:_rewrite(rows) end
end

--- run:log(row) -- append one row to metrics.tsv and flush it. row: a table of column -> number (or
-- string/boolean). A `time` column (seconds since the run started) is added unless the row has one.
-- New columns are added to the header (see the module comment). Returns the run.
function Run:log(row)
  if type(row) ~= "table" then fail("run:log", "expected a table of column = value (got %s)", show(row)) end
  if not self._mf then E.raise("state", "run:log", "the run in '%s' is closed (status %s)", self.dir, self.status) end
  local vals, new = {}, {}
  for k, v in pairs(row) do
    if type(k) ~= "string" or k == "" or k:find("[%c]") then
      fail("run:log", "column names must be non-empty strings without tabs or newlines (got %s)", show(k))
    end
    local t = type(v)
    if t ~= "number" and t ~= "string" and t ~= "boolean" then
      local ok, x = pcall(function() return v:item() end)
      if ok and type(x) == "number" then v = x
      else fail("run:log", "value of column '%s' must be a number, string or boolean (got %s)", k, t) end
    end
    vals[k] = v
    if not self._known[k] then new[#new + 1] = k end
  end
  if vals.time == nil then
    vals.time = math.floor(self:elapsed() * 1000 + 0.5) / 1000
    if not self._known.time then new[#new + 1] = "time" end
  end
  if #new > 0 then
    order_columns(new)
    local had = #self.columns
    for _, c in ipairs(new) do
      self.columns[#self.columns + 1] = c
      self._known[c] = true
    end
    if had == 0 then
      order_columns(self.columns)
      local ok, err = self._mf:write(header_line(self.columns))
      if not ok then io_fail("run:log", "cannot write '%s/metrics.tsv': %s", self.dir, err) end
    else
      self:_rewrite(nil)
    end
  end
  local fields = {}
  for i, c in ipairs(self.columns) do
    local v = vals[c]
    fields[i] = v == nil and "" or field_text(v)
  end
  local ok, err = self._mf:write(table.concat(fields, "\t"), "\n")
  if ok then ok, err = self._mf:flush() end
  if not ok then io_fail("run:log", "cannot write '%s/metrics.tsv': %s", self.dir, err) end
  self.rows = self.rows + 1
  return self
end

--- run:set_meta(t) -- merge key = value pairs into meta.tsv (values written as text) and rewrite it.
function Run:set_meta(t)
  for k, v in pairs(t) do
    if type(k) ~= "string" then fail("run:set_meta", "keys must be strings (got %s)", show(k)) end
    if type(v) == "number" then self.meta[k] = num_text(v)
    else self.meta[k] = tostring(v) end
  end
  self:_write_meta()
  return self
end

--- run:set_status(status [, meta]) -- record a status (running, finished, stopped-early, diverged, failed,
-- interrupted) and optional extra meta keys; a final status also records end_time. Returns the run.
function Run:set_status(status, extra)
  if not M.STATUSES[status] then
    fail("run:set_status", "unknown status %s (statuses: running, finished, stopped-early, diverged, failed, interrupted)",
         show(status))
  end
  self.status = status
  self.meta.status = status
  if status ~= "running" then self.meta.end_time = now_text() end
  if extra then return self:set_meta(extra) end
  self:_write_meta()
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
  tee_remove(self)
  if self._log then self._log:close(); self._log = nil end
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

return setmetatable(M, {__call = function(_, args) return M.new(args) end})
