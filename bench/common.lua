-- common.lua - helpers shared by the ember side of the benchmarks: result lines for bench/run.lua,
-- memory figures from /proc, the quick-mode switch and the Fashion-MNIST loaders.
-- Loaded with dofile(dir .. "/common.lua") so a benchmark runs from any working directory.
local ember = require "ember"

local M = {}

-- M.quick: true when BENCH_QUICK=1 asks for a smoke run (fewer repetitions, a data subset)
M.quick = os.getenv("BENCH_QUICK") == "1"

-- M.result(key, value): one machine-readable line for the driver, "result<TAB>key<TAB>value"
function M.result(key, value)
  io.write("result\t", key, "\t", tostring(value), "\n")
  io.flush()
end

-- M.status_kb(field) -> the value in kB of a /proc/self/status line (VmRSS, VmHWM), or nil off Linux
function M.status_kb(field)
  local f = io.open("/proc/self/status", "r")
  if not f then return nil end
  local text = f:read("a")
  f:close()
  return tonumber(text:match(field .. ":%s*(%d+)"))
end

-- M.median(list) -> the median of a list of numbers (not changed)
function M.median(list)
  local s = table.move(list, 1, #list, 1, {})
  table.sort(s)
  local n = #s
  if n % 2 == 1 then return s[(n + 1) // 2] end
  return (s[n // 2] + s[n // 2 + 1]) / 2
end

-- M.arg_int(name, default) -> the integer after --name on the command line, or default (the twin of
-- common_torch.arg_int); a flag without a whole number after it is an error, not a silent default
function M.arg_int(name, default)
  for i = 1, #arg do
    if arg[i] == "--" .. name then
      local v = math.tointeger(tonumber(arg[i + 1] or ""))
      if not v then error(("%s: --%s needs a whole number (got %s)"):format(arg[0], name, tostring(arg[i + 1])), 0) end
      return v
    end
  end
  return default
end

-- M.threads() -> the thread count ember runs with (set by `ember --threads T`)
function M.threads()
  return ember.get_num_threads()
end

-- M.fashion_mnist(split [, n]) -> dataset of the first n samples of split (all when n is nil)
function M.fashion_mnist(split, n)
  local ds = ember.data.fashion_mnist(split)
  if n and n < ds:size() then ds = ds:subset(n) end
  return ds
end

-- M.train_size() -> how many training images the epoch benchmarks use (a subset in quick mode)
function M.train_size()
  local n = tonumber(os.getenv("BENCH_TRAIN_N") or "")
  if n then return math.tointeger(n) end
  return M.quick and 6000 or nil
end

-- M.accuracy(model, ds [, batch]) -> fraction of ds classified correctly, in eval mode without grad
function M.accuracy(model, ds, batch)
  batch = batch or 1000
  local correct = 0
  model:eval()
  ember.no_grad(function()
    for x, y in ds:batches(batch) do
      correct = correct + model(x):argmax(2):eq(y):sum():item()
    end
  end)
  model:train()
  return correct / ds:size()
end

return M
