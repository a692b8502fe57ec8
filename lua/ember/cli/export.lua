-- ember.cli.export: `ember export RUN --format safetensors|npz`: a run's trained weights (its checkpoint's
-- model state) in a file PyTorch (safetensors) and NumPy (np.load) read.
local ember = require "ember"
local E = require "ember.error"
local util = require "ember.util"
local checkpoint = require "ember.eval.checkpoint"

local M = {}

local FN = "ember export"
local EXT = {safetensors = ".safetensors", npz = ".npz"}

M.spec = {
  command = "ember export",
  usage = {"RUN --format safetensors|npz [--ckpt best|last] [--out FILE]"},
  about = "Writes the model state of run directory RUN's checkpoint (its state_dict: every parameter and "
    .. "buffer by name, float32) as a safetensors file (safetensors.torch.load_file reads it) or an npz file "
    .. "(numpy.load). ember.load reads both back, so model:load_state_dict(ember.load(FILE)) restores the "
    .. "weights.",
  positional = checkpoint.RUN_ARGUMENT,
  options = {
    {"--format", "F", choices = {"safetensors", "npz"}, help = "safetensors or npz (default from FILE's extension)"},
    checkpoint.CKPT_OPTION,
    {"--out", "FILE", help = "the file to write (default RUN/<ckpt>.safetensors or RUN/<ckpt>.npz)"},
  },
  footer = "Exit status: 0 ok, 1 error (no checkpoint, a file that cannot be written), 2 bad usage.",
}

--- cli.export.main(o, env) -> exit status of `ember export` with the parsed options o
function M.main(o, env)
  local stdout = (env and env.stdout) or io.stdout
  local format = o.format
  if not format and o.out then format = o.out:match("%.safetensors$") and "safetensors" or o.out:match("%.npz$") and "npz" end
  if not format then
    E.raise("usage", FN, "give --format safetensors or --format npz (or an --out FILE ending in .safetensors or .npz)")
  end
  local path, run_dir = checkpoint.path(o.run, o.ckpt, FN)
  local ck = checkpoint.load(path, FN)
  local out = o.out or (run_dir .. "/" .. (path:match("([^/]+)%.ckpt$") or o.ckpt) .. EXT[format])
  local save = format == "npz" and ember.save_npz or ember.save_safetensors
  local ok, err = pcall(save, out, ck.model)
  if not ok then E.raise(E.kind(err) == "io" and "io" or "value", FN, "%s", E.message(err)) end
  local n, values = 0, 0
  for _, t in pairs(ck.model) do n, values = n + 1, values + t:numel() end
  stdout:write(("%s: %d tensors, %d values from %s (epoch %s)\n"):format(out, n, values, path, util.tsv_field(ck.epoch)))
  return 0
end

return M
