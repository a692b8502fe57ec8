-- run.lua - the driver behind `make bench` (bench/run.sh): runs each ember benchmark and its PyTorch twin
-- alternately, several times, in separate processes; takes the medians of the figures they time inside
-- themselves; prints a table of ratios (PyTorch time / ember time) against the targets of issue 10 and
-- writes every figure to bench/results.tsv. Ends with a per-op profile of one LeNet step in ember.
--
-- Usage: build/ember bench/run.lua [BUILD_DIR]     (BUILD_DIR holds the ember executable; default build)
-- Environment: BENCH_QUICK=1 (smoke run: one repetition, data subsets), BENCH_REPS=N, BENCH_ONLY=a,b
-- (benchmark ids: overhead, sgemm, linear, mlp, lenet, scaling, determinism, profile), BENCH_THREADS=1,2,4
-- (the thread counts of the scaling table; default 1, 2 and the cores), BENCH_EPOCHS=N (MLP and LeNet
-- train N epochs: the accuracy check after 3; the time figure stays the first epoch's), BENCH_PYTHON (default /usr/bin/python3), BENCH_PERF=0 (skip perf),
-- BENCH_TORCH_ENV="VAR=value ..." (more environment for the PyTorch runs, e.g. OMP_WAIT_POLICY=ACTIVE).

local BUILD = arg[1] or "build"
local DIR = arg[0]:match("^(.*)/") or "."
local QUICK = os.getenv("BENCH_QUICK") == "1"
local REPS = math.tointeger(tonumber(os.getenv("BENCH_REPS") or "")) or (QUICK and 1 or 3)
local PYTHON = os.getenv("BENCH_PYTHON") or "/usr/bin/python3"
local RESULTS = DIR .. "/results.tsv"
local EPOCHS = math.tointeger(tonumber(os.getenv("BENCH_EPOCHS") or "")) or 1

-- ember runs as a user gets it: no variable that would pick its BLAS kernel or threads from outside
local EMBER_ENV = "env -u OPENBLAS_CORETYPE -u OPENBLAS_NUM_THREADS -u OMP_NUM_THREADS -u EMBER_NUM_THREADS"

local function sh_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function clock()
  return require("ember").clock()
end

------------------------------------------------------------------------------------------------------
-- running one benchmark process

-- run(cmd) -> results (key -> string), ok, message: runs a shell command, collects its
-- "result<TAB>key<TAB>value" lines; other stdout lines are dropped, stderr is kept for the message
local function run(cmd)
  local errfile = os.tmpname()
  local p = io.popen(cmd .. " 2>" .. sh_quote(errfile), "r")
  local res = {}
  for line in p:lines() do
    local k, v = line:match("^result\t([^\t]+)\t(.*)$")
    if k then res[k] = v end
  end
  local ok, _, code = p:close()
  local f = io.open(errfile, "r")
  local err = f and f:read("a") or ""
  if f then f:close() end
  os.remove(errfile)
  if not ok then
    local first = err:match("([^\n]*%S[^\n]*)") or ("exit status " .. tostring(code))
    return res, false, first
  end
  return res, true
end

local function ember_cmd(script, threads, extra)
  return string.format("%s %s --threads %d %s %s", EMBER_ENV, sh_quote(BUILD .. "/ember"), threads,
                       sh_quote(DIR .. "/" .. script .. ".lua"), extra or "")
end

-- PyTorch in its best configuration: --threads sets its intra-op pool; its own OpenBLAS pool is held
-- to one thread, since two pools on two cores fight (measured: bench/README.md), and OpenBLAS gets a
-- fast kernel if it would fall back to its generic one (TORCH_ENV, decided by probe_torch)
local TORCH_ENV = "OPENBLAS_NUM_THREADS=1"
if os.getenv("BENCH_TORCH_ENV") then TORCH_ENV = TORCH_ENV .. " " .. os.getenv("BENCH_TORCH_ENV") end

local function torch_cmd(script, threads, extra)
  return string.format("env %s %s %s --threads %d %s", TORCH_ENV, sh_quote(PYTHON),
                       sh_quote(DIR .. "/" .. script .. "_torch.py"), threads, extra or "")
end

-- probe_torch() -> version, blas kernel (or nil and the reason PyTorch cannot be used)
local function probe_torch()
  local res, ok, msg = run(string.format("%s %s", sh_quote(PYTHON), sh_quote(DIR .. "/probe_torch.py")))
  if not ok then return nil, msg end
  return res.version, res.kernel
end

------------------------------------------------------------------------------------------------------
-- the benchmarks and their targets (issue 10)

-- ratio: "time" figures give PyTorch / ember; "rate" figures (ops/s) give ember / PyTorch: both read
-- as "how many times faster ember is"
local BENCHES = {
  {id = "overhead", script = "overhead", threads = {1}, metric = "ops_per_s", kind = "rate",
   title = "small-tensor add (1-element), ops/s", target = 5},
  {id = "sgemm", script = "sgemm", threads = {1}, metric = "gflops", kind = "rate",
   title = "sgemm 1024x1024, GFLOP/s", ember_min = 120},
  {id = "linear", script = "linear", threads = {1}, metric = "steps_per_s", kind = "rate",
   title = "Linear(10,1) diabetes, SGD steps/s", target = 20},
  {id = "mlp", script = "mlp", threads = {2, 1}, metric = "epoch_s", kind = "time", epochs = true,
   title = "MLP 784-256-10 Adam b128, s/epoch", target = 1.5},
  {id = "lenet", script = "lenet", threads = {2, 1}, metric = "epoch_s", kind = "time", epochs = true,
   title = "LeNet SGD-momentum b64, s/epoch", target = 3},
}

local function selected(id)
  local only = os.getenv("BENCH_ONLY")
  if not only or only == "" then return true end
  for name in only:gmatch("[^,%s]+") do
    if name == id then return true end
  end
  return false
end

------------------------------------------------------------------------------------------------------
-- statistics and formatting

local function median(list)
  local s = {}
  for _, v in ipairs(list) do s[#s + 1] = v end
  if #s == 0 then return nil end
  table.sort(s)
  local n = #s
  if n % 2 == 1 then return s[(n + 1) // 2] end
  return (s[n // 2] + s[n // 2 + 1]) / 2
end

-- a number in 4 significant figures with k/M suffixes for large rates
local function fmt(v, kind)
  if v == nil then return "-" end
  if kind == "rate" and v >= 1e6 then return string.format("%.2f M", v / 1e6) end
  if kind == "rate" and v >= 1e4 then return string.format("%.1f k", v / 1e3) end
  if v >= 100 then return string.format("%.0f", v) end
  if v >= 10 then return string.format("%.1f", v) end
  if v >= 1 then return string.format("%.2f", v) end
  return string.format("%.3f", v)
end

local function values_str(list)
  local t = {}
  for i, v in ipairs(list) do t[i] = string.format("%.6g", v) end
  return table.concat(t, ",")
end

local function loadavg()
  local f = io.open("/proc/loadavg", "r")
  if not f then return "?" end
  local s = f:read("l")
  f:close()
  return s:match("^(%S+ %S+ %S+)") or "?"
end

------------------------------------------------------------------------------------------------------
-- main

local ember = require "ember"
local torch_version, torch_kernel = probe_torch()
local have_torch = torch_version ~= nil
if not have_torch then
  io.write("bench: PyTorch is not available to ", PYTHON, " (", tostring(torch_kernel), ").\n",
           "bench: to compare against it, install Debian's package:  sudo apt-get install python3-torch\n",
           "bench: (nothing is installed by this command.) Printing ember's own figures only.\n\n")
elseif torch_kernel == "Prescott" then
  -- OpenBLAS's generic fallback: give PyTorch the fast kernel ember picks for itself
  TORCH_ENV = TORCH_ENV .. " OPENBLAS_CORETYPE=" .. (ember.blas().kernel or "Haswell")
end

-- this core's FMA peak (bench/peak.c), to read sgemm and the LeNet epoch against the hardware
local function probe_peak()
  local exe = os.tmpname()
  local ok = os.execute(string.format("${CC:-cc} -O2 -march=native %s -o %s >/dev/null 2>&1",
                                      sh_quote(DIR .. "/peak.c"), sh_quote(exe)))
  local res = ok and run(sh_quote(exe)) or {}
  os.remove(exe)
  return tonumber(res.peak_gflops), res.lanes
end
local PEAK, LANES = probe_peak()

io.write(string.format("ember bench: %s%d alternating repetition%s, medians; ember %s, BLAS kernel %s\n",
                       QUICK and "QUICK smoke run (data subsets), " or "", REPS, REPS == 1 and "" or "s",
                       BUILD .. "/ember", tostring(ember.blas().kernel)))
if have_torch then
  io.write(string.format("PyTorch %s via %s (OpenBLAS kernel %s; env %s)\n", torch_version, PYTHON,
                         tostring(torch_kernel), TORCH_ENV))
end
local load1 = tonumber(loadavg():match("^(%S+)"))
if PEAK then
  io.write(string.format("FMA peak of one core (bench/peak.c, %s-float vectors): %.0f GFLOP/s; 2 cores: %.0f\n",
                         LANES, PEAK, 2 * PEAK))
end
io.write("load average at start: ", loadavg(), "\n")
if load1 and load1 > 0.7 then
  io.write("warning: the machine is busy (other processes share the 2 cores): expect noisy figures, and\n",
           "         PyTorch's 2-thread runs suffer most (its OpenMP threads spin while waiting for a core)\n")
end
io.write("\n")

-- figures[id][threads][side] = {results table per repetition}
local figures, failures = {}, {}
local t_start = clock()
for rep = 1, REPS do
  for _, b in ipairs(BENCHES) do
    if selected(b.id) then
      figures[b.id] = figures[b.id] or {}
      for _, th in ipairs(b.threads) do
        local slot = figures[b.id][th] or {ember = {}, torch = {}}
        figures[b.id][th] = slot
        -- alternate which side goes first, so slow drifts in machine load hit both alike
        local order = rep % 2 == 1 and {"ember", "torch"} or {"torch", "ember"}
        for _, side in ipairs(order) do
          if side == "ember" or have_torch then
            local extra = (b.epochs and EPOCHS > 1) and ("--epochs " .. EPOCHS) or nil
            local cmd = side == "ember" and ember_cmd(b.script, th, extra) or torch_cmd(b.script, th, extra)
            io.write(string.format("  [%d/%d] %-8s %-6s %d thread%s ... ", rep, REPS, b.id, side, th,
                                   th == 1 and " " or "s"))
            io.flush()
            local res, ok, msg = run(cmd)
            if ok and tonumber(res[b.metric]) then
              slot[side][#slot[side] + 1] = res
              io.write(string.format("%s %s\n", fmt(tonumber(res[b.metric]), b.kind), b.metric))
            else
              local why = ok and ("no " .. b.metric .. " in its output") or msg
              failures[#failures + 1] = string.format("%s (%s, %d threads): %s", b.id, side, th, why)
              io.write("FAILED: ", why, "\n")
            end
          end
        end
      end
    end
  end
end

-- medians of a key over the repetitions of one side
local function med(list, key)
  local v = {}
  for _, res in ipairs(list) do
    local x = tonumber(res[key])
    if x then v[#v + 1] = x end
  end
  return median(v), v
end

local rows = {}       -- for results.tsv
local function add_row(bench, metric, threads, unit, e, t, ratio, target, met, eruns, truns)
  rows[#rows + 1] = {bench, metric, threads, unit, e and string.format("%.6g", e) or "",
                     t and string.format("%.6g", t) or "", ratio and string.format("%.4g", ratio) or "",
                     target or "", met or "", eruns or "", truns or ""}
end

local line = string.rep("-", 102)
io.write("\n", line, "\n")
io.write(string.format("%-44s %3s %10s %10s %8s %10s  %s\n", "benchmark", "thr", "ember", "PyTorch",
                       "ratio", "target", "status"))
io.write(line, "\n")
local noisy_rows = 0
for _, b in ipairs(BENCHES) do
  for _, th in ipairs(b.threads) do
    local slot = figures[b.id] and figures[b.id][th]
    if slot then
      local e, ev = med(slot.ember, b.metric)
      local t, tv = med(slot.torch, b.metric)
      local ratio
      if e and t then ratio = b.kind == "time" and t / e or e / t end
      local target, met
      if b.target then
        target = string.format(">= %gx", b.target)
        met = ratio and (ratio >= b.target and "met" or string.format("MISSED (%.0f%% of target)",
                                                                         100 * ratio / b.target)) or "-"
      elseif b.ember_min then
        target = string.format("ember>=%g", b.ember_min)
        met = e and (e >= b.ember_min and "met" or string.format("MISSED (%.0f%% of target)",
                                                                    100 * e / b.ember_min)) or "-"
      end
      -- repetitions that disagree by more than 1.5x were disturbed by other processes: say so
      local noisy = {}
      for side, v in pairs{ember = ev, PyTorch = tv} do
        local lo, hi = math.huge, 0
        for _, x in ipairs(v) do lo, hi = math.min(lo, x), math.max(hi, x) end
        if #v > 1 and lo > 0 and hi / lo > 1.5 then noisy[#noisy + 1] = string.format("%s %.1fx", side, hi / lo) end
      end
      table.sort(noisy)
      if #noisy > 0 then
        met = (met or "") .. " [noisy: runs differ " .. table.concat(noisy, ", ") .. "]"
        noisy_rows = noisy_rows + 1
      end
      io.write(string.format("%-44s %3d %10s %10s %8s %10s  %s\n", b.title, th, fmt(e, b.kind),
                             fmt(t, b.kind), ratio and string.format("%.2fx", ratio) or "-",
                             target or "", met or ""))
      add_row(b.id, b.metric, th, b.kind == "time" and "s" or b.metric, e, t, ratio, target, met,
              values_str(ev), values_str(tv))
    end
  end
end
io.write(line, "\n")

-- the figures beside the ratios: memory, accuracy, kernels, floors
local function side_row(bench, key, th, unit, scale, label, lower_is_better)
  local slot = figures[bench] and figures[bench][th]
  if not slot then return end
  local e, ev = med(slot.ember, key)
  local t, tv = med(slot.torch, key)
  if e == nil and t == nil then return end
  e, t = e and e * scale, t and t * scale
  for i = 1, #ev do ev[i] = ev[i] * scale end
  for i = 1, #tv do tv[i] = tv[i] * scale end
  local ratio = (e and t and lower_is_better and e > 0) and t / e or nil
  local target = lower_is_better and "ember less" or ""
  local met = ratio and (ratio > 1 and "met" or "MISSED") or ""
  io.write(string.format("%-44s %3d %10s %10s %8s %10s  %s\n", label, th, e and string.format("%.4g", e) or "-",
                         t and string.format("%.4g", t) or "-", ratio and string.format("%.2fx", ratio) or "",
                         target, met))
  add_row(bench, key, th, unit, e, t, ratio, target, met, values_str(ev), values_str(tv))
end

side_row("overhead", "rss_before_kb", 1, "MB", 1 / 1024, "  add loop: RSS before, MB")
side_row("overhead", "rss_max_kb", 1, "MB", 1 / 1024, "  add loop: RSS max during, MB")
side_row("overhead", "rss_after_kb", 1, "MB", 1 / 1024, "  add loop: RSS after, MB")
side_row("linear", "final_loss", 1, "mse", 1, "  Linear: final mse (same init, same path)")
for _, th in ipairs{2, 1} do
  side_row("mlp", "test_acc", th, "fraction", 1, string.format("  MLP: test accuracy after %d epoch%s", EPOCHS,
                                                                 EPOCHS == 1 and "" or "s"))
end
for _, th in ipairs{2, 1} do
  for e = 1, EPOCHS - 1 do
    side_row("lenet", "test_acc_epoch" .. e, th, "fraction", 1, string.format("  LeNet: test accuracy after %d epoch%s",
                                                                              e, e == 1 and "" or "s"))
  end
  side_row("lenet", "test_acc", th, "fraction", 1, string.format("  LeNet: test accuracy after %d epoch%s", EPOCHS,
                                                                   EPOCHS == 1 and "" or "s"))
  side_row("lenet", "peak_rss_kb", th, "MB", 1 / 1024, "  LeNet: peak RSS of the process, MB", true)
  side_row("lenet", "train_peak_rss_kb", th, "MB", 1 / 1024, "  LeNet: peak RSS by the end of training, MB", true)
  side_row("lenet", "train_gflops", th, "GFLOP/s", 1, "  LeNet: effective GFLOP/s (2.5 MFLOP/img)")
end
side_row("mlp", "peak_rss_kb", 2, "MB", 1 / 1024, "  MLP: peak RSS of the process, MB", true)
io.write(line, "\n")

local sg = figures.sgemm and figures.sgemm[1]
if sg and sg.ember[1] then
  io.write("ember BLAS: ", sg.ember[1].blas or "?", "\n")
end
if sg and PEAK then
  local e = med(sg.ember, "gflops")
  if e then
    io.write(string.format("sgemm: ember at %.0f%% of this core's FMA peak (%.0f GFLOP/s)%s\n", 100 * e / PEAK, PEAK,
                           PEAK < 120 and "; the 120 GFLOP/s target is above this core's peak" or ""))
  end
  add_row("machine", "fma_peak_1core", 1, "GFLOP/s", PEAK, nil, nil, "", "", "", "")
end
local le = figures.lenet and figures.lenet[2]
if le and not QUICK then
  local e = med(le.ember, "epoch_s")
  local peak2 = PEAK and 2 * PEAK or 336
  if e then
    io.write(string.format("LeNet floor: 151 GFLOP per epoch at %.0f GFLOP/s (2 cores%s) = %.2f s; ember at %.2f s " ..
                           "is %.0f%% of peak\n", peak2, PEAK and ", measured" or ", issue 10's figure",
                           151 / peak2, e, 100 * (151 / peak2) / e))
  end
end
if QUICK and (figures.mlp or figures.lenet) then io.write("QUICK run: epochs use ", os.getenv("BENCH_TRAIN_N") or "6000",
                       " training images, so accuracies and per-epoch times are not comparable to targets\n") end
if noisy_rows > 0 then
  io.write(noisy_rows, " row(s) marked noisy: their repetitions disagree by more than 1.5x, so their medians and ",
           "ratios are unreliable; rerun on an idle machine (results.tsv lists every run)\n")
end
for _, f in ipairs(failures) do io.write("failed: ", f, "\n") end
io.write(string.format("load average at end: %s; benchmarks took %.0f s\n", loadavg(), clock() - t_start))

------------------------------------------------------------------------------------------------------
-- scaling: milliseconds per training step of the workloads of issue 14 at each thread count, ember and
-- PyTorch side by side (bench/scaling.lua and its twin), alternating as above

local SCALING = {
  {id = "lenet64", title = "LeNet, batch 64"}, {id = "lenet512", title = "LeNet, batch 512"},
  {id = "mlp1024", title = "MLP 784-256-10 Adam, batch 1024"}, {id = "mlp128", title = "MLP, batch 128"},
}

-- BENCH_THREADS=1,2,4,8,16, or by default 1, 2 and the machine's core count
local function scaling_threads()
  local list, seen = {}, {}
  local function add(t) if t and t >= 1 and not seen[t] then seen[t], list[#list + 1] = true, t end end
  local env = os.getenv("BENCH_THREADS")
  if env and env ~= "" then
    for x in env:gmatch("[^,%s]+") do add(math.tointeger(tonumber(x))) end
  else
    add(1); add(2)
    local p = io.popen("nproc 2>/dev/null")
    add(p and math.tointeger(tonumber(p:read("l") or "")))
    if p then p:close() end
  end
  table.sort(list)
  return list
end

local scale = {}   -- scale[workload][threads] = {ember = {ms...}, torch = {ms...}}: the scaling table's runs
if selected("scaling") then
  local threads = scaling_threads()
  local t0 = clock()
  for rep = 1, REPS do
    for _, w in ipairs(SCALING) do
      scale[w.id] = scale[w.id] or {}
      for _, th in ipairs(threads) do
        local slot = scale[w.id][th] or {ember = {}, torch = {}}
        scale[w.id][th] = slot
        local order = rep % 2 == 1 and {"ember", "torch"} or {"torch", "ember"}
        for _, side in ipairs(order) do
          if side == "ember" or have_torch then
            local cmd = side == "ember" and ember_cmd("scaling", th, w.id) or torch_cmd("scaling", th, w.id)
            io.write(string.format("  [%d/%d] scaling %-8s %-6s %2d thread%s ... ", rep, REPS, w.id, side, th,
                                   th == 1 and " " or "s"))
            io.flush()
            local res, ok, msg = run(cmd)
            local ms = tonumber(res.step_ms)
            if ok and ms then
              slot[side][#slot[side] + 1] = ms
              io.write(string.format("%.3f ms/step\n", ms))
            else
              local why = ok and "no step_ms in its output" or msg
              failures[#failures + 1] = string.format("scaling %s (%s, %d threads): %s", w.id, side, th, why)
              io.write("FAILED: ", why, "\n")
            end
          end
        end
      end
    end
  end
  local sline = string.rep("-", 92)
  io.write(string.format("\nScaling: ms per training step (median of the steps after a warm-up; median of %d run%s)\n",
                         REPS, REPS == 1 and "" or "s"))
  io.write(sline, "\n", string.format("%-34s %3s %9s %9s %8s %10s %10s\n", "workload", "thr", "ember", "PyTorch",
                                      "ratio", "ember x", "PyTorch x"), sline, "\n")
  for _, w in ipairs(SCALING) do
    local e1, t1 = median(scale[w.id][threads[1]].ember), median(scale[w.id][threads[1]].torch)
    for k, th in ipairs(threads) do
      local e, t = median(scale[w.id][th].ember), median(scale[w.id][th].torch)
      local ratio = e and t and t / e
      io.write(string.format("%-34s %3d %9s %9s %8s %10s %10s\n", k == 1 and w.title or "", th,
                             e and string.format("%.3f", e) or "-", t and string.format("%.3f", t) or "-",
                             ratio and string.format("%.2fx", ratio) or "-",
                             e and e1 and string.format("%.2f", e1 / e) or "-", t and t1 and string.format("%.2f", t1 / t) or "-"))
      add_row("scaling", w.id, th, "ms/step", e, t, ratio, "", "", values_str(scale[w.id][th].ember),
              values_str(scale[w.id][th].torch))
    end
  end
  io.write(sline, "\n")
  io.write("ratio: PyTorch / ember (above 1: ember is faster); x: speed-up over the first thread count\n")
  local s512 = scale.lenet512
  local e1, e2 = s512 and s512[1] and median(s512[1].ember), s512 and s512[2] and median(s512[2].ember)
  if e1 and e2 then
    io.write(string.format("LeNet batch 512, ember's 1-to-2-thread speed-up: %.2fx (target >= 1.8x: %s)\n", e1 / e2,
                           e1 / e2 >= 1.8 and "met" or "MISSED"))
  end
  io.write(string.format("scaling took %.0f s; load average now %s\n", clock() - t0, loadavg()))
end

------------------------------------------------------------------------------------------------------
-- determinism: what the same bits at every thread count cost (bench/determinism.c): the products of one
-- step through em_sgemm's shape-fixed blocks against one call on OpenBLAS's own threads, and the ordered
-- sums of the convolutions' per-group partials; read against the step times of the scaling table

if selected("determinism") then
  local exe = os.tmpname()
  local ok = os.execute(string.format("${CC:-cc} -O2 -std=gnu99 -Icore %s %s -ldl -lm -lpthread -lz -o %s >/dev/null 2>&1",
                                      sh_quote(DIR .. "/determinism.c"), sh_quote(BUILD .. "/libembercore.a"),
                                      sh_quote(exe)))
  local res = ok and run(EMBER_ENV .. " " .. sh_quote(exe)) or {}
  os.remove(exe)
  if not ok or res.error then
    failures[#failures + 1] = "determinism: " .. (res.error or "bench/determinism.c did not build")
  else
    io.write("\nThe cost of thread-count-invariant results (bench/determinism.c; us per step, medians of 31 runs):\n")
    io.write(string.format("%-10s %3s %12s %12s %10s %12s\n", "workload", "thr", "invariant", "OpenBLAS-thr",
                           "cost", "of a step"))
    for _, w in ipairs(SCALING) do
      for th = 1, 2 do
        local e, o, any = 0, 0, false
        for key, v in pairs(res) do
          local wid, t = key:match("^([^/]+)/[^/]+/(%d+)$")
          if wid == w.id and tonumber(t) == th then
            local ev, ov = v:match("^([^,]+),(.+)$")
            e, o, any = e + tonumber(ev), o + tonumber(ov), true
          end
        end
        if any then
          local step = scale and scale[w.id] and scale[w.id][th] and median(scale[w.id][th].ember)
          local share = step and string.format("%+.1f%%", 100 * (e - o) / (step * 1e3)) or "-"
          io.write(string.format("%-10s %3d %12.1f %12.1f %+10.1f %12s\n", w.id, th, e, o, e - o, share))
          add_row("determinism", w.id, th, "us/step", e, o, nil, "", share, "", "")
        end
      end
    end
    io.write("invariant: em_sgemm's shape-fixed blocks on ember's pool, plus the ordered sums of conv partials;\n",
             "OpenBLAS-thr: each product as one OpenBLAS call on its own threads (bits change with the thread count);\n",
             "of a step: the difference against ember's step time in the scaling table (target: at most 5%)\n")
  end
end

------------------------------------------------------------------------------------------------------
-- profile of one LeNet step (ember only)

if selected("profile") then
  for _, th in ipairs{2, 1} do
    io.write(string.format("\nPer-op profile of LeNet training steps in ember (bench/lenet_profile.lua, %d thread%s):\n",
                           th, th == 1 and "" or "s"))
    io.flush()
    -- the profile prints its own table; its result lines go to results.tsv
    local p = io.popen(ember_cmd("lenet_profile", th) .. " 2>&1", "r")
    for l in p:lines() do
      local k, v = l:match("^result\t([^\t]+)\t(.*)$")
      if k then rows[#rows + 1] = {"profile", k, tostring(th), "ms", v, "", "", "", "", "", ""}
      else io.write("  ", l, "\n") end
    end
    if not p:close() then failures[#failures + 1] = "profile: lenet_profile.lua failed" end
  end
  -- where the C time goes: perf's software clock samples of plain training steps (no hardware
  -- counters needed, so it works in a VM)
  local perf_ok = os.getenv("BENCH_PERF") ~= "0" and os.execute("command -v perf >/dev/null 2>&1")
  if perf_ok then
    local data = os.tmpname()
    local steps = QUICK and 50 or 300
    local ok = os.execute(string.format("perf record -q -e cpu-clock -F 4000 -o %s -- %s --plain %d >/dev/null 2>&1",
                                        sh_quote(data), ember_cmd("lenet_profile", 2), steps))
    if ok then
      io.write(string.format("\nperf (cpu-clock samples, %d plain LeNet steps at 2 threads, batch 64): top symbols\n", steps))
      local p = io.popen(string.format("perf report -i %s --stdio --no-children --sort dso,sym 2>/dev/null",
                                       sh_quote(data)), "r")
      local shown = 0
      for l in p:lines() do
        if shown < 25 and l:match("^%s+%d+%.%d+%%") then
          io.write("  ", l, "\n")
          shown = shown + 1
          local pct, dso, sym = l:match("^%s+(%d+%.%d+)%%%s+(%S+)%s+%[.%]%s+(.-)%s*$")
          if pct then rows[#rows + 1] = {"perf", sym, "2", "%", pct, "", "", "", dso, "", ""} end
        end
      end
      p:close()
    else
      io.write("\n(perf record did not work here; skipped. BENCH_PERF=0 skips it silently.)\n")
    end
    os.remove(data)
  end
end

local f = assert(io.open(RESULTS, "w"))
f:write("benchmark\tmetric\tthreads\tunit\tember\tpytorch\tratio\ttarget\tstatus\tember_runs\tpytorch_runs\n")
for _, r in ipairs(rows) do f:write(table.concat(r, "\t"), "\n") end
f:close()
io.write("\nwrote ", RESULTS, "\n")
os.exit(#failures == 0 and 0 or 1)
