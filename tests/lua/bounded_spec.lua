-- bounded_spec.lua - work that must stay bounded whatever the input: printing a tensor of any shape,
-- a CSV header of 100k columns, OpenBLAS under an address-space limit (ulimit -v), and a signal that
-- comes while ember is stuck in C code. Behaviour is checked, never time.
local ember = require "ember"
local h = dofile("tests/lua/spec_helper.lua")

local lfs = require "lfs"
local cwd = lfs.currentdir()
local EMBER = os.getenv("EMBER_BIN") or cwd .. "/build/ember"
if EMBER:sub(1, 1) ~= "/" then EMBER = cwd .. "/" .. EMBER end
local function q(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- runs a shell command; returns its stdout and exit status
local function sh(cmd)
  local p = io.popen("(" .. cmd .. ") 2>&1")
  local out = p:read("a")
  local _, _, code = p:close()
  return out, code
end

local function count(s, pat)
  local n = 0
  for _ in s:gmatch(pat) do n = n + 1 end
  return n
end

describe("printing", function()
  it("shows an empty tensor as [] with its shape, however many rows of nothing it has", function()
    assert.equal("tensor([], shape [1099511627776 x 0])", tostring(ember.zeros(2 ^ 40, 0)))
    assert.equal("tensor([], shape [0])", tostring(ember.zeros(0)))
    assert.equal("tensor([], shape [3 x 0 x 2])", tostring(ember.zeros(3, 0, 2)))
  end)
  it("summarises an expanded view of 2^40 elements from its edges", function()
    assert.equal("tensor([1, 1, 1, ..., 1, 1, 1], shape [1099511627776])", tostring(ember.ones(1):expand(2 ^ 40)))
    local s = tostring(ember.ones(1):expand(7, 7, 7, 7))   -- 2401 elements: 6 of 7 shown per dimension
    assert.equal(6 ^ 4, count(s, "1[,%]]"))
    assert.equal(1 + 6 + 36 + 216, count(s, "%.%.%."))
  end)
  it("takes the number format from the entries shown, as PyTorch does", function()
    local x = ember.arange(2000)
    x[1001] = 0.5   -- hidden in the middle: the shown entries are integers
    assert.equal("tensor([   0,    1,    2, ..., 1997, 1998, 1999], shape [2000])", tostring(x))
    assert.matches("^tensor%(%[%[1%.5000, 2%.0000%],", tostring(ember.tensor{{1.5, 2}, {3, 4}}))
    assert.equal("tensor(3.5000, shape [])", tostring(ember.tensor(3.5)))
    assert.equal("tensor(nan, shape [])", tostring(ember.tensor(0 / 0)))
  end)
  it("leaves tensors of at most 1000 elements whole", function()
    assert.equal(0, count(tostring(ember.zeros(10, 100)), "%.%.%."))
    assert.equal(2, count(tostring(ember.zeros(2, 501)), "%.%.%."))
  end)
end)

describe("csv header", function()
  local dir
  before_each(function() dir = h.tmpdir() end)
  after_each(function() h.rmdir(dir) end)
  local function wide(n, dup_at, dup_of)
    local names, row = {}, {}
    for i = 1, n do names[i] = "col" .. i; row[i] = "1" end
    if dup_at then names[dup_at] = names[dup_of] end
    local path = dir .. "/wide.csv"
    h.write(path, table.concat(names, ",") .. "\n" .. table.concat(row, ",") .. "\n")
    return path
  end
  it("reads 100000 named columns", function()
    local x, names = ember._csv_read(wide(100000))
    assert.same({1, 100000}, x:shape())
    assert.equal("col99999", names[99999])
  end)
  it("names the first duplicate of a wide header and the column it repeats", function()
    local ok, e = pcall(ember._csv_read, wide(100000, 99999, 5))
    assert.is_false(ok)
    assert.matches('duplicate column name "col5" %(columns 5 and 99999%)', tostring(e))
    ok, e = pcall(ember._csv_read, wide(1000, 900, 7))
    assert.matches('%(columns 7 and 900%)', tostring(e))
  end)
end)

-- AddressSanitizer reserves terabytes of shadow memory: it cannot run under ulimit -v
local asan = os.getenv("EMBER_ASAN")

describe("OpenBLAS under an address-space limit", function()
  local mm = "local a = ember.randn(300, 300); print((a:matmul(a)):sum():item() == (a:matmul(a)):sum():item()); "
    .. "print(ember.blas().info)"
  it("falls back to the built-in GEMM when its 128 MiB buffer cannot fit", function()
    if asan then return pending("ulimit -v cannot hold AddressSanitizer's shadow memory") end
    local out, code = sh(("ulimit -v 400000; timeout -k 5 60 %s --threads 32 -e %s"):format(q(EMBER), q(mm)))
    assert.equal(0, code, out)
    assert.matches("^true\nbuilt%-in gemm %(the address%-space limit of %d+ MiB leaves no room", out)
  end)
  it("caps OpenBLAS's threads to what fits instead of spinning in its allocator", function()
    if asan then return pending("ulimit -v cannot hold AddressSanitizer's shadow memory") end
    local conv = "local x = ember.randn(16, 4, 24, 24); local y = ember.conv2d(x, ember.randn(8, 4, 5, 5)); "
      .. "print(y:shape()[4]); " .. mm
    local out, code = sh(("ulimit -v 1200000; timeout -k 5 60 %s --threads 32 -e %s"):format(q(EMBER), q(conv)))
    assert.equal(0, code, out)
    assert.matches("^20\ntrue\nOpenBLAS .*its threads capped by the address%-space limit", out)
  end)
end)

describe("signals", function()
  it("a second SIGTERM ends a process stuck in C code, which the first could not interrupt", function()
    local dir = h.tmpdir()
    -- os.execute waits in C (waitpid) for a shell that writes its pid and sleeps
    local script = ("os.execute('echo $$ > %s/child; exec sleep 30')"):format(dir)
    local out = sh(("%s -e %s & pid=$!; n=0; while [ ! -s %s/child ] && [ $n -lt 300 ]; do sleep 0.1; n=$((n+1)); done; "
      .. "kill -TERM $pid; sleep 0.5; kill -TERM $pid; wait $pid; echo \"rc=$?\"; kill $(cat %s/child) 2>/dev/null")
      :format(q(EMBER), q(script), q(dir), q(dir)))
    h.rmdir(dir)
    assert.matches("rc=143", out)   -- 128 + SIGTERM: killed by the second signal, not after the sleep
  end)
end)
