-- ember.plot.command: `ember plot PATH... [options]`: its declaration for ember.cli.args and its main.
local lfs = require "lfs"
local E = require "ember.error"

local M = {}

M.spec = {
  command = "ember plot",
  usage = {"PATH... [options]"},
  about = "PATH is a run directory or a folder of runs (every run below it is drawn). Each figure is written "
    .. "next to its .gp script and .dat data: re-run `gnuplot NAME.gp` to tweak it. Needs gnuplot "
    .. "(apt-get install gnuplot-nox).",
  positional = {name = "paths", metavar = "PATH", min = 1, missing = "give at least one run directory or folder of runs"},
  options = {
    {"--metric", "M", many = true, split = ",", help = "metric to draw; repeat or give a,b for one panel per "
      .. "metric (default: train_loss and valid_loss, else loss, else the first column)"},
    {"--x", "X", choices = {"epoch", "step", "time"}, help = "x axis: epoch, step or time (default: epoch when logged)"},
    {"--by", "PARAM", help = "one curve per value of PARAM: the mean, with a min-max band over repeats"},
    {"--out", "FILE", help = "output file (default: plots/ in the first PATH; the path is printed)"},
    {"--term", "T", choices = {"png", "svg", "pdf", "dumb"},
      help = "png, svg, pdf or dumb (text in the terminal); default from FILE, else png"},
    {"--log-y", help = "logarithmic y axis"},
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
                       smooth = o.smooth, width = o.width, height = o.height, gnuplot = found}
    end
    return plot.plot{runs = o.paths, metric = o.metric, x = o.x, by = o.by, out = o.out, term = o.term,
                     log_y = o.log_y, smooth = o.smooth, title = o.title, width = o.width, height = o.height,
                     gnuplot = found}
  end)
  if not ok then
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
