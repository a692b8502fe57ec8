-- ember.plot.figure: from runs and the options of ember.plot to a figure: one panel per metric, with a
-- curve per group of runs (ember.plot.groups), their best-epoch and stop marks, and one legend. The
-- figure is a plain table that ember.plot.gnuplot draws:
--   {term, title, xlabel, width, height,
--    legend = {title, entries = {{label, colour}}, best = bool, stop = bool},
--    panels = {{ylabel, log, curves = {{colour, points | band, smoothed}},
--               best = {{x, y, colour}}, stop = {{x, y, colour}}}}}
-- colour is 1, 2, ...: the renderer's palette, the same number for the same run in every figure.
local util = require "ember.util"
local runs = require "ember.runs"
local E = require "ember.error"
local data = require "ember.plot.data"
local groups_mod = require "ember.plot.groups"
local values = require "ember.runs.values"
local gnuplot = require "ember.plot.gnuplot"

local fail = E.module_fail("plot")

local M = {}

--- figure.check_opts(o, fname) raises on options of the wrong type or out of range
function M.check_opts(o, fname)
  if type(o) ~= "table" then fail(fname, "options must be a table (got %s)", type(o)) end
  if o.term ~= nil and not gnuplot.TERMS[o.term] then
    fail(fname, "term must be png, svg, pdf or dumb (got %s)", tostring(o.term))
  end
  if o.smooth ~= nil and (math.type(o.smooth) ~= "integer" or o.smooth < 1) then
    fail(fname, "smooth must be a positive integer (got %s)", tostring(o.smooth))
  end
  for _, k in ipairs{"width", "height"} do
    local v = o[k]
    if v ~= nil and (type(v) ~= "number" or v < 10 or v > 20000) then
      fail(fname, "%s must be a number from 10 to 20000 (got %s)", k, tostring(v))
    end
  end
  if o.out ~= nil and (type(o.out) ~= "string" or o.out == "" or util.has_nul(o.out)) then
    fail(fname, "out must be a file name without a NUL byte (got %s)", util.show(o.out))
  end
  if o.title ~= nil and o.title ~= false and type(o.title) ~= "string" then
    fail(fname, "title must be a string (got %s)", type(o.title))
  end
  if o.band ~= nil and not data.BANDS[o.band] then
    fail(fname, "band must be minmax, std or ci95 (got %s)", tostring(o.band))
  end
  local log_y = o.log_y
  if type(log_y) == "table" then
    for i, v in ipairs(log_y) do
      if v ~= true and (type(v) ~= "string" or v == "") then
        fail(fname, "log_y[%d] must be a metric name or true (got %s)", i, tostring(v))
      end
    end
  elseif log_y ~= nil and type(log_y) ~= "boolean" and type(log_y) ~= "string" then
    fail(fname, "log_y must be true, a metric name or a list of them (got %s)", type(log_y))
  end
end

--- figure.term_of(o) -> o.term, else the terminal of out's extension, else nil
function M.term_of(o)
  if o.term then return o.term end
  local ext = o.out and o.out:match("%.(%a+)$")
  return ext and gnuplot.EXT_TERM[ext:lower()] or nil
end

--- figure.safe_name(s) -> a file name made from metric and param names: letters, digits and _ . + -
-- only, never a leading '.'
function M.safe_name(s)
  local n = s:gsub("[^%w_.+-]", "_"):gsub("^%.", "_")
  if n == "" then n = "_" end
  return n
end

-- metrics where more is better, or fractions: plain log_y leaves their panels linear
local SCORES = {"acc", "f1", "precision", "recall", "auc", "iou", "dice", "r2", "confidence"}

local function is_score(metric)
  for _, w in ipairs(SCORES) do if metric:find(w, 1, true) then return true end end
  return false
end

local function is_lr(metric)
  return metric == "lr" or metric:find("^lr[_.]") ~= nil or metric:find("[_.]lr$") ~= nil
end

