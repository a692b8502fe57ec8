-- ember.plot: loss curves and any numbers drawn by gnuplot (`ember plot`, ember.plot{...}, ember.plot.series).
-- The folder, by concern:
--   data.lua     runs loaded from paths, their columns, (x, y) series, smoothing, means and bands
--   groups.lua   which runs share a curve (--by), their labels and their stable colours
--   figure.lua   from runs and options to a figure: panels, curves, marks, log axes, the legend
--   gnuplot.lua  the figure drawn by gnuplot, with the rules that keep user text out of its scripts
--   batch.lua    `ember plot --each`
--   command.lua  `ember plot`: its options and main
local E = require "ember.error"
local runs = require "ember.runs"
local data = require "ember.plot.data"
local figure = require "ember.plot.figure"
local gnuplot = require "ember.plot.gnuplot"
local command = require "ember.plot.command"
local filter = require "ember.runs.filter"

local fail = E.module_fail("plot")

local M = {}

M.spec = command.spec
M.main = command.main

--- plot.find_gnuplot([path]): the gnuplot program to run: path when given (it must exist), else
-- $EMBER_GNUPLOT, else `gnuplot` on $PATH. Returns the path, or nil and a message saying how to install it.
M.find_gnuplot = gnuplot.find

-- Draws fig to out, or to a temporary file removed afterwards when out is nil (dumb previews). Returns
-- what ember.plot returns: the path, or for dumb the text (and the path when out was given).
local function draw(fig, out, o, fname)
  local tmp
  if out == nil then
    tmp = gnuplot.temp_dir()
    out = runs.join(tmp, "plot.txt")
  end
  local ok, path, text = pcall(gnuplot.render, fig, out, o)
  if tmp then gnuplot.remove_dir(tmp, {"plot.txt", "plot.gp", "plot.dat"}) end
  if not ok then E.reraise_as(path, fname) end
  if fig.term == "dumb" then return text, (not tmp) and path or nil end
  return path
end

--- plot.plot{runs, metric, x, by, band, where, last, match, out, term, log_y, smooth, title, width,
-- height, marks, gnuplot, notes}: draw metrics of runs with gnuplot, one curve per run labelled by the
-- params that differ, one panel per metric, one legend.
--   runs    a path (run directory or folder of runs), a run table (runs.read) or a list of these
--   where, last, match  keep some of the runs (ember.runs.filter: where = "lr<=0.01" or a list,
--           last = N runs started last, match = a glob on run names)
--   metric  a column name or a list of them, one panel each (default train_loss and valid_loss,
--           else loss, else the first metric column; batch_loss with x = "step" and steps.tsv)
--   x       "epoch" | "step" | "time" | any column (default epoch, else step, else time, else row number);
--           with "step", a metric only steps.tsv has (batch_loss) comes from there
--   by      a param: one curve per value, the mean over its runs with a band; runs that differ in
--           another param than by and the seed get curves of their own (see ember.plot.groups)
--   band    "minmax" (default), "std" (mean -/+ std) or "ci95" (95% interval of the mean)
--   out     output file (default <first path or run>/plots/<metrics>[_by_<by>].<ext>; none for dumb)
--   term    "png" | "svg" | "pdf" | "dumb" (default from the extension of out, else png)
--   log_y   true (every panel but accuracy-like ones, when its values are positive), a metric name or
--           a list of them (those panels); lr panels are always logarithmic
--   smooth: moving average over N points (default none); title: text (default the experiment name
--   when all runs share one); width, height: pixels or characters; marks: true (each run's best epoch
--   and early-stopping point from meta.tsv, in its colour); gnuplot: the program (default from PATH);
--   notes: function(text) called with remarks for the user (which params split the groups)
-- A run's colour is its rank among the runs below the folders given (before any filter), so it is the
-- same in every figure of a folder. Returns the path of the figure; for term dumb, the text drawn and
-- the path when out was given.
function M.plot(o)
  figure.check_opts(o, "plot")
  local all = data.load_runs(o.runs, "plot")
  local list = all
  if filter.active(o) then
    list = filter.select(all, o, "ember.plot")
    if #list == 0 then fail("plot", "the filter keeps none of the %d run(s) found", #all) end
  end
  local term = figure.term_of(o) or "png"
  local x = figure.x_of(o, list)
  local metrics = figure.metrics(o, list, x)
  local fig, notes = figure.build(o, list, term, metrics, x, data.universe(o.runs, all))
  if type(o.notes) == "function" then
    for _, n in ipairs(notes) do o.notes(n) end
  end
  local out = o.out
  if out == nil and term ~= "dumb" then out = figure.default_out(o, list, metrics, term) end
  return draw(fig, out, o, "ember.plot")
end

