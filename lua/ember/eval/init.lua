-- ember.eval: a run's trained classifier measured on data: the confusion matrix and per-class precision,
-- recall and F1, printed, written as TSV and drawn as a heatmap (`ember eval RUN --data SPEC`).
-- The folder, by concern:
--   checkpoint.lua  the run's checkpoint: which file, the model rebuilt from its model_spec, and the
--                   entries ember.fit writes for eval (model_spec, data: classes, features, input)
--   data.lua        --data SPEC loaded and prepared as the run prepared its own data
--   heatmap.lua     the confusion matrix drawn by gnuplot (through ember.plot's renderer)
-- The command itself is ember.cli.eval; `ember export` (ember.cli.export) shares checkpoint.lua.
local ember = require "ember"
local E = require "ember.error"
local util = require "ember.util"
local checkpoint = require "ember.eval.checkpoint"
local data = require "ember.eval.data"
local metrics = require "ember.metrics"

local M = {}

local FN = "ember eval"

--- eval.load_model(run [, ckpt]) -> model, checkpoint, path: the model of a run directory (ckpt "best",
-- the default, or "last"; or the path of a .ckpt file) rebuilt from its checkpoint's model_spec, with its
-- trained weights, in eval mode
function M.load_model(run, ckpt)
  local path = checkpoint.path(run, ckpt, "ember.eval.load_model")
  local ck = checkpoint.load(path, "ember.eval.load_model")
  return checkpoint.model(ck, path, "ember.eval.load_model"), ck, path
end

-- the class names of a model with c outputs: the data's (or the run's) when they are c, else an error
-- or a note
local function class_names(names, c, notes)
  if not names then return c end
  if #names == c then return names end
  if #names > c then
    E.raise("value", FN, "the data has labels of %d classes but the model scores %d", #names, c)
  end
  local out = {}
  for i = 1, c do out[i] = names[i] ~= nil and names[i] or tostring(i) end
  notes[#notes + 1] = ("the data holds %d of the model's %d classes; the others are named by their index")
    :format(#names, c)
  return out
end

-- the model's scores for every batch of d, counted into a confusion matrix
local function predict(model, d, batch, notes)
  local ds = ember.data.tensor_dataset(d.x, d.y)
  local cm
  ember.no_grad(function()
    for x, y in ds:batches(batch) do
      local ok, out = pcall(model, x)
      if not ok then
        E.raise("shape", FN, "the data (x %s after preparation) does not fit the model: %s%s", util.shape_str(d.x),
          E.message(out), " (how the run prepared its input comes from its checkpoint's data.input; see docs/cli.md)")
      end
      if not util.is_tensor(out) or out:dim() ~= 2 or out:shape()[2] < 2 or out:shape()[1] ~= x:shape()[1] then
        E.raise("value", FN, "the model's output is %s: not a classifier (eval needs scores (N, C) for C >= 2 classes)",
          util.is_tensor(out) and util.shape_str(out) or util.show(out))
      end
      cm = cm or metrics.Confusion.new(class_names(d.classes, out:shape()[2], notes))
      local added, err = pcall(cm.add, cm, out, y)
      if not added then E.raise("value", FN, "%s", E.message(err):gsub("^ember%.metrics%.confusion: ", "")) end
    end
  end)
  if not cm then E.raise("value", FN, "the data holds no samples") end
  return cm
end

local function write(path, text)
  local ok, err = util.write_atomic(path, text)
  if not ok then E.raise("io", FN, "cannot write '%s': %s", path, err) end
end

-- info.tsv: what was measured, on what
local function info_text(o, path, ck, d, cm)
  local rows = {{"checkpoint", path}, {"epoch", ck.epoch}, {"data", o.data}, {"samples", cm.n}, {"classes", cm.C},
    {"accuracy", cm.accuracy}, {"macro_f1", cm.macro.f1}, {"weighted_f1", cm.weighted.f1},
    {"time", os.date("%Y-%m-%dT%H:%M:%S")}}
  local out = {}
  for _, r in ipairs(rows) do
    local v = type(r[2]) == "number" and util.number_text(r[2]) or tostring(r[2] or "")
    out[#out + 1] = r[1] .. "\t" .. v:gsub("%c", " ")
  end
  return table.concat(out, "\n") .. "\n"
end

-- "name/id" of a run directory (its last two path components)
local function run_name(dir)
  local parts = {}
  for p in dir:gmatch("[^/]+") do parts[#parts + 1] = p end
  return table.concat(parts, "/", math.max(1, #parts - 1))
end

--- eval.evaluate{run, data, ckpt = "best", target, out, term = "png", batch = 500, plot = true, gnuplot,
-- width, height} -> result. Rebuilds the run's model from its checkpoint, runs the data (a SPEC of
-- ember.eval.data) through it in eval mode without gradients, and writes into out (default
-- RUN/eval/): confusion.tsv, metrics.tsv, info.tsv and the heatmap confusion.<term> (with its .gp and
-- .dat). result: cm (ember.metrics confusion matrix), ck, path (the checkpoint), what (the data),
-- notes, dir, files, figure (its path), text (the dumb terminal's drawing), figure_error (why there is
-- no figure: gnuplot missing).
function M.evaluate(o)
  if type(o) ~= "table" then E.raise("type", FN, "expected a table of options (got %s)", util.show(o)) end
  local path, run_dir = checkpoint.path(o.run, o.ckpt, FN)
  local ck = checkpoint.load(path, FN)
  local model = checkpoint.model(ck, path, FN)
  local d = data.load(o.data, {target = o.target, data = type(ck.data) == "table" and ck.data or nil,
                               model_spec = ck.model_spec, run_dir = run_dir, fn = FN})
  local notes = d.notes
  local cm = predict(model, d, o.batch or 500, notes)
  local dir = o.out or (run_dir .. "/eval")
  local ok, err = util.mkdir_p(dir)
  if not ok then E.raise("io", FN, "cannot create '%s': %s", dir, err) end
  local result = {cm = cm, ck = ck, path = path, what = d.what, notes = notes, dir = dir, files = {}}
  for _, f in ipairs{{"confusion.tsv", cm:confusion_tsv()}, {"metrics.tsv", cm:metrics_tsv()},
                     {"info.tsv", info_text(o, path, ck, d, cm)}} do
    write(dir .. "/" .. f[1], f[2])
    result.files[#result.files + 1] = dir .. "/" .. f[1]
  end
  if o.plot ~= false then
    local title = ("%s: %s, %s (epoch %s)"):format(d.what, run_name(run_dir), path:match("[^/]+$"), tostring(ck.epoch))
    local drawn, fig, text = pcall(require("ember.eval.heatmap").draw, cm, dir, {term = o.term or "png",
      gnuplot = o.gnuplot, width = o.width, height = o.height, title = title})
    if drawn then result.figure, result.text = fig, text
    elseif E.is(fig) and fig.message:find("gnuplot not found", 1, true) then result.figure_error = E.message(fig)
    else E.reraise_as(fig, FN) end
  end
  return result
end

return setmetatable(M, {__call = function(_, o) return M.evaluate(o) end})