-- metric -> "named" (log_y names it: always log), "auto" (plain log_y, or an lr panel: log when its
-- values allow) or nil (linear). Raises when log_y names a metric that is not drawn.
local function log_panels(o, metrics)
  local out, drawn = {}, {}
  for _, m in ipairs(metrics) do
    drawn[m] = true
    if is_lr(m) then out[m] = "auto" end
  end
  local log_y = o.log_y
  if log_y == nil or log_y == false then return out end
  if type(log_y) ~= "table" then log_y = {log_y} end
  for _, v in ipairs(log_y) do
    if v == true then
      for _, m in ipairs(metrics) do
        if not is_score(m) and out[m] == nil then out[m] = "auto" end
      end
    else
      if not drawn[v] then
        fail("plot", "log_y names '%s', which is not a panel (panels: %s)", v, table.concat(metrics, ", "))
      end
      out[v] = "named"
    end
  end
  return out
end

-- One group's curve in the panel of metric m: its single run's points, or the mean and band of its runs.
local function group_curve(g, x, m, o)
  local curve = {colour = g.colour, points = {}}
  if #g.runs == 1 then
    curve.points, curve.smoothed = data.smooth(data.series(g.runs[1], x, m), o.smooth)
    return curve
  end
  local all = {}
  for _, r in ipairs(g.runs) do
    local pts = data.smooth(data.series(r, x, m), o.smooth)
    if #pts > 0 then all[#all + 1] = pts end
  end
  if #all == 1 then curve.points = all[1]
  elseif #all > 1 then curve.band = data.aggregate(all, x == "time" or x == "row", o.band) end
  return curve
end

