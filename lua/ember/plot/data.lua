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

--- data.has_column(run, col) -> true when the run logged col (in its header or any row)
function M.has_column(run, col)
  for _, c in ipairs(run.columns or {}) do if c == col then return true end end
  for _, row in ipairs(run.rows) do if row[col] ~= nil then return true end end
  return false
end

--- data.has_values(run, col) -> true when some row of the run holds a finite number in col
function M.has_values(run, col)
  for _, row in ipairs(run.rows) do if is_num(row[col]) then return true end end
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

--- data.default_metrics(list) -> train_loss and valid_loss, else loss, else the first metric column
function M.default_metrics(list)
  local any = function(col)
    for _, r in ipairs(list) do if M.has_values(r, col) then return true end end
    return false
  end
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
-- either is missing or not finite are skipped. x "row" is the row number.
function M.series(run, x, metric)
  local pts = {}
  for i, row in ipairs(run.rows) do
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

--- data.aggregate(list_of_pts, by_position) -> {x, mean, min, max} rows over the runs' points, matched
-- by x value, or by position when by_position (x is time: each run has its own)
function M.aggregate(list_of_pts, by_position)
  local acc, order = {}, {}
  for _, pts in ipairs(list_of_pts) do
    for i, p in ipairs(pts) do
      local key = by_position and i or p[1]
      local a = acc[key]
      if not a then a = {xs = 0, n = 0, sum = 0, min = math.huge, max = -math.huge}; acc[key] = a; order[#order + 1] = key end
      a.xs, a.n, a.sum = a.xs + p[1], a.n + 1, a.sum + p[2]
      a.min, a.max = math.min(a.min, p[2]), math.max(a.max, p[2])
    end
  end
  local out = {}
  for _, key in ipairs(order) do
    local a = acc[key]
    out[#out + 1] = {a.xs / a.n, a.sum / a.n, a.min, a.max}
  end
  table.sort(out, function(a, b) return a[1] < b[1] end)
  return out
end

--- data.point_at_epoch(run, epoch, x, metric) -> {x, y} of the value of metric logged at epoch (the
-- last such row), or nil
function M.point_at_epoch(run, epoch, x, metric)
  local found
  for i, row in ipairs(run.rows) do
    local xv = x == "row" and i or row[x]
    if row.epoch == epoch and is_num(xv) and is_num(row[metric]) then found = {xv, row[metric]} end
  end
  return found
end

return M
