-- ember.plot.data: the numbers of a figure: runs loaded from paths, their metric columns, the (x, y)
-- series of a metric, smoothing, and the mean and band over the runs of a group.
local runs = require "ember.runs"
local E = require "ember.error"

local fail = E.module_fail("plot")

local M = {}

M.X_COLUMNS = {epoch = true, step = true, time = true}

--- data.is_num(v) -> true for a finite number
function M.is_num(v) return type(v) == "number" and v == v and v > -math.huge and v < math.huge end
local is_num = M.is_num

--- data.load_runs(spec, fname) -> a list of tables from runs.read. spec: a path (a run directory or a
-- folder of runs), a table already read (it has rows), an object with a dir field, or a list of these.
function M.load_runs(spec, fname)
  if type(spec) == "string" or (type(spec) == "table" and (spec.rows or spec.dir)) then spec = {spec} end
  if type(spec) ~= "table" or #spec == 0 then
    fail(fname, "runs must be a path or a list of paths or runs (got %s)", type(spec))
  end
  local list = {}
  for i, r in ipairs(spec) do
    if type(r) == "string" then
      local found = runs.find(r)
      if #found == 0 then fail(fname, "no runs (folders with metrics.tsv) below '%s'", r) end
      for _, d in ipairs(found) do list[#list + 1] = runs.read(d) end
    elseif type(r) == "table" and r.rows then
      list[#list + 1] = r
    elseif type(r) == "table" and type(r.dir) == "string" then
      list[#list + 1] = runs.read(r.dir)
    else
      fail(fname, "runs[%d] must be a path or a run (got %s)", i, type(r))
    end
  end
  return list
end

-- the rows of a run that hold col: metrics.tsv's, or steps.tsv's for a column only that file has
-- when x is step (per-batch values are drawn against steps only)
local function rows_of(run, col, x)
  if x == "step" and run.steps and not M.has_values(run, col) then
    for _, c in ipairs(run.step_columns or {}) do
      if c == col then return run.steps end
    end
  end
  return run.rows
end

--- data.universe(spec, list) -> the runs whose order fixes the colours: every run below the paths of
-- spec (the folder above a run directory given alone), read without metrics, before any filter; the
-- runs of list that spec did not name by path come after them
function M.universe(spec, list)
  if type(spec) == "string" or (type(spec) == "table" and (spec.rows or spec.dir)) then spec = {spec} end
  local out, seen = {}, {}
  local function add(r)
    if r.dir and seen[r.dir] then return end
    if r.dir then seen[r.dir] = true end
    out[#out + 1] = r
  end
  for _, p in ipairs(spec) do
    if type(p) == "string" then
      local folder = runs.is_run(p) and runs.dirname((p:gsub("/+$", ""))) or p
      for _, d in ipairs(runs.find(folder)) do add(runs.read_info(d)) end
    end
  end
  for _, r in ipairs(list) do add(r) end
  return out
end

--- data.has_column(run, col [, x]) -> true when the run logged col (in its header or any row; with x
-- "step", in steps.tsv too)
function M.has_column(run, col, x)
  for _, c in ipairs(run.columns or {}) do if c == col then return true end end
  for _, row in ipairs(run.rows) do if row[col] ~= nil then return true end end
  if x == "step" then
    for _, c in ipairs(run.step_columns or {}) do if c == col then return true end end
  end
  return false
end

--- data.has_values(run, col [, x]) -> true when some row of the run holds a finite number in col (with
-- x "step", a row of steps.tsv too)
function M.has_values(run, col, x)
  for _, row in ipairs(run.rows) do if is_num(row[col]) then return true end end
  if x == "step" and run.steps then
    for _, row in ipairs(run.steps) do if is_num(row[col]) then return true end end
  end
  return false
end

--- data.metric_columns(run) -> the columns of a run that hold numbers, the x candidates left out
function M.metric_columns(run)
  local out = {}
  for _, c in ipairs(run.columns or {}) do
    if not M.X_COLUMNS[c] and M.has_values(run, c) then out[#out + 1] = c end
  end
  return out
end

--- data.default_metrics(list [, x]) -> batch_loss when x is step and the runs logged steps.tsv, else
-- train_loss and valid_loss, else loss, else the first metric column
function M.default_metrics(list, x)
  local any = function(col, in_x)
    for _, r in ipairs(list) do if M.has_values(r, col, in_x) then return true end end
    return false
  end
  if x == "step" and any("batch_loss", "step") then return {"batch_loss"} end
  local out = {}
  for _, m in ipairs{"train_loss", "valid_loss"} do if any(m) then out[#out + 1] = m end end
  if #out == 0 and any("loss") then out[1] = "loss" end
  if #out == 0 then
    for _, r in ipairs(list) do
      local cols = M.metric_columns(r)
      if cols[1] then return {cols[1]} end
    end
  end
  return out
end

--- data.default_x(list) -> epoch, else step, else time (the first that every run logged), else "row"
function M.default_x(list)
  for _, x in ipairs{"epoch", "step", "time"} do
    local all = true
    for _, r in ipairs(list) do if not M.has_column(r, x) then all = false; break end end
    if all then return x end
  end
  return "row"
end

--- data.series(run, x, metric) -> the (x, y) points of a metric in one run, in logged order; rows where
-- either is missing or not finite are skipped. x "row" is the row number. With x "step", a metric that
-- only steps.tsv holds (batch_loss) comes from there.
function M.series(run, x, metric)
  local pts = {}
  for i, row in ipairs(rows_of(run, metric, x)) do
    local xv = x == "row" and i or row[x]
    local yv = row[metric]
    if is_num(xv) and is_num(yv) then pts[#pts + 1] = {xv, yv} end
  end
  return pts
end

--- data.smooth(pts, n) -> trailing moving average over n points as {x, smoothed, raw} rows, and true;
-- pts itself and false when n is nil or 1
function M.smooth(pts, n)
  if not n or n <= 1 then return pts, false end
  local out, sum = {}, 0
  for i, p in ipairs(pts) do
    sum = sum + p[2]
    if i > n then sum = sum - pts[i - n][2] end
    out[i] = {p[1], sum / math.min(i, n), p[2]}
  end
  return out, true
end

-- Student's t quantile t(0.975, df) for df = 1..30; above, the Cornish-Fisher expansion around 1.96
local T975 = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
  2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
  2.045, 2.042}

--- data.t975(df) -> the 97.5% quantile of Student's t with df degrees of freedom (two-sided 95%)
function M.t975(df)
  if T975[df] then return T975[df] end
  local z = 1.959964
  return z + (z ^ 3 + z) / (4 * df) + (5 * z ^ 5 + 16 * z ^ 3 + 3 * z) / (96 * df ^ 2)
end

M.BANDS = {minmax = true, std = true, ci95 = true}

-- the band around the mean of a's n values (Welford's running mean and sum of squared deviations m2)
local function band_of(kind, a)
  local n, mean = a.n, a.mean
  if kind == "minmax" then return mean, a.min, a.max end
  if n < 2 then return mean, mean, mean end
  local half = math.sqrt(a.m2 / (n - 1))   -- the sample standard deviation
  if kind == "ci95" then half = M.t975(n - 1) * half / math.sqrt(n) end
  return mean, mean - half, mean + half
end

--- data.aggregate(list_of_pts, by_position [, band]) -> {x, mean, low, high, n} rows over the runs'
-- points, matched by x value, or by position when by_position (x is time: each run has its own). band:
-- "minmax" (default: low and high are the min and max), "std" (mean -/+ the sample standard deviation)
-- or "ci95" (mean -/+ t(0.975, n-1) * std / sqrt(n): the 95% confidence interval of the mean); where
-- only one run has a value, std and ci95 have no width.
function M.aggregate(list_of_pts, by_position, band)
  band = band or "minmax"
  local acc, order = {}, {}
  for _, pts in ipairs(list_of_pts) do
    for i, p in ipairs(pts) do
      local key = by_position and i or p[1]
      local a = acc[key]
      if not a then
        a = {xs = 0, n = 0, mean = 0, m2 = 0, min = math.huge, max = -math.huge}
        acc[key] = a
        order[#order + 1] = key
      end
      local v = p[2]
      a.xs, a.n = a.xs + p[1], a.n + 1
      local d = v - a.mean
      a.mean = a.mean + d / a.n
      a.m2 = a.m2 + d * (v - a.mean)
      a.min, a.max = math.min(a.min, v), math.max(a.max, v)
    end
  end
  local out = {}
  for _, key in ipairs(order) do
    local a = acc[key]
    local mean, lo, hi = band_of(band, a)
    out[#out + 1] = {a.xs / a.n, mean, lo, hi, a.n}
  end
  table.sort(out, function(a, b) return a[1] < b[1] end)
  return out
end

--- data.point_at_epoch(run, epoch, x, metric) -> {x, y} of the value of metric logged at epoch (the
-- last such row), or nil
function M.point_at_epoch(run, epoch, x, metric)
  local found
  for i, row in ipairs(rows_of(run, metric, x)) do
    local xv = x == "row" and i or row[x]
    if row.epoch == epoch and is_num(xv) and is_num(row[metric]) then found = {xv, row[metric]} end
  end
  return found
end

return M
