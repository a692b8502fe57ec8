-- ember.plot.figure: from runs and the options of ember.plot to a figure: its groups of runs, their
-- labels, one panel per metric with its curves and marks. The figure is a plain table that
-- ember.plot.gnuplot draws:
--   {term, title, xlabel, log_y, width, height,
--    panels = {{ylabel, curves = {{label, lt, points | band, smoothed}}, best = {{x, y}}, stop = {{x, y}}}}}
local runs = require "ember.runs"
local E = require "ember.error"
local data = require "ember.plot.data"
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
  if o.out ~= nil and (type(o.out) ~= "string" or o.out == "") then
    fail(fname, "out must be a file name (got %s)", tostring(o.out))
  end
  if o.title ~= nil and o.title ~= false and type(o.title) ~= "string" then
    fail(fname, "title must be a string (got %s)", type(o.title))
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

-- Legend labels: the params that differ between the runs (and the name when names differ);
-- runs that would share a label get their id added.
local function run_labels(list)
  local diff = runs.differing_params(list)
  local names_differ = false
  for i = 2, #list do if list[i].name ~= list[1].name then names_differ = true end end
  local labels, count = {}, {}
  for i, r in ipairs(list) do
    local parts = {}
    if names_differ then parts[#parts + 1] = r.name or "?" end
    for _, k in ipairs(diff) do parts[#parts + 1] = k .. "=" .. ((r.params or {})[k] or "?") end
    local s = table.concat(parts, " ")
    if s == "" then s = #list == 1 and (r.name or "run") or (r.id or tostring(i)) end
    labels[i] = s
    count[s] = (count[s] or 0) + 1
  end
  for i, r in ipairs(list) do
    if count[labels[i]] > 1 and r.id and labels[i] ~= r.id then labels[i] = labels[i] .. " " .. r.id end
  end
  return labels
end

local function sort_values(values)
  local numeric = true
  for _, v in ipairs(values) do if not tonumber(v) then numeric = false end end
  table.sort(values, function(a, b)
    if numeric then return tonumber(a) < tonumber(b) end
    return a < b
  end)
end

-- The groups of runs drawn as one curve each: {label, runs}; one per run, or one per value of by.
local function groups_of(list, by)
  if by == nil then
    local groups, labels = {}, run_labels(list)
    for i, r in ipairs(list) do groups[i] = {label = labels[i], runs = {r}} end
    return groups
  end
  if type(by) ~= "string" or by == "" then fail("plot", "by must be a param name (got %s)", tostring(by)) end
  local members, values, any = {}, {}, false
  for _, r in ipairs(list) do
    local v = (r.params or {})[by]
    if v ~= nil then any = true else v = "?" end
    if not members[v] then members[v] = {}; values[#values + 1] = v end
    table.insert(members[v], r)
  end
  if not any then
    local keys = runs.differing_params(list)
    fail("plot", "no run has a param '%s'%s", by,
      #keys > 0 and (" (params that differ: " .. table.concat(keys, ", ") .. ")") or "")
  end
  sort_values(values)
  local groups = {}
  for _, v in ipairs(values) do
    local n = #members[v]
    groups[#groups + 1] = {label = by .. "=" .. v .. (n > 1 and (" (" .. n .. " runs)") or ""), runs = members[v]}
  end
  return groups
end

-- One group's curve in the panel of metric m.
local function group_curve(g, c, x, m, smooth)
  local curve = {label = g.label, lt = c, points = {}}
  if #g.runs == 1 then
    curve.points, curve.smoothed = data.smooth(data.series(g.runs[1], x, m), smooth)
    return curve
  end
  local all = {}
  for _, r in ipairs(g.runs) do
    local pts = data.smooth(data.series(r, x, m), smooth)
    if #pts > 0 then all[#all + 1] = pts end
  end
  if #all == 1 then curve.points = all[1]
  elseif #all > 1 then curve.band = data.aggregate(all, x == "time" or x == "row") end
  return curve
end

-- The panel of metric m: a curve per group, and the best-epoch and stop marks of single runs.
local function panel_of(list, groups, m, x, o)
  local panel = {ylabel = m, curves = {}, best = {}, stop = {}}
  local drawn = false
  for c, g in ipairs(groups) do
    local curve = group_curve(g, c, x, m, o.smooth)
    if #curve.points > 0 or (curve.band and #curve.band > 0) then drawn = true end
    panel.curves[#panel.curves + 1] = curve
    if o.by == nil and o.marks ~= false then
      local r = g.runs[1]
      local best, stop = runs.number((r.meta or {}).best_epoch), runs.number((r.meta or {}).stop_epoch)
      local bp = best and data.point_at_epoch(r, best, x, m)
      local sp = stop and data.point_at_epoch(r, stop, x, m)
      if bp then panel.best[#panel.best + 1] = bp end
      if sp then panel.stop[#panel.stop + 1] = sp end
    end
  end
  if not drawn then
    fail("plot", "no values for metric '%s' in the %d run(s) given (columns: %s)", m, #list,
      table.concat(list[1].columns or {}, ", "))
  end
  return panel
end

--- figure.metrics(o, list) -> the checked list of metrics to draw (o.metric, else the defaults)
function M.metrics(o, list)
  local metrics = o.metric
  if type(metrics) == "string" then metrics = {metrics} end
  if metrics == nil then metrics = data.default_metrics(list) end
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
      if not data.has_column(r, x) then
        fail("plot", "run '%s' has no column '%s' (columns: %s)", r.dir or r.name or "?", x,
          table.concat(r.columns or {}, ", "))
      end
    end
  end
  return x
end

--- figure.build(o, list, term, metrics, x) -> the figure of the runs of list (see the module comment)
function M.build(o, list, term, metrics, x)
  local fig = {term = term, xlabel = x == "row" and "row" or x, log_y = o.log_y and true or false,
               width = o.width, height = o.height, panels = {}}
  if o.title == nil then
    local same = true
    for i = 2, #list do if list[i].name ~= list[1].name then same = false end end
    fig.title = same and list[1].name or nil
  elseif o.title ~= false then
    fig.title = o.title
  end
  local groups = groups_of(list, o.by)
  for _, m in ipairs(metrics) do fig.panels[#fig.panels + 1] = panel_of(list, groups, m, x, o) end
  return fig
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
