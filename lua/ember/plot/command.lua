-- ember.plot.command: `ember plot PATH... [options]`: its declaration for ember.cli.args and its main.
local lfs = require "lfs"
local E = require "ember.error"
local filter = require "ember.runs.filter"

local M = {}

-- a word after --log-y is a metric name (never a path): "valid_loss" or "a,b", and nothing there
local function is_metric_list(word)
  return word:find("^[%w_.+,-]+$") ~= nil and lfs.attributes(word, "mode") == nil
end

M.spec = {
  command = "ember plot",
  usage = {"PATH... [options]"},
  about = "PATH is a run directory or a folder of runs (every run below it is drawn). Each figure is written "
    .. "next to its .gp script and .dat data: re-run `gnuplot NAME.gp` to tweak it. Needs gnuplot "
    .. "(apt-get install gnuplot-nox).",
  positional = {name = "paths", metavar = "PATH", min = 1, missing = "give at least one run directory or folder of runs"},
  options = filter.with_options{
    {"--metric", "M", many = true, split = ",", help = "metric to draw; repeat or give a,b for one panel per "
      .. "metric (default: train_loss and valid_loss, else loss, else the first column; batch_loss with "
      .. "--x step when the runs logged steps.tsv)"},
    {"--x", "X", choices = {"epoch", "step", "time"}, help = "x axis: epoch, step or time (default: epoch "
      .. "when logged); with step, batch_loss and the other columns of steps.tsv are drawn per logged step"},
    {"--by", "PARAM", help = "one curve per value of PARAM: the mean of its runs with a band; runs that differ "
      .. "in another param than PARAM and the seed get curves of their own, labelled by what differs"},
    {"--band", "B", choices = {"minmax", "std", "ci95"}, help = "the band around a --by mean: minmax (default), "
      .. "std (mean -/+ one standard deviation) or ci95 (95% confidence interval of the mean)"},
    {"--out", "FILE", help = "output file (default: plots/ in the first PATH; the path is printed)"},
    {"--term", "T", choices = {"png", "svg", "pdf", "dumb"},
      help = "png, svg, pdf or dumb (text in the terminal); default from FILE, else png"},
    {"--log-y", "[M]", optional = true, takes = is_metric_list, many = true, split = ",",
      help = "logarithmic y axis: alone, on every panel but accuracy-like ones (when its values are "
        .. "positive); --log-y M (or M,N, or --log-y=M) on those panels only. lr panels are always logarithmic"},
    {"--smooth", "N", type = "integer", min = 1, help = "moving average over the last N points"},
    {"--title", "T", empty = true, help = "figure title"},
    {"--width", "W", type = "integer", min = 10, max = 20000, help = "width (pixels; characters for dumb)"},
    {"--height", "H", type = "integer", min = 10, max = 20000, help = "height (pixels; lines for dumb)"},
    {"--each", help = "write plots/<metric>.png into every run directory and one comparison figure per "
      .. "experiment name (<runs>/<name>/plots/); skips up-to-date figures"},
  },
}

--- command.main(o, env) -> exit status of `ember plot` with the parsed options o (ember.cli calls it).
-- env: gnuplot (the program), stdout, stderr (files to write to).
function M.main(o, env)
  local plot = require "ember.plot"
  local figure = require "ember.plot.figure"
  env = env or {}
  local stdout, stderr = env.stdout or io.stdout, env.stderr or io.stderr
  if o.each and o.out then E.raise("usage", "ember plot", "--each writes its own files; --out cannot be used with it") end
  if o.each and o.term == "dumb" then E.raise("usage", "ember plot", "--each writes files; use --term png, svg or pdf") end
  if #o.metric == 0 then o.metric = nil end
  if #o.log_y == 0 then o.log_y = nil end
  if #o.where == 0 then o.where = nil end
  if #o.match == 0 then o.match = nil end
  local found, why = plot.find_gnuplot(env.gnuplot)
  if not found then
    stderr:write("ember plot: ", why, "\n")
    return 1
  end
  for _, p in ipairs(o.paths) do
    if lfs.attributes(p, "mode") ~= "directory" then
      stderr:write(("ember plot: '%s' is not a run directory or a folder of runs\n"):format(p))
      return 1
    end
  end
  local ok, res, path = pcall(function()
    if o.each then
      return plot.each{paths = o.paths, metric = o.metric, x = o.x, term = o.term, log_y = o.log_y,
                       smooth = o.smooth, width = o.width, height = o.height, gnuplot = found,
                       where = o.where, last = o.last, match = o.match}
    end
    return plot.plot{runs = o.paths, metric = o.metric, x = o.x, by = o.by, band = o.band, out = o.out,
                     term = o.term, log_y = o.log_y, smooth = o.smooth, title = o.title, width = o.width,
                     height = o.height, gnuplot = found, where = o.where, last = o.last, match = o.match,
                     notes = function(text) stderr:write("ember plot: ", text, "\n") end}
  end)
  if not ok then
    if E.is(res, "usage") then E.reraise_as(res, "ember plot") end   -- a bad --where: exit 2 with the usage
    stderr:write("ember plot: ", E.message(res), "\n")
    return 1
  end
  if o.each then
    for _, w in ipairs(res.written) do stdout:write(w, "\n") end
    stdout:write(("%d figure(s) written, %d up to date\n"):format(#res.written, res.skipped))
  elseif figure.term_of(o) == "dumb" then
    if path then stdout:write(path, "\n") else stdout:write(res) end
  else
    stdout:write(res, "\n")
  end
  return 0
end

return M
