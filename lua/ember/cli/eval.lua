-- ember.cli.eval: `ember eval RUN --data SPEC`: a run's trained classifier measured on data (ember.eval):
-- the confusion matrix and per-class table printed, TSV files and a heatmap written.
local E = require "ember.error"
local util = require "ember.util"
local checkpoint = require "ember.eval.checkpoint"

local M = {}

M.spec = {
  command = "ember eval",
  usage = {"RUN --data SPEC [--ckpt best|last] [--target COL] [--out DIR] [--term T]"},
  about = "Rebuilds the classifier of run directory RUN from its checkpoint (the architecture from its "
    .. "model_spec, the trained weights from its state), runs the data through it in eval mode without "
    .. "gradients, prints the confusion matrix and the per-class precision, recall, F1 and support, and writes "
    .. "eval/confusion.tsv, eval/metrics.tsv, eval/info.tsv and the heatmap eval/confusion.png into RUN (or "
    .. "--out). The data is prepared as the run prepared its own (the checkpoint's data.input: scaling, "
    .. "standardisation, shape); class labels are 1..C, named by the run's classes.",
  positional = checkpoint.RUN_ARGUMENT,
  options = {
    {"--data", "SPEC", help = "fashion-mnist:test, fashion-mnist:train, digits (experiments/data/digits.csv as "
      .. "the experiments load it) or the path of a CSV file (with --target)"},
    checkpoint.CKPT_OPTION,
    {"--target", "COL", help = "the class column of a CSV file (default: the run's target column)"},
    {"--out", "DIR", help = "the folder of the files (default RUN/eval)"},
    {"--term", "T", choices = {"png", "svg", "pdf", "dumb"},
      help = "the heatmap's format: png (the default), svg, pdf, or dumb (text in the terminal)"},
    {"--batch", "N", type = "integer", min = 1, help = "samples per forward pass (default 500)"},
  },
  footer = "Exit status: 0 ok, 1 error (no checkpoint, a model that cannot be rebuilt, data that does not fit "
    .. "it), 2 bad usage.",
}

--- cli.eval.main(o, env) -> exit status of `ember eval` with the parsed options o (ember.cli calls it);
-- env: stdout, stderr, gnuplot (for tests)
function M.main(o, env)
  env = env or {}
  local stdout, stderr = env.stdout or io.stdout, env.stderr or io.stderr
  if not o.data then E.raise("usage", "ember eval", "give the data with --data SPEC") end
  local r = require("ember.eval").evaluate{run = o.run, ckpt = o.ckpt, data = o.data, target = o.target,
    out = o.out, term = o.term, batch = o.batch, gnuplot = env.gnuplot}
  local cm = r.cm
  stdout:write(("%s (epoch %s), %s: %d samples, %d classes\n\n"):format(r.path, util.tsv_field(r.ck.epoch), r.what,
    cm.n, cm.C))
  stdout:write(tostring(cm), "\n")
  for _, n in ipairs(r.notes) do stdout:write("note: ", n, "\n") end
  if r.text then stdout:write("\n", r.text) end
  stdout:write("\nwrote ", table.concat(r.files, ", "), r.figure and (", " .. r.figure) or "", "\n")
  if r.figure_error then stderr:write("ember eval: no heatmap: ", r.figure_error, "\n") end
  return 0
end

return M