-- the best-epoch and stop marks of every run of g in the panel of metric m, in the group's colour
local function group_marks(panel, g, x, m)
  for _, r in ipairs(g.runs) do
    local meta = r.meta or {}
    for _, kind in ipairs{"best", "stop"} do
      local epoch = runs.number(meta[kind .. "_epoch"])
      local p = epoch and data.point_at_epoch(r, epoch, x, m)
      if p then panel[kind][#panel[kind] + 1] = {p[1], p[2], g.colour} end
    end
  end
end

local function all_positive(panel)
  for _, c in ipairs(panel.curves) do
    for _, p in ipairs(c.points) do if p[2] <= 0 or (p[3] and p[3] <= 0) then return false end end
    for _, b in ipairs(c.band or {}) do if b[2] <= 0 then return false end end
  end
  return true
end

-- On a log axis: points at or below zero cannot be drawn (they are left out) and a band's low edge
-- is kept above zero (at the panel's smallest positive value).
local function clip_for_log(panel)
  local floor = math.huge
  for _, c in ipairs(panel.curves) do
    for _, p in ipairs(c.points) do if p[2] > 0 then floor = math.min(floor, p[2]) end end
    for _, b in ipairs(c.band or {}) do
      if b[3] > 0 then floor = math.min(floor, b[3]) elseif b[2] > 0 then floor = math.min(floor, b[2]) end
    end
  end
  for _, c in ipairs(panel.curves) do
    local pts = {}
    for _, p in ipairs(c.points) do
      if p[2] > 0 and (p[3] == nil or p[3] > 0) then pts[#pts + 1] = p end
    end
    c.points = pts
    if c.band then
      local band = {}
      for _, b in ipairs(c.band) do
        if b[2] > 0 then band[#band + 1] = {b[1], b[2], math.max(b[3], floor), b[4], b[5]} end
      end
      c.band = band
    end
  end
  for _, kind in ipairs{"best", "stop"} do
    local kept = {}
    for _, p in ipairs(panel[kind]) do if p[2] > 0 then kept[#kept + 1] = p end end
    panel[kind] = kept
  end
end

local function has_data(curve)
  return #curve.points > 0 or (curve.band ~= nil and #curve.band > 0)
end

-- The panel of metric m: a curve per group and the marks of their runs; drawn[g] set for groups that
-- have values here.
local function panel_of(list, groups, m, x, o, log, drawn)
  local panel = {ylabel = m, curves = {}, best = {}, stop = {}}
  for _, g in ipairs(groups) do
    local curve = group_curve(g, x, m, o)
    if has_data(curve) then
      drawn[g] = true
      panel.curves[#panel.curves + 1] = curve
      if o.marks ~= false then group_marks(panel, g, x, m) end
    end
  end
  if #panel.curves == 0 then
    fail("plot", "no values for metric '%s' in the %d run(s) given (columns: %s)", m, #list,
      table.concat(list[1].columns or {}, ", "))
  end
  panel.log = log == "named" or (log == "auto" and all_positive(panel))
  if log == "auto" and not panel.log and is_lr(m) then
    -- an lr schedule that starts at 0 still reads best on a log axis
    for _, c in ipairs(panel.curves) do
      for _, p in ipairs(c.points) do if p[2] > 0 then panel.log = true end end
    end
  end
  if panel.log then clip_for_log(panel) end
  return panel
end

--- figure.metrics(o, list, x) -> the checked list of metrics to draw (o.metric, else the defaults)
function M.metrics(o, list, x)
  local metrics = o.metric
  if type(metrics) == "string" then metrics = {metrics} end
  if metrics == nil then metrics = data.default_metrics(list, x) end
  if type(metrics) ~= "table" or #metrics == 0 then
    fail("plot", "no metric to draw (give metric = NAME; the runs have no numeric columns)")
  end
  for i, m in ipairs(metrics) do
    if type(m) ~= "string" or m == "" then
      fail("plot", "metric[%d] must be a column name (got %s)", i, tostring(m))
    end
  end
  return metrics
end

--- figure.x_of(o, list) -> the checked x column (o.x, else the default)
function M.x_of(o, list)
  local x = o.x or data.default_x(list)
  if o.x ~= nil then
    if type(x) ~= "string" or x == "" then fail("plot", "x must be a column name (got %s)", tostring(x)) end
    for _, r in ipairs(list) do
      if not data.has_column(r, x, x) then
        fail("plot", "run '%s' has no column '%s' (columns: %s)", r.dir or r.name or "?", x,
          table.concat(r.columns or {}, ", "))
      end
    end
  end
  return x
end

local BAND_WORDS = {
  minmax = "mean of the runs, band: min to max",
  std = "mean of the runs, band: -/+ 1 std",
  ci95 = "mean of the runs, band: 95% CI",
}

-- the legend: an entry per group drawn, which marks appear, and what a band means when one is drawn
local function legend_of(fig, groups, drawn, band)
  local legend = {entries = {}}
  local banded = false
  for _, g in ipairs(groups) do
    if drawn[g] then
      legend.entries[#legend.entries + 1] = {label = g.label, colour = g.colour}
      if #g.runs > 1 then banded = true end
    end
  end
  for _, p in ipairs(fig.panels) do
    if #p.best > 0 then legend.best = true end
    if #p.stop > 0 then legend.stop = true end
  end
  if banded then legend.title = BAND_WORDS[band or "minmax"] end
  return legend
end

--- figure.build(o, list, term, metrics, x [, universe]) -> the figure of the runs of list (see the
-- module comment), and notes for the user (a list of sentences). universe: the runs whose order fixes
-- the colours (default list).
function M.build(o, list, term, metrics, x, universe)
  local fig = {term = term, xlabel = x == "row" and "row" or x, width = o.width, height = o.height, panels = {}}
  if o.title == nil then
    -- the experiment's name when every run belongs to it
    local same = true
    for i = 2, #list do if list[i].name ~= list[1].name then same = false end end
    fig.title = same and list[1].name or (not groups_mod.experiments_differ(list) and values.experiment(list[1]) or nil)
  elseif o.title ~= false then
    fig.title = o.title
  end
  local groups, notes
  if o.by ~= nil then groups, notes = groups_mod.by(list, o.by)
  else groups, notes = groups_mod.per_run(list), {} end
  groups_mod.colour(groups, universe or list, o.by)
  local logs = log_panels(o, metrics)
  local drawn = {}
  for _, m in ipairs(metrics) do
    fig.panels[#fig.panels + 1] = panel_of(list, groups, m, x, o, logs[m], drawn)
  end
  fig.legend = legend_of(fig, groups, drawn, o.band)
  return fig, notes
end

--- figure.default_out(o, list, metrics, term) -> <first path or run>/plots/<metrics>[_by_<by>].<ext>
function M.default_out(o, list, metrics, term)
  local first = type(o.runs) == "string" and o.runs or (type(o.runs) == "table" and type(o.runs[1]) == "string"
    and o.runs[1]) or list[1].dir
  if not first then fail("plot", "out is required when the runs have no directory") end
  first = first:gsub("/+$", "")
  if first == "" then first = "/" end
  local names = {}
  for i, m in ipairs(metrics) do names[i] = m end
  return runs.join(runs.join(first, "plots"), M.safe_name(table.concat(names, "+")
    .. (o.by and ("_by_" .. o.by) or "")) .. gnuplot.TERMS[term].ext)
end

return M
