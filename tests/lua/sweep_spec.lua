-- Unit specs of ember.sweep: option parsing and its errors, grid expansion and order, seeded random
-- draws (checked against splitmix64's published first outputs), run names, resume decisions from
-- run directories made here, sweep.tsv, the command lines of each engine (run through sh with a fake
-- executable, so quoting is checked by a real shell) and the --dry-run text. The engines themselves run
-- end to end in tests/sweep/test_local.sh and tests/sweep/test_slurm.sh.
local lfs = require "lfs"
local sweep = require "ember.sweep"
local E = require "ember.error"

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local function write(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

local function sh(cmd)
  local p = io.popen(cmd)
  local out = p:read("a")
  local _, _, code = p:close()
  return out, code
end

local function tmpdir()
  local d = os.tmpname()
  os.remove(d)
  assert(lfs.mkdir(d))
  return d
end

local function parse(line)
  local args = {}
  for w in line:gmatch("%S+") do args[#args + 1] = w end
  return sweep.parse(args)
end

local function sink()
  local s = {text = ""}
  function s:write(...) for _, x in ipairs{...} do self.text = self.text .. tostring(x) end return self end
  function s:flush() return self end
  return s
end

local function names(points)
  local out = {}
  for i, p in ipairs(points) do out[i] = p.name end
  return out
end

-- a run directory below dir/name with meta and params (tables of key = value)
local function make_run(dir, name, id, meta, params)
  local d = dir .. "/" .. name
  sh("mkdir -p '" .. d .. "'")
  local r = d .. "/" .. id
  lfs.mkdir(r)
  local function kv(t)
    local keys = {}
    for k in pairs(t) do keys[#keys + 1] = k end
    table.sort(keys)
    local lines = {}
    for _, k in ipairs(keys) do lines[#lines + 1] = k .. "\t" .. t[k] .. "\n" end
    return table.concat(lines)
  end
  write(r .. "/meta.tsv", kv(meta))
  if params then write(r .. "/params.tsv", kv(params)) end
  write(r .. "/metrics.tsv", "epoch\tvalid_loss\ttime\n1\t0.5\t0.1\n2\t0.25\t0.2\n3\t0.375\t0.3\n")
  return r
end

describe("sweep.parse", function()
  it("reads grids, random ranges, sets and engine options in both --opt v and --opt=v forms", function()
    local o = assert(sweep.parse{"exp.lua", "--grid", "lr=0.1, 0.01", "--grid=opt=sgd,adam", "--random", "wd=1e-5:1e-2:log",
      "--trials=3", "--seeds", "2", "--set", "epochs=5", "--engine=slurm", "--partition", "gpu", "--time=1:00:00",
      "--cpus-per-task", "4", "--mem", "4G", "--slurm-arg", "--qos=low", "--jobs", "3", "--name", "s1", "--runs", "out",
      "--", "a b", "--x"})
    assert.are.equal("exp.lua", o.script)
    assert.are.same({"lr", "opt", "wd"}, {o.keys[1].key, o.keys[2].key, o.keys[3].key})
    assert.are.same({"0.1", "0.01"}, o.keys[1].values)
    assert.are.same({"sgd", "adam"}, o.keys[2].values)
    assert.are.same({1e-5, 1e-2, true, false}, {o.keys[3].lo, o.keys[3].hi, o.keys[3].log, o.keys[3].int})
    assert.are.same({3, 2, 4, 3}, {o.trials, o.seeds, o.cpus, o.jobs})
    assert.are.same({{key = "epochs", value = "5"}}, o.set)
    assert.are.same({"slurm", "gpu", "1:00:00", "4G", "s1", "out"}, {o.engine, o.partition, o.time, o.mem, o.name, o.runs})
    assert.are.same({"--qos=low"}, o.slurm_args)
    assert.are.same({"a b", "--x"}, o.script_args)
  end)

  it("splits on ';' when a grid value holds commas, and types integer ranges", function()
    local o = assert(sweep.parse{"e.lua", "--grid", "betas=0.9,0.99;0.5,0.9", "--random", "layers=1:4", "--trials", "2"})
    assert.are.same({"0.9,0.99", "0.5,0.9"}, o.keys[1].values)
    assert.is_true(o.keys[2].int)
    assert.is_false(o.keys[2].log)
  end)

  it("takes the flags", function()
    local o = assert(parse("e.lua --seeds 2 --dry-run --wait --status --rerun-running"))
    assert.are.same({true, true, true, true}, {o.dry_run, o.wait, o.status, o.rerun_running})
    assert.are.equal("local", o.engine)
    assert.are.equal("runs", o.runs)
    assert.is_true(assert(sweep.parse{"-h"}).help)
  end)

  local bad = {
    {"--grid lr=1,2", "give the experiment script"},
    {"e.lua --grid lr", "--grid needs KEY=V1,V2,... (got 'lr')"},
    {"e.lua --grid lr=1,,2", "--grid lr=1,,2: empty value"},
    {"e.lua --grid lr=1,2,1", "value '1' is given twice"},
    {"e.lua --grid l$r=1,2", "the key must be a config name"},
    {"e.lua --grid lr=1,2 --set lr=3", "key 'lr' is given twice (--grid and --set)"},
    {"e.lua --random lr=1:0.1 --trials 2", "LO must be below HI (got 1 and 0.1)"},
    {"e.lua --random lr=0:1:log --trials 2", "a log range needs LO > 0 (got 0)"},
    {"e.lua --random lr=1:2:sqrt --trials 2", "the scale must be log or lin (got 'sqrt')"},
    {"e.lua --random lr=x:2 --trials 2", "LO and HI must be finite numbers"},
    {"e.lua --random lr=0.1:1", "--random needs --trials N"},
    {"e.lua --grid lr=1,2 --trials 3", "--trials needs at least one --random"},
    {"e.lua --set lr=1", "nothing to sweep"},
    {"e.lua --seeds 3 --grid seed=1,2", "'seed' cannot also be in --grid"},
    {"e.lua --grid lr=1,2 --partition gpu", "--partition is an sbatch option: only with --engine slurm"},
    {"e.lua --grid lr=1,2 --parallel-arg -S", "--parallel-arg is only for --engine parallel"},
    {"e.lua --grid lr=1,2 --engine mpi", "--engine must be one of local, parallel, slurm (got 'mpi')"},
    {"e.lua --grid lr=1,2 --jobs 0", "--jobs needs a positive integer (got '0')"},
    {"e.lua --grid lr=1,2 --name a/b", "--name must be a folder name"},
    {"e.lua --grid lr=1,2 --bogus", "unknown option '--bogus'"},
    {"e.lua other.lua --grid lr=1,2", "unexpected argument 'other.lua'"},
    {"e.lua --grid", "--grid needs a value"},
  }
  for _, case in ipairs(bad) do
    it("refuses '" .. case[1] .. "'", function()
      local o, why = parse(case[1])
      assert.is_nil(o)
      assert.truthy(why:find(case[2], 1, true), why)
    end)
  end
end)

describe("sweep.expand", function()
  it("is the cartesian product, first key slowest, named by the keys that vary", function()
    local points, info = sweep.expand(assert(parse("e.lua --grid lr=0.1,0.01 --grid opt=sgd,adam,rms --grid epochs=3")))
    assert.are.same({"lr=0.1,opt=sgd", "lr=0.1,opt=adam", "lr=0.1,opt=rms",
                     "lr=0.01,opt=sgd", "lr=0.01,opt=adam", "lr=0.01,opt=rms"}, names(points))
    assert.are.same({"lr", "opt", "epochs"}, info.keys)
    assert.are.same({"lr", "opt"}, info.varying)
    assert.are.same({lr = "0.01", opt = "adam", epochs = "3"}, points[5].values)
    assert.is_nil(points[5].seed)
  end)

  it("repeats every combination over --seeds, seed last", function()
    local points, info = sweep.expand(assert(parse("e.lua --grid lr=1,2 --seeds 2")))
    assert.are.same({"lr=1,seed=1", "lr=1,seed=2", "lr=2,seed=1", "lr=2,seed=2"}, names(points))
    assert.are.same({1, 2, 1, 2}, {points[1].seed, points[2].seed, points[3].seed, points[4].seed})
    assert.are.same({"lr", "seed"}, info.varying)
    local one = sweep.expand(assert(parse("e.lua --seeds 1")))
    assert.are.same({"run"}, names(one))
    assert.are.equal(1, one[1].seed)
  end)

  it("crosses the grid with the random draws", function()
    local points = sweep.expand(assert(parse("e.lua --grid opt=sgd,adam --random x=2:5 --trials 3")))
    -- integers 2..5: 2 + floor(4u) with splitmix64's first three u from seed 0 (0.8833, 0.4315, 0.02643)
    assert.are.same({"opt=sgd,x=5", "opt=sgd,x=3", "opt=sgd,x=2", "opt=adam,x=5", "opt=adam,x=3", "opt=adam,x=2"},
                    names(points))
    -- floats: 2 + 3u
    local floats = sweep.expand(assert(parse("e.lua --random x=2.0:5 --trials 3")))
    assert.are.same({"x=4.65", "x=3.295", "x=2.079"}, names(floats))
  end)

  it("drops repeated integer draws and counts them", function()
    local points, info = sweep.expand(assert(parse("e.lua --random layers=1:4 --trials 40")))
    assert.are.equal(4, #points)
    assert.are.equal(36, info.dropped)
    local seen = {}
    for _, p in ipairs(points) do seen[p.values.layers] = true end
    assert.are.same({["1"] = true, ["2"] = true, ["3"] = true, ["4"] = true}, seen)
  end)
end)

describe("sweep.draw", function()
  it("follows splitmix64 from the seed (first outputs 0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4, ...)", function()
    -- u = output / 2^64: 0.88331, 0.43153, 0.026434; log-uniform on [1e-4, 1e-1]: 1e-4 * 1000^u
    local d = sweep.draw({{key = "lr", lo = 1e-4, hi = 1e-1, log = true, int = false}}, 3, 0)
    assert.are.same({"0.04466", "0.001971", "0.00012"}, {d[1].lr, d[2].lr, d[3].lr})
    local i = sweep.draw({{key = "n", lo = 1, hi = 4, log = false, int = true}}, 3, 0)
    assert.are.same({"4", "2", "1"}, {i[1].n, i[2].n, i[3].n})
  end)

  it("gives the same draws for the same seed and others for another", function()
    local spec = {{key = "a", lo = 0, hi = 1, log = false, int = false}, {key = "b", lo = 1, hi = 100, log = true, int = true}}
    assert.are.same(sweep.draw(spec, 5, 7), sweep.draw(spec, 5, 7))
    assert.are_not.same(sweep.draw(spec, 5, 7), sweep.draw(spec, 5, 8))
  end)

  it("stays in range, log draws included", function()
    local d = sweep.draw({{key = "x", lo = 1e-3, hi = 1, log = true, int = false},
                          {key = "k", lo = 16, hi = 256, log = true, int = true},
                          {key = "y", lo = -2, hi = -1, log = false, int = false}}, 300, 3)
    for _, r in ipairs(d) do
      local x, k, y = tonumber(r.x), tonumber(r.k), tonumber(r.y)
      assert.is_true(x >= 1e-3 and x <= 1, r.x)
      assert.is_true(k >= 16 and k <= 256 and math.type(math.tointeger(k)) == "integer", r.k)
      assert.is_true(y >= -2 and y <= -1, r.y)
    end
  end)
end)

describe("sweep.run_name", function()
  it("writes '/', '%' and control characters as %XX", function()
    assert.are.equal("data=a%2Fb%25c%0Ad,lr=1", sweep.run_name({values = {data = "a/b%c\nd", lr = "1"}}, {"data", "lr"}))
  end)

  it("is 'run' when nothing varies", function()
    assert.are.equal("run", sweep.run_name({values = {lr = "1"}}, {}))
  end)

  it("cuts a long name to 200 bytes with a hash of the whole", function()
    local a = sweep.run_name({values = {k = string.rep("x", 300) .. "1"}}, {"k"})
    local b = sweep.run_name({values = {k = string.rep("x", 300) .. "2"}}, {"k"})
    assert.are.equal(200, #a)
    assert.truthy(a:match("^k=x+~%x+$"), a)
    assert.are_not.equal(a, b)
  end)
end)

describe("sweep.quote and command lines", function()
  it("quotes every word for sh", function()
    assert.are.equal("'it'\\''s'", sweep.quote("it's"))
    assert.are.equal("'a b' '' '$x'", sweep.command_line{"a b", "", "$x"})
  end)

  it("passes any text through a real sh unchanged", function()
    local marker = os.tmpname()
    os.remove(marker)
    local words = {"plain", "two words", "it's", "$(touch " .. marker .. ")", "`touch " .. marker .. "`", '"dq"', "back\\slash",
                   "new\nline", "semi;colon", "*", "--flag=x", "tab\there", "'"}
    local out = sh("printf '%s\\0' " .. sweep.command_line(words))
    local got = {}
    for w in out:gmatch("([^%z]*)%z") do got[#got + 1] = w end
    assert.are.same(words, got)
    assert.is_nil(lfs.attributes(marker))
  end)
end)

describe("sweep.run_argv", function()
  local ctx = {exe = "/x/ember", script = "/w/exp.lua", sweepdir = "/w/runs/s", threads = 2, keys = {"lr", "opt"},
               set = {{key = "epochs", value = "3"}}, script_args = {"a"}}

  it("starts a new run in the sweep folder, named, with every value", function()
    local e = {action = "new", name = "lr=1,opt=sgd", values = {lr = "1", opt = "sgd"}, seed = 4}
    assert.are.same({"/x/ember", "run", "/w/exp.lua", "--runs", "/w/runs/s", "--name", "lr=1,opt=sgd",
                     "--set", "epochs=3", "--set", "lr=1", "--set", "opt=sgd", "--seed", "4", "--threads", "2", "--", "a"},
                    sweep.run_argv(e, ctx))
  end)

  it("resumes a run in its own directory", function()
    local e = {action = "resume", name = "lr=1", values = {lr = "1"}, dir = "/w/runs/s/lr=1/20250101-000000-abcdef"}
    assert.are.same({"/x/ember", "run", "--resume", "/w/runs/s/lr=1/20250101-000000-abcdef", "/w/exp.lua",
                     "--threads", "2", "--", "a"}, sweep.run_argv(e, ctx))
  end)
end)

describe("sweep.decide", function()
  local dir
  before_each(function() dir = tmpdir() end)
  after_each(function() sh("rm -rf '" .. dir .. "'") end)

  local function decide(e, extra)
    local ctx = {sweepdir = dir, host = "me", alive = function(pid) return pid == 111 end}
    for k, v in pairs(extra or {}) do ctx[k] = v end
    e.values = e.values or {lr = "0.1"}
    return sweep.decide(e, ctx)
  end

  it("starts a run that has no directory", function()
    assert.are.equal("new", (decide{name = "lr=0.1"}))
  end)

  it("skips finished and stopped-early runs; resumes failed, interrupted and diverged ones", function()
    local want = {finished = "skip", ["stopped-early"] = "skip", failed = "resume", interrupted = "resume",
                  diverged = "resume"}
    for st, action in pairs(want) do
      local r = make_run(dir, st, "20250101-000000-aaaaaa", {status = st, host = "me", pid = "5"}, {lr = "0.1"})
      local e = {name = st}
      assert.are.equal(action, (decide(e)), st)
      assert.are.equal(r, e.dir)
      assert.are.equal(st, e.status)
    end
  end)

  it("starts afresh when the failed run cannot be resumed (no params.tsv)", function()
    make_run(dir, "x", "20250101-000000-aaaaaa", {status = "failed"}, nil)
    local action, why = decide{name = "x"}
    assert.are.equal("new", action)
    assert.are.equal("failed, not resumable", why)
  end)

  it("looks at the newest run directory", function()
    make_run(dir, "x", "20250101-000000-aaaaaa", {status = "finished"}, {lr = "0.1"})
    local newer = make_run(dir, "x", "20250102-000000-bbbbbb", {status = "failed"}, {lr = "0.1"})
    local e = {name = "x"}
    assert.are.equal("resume", (decide(e)))
    assert.are.equal(newer, e.dir)
  end)

  it("leaves a running run alone while its process lives or when it runs elsewhere", function()
    make_run(dir, "alive", "20250101-000000-aaaaaa", {status = "running", host = "me", pid = "111"}, {lr = "0.1"})
    make_run(dir, "dead", "20250101-000000-aaaaaa", {status = "running", host = "me", pid = "222"}, {lr = "0.1"})
    make_run(dir, "far", "20250101-000000-aaaaaa", {status = "running", host = "node7", pid = "111"}, {lr = "0.1"})
    assert.are.same({"running", "running as process 111"}, {decide{name = "alive"}})
    assert.are.same({"resume", "running, but its process 222 is gone"}, {decide{name = "dead"}})
    assert.are.same({"running", "running on node7"}, {decide{name = "far"}})
    assert.are.same({"resume", "running, but no job of the sweep is left in the queue"},
                    {decide({name = "far"}, {queue_empty = true})})
    assert.are.same({"resume", "running, but --rerun-running"}, {decide({name = "alive"}, {rerun_running = true})})
  end)

  it("refuses a run directory started with other values, and accepts the same value spelled otherwise", function()
    make_run(dir, "x", "20250101-000000-aaaaaa", {status = "finished", seed = "2"},
             {lr = "0.001", epochs = "5", betas = "0.9,0.999", flag = "true"})
    local ok, err = pcall(decide, {name = "x", values = {lr = "0.01"}})
    assert.is_false(ok)
    assert.truthy(E.message(err):find("was started with lr=0.001, but this sweep passes lr=0.01", 1, true), E.message(err))
    ok, err = pcall(decide, {name = "x", values = {lr = "1e-3"}}, {set = {{key = "epochs", value = "6"}}})
    assert.truthy(E.message(err):find("epochs=5, but this sweep passes epochs=6", 1, true))
    ok, err = pcall(decide, {name = "x", values = {lr = "1e-3"}, seed = 3})
    assert.truthy(E.message(err):find("started with seed 2, but this sweep passes --seed 3", 1, true))
    assert.are.equal("skip", (decide({name = "x", values = {lr = "1e-3", betas = "0.90, 0.999"}, seed = 2},
                                      {set = {{key = "epochs", value = "5.0"}, {key = "flag", value = "yes"}}})))
  end)
end)

describe("sweep.refresh and sweep.tsv_text", function()
  local dir
  before_each(function() dir = tmpdir() end)
  after_each(function() sh("rm -rf '" .. dir .. "'") end)

  it("tells the status from meta.tsv and the exit status, and writes exact numbers", function()
    local ctx = {sweepdir = dir, keys = {"lr"}}
    lfs.mkdir(dir .. "/logs")
    make_run(dir, "lr=1", "20250101-000000-aaaaaa", {status = "finished", monitor = "valid_loss", mode = "min"}, {lr = "1"})
    make_run(dir, "lr=2", "20250101-000000-bbbbbb", {status = "running"}, {lr = "2"})
    write(dir .. "/logs/lr=2.exit", "130\n")
    write(dir .. "/logs/lr=3.exit", "2\n")
    write(dir .. "/logs/lr=3.log", "== x\nember run: config: unknown key 'lr'\n")
    local es = {}
    for i, v in ipairs{"1", "2", "3", "4"} do es[i] = sweep.refresh({name = "lr=" .. v, values = {lr = v}}, ctx) end
    es[4].state = "pending"
    sweep.refresh(es[4], ctx)
    assert.are.same({"finished", "interrupted", "failed", "pending"}, {es[1].status, es[2].status, es[3].status, es[4].status})
    assert.are.same({"valid_loss", 0.25, 3}, {es[1].metric, es[1].best, es[1].epochs})
    assert.are.equal(table.concat({
      "name\tlr\tstatus\tmetric\tbest\tepochs\texit\tdir\tlog",
      "lr=1\t1\tfinished\tvalid_loss\t0.25\t3\t\tlr=1/20250101-000000-aaaaaa\t",
      "lr=2\t2\tinterrupted\tvalid_loss\t0.25\t3\t130\tlr=2/20250101-000000-bbbbbb\t",
      "lr=3\t3\tfailed\t\t\t\t2\t\tlogs/lr=3.log",
      "lr=4\t4\tpending\t\t\t\t\t\t", ""}, "\n"), sweep.tsv_text(es, ctx))
  end)

  it("adds a seed column under --seeds and keeps fields on one line", function()
    local ctx = {sweepdir = dir, keys = {"tag"}, seeds = 2}
    local e = {name = "x", values = {tag = "a\tb\nc"}, seed = 2, status = "new"}
    assert.are.equal("name\ttag\tseed\tstatus\tmetric\tbest\tepochs\texit\tdir\tlog\nx\ta b c\t2\tnew\t\t\t\t\t\t\n",
                     sweep.tsv_text({e}, ctx))
  end)
end)

describe("engine scripts", function()
  local dir, fake, ctx
  before_each(function()
    dir = tmpdir()
    lfs.mkdir(dir .. "/logs")
    -- a fake ember: prints its arguments one per line (between > <) and exits with status 3
    fake = dir .. "/fake ember"
    write(fake, "#!/bin/sh\nfor a in \"$@\"; do printf '>%s<\\n' \"$a\"; done\necho oops >&2\nexit 3\n")
    sh("chmod +x '" .. fake .. "'")
    ctx = {exe = fake, script = dir .. "/exp.lua", sweepdir = dir, keys = {"tag"}, threads = 1, jobs = 2, cpus = 1,
           name = "s"}
  end)
  after_each(function() sh("rm -rf '" .. dir .. "'") end)

  local nasty = "it's $(echo no) `x`"

  it("job_shell (slurm) logs a header and the output, records the exit status and exits with it", function()
    local e = {action = "new", name = "tag=a", values = {tag = nasty}}
    local _, code = sh("cd '" .. dir .. "' && sh -c " .. sweep.quote(sweep.job_shell(e, ctx, "slurm")))
    assert.are.equal(3, code)
    assert.are.equal("3\n", read(dir .. "/logs/tag=a.exit"))
    local log = read(dir .. "/logs/tag=a.log")
    assert.truthy(log:match("^== %d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%d [^\n]* %(slurm job _%): '"), log)
    assert.truthy(log:find("\n>run<\n>" .. dir .. "/exp.lua<\n>--runs<\n>" .. dir .. "<\n>--name<\n>tag=a<\n>--set<\n>tag="
                           .. nasty .. "<\n>--threads<\n>1<\noops\n", 1, true), log)
  end)

  it("job_shell (parallel) prints the start and end lines around the run", function()
    local e = {action = "new", name = "tag=b", values = {tag = "b"}}
    local out, code = sh("sh -c " .. sweep.quote(sweep.job_shell(e, ctx, "parallel", 7)))
    assert.are.equal("S 7\nE 7 3\n", out)
    assert.are.equal(3, code)
  end)

  it("sbatch_script runs the entry of task id + offset", function()
    local todo = {}
    for i, v in ipairs{"a", "b", "c"} do todo[i] = {action = "new", name = "tag=" .. v, values = {tag = v}} end
    local path = dir .. "/sweep.sbatch"
    write(path, sweep.sbatch_script(todo, ctx))
    local _, code = sh("cd '" .. dir .. "' && SLURM_ARRAY_JOB_ID=9 SLURM_ARRAY_TASK_ID=0 sh '" .. path .. "' 2")
    assert.are.equal(3, code)
    assert.truthy(read(dir .. "/logs/tag=c.log"):find("(slurm job 9_0)", 1, true))
    assert.is_nil(read(dir .. "/logs/tag=a.log"))
    local out
    out, code = sh("SLURM_ARRAY_TASK_ID=5 sh '" .. path .. "' 0 2>&1")
    assert.are.equal(2, code)
    assert.truthy(out:find("no run number 5", 1, true))
  end)

  it("sbatch_argv passes the options and throttles with --jobs", function()
    local c = {sweepdir = "/r/s%x", name = "s", cpus = 4, jobs = 2, partition = "gpu", time = "10:00", mem = "2G",
               slurm_args = {"--qos=low", "--signal=B:TERM@60"}}
    assert.are.same({"sbatch", "--parsable", "--job-name=ember-sweep-s", "--array=0-4%2", "--output=/r/s%%x/slurm/%A_%a.out",
                     "--cpus-per-task=4", "--partition=gpu", "--time=10:00", "--mem=2G", "--qos=low", "--signal=B:TERM@60",
                     "/r/s%x/slurm/sweep.sbatch", "7"}, sweep.sbatch_argv(c, 5, 7))
  end)

  it("parallel_files: one job line per run and a parallel.sh taking more arguments", function()
    local todo = {{action = "new", name = "tag=a", values = {tag = "a"}}, {action = "new", name = "tag=b", values = {tag = "b"}}}
    ctx.parallel_args = {"--sshlogin", "h1,h2"}
    local jobs, script = sweep.parallel_files(todo, ctx)
    assert.are.equal(2, select(2, jobs:gsub("\n", "")))
    assert.truthy(jobs:find('echo "S 2"', 1, true))
    assert.truthy(script:find("exec 'parallel' '--jobs' '2' '--line-buffer' '--termseq' 'TERM,60000,KILL,25' '--joblog' '"
                              .. dir .. "/parallel/joblog' '--sshlogin' 'h1,h2' \"$@\" -a '" .. dir .. "/parallel/jobs.txt'", 1, true),
                  script)
  end)
end)

describe("sweep.plan and --dry-run", function()
  local dir
  before_each(function()
    dir = tmpdir()
    write(dir .. "/exp.lua", "-- nothing\n")
  end)
  after_each(function() sh("rm -rf '" .. dir .. "'") end)

  local function plan(line, env)
    env = env or {}
    env.cwd, env.exe, env.host = dir, "/bin/ember", "me"
    env.cores = env.cores or 8
    return sweep.plan(assert(parse(line)), env)
  end

  it("sizes the pool: cores / threads, one thread each when several run at once", function()
    local _, c = plan("exp.lua --grid a=1,2")
    assert.are.same({8, 1}, {c.jobs, c.threads})
    _, c = plan("exp.lua --grid a=1,2 --threads 4")
    assert.are.same({2, 4}, {c.jobs, c.threads})
    _, c = plan("exp.lua --grid a=1,2 --jobs 1")
    assert.are.same({1}, {c.jobs, c.threads})
    _, c = plan("exp.lua --grid a=1,2 --engine slurm --cpus-per-task 3")
    assert.are.same({3, 3}, {c.threads, c.cpus})
    assert.is_nil(c.jobs)
  end)

  it("names the sweep after the script and puts it below --runs", function()
    local _, c = plan("exp.lua --grid a=1,2 --runs out/")
    assert.are.same({"exp", dir .. "/out/exp", dir .. "/exp.lua"}, {c.name, c.sweepdir, c.script})
  end)

  it("prints the decisions and the ember run commands (local)", function()
    make_run(dir .. "/runs/exp", "a=1", "20250101-000000-aaaaaa", {status = "finished"}, {a = "1"})
    make_run(dir .. "/runs/exp", "a=2", "20250101-000000-bbbbbb", {status = "failed"}, {a = "2"})
    local entries, c = plan("exp.lua --grid a=1,2,3 --jobs 2")
    local text = sweep.dry_run_text(entries, c)
    assert.are.equal(table.concat({
      "sweep exp: 3 run(s) in runs/exp: 1 new, 1 to resume, 1 done, 0 running",
      "  skip    a=1  (finished)",
      "  resume  a=2  (failed)",
      "  new     a=3  (no run yet)",
      "engine local: 2 at a time, 1 thread(s) each; each run:",
      "'/bin/ember' 'run' '--resume' '" .. dir .. "/runs/exp/a=2/20250101-000000-bbbbbb' '" .. dir .. "/exp.lua' '--threads' '1'"
        .. " >>'" .. dir .. "/runs/exp/logs/a=2.log'",
      "'/bin/ember' 'run' '" .. dir .. "/exp.lua' '--runs' '" .. dir .. "/runs/exp' '--name' 'a=3' '--set' 'a=3' '--threads' '1'"
        .. " >>'" .. dir .. "/runs/exp/logs/a=3.log'", ""}, "\n"), text)
  end)

  it("splits a slurm array at MaxArraySize", function()
    local entries, c = plan("exp.lua --grid a=1,2,3,4,5 --engine slurm --jobs 2")
    c.max_array = 2
    local text = sweep.dry_run_text(entries, c)
    local subs = {}
    for line in text:gmatch("[^\n]+") do
      if line:find("^'sbatch'") then subs[#subs + 1] = line:match("'%-%-array=([^']*)'") .. " " .. line:match("'(%d+)'$") end
    end
    assert.are.same({"0-1%2 0", "0-1%2 2", "0-0%2 4"}, subs)
    assert.truthy(text:find("\n4) # a=5\n", 1, true))
  end)
end)

describe("sweep.cli", function()
  it("reports bad usage with exit status 2 and the usage text", function()
    local err = sink()
    assert.are.equal(2, sweep.cli({"exp.lua", "--grid", "lr"}, {stderr = err, stdout = sink()}))
    assert.truthy(err.text:find("^ember sweep: %-%-grid needs KEY=V1,V2"))
    assert.truthy(err.text:find("usage: ember sweep SCRIPT", 1, true))
  end)

  it("prints the usage for --help", function()
    local out = sink()
    assert.are.equal(0, sweep.cli({"--help"}, {stdout = out}))
    assert.truthy(out.text:find("Resume: run the same command again.", 1, true))
  end)

  it("fails with exit status 1 for a missing script", function()
    local err = sink()
    assert.are.equal(1, sweep.cli({"/nonexistent/exp.lua", "--grid", "a=1,2", "--dry-run"}, {stderr = err, stdout = sink()}))
    assert.are.equal("ember sweep: cannot open script '/nonexistent/exp.lua'\n", err.text)
  end)
end)
