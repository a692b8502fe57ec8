-- ember.plot.batch: `ember plot --each` (ember.plot.each): a figure per metric for every run and one per
-- experiment, skipping figures newer than the metrics they draw.
local lfs = require "lfs"
local runs = require "ember.runs"
local E = require "ember.error"
local data = require "ember.plot.data"
local figure = require "ember.plot.figure"
local gnuplot = require "ember.plot.gnuplot"
local filter = require "ember.runs.filter"

local fail = E.module_fail("plot")

local M = {}

local function up_to_date(fig, deps)
  local t = lfs.attributes(fig, "modification")
  if not t then return false end
  for _, d in ipairs(deps) do
    local td = lfs.attributes(d, "modification")
    if not td or td >= t then return false end
  end
  return true
end

--- batch.each(o, plot) -> {written = {paths...}, skipped = n}; plot is ember.plot.plot (see plot.each)
function M.each(o, plot)
  figure.check_opts(o, "plot.each")
  local term = o.term or "png"
  local list = {}
  for _, d in ipairs(runs.find(o.paths)) do list[#list + 1] = runs.read(d) end
  if filter.active(o) then list = filter.select(list, o, "ember.plot.each") end
  if #list == 0 then
    fail("plot.each", "no runs (folders with metrics.tsv%s) below %s", filter.active(o) and " that the filter keeps" or "",
      table.concat(type(o.paths) == "table" and o.paths or {tostring(o.paths)}, ", "))
  end
  local wanted = o.metric
  if type(wanted) == "string" then wanted = {wanted} end
  local result = {written = {}, skipped = 0}
  -- the log_y of a figure of one metric: the metric when log_y names it, true when log_y is plain
  local function log_for(metric)
    local plain = false
    for _, v in ipairs(type(o.log_y) == "table" and o.log_y or {o.log_y}) do
      if v == metric then return metric end
      if v == true then plain = true end
    end
    return plain or nil
  end
  local function draw(group, metric, out, deps)
    if not o.force and up_to_date(out, deps) then result.skipped = result.skipped + 1; return end
    plot{runs = group, metric = metric, x = o.x, term = term, out = out, log_y = log_for(metric),
         smooth = o.smooth, width = o.width, height = o.height, gnuplot = o.gnuplot}
    result.written[#result.written + 1] = out
  end
  local function metrics_of(group)
    local out, seen = {}, {}
    for _, r in ipairs(group) do
      for _, m in ipairs(wanted or data.metric_columns(r)) do
        if not seen[m] and data.has_values(r, m) then seen[m] = true; out[#out + 1] = m end
      end
    end
    return out
  end
  local ext = gnuplot.TERMS[term].ext
  local by_name, names = {}, {}
  for _, r in ipairs(list) do
    for _, m in ipairs(metrics_of({r})) do
      draw({r}, m, runs.join(runs.join(r.dir, "plots"), figure.safe_name(m) .. ext), {runs.join(r.dir, "metrics.tsv")})
    end
    local parent = runs.dirname(r.dir)
    if not by_name[parent] then by_name[parent] = {}; names[#names + 1] = parent end
    table.insert(by_name[parent], r)
  end
  for _, parent in ipairs(names) do
    local group = by_name[parent]
    if #group > 1 then
      local deps = {}
      for i, r in ipairs(group) do deps[i] = runs.join(r.dir, "metrics.tsv") end
      for _, m in ipairs(metrics_of(group)) do
        draw(group, m, runs.join(runs.join(parent, "plots"), figure.safe_name(m) .. ext), deps)
      end
    end
  end
  return result
end

return M
