-- ember.runs.values: a run's values by key, the one way `ember runs` shows them, `ember plot` groups and
-- labels runs, and the run filter compares them. A key is, in this order:
--   best.M, last.M         the best (by the metric's mode) or last logged value of metric M
--   param.K, meta.K        the param K (its used value, below) or the meta.tsv value K, explicitly
--   name, id, dir          the run's experiment name (the folder above it), id and directory
--   metric, best, last     the run's main metric (the monitored one, else valid_loss, else train_loss,
--                          else loss, else the first metric column) and its best and last value
--   epoch, duration        the last epoch logged, and the seconds from start_time to end_time (to now
--                          while the run is running)
--   K                      a param: the value the run used, meta.tsv's used.K when the run recorded it
--                          (the config held a stand-in such as 0 for "the default"), else params.tsv's
--   K                      else a meta.tsv key (status, seed, start_time, optimizer.lr, set_meta keys, ...)
local runs = require "ember.runs"

local M = {}

local IGNORED_COLUMNS = {epoch = true, step = true, time = true, lr = true}
-- metrics where more is better when meta.tsv does not say (the monitored metric's mode is recorded)
local MAX_METRICS = {"acc", "f1", "precision", "recall", "auc", "iou", "dice", "r2"}

--- values.param(run, k) -> the value of param k the run used (a string) and true when it is a resolved
-- value (meta.tsv used.k), or params.tsv's value and false; nil when the run has neither
function M.param(run, k)
  local used = (run.meta or {})["used." .. k]
  if used ~= nil then return used, true end
  return (run.params or {})[k], false
end

--- values.param_keys(list) -> every param key of the runs, in order of first appearance (keys that only
-- a used.K meta value names come after the run's params.tsv keys)
function M.param_keys(list)
  local keys, seen = {}, {}
  local function add(k) if not seen[k] then seen[k] = true; keys[#keys + 1] = k end end
  for _, run in ipairs(list) do
    for _, k in ipairs(run.param_keys or {}) do add(k) end
    -- tables built by hand may have params without param_keys
    local extra = {}
    for k in pairs(run.params or {}) do if not seen[k] then extra[#extra + 1] = k end end
    table.sort(extra)
    for _, k in ipairs(extra) do add(k) end
    local used = {}
    for k in pairs(run.meta or {}) do
      local p = k:match("^used%.(.+)$")
      if p and not seen[p] then used[#used + 1] = p end
    end
    table.sort(used)
    for _, k in ipairs(used) do add(k) end
  end
  return keys
end

--- values.same(a, b) -> true when two values read the same: as numbers when both are numbers ("1e-3"
-- and "0.001" are the same), else as text
function M.same(a, b)
  local x, y = runs.number(a), runs.number(b)
  if x and y then return x == y or (x ~= x and y ~= y) end
  return a == b
end

--- values.differing(list) -> the param keys whose values (as written or as used) are not the same in
-- every run of list (a key missing from some runs differs), in order of first appearance
function M.differing(list)
  local out = {}
  for _, k in ipairs(M.param_keys(list)) do
    local v1 = M.param(list[1], k)
    local p1 = (list[1].params or {})[k]
    for i = 2, #list do
      local v = M.param(list[i], k)
      local p = (list[i].params or {})[k]
      if not (M.same(v, v1) and M.same(p, p1)) then out[#out + 1] = k; break end
    end
  end
  return out
end

--- values.canonical(v) -> a text for v under which values that values.same calls equal are equal
function M.canonical(v)
  local n = runs.number(v)
  if n and math.type(n) ~= "integer" and n == math.floor(n) and math.abs(n) < 2^53 then n = math.tointeger(n) end
  if n then return require("ember.util").number_text(n) end
  return v
end

local function has_column(run, c, in_steps)
  for _, col in ipairs((in_steps and run.step_columns or run.columns) or {}) do
    if col == c then return true end
  end
  return false
end

--- values.experiment(run) -> the experiment a run belongs to: the sweep's name for a run of `ember sweep`
-- (its folder <sweep>/<run name>/<id> sits in a folder with sweep.tsv), else the run's name
function M.experiment(run)
  if run.dir then
    local sweep = runs.dirname(runs.dirname(run.dir))
    if sweep ~= "." and require("lfs").attributes(runs.join(sweep, "sweep.tsv"), "mode") == "file" then
      return runs.basename(sweep)
    end
  end
  return run.name
end

--- values.mode(run, metric) -> "min" or "max": the recorded mode for the monitored metric, else "max"
-- for accuracy-like names, else "min"
function M.mode(run, metric)
  local meta = run.meta or {}
  if metric == meta.monitor and (meta.mode == "min" or meta.mode == "max") then return meta.mode end
  for _, word in ipairs(MAX_METRICS) do
    if metric:find(word, 1, true) then return "max" end
  end
  return "min"
end

--- values.summary(run, metric) -> best and last logged value of metric (numbers; best ignores NaN), from
-- metrics.tsv, or from steps.tsv for a metric only that file has; nil when never logged
function M.summary(run, metric)
  local rows = run.rows or {}
  if not has_column(run, metric) and has_column(run, metric, true) then rows = run.steps end
  local mode = M.mode(run, metric)
  local best, last
  for _, row in ipairs(rows) do
    local v = row[metric]
    if type(v) == "number" then
      last = v
      if v == v and (best == nil or (mode == "min" and v < best) or (mode == "max" and v > best)) then best = v end
    end
  end
  return best, last
end

--- values.main_metric(run) -> the run's main metric: the monitored one, else valid_loss, else train_loss,
-- else loss, else the first column that is not epoch, step, time or lr; nil when none
function M.main_metric(run)
  local m = (run.meta or {}).monitor
  if m and has_column(run, m) then return m end
  for _, c in ipairs{"valid_loss", "train_loss", "loss"} do
    if has_column(run, c) then return c end
  end
  for _, c in ipairs(run.columns or {}) do
    if not IGNORED_COLUMNS[c] then return c end
  end
  return nil
end

--- values.last_epoch(run) -> the last epoch logged (the number of rows when no epoch column)
function M.last_epoch(run)
  local epochs
  for _, row in ipairs(run.rows or {}) do
    if type(row.epoch) == "number" then epochs = row.epoch end
  end
  return epochs or #(run.rows or {})
end

local function parse_time(s)
  if type(s) ~= "string" then return nil end
  local y, mo, d, h, mi, se = s:match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)")
  if not y then return nil end
  return os.time{year = tonumber(y), month = tonumber(mo), day = tonumber(d), hour = tonumber(h),
                 min = tonumber(mi), sec = tonumber(se)}
end

--- values.duration(run [, now]) -> seconds from start_time to end_time (to now while running), or nil
function M.duration(run, now)
  local meta = run.meta or {}
  local t0, t1 = parse_time(meta.start_time), parse_time(meta.end_time)
  if not t1 and meta.status == "running" then t1 = now or os.time() end
  return t0 and t1 and math.max(0, t1 - t0) or nil
end

local BUILTIN = {
  name = function(run) return run.name end,
  id = function(run) return run.id end,
  dir = function(run) return run.dir end,
  metric = function(run) return M.main_metric(run) end,
  best = function(run)
    local m = M.main_metric(run)
    return m and (M.summary(run, m))
  end,
  last = function(run)
    local m = M.main_metric(run)
    return m and select(2, M.summary(run, m))
  end,
  epoch = function(run) return M.last_epoch(run) end,
  duration = function(run) return M.duration(run) end,
}
M.BUILTIN = BUILTIN

--- values.get(run, key) -> the run's value for key (see the module comment: a number for metric
-- summaries, epoch and duration, else the text written), and true when it is a resolved param value;
-- nil when the run has no such value
function M.get(run, key)
  local summary, metric = key:match("^(%a+)%.(.+)$")
  if summary == "best" or summary == "last" then
    local best, last = M.summary(run, metric)
    if summary == "best" then return best end
    return last
  elseif summary == "param" then
    return M.param(run, metric)
  elseif summary == "meta" then
    return (run.meta or {})[metric]
  end
  if BUILTIN[key] then return BUILTIN[key](run) end
  local v, resolved = M.param(run, key)
  if v ~= nil then return v, resolved end
  return (run.meta or {})[key]
end

--- values.known(list, key) -> true when key names a value of at least one run of list
function M.known(list, key)
  for _, run in ipairs(list) do
    if M.get(run, key) ~= nil then return true end
  end
  return false
end

--- values.describe_keys(list) -> "params: a, b; meta: c, d; metrics: best.M or last.M for M in e, f":
-- the keys the runs of list have, for messages
function M.describe_keys(list)
  local meta, metrics, seen = {}, {}, {}
  for _, run in ipairs(list) do
    for _, k in ipairs(run.meta_keys or {}) do
      if not seen["m" .. k] then seen["m" .. k] = true; meta[#meta + 1] = k end
    end
    for _, cols in ipairs{run.columns or {}, run.step_columns or {}} do
      for _, c in ipairs(cols) do
        if not seen["c" .. c] then seen["c" .. c] = true; metrics[#metrics + 1] = c end
      end
    end
  end
  local params = M.param_keys(list)
  local parts = {}
  if #params > 0 then parts[#parts + 1] = "params: " .. table.concat(params, ", ") end
  if #meta > 0 then parts[#parts + 1] = "meta: " .. table.concat(meta, ", ") end
  if #metrics > 0 then parts[#parts + 1] = "best.M or last.M for M in " .. table.concat(metrics, ", ") end
  if #parts == 0 then return "the runs have no params, meta or metrics" end
  return table.concat(parts, "; ")
end

--- values.compare(a, b) -> -1, 0 or 1 ordering two values: as numbers when both are numbers, else as
-- text; nil when either is nil or NaN
function M.compare(a, b)
  if a == nil or b == nil then return nil end
  local x, y = runs.number(a), runs.number(b)
  if not (x and y) then x, y = tostring(a), tostring(b) end
  if x ~= x or y ~= y then return nil end
  if x < y then return -1 elseif x > y then return 1 end
  return 0
end

return M