-- The curves of plot.series: {name, y} from y, or ys as a map or a list.
local function series_curves(o)
  local curves = {}
  if o.y ~= nil then
    if type(o.y) ~= "table" then fail("plot.series", "y must be a list of numbers (got %s)", type(o.y)) end
    curves[1] = {name = o.ylabel or "y", y = o.y}
  elseif type(o.ys) == "table" and #o.ys > 0 then
    for i, c in ipairs(o.ys) do
      if type(c) ~= "table" or type(c.y) ~= "table" then
        fail("plot.series", "ys[%d] must be {name = ..., y = {...}}", i)
      end
      curves[#curves + 1] = {name = tostring(c.name or i), y = c.y}
    end
  elseif type(o.ys) == "table" then
    local names = {}
    for k in pairs(o.ys) do names[#names + 1] = tostring(k) end
    table.sort(names)
    for _, k in ipairs(names) do
      local v = o.ys[k]
      if v == nil then v = o.ys[tonumber(k)] end
      if type(v) ~= "table" then fail("plot.series", "ys.%s must be a list of numbers (got %s)", k, type(v)) end
      curves[#curves + 1] = {name = k, y = v}
    end
  end
  if #curves == 0 then fail("plot.series", "give y = {...} or ys = {name = {...}}") end
  if o.x ~= nil and type(o.x) ~= "table" then
    fail("plot.series", "x must be a list of numbers (got %s)", type(o.x))
  end
  return curves
end

--- plot.series{x, y | ys, out, term, title, xlabel, ylabel, log_y, width, height, gnuplot}: draw any
-- numbers. x: a list (default 1..n); y: a list, or ys: {name = list, ...} (one curve each, by name)
-- or a list of {name = N, y = list}. term defaults to the extension of out, else dumb when out is nil,
-- else png. Returns the path, or for dumb the text drawn (and the path when out was given).
function M.series(o)
  figure.check_opts(o, "plot.series")
  local curves = series_curves(o)
  local term = figure.term_of(o) or (o.out and "png" or "dumb")
  local panel = {ylabel = o.ylabel or (#curves == 1 and curves[1].name or "y"), curves = {}, best = {}, stop = {},
                 log = o.log_y and true or false}
  local legend = {entries = {}}
  for c, cv in ipairs(curves) do
    if o.x and #o.x ~= #cv.y then
      fail("plot.series", "x has %d values but %s has %d", #o.x, cv.name, #cv.y)
    end
    local pts = {}
    for i, v in ipairs(cv.y) do
      local xv = o.x and o.x[i] or i
      if data.is_num(xv) and data.is_num(v) and (v > 0 or not panel.log) then pts[#pts + 1] = {xv, v} end
    end
    panel.curves[c] = {colour = c, points = pts}
    legend.entries[c] = {label = cv.name, colour = c}
  end
  local fig = {term = term, xlabel = o.xlabel or "x", title = o.title or nil, legend = legend,
               width = o.width, height = o.height, panels = {panel}}
  if o.out == nil and term ~= "dumb" then fail("plot.series", "out is required for term %s", term) end
  return draw(fig, o.out, o, "ember.plot.series")
end

--- plot.dumb_curve(src, metric, width, height [, opts]): a text preview of a run's curve for the
-- terminal (`ember run --live`, the REPL). src: a run directory, a run table (runs.read) or a list of
-- metrics rows {{epoch = 1, train_loss = 0.5}, ...}; metric: a name or a list (default as in
-- plot.plot); width, height: characters (default 80 x 20); opts.gnuplot: the program. Returns the
-- text, or nil and a message (never raises: a missing gnuplot must not stop training).
function M.dumb_curve(src, metric, width, height, opts)
  local ok, res = pcall(function()
    local run = src
    if type(src) == "table" and not src.rows and not src.dir then
      local cols, seen = {}, {}
      for _, row in ipairs(src) do
        local keys = {}
        for k in pairs(row) do if not seen[k] then keys[#keys + 1] = k end end
        table.sort(keys)
        for _, k in ipairs(keys) do seen[k] = true; cols[#cols + 1] = k end
      end
      run = {rows = src, columns = cols, params = {}, meta = {}, name = "", id = ""}
    end
    return (M.plot{runs = run, metric = metric, term = "dumb", width = width or 80, height = height or 20,
                   title = false, gnuplot = opts and opts.gnuplot})
  end)
  if ok then return res end
  return nil, tostring(res)
end

--- plot.each{paths, metric, x, term, log_y, smooth, width, height, gnuplot, force}: batch mode.
-- Writes <run>/plots/<metric>.<ext> for every run below paths and every metric it logged (or the
-- metrics given), and <runs>/<name>/plots/<metric>.<ext> comparing the runs of each experiment name
-- (when it has two or more). A figure newer than every metrics.tsv it draws is skipped unless force.
-- Returns {written = {paths...}, skipped = n}.
function M.each(o)
  return require("ember.plot.batch").each(o, M.plot)
end

--- plot.cli(args [, env]) -> the exit status of `ember plot ARGS` (see plot.spec): 0 ok, 1 error
-- (message on stderr), 2 bad usage. env: gnuplot (the program), stdout, stderr (files to write to).
function M.cli(args, env)
  return require("ember.cli").main("plot", args, env)
end

return setmetatable(M, {__call = function(_, o) return M.plot(o) end})
