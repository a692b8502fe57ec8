-- sgemm.lua - a 1024 x 1024 x 1024 float32 matmul through ember (OpenBLAS underneath) on the threads
-- ember was given (`build/ember --threads 1`): GFLOP/s of the median call, and the BLAS kernel in use.
-- No environment variable is needed for the fast kernel: ember picks it before OpenBLAS loads.
-- Twin: sgemm_torch.py. Run: build/ember --threads 1 bench/sgemm.lua
local ember = require "ember"
local C = dofile((arg[0]:match("^(.*)/") or ".") .. "/common.lua")

local n = 1024
local reps = C.quick and 5 or 20
ember.manual_seed(1)
local a, b = ember.randn(n, n), ember.randn(n, n)
for _ = 1, 3 do local _ = a:matmul(b) end     -- warm-up: OpenBLAS buffers, page faults

local times = {}
for i = 1, reps do
  local t0 = ember.clock()
  local c <close> = a:matmul(b)   -- freed at once, not left to the GC
  times[i] = ember.clock() - t0
end
local t = C.median(times)
C.result("threads", C.threads())
C.result("seconds", t)
C.result("gflops", 2 * n * n * n / t / 1e9)
C.result("kernel", ember.blas().kernel)
C.result("blas", ember.blas().info)
