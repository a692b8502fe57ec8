-- Unit specs of ember.sweep: option parsing and its errors, the bound on the run count, grid expansion
-- and order, seeded random draws (checked against splitmix64's published first outputs), run names,
-- resume decisions from run directories made here, sweep.tsv, the command lines of each engine (run
-- through sh with a fake executable, so quoting is checked by a real shell), the --dry-run text, the
-- process binding (ember._process), and the local and parallel engines driving a fake `ember` (what
-- reaches a run, hostile values included, and what a stop request does while a run starts). The engines
-- run the real ember end to end in tests/sweep/test_local.sh and tests/sweep/test_slurm.sh.
local lfs = require "lfs"
local sweep = require "ember.sweep"
local plan = require "ember.sweep.plan"
local state = require "ember.sweep.state"
local job = require "ember.sweep.job"
local report = require "ember.sweep.report"
local slurm = require "ember.sweep.slurm"
local parallel = require "ember.sweep.parallel"
local E = require "ember.error"
local h = dofile("tests/lua/spec_helper.lua")
local read, write, tmpdir = h.read, h.write, h.tmpdir

local sh = h.sh

local function parse(line)
  local args = {}
  for w in line:gmatch("%S+") do args[#args + 1] = w end
  return sweep.parse(args)
end

local sink = h.sink

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

  it("refuses a control character in a --grid or --set value, naming the key", function()
    -- a newline in a value reached the runs, whose params.tsv wrote it as a space
    local o, why = sweep.parse{"e.lua", "--grid", "tag=a,b\nc"}
    assert.is_nil(o)
    assert.truthy(why:find("--grid tag=a,b c: the value of tag holds a control character (\\n (newline) at byte 4)",
                           1, true), why)
    o, why = sweep.parse{"e.lua", "--grid", "lr=1,2", "--set", "note=x\ty"}
    assert.is_nil(o)
    assert.truthy(why:find("--set note=x y: the value of note holds a control character (\\t (tab) at byte 2)", 1, true),
                  why)
    assert(sweep.parse{"e.lua", "--grid", "tag=a b,'c'\"d\"$(x)`y`", "--set", "note=é ü"})
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
    {"e.lua --seeds 1e9", "this sweep would make 1000000000 runs (seeds 1000000000); at most 100000 runs per sweep"},
    {"e.lua --seeds 100001", "would make 100001 runs (seeds 100001)"},
    {"e.lua --grid a=1,2 --random x=0:1 --trials 50001", "would make 100002 runs (a 2 x trials 50001)"},
    {"e.lua --seeds 9000000000000000000 --grid a=1,2", "would make more than 2^63 runs (a 2 x seeds 9000000000000000000)"},
  }
  for _, case in ipairs(bad) do
    it("refuses '" .. case[1] .. "'", function()
      local o, why = parse(case[1])
      assert.is_nil(o)
      assert.truthy(why:find(case[2], 1, true), why)
    end)
  end
end)

describe("plan.expand", function()
  it("refuses a sweep over the run limit before drawing or allocating anything", function()
    local values = {}
    for i = 1, 1000 do values[i] = tostring(i) end
    local grid = "=" .. table.concat(values, ",")
    local o = assert(sweep.parse{"e.lua", "--grid", "a" .. grid, "--grid", "b=" .. table.concat(values, ",", 1, 100)})
    assert.are.same({100000, "a 1000 x b 100"}, {plan.count(o)})
    local _, why = sweep.parse{"e.lua", "--grid", "a" .. grid, "--grid", "b" .. grid, "--grid", "c" .. grid}
    assert.truthy(why:find("^this sweep would make 1000000000 runs %(a 1000 x b 1000 x c 1000%); at most 100000"), why)
    -- expand refuses too, when called with options that did not go through the parser's checks
    o.seeds = 2
    local msg = h.errmsg(plan.expand, o)
    assert.truthy(msg:find("^ember sweep: this sweep would make 200000 runs %(a 1000 x b 100 x seeds 2%)"), msg)
    assert.are.equal("usage", h.errkind(plan.expand, o))
  end)

  it("is the cartesian product, first key slowest, named by the keys that vary", function()
    local points, info = plan.expand(assert(parse("e.lua --grid lr=0.1,0.01 --grid opt=sgd,adam,rms --grid epochs=3")))
    assert.are.same({"lr=0.1,opt=sgd", "lr=0.1,opt=adam", "lr=0.1,opt=rms",
                     "lr=0.01,opt=sgd", "lr=0.01,opt=adam", "lr=0.01,opt=rms"}, names(points))
    assert.are.same({"lr", "opt", "epochs"}, info.keys)
    assert.are.same({"lr", "opt"}, info.varying)
    assert.are.same({lr = "0.01", opt = "adam", epochs = "3"}, points[5].values)
    assert.is_nil(points[5].seed)
  end)

  it("repeats every combination over --seeds, seed last", function()
    local points, info = plan.expand(assert(parse("e.lua --grid lr=1,2 --seeds 2")))
    assert.are.same({"lr=1,seed=1", "lr=1,seed=2", "lr=2,seed=1", "lr=2,seed=2"}, names(points))
    assert.are.same({1, 2, 1, 2}, {points[1].seed, points[2].seed, points[3].seed, points[4].seed})
    assert.are.same({"lr", "seed"}, info.varying)
    local one = plan.expand(assert(parse("e.lua --seeds 1")))
    assert.are.same({"run"}, names(one))
    assert.are.equal(1, one[1].seed)
  end)

  it("crosses the grid with the random draws", function()
    local points = plan.expand(assert(parse("e.lua --grid opt=sgd,adam --random x=2:5 --trials 3")))
    -- integers 2..5: 2 + floor(4u) with splitmix64's first three u from seed 0 (0.8833, 0.4315, 0.02643)
    assert.are.same({"opt=sgd,x=5", "opt=sgd,x=3", "opt=sgd,x=2", "opt=adam,x=5", "opt=adam,x=3", "opt=adam,x=2"},
                    names(points))
    -- floats: 2 + 3u
    local floats = plan.expand(assert(parse("e.lua --random x=2.0:5 --trials 3")))
    assert.are.same({"x=4.65", "x=3.295", "x=2.079"}, names(floats))
  end)

  it("drops repeated integer draws and counts them", function()
    local points, info = plan.expand(assert(parse("e.lua --random layers=1:4 --trials 40")))
    assert.are.equal(4, #points)
    assert.are.equal(36, info.dropped)
    local seen = {}
    for _, p in ipairs(points) do seen[p.values.layers] = true end
    assert.are.same({["1"] = true, ["2"] = true, ["3"] = true, ["4"] = true}, seen)
  end)
end)

describe("plan.draw", function()
  it("follows splitmix64 from the seed (first outputs 0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4, ...)", function()
    -- u = output / 2^64: 0.88331, 0.43153, 0.026434; log-uniform on [1e-4, 1e-1]: 1e-4 * 1000^u
    local d = plan.draw({{key = "lr", lo = 1e-4, hi = 1e-1, log = true, int = false}}, 3, 0)
    assert.are.same({"0.04466", "0.001971", "0.00012"}, {d[1].lr, d[2].lr, d[3].lr})
    local i = plan.draw({{key = "n", lo = 1, hi = 4, log = false, int = true}}, 3, 0)
    assert.are.same({"4", "2", "1"}, {i[1].n, i[2].n, i[3].n})
  end)

  it("gives the same draws for the same seed and others for another", function()
    local spec = {{key = "a", lo = 0, hi = 1, log = false, int = false}, {key = "b", lo = 1, hi = 100, log = true, int = true}}
    assert.are.same(plan.draw(spec, 5, 7), plan.draw(spec, 5, 7))
    assert.are_not.same(plan.draw(spec, 5, 7), plan.draw(spec, 5, 8))
  end)

  it("stays in range, log draws included", function()
    local d = plan.draw({{key = "x", lo = 1e-3, hi = 1, log = true, int = false},
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

describe("plan.run_name", function()
  it("writes '/', '%' and control characters as %XX", function()
    assert.are.equal("data=a%2Fb%25c%0Ad,lr=1", plan.run_name({values = {data = "a/b%c\nd", lr = "1"}}, {"data", "lr"}))
  end)

  it("is 'run' when nothing varies", function()
    assert.are.equal("run", plan.run_name({values = {lr = "1"}}, {}))
  end)

  it("cuts a long name to 200 bytes with a hash of the whole", function()
    local a = plan.run_name({values = {k = string.rep("x", 300) .. "1"}}, {"k"})
    local b = plan.run_name({values = {k = string.rep("x", 300) .. "2"}}, {"k"})
    assert.are.equal(200, #a)
    assert.truthy(a:match("^k=x+~%x+$"), a)
    assert.are_not.equal(a, b)
  end)
end)

describe("job.quote and command lines", function()
  it("quotes every word for sh", function()
    assert.are.equal("'it'\\''s'", job.quote("it's"))
    assert.are.equal("'a b' '' '$x'", job.command_line{"a b", "", "$x"})
  end)

  it("passes any text through a real sh unchanged", function()
    local marker = os.tmpname()
    os.remove(marker)
    local words = {"plain", "two words", "it's", "$(touch " .. marker .. ")", "`touch " .. marker .. "`", '"dq"', "back\\slash",
                   "new\nline", "semi;colon", "*", "--flag=x", "tab\there", "'"}
    local out = sh("printf '%s\\0' " .. job.command_line(words))
    local got = {}
    for w in out:gmatch("([^%z]*)%z") do got[#got + 1] = w end
    assert.are.same(words, got)
    assert.is_nil(lfs.attributes(marker))
  end)
end)

describe("job.run_argv", function()
  local ctx = {exe = "/x/ember", script = "/w/exp.lua", sweepdir = "/w/runs/s", threads = 2, keys = {"lr", "opt"},
               set = {{key = "epochs", value = "3"}}, script_args = {"a"}}

  it("starts a new run in the sweep folder, named, with every value", function()
    local e = {action = "new", name = "lr=1,opt=sgd", values = {lr = "1", opt = "sgd"}, seed = 4}
    assert.are.same({"/x/ember", "run", "/w/exp.lua", "--runs", "/w/runs/s", "--name", "lr=1,opt=sgd",
                     "--set", "epochs=3", "--set", "lr=1", "--set", "opt=sgd", "--seed", "4", "--threads", "2", "--", "a"},
                    job.run_argv(e, ctx))
  end)

  it("resumes a run in its own directory", function()
    local e = {action = "resume", name = "lr=1", values = {lr = "1"}, dir = "/w/runs/s/lr=1/20250101-000000-abcdef"}
    assert.are.same({"/x/ember", "run", "--resume", "/w/runs/s/lr=1/20250101-000000-abcdef", "/w/exp.lua",
                     "--threads", "2", "--", "a"}, job.run_argv(e, ctx))
  end)
end)

describe("state.decide", function()
  local dir
  before_each(function() dir = tmpdir() end)
  after_each(function() h.rmdir(dir) end)

  local function decide(e, extra)
    local ctx = {sweepdir = dir, host = "me", alive = function(pid) return pid == 111 end}
    for k, v in pairs(extra or {}) do ctx[k] = v end
    e.values = e.values or {lr = "0.1"}
    return state.decide(e, ctx)
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

describe("state.refresh and state.tsv_text", function()
  local dir
  before_each(function() dir = tmpdir() end)
  after_each(function() h.rmdir(dir) end)

  it("tells the status from meta.tsv and the exit status, and writes exact numbers", function()
    local ctx = {sweepdir = dir, keys = {"lr"}}
    lfs.mkdir(dir .. "/logs")
    make_run(dir, "lr=1", "20250101-000000-aaaaaa", {status = "finished", monitor = "valid_loss", mode = "min"}, {lr = "1"})
    make_run(dir, "lr=2", "20250101-000000-bbbbbb", {status = "running"}, {lr = "2"})
    write(dir .. "/logs/lr=2.exit", "130\n")
    write(dir .. "/logs/lr=3.exit", "2\n")
    write(dir .. "/logs/lr=3.log", "== x\nember run: config: unknown key 'lr'\n")
    local es = {}
    for i, v in ipairs{"1", "2", "3", "4"} do es[i] = state.refresh({name = "lr=" .. v, values = {lr = v}}, ctx) end
    es[4].state = "pending"
    state.refresh(es[4], ctx)
    assert.are.same({"finished", "interrupted", "failed", "pending"}, {es[1].status, es[2].status, es[3].status, es[4].status})
    assert.are.same({"valid_loss", 0.25, 3}, {es[1].metric, es[1].best, es[1].epochs})
    assert.are.equal(table.concat({
      "name\tlr\tstatus\tmetric\tbest\tepochs\texit\tdir\tlog",
      "lr=1\t1\tfinished\tvalid_loss\t0.25\t3\t\tlr=1/20250101-000000-aaaaaa\t",
      "lr=2\t2\tinterrupted\tvalid_loss\t0.25\t3\t130\tlr=2/20250101-000000-bbbbbb\t",
      "lr=3\t3\tfailed\t\t\t\t2\t\tlogs/lr=3.log",
      "lr=4\t4\tpending\t\t\t\t\t\t", ""}, "\n"), state.tsv_text(es, ctx))
  end)

  it("adds a seed column under --seeds and keeps fields on one line", function()
    local ctx = {sweepdir = dir, keys = {"tag"}, seeds = 2}
    local e = {name = "x", values = {tag = "a\tb\nc"}, seed = 2, status = "new"}
    assert.are.equal("name\ttag\tseed\tstatus\tmetric\tbest\tepochs\texit\tdir\tlog\nx\ta b c\t2\tnew\t\t\t\t\t\t\n",
                     state.tsv_text({e}, ctx))
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
  after_each(function() h.rmdir(dir) end)

  local nasty = "it's $(echo no) `x`\n#\ttab\r\27[31m\"$HOME\" ;exit 9"

  it("job_shell (slurm) logs a header and the output, records the exit status and exits with it", function()
    local e = {action = "new", name = "tag=a", values = {tag = nasty}}
    local _, code = sh("cd '" .. dir .. "' && sh -c " .. job.quote(job.job_shell(e, ctx, "slurm")))
    assert.are.equal(3, code)
    assert.are.equal("3\n", read(dir .. "/logs/tag=a.exit"))
    local log = read(dir .. "/logs/tag=a.log")
    assert.truthy(log:match("^== %d%d%d%d%-%d%d%-%d%d %d%d:%d%d:%d%d [^\n]* %(slurm job _%): '"), log)
    assert.truthy(log:find("\n>run<\n>" .. dir .. "/exp.lua<\n>--runs<\n>" .. dir .. "<\n>--name<\n>tag=a<\n>--set<\n>tag="
                           .. nasty .. "<\n>--threads<\n>1<\noops\n", 1, true), log)
  end)

  it("job_shell (parallel) prints the start and end lines around the run", function()
    local e = {action = "new", name = "tag=b", values = {tag = "b"}}
    local out, code = sh("sh -c " .. job.quote(job.job_shell(e, ctx, "parallel", 7)))
    assert.are.equal("S 7\nE 7 3\n", out)
    assert.are.equal(3, code)
  end)

  it("sbatch_script runs the entry of task id + offset", function()
    local todo = {}
    for i, v in ipairs{"a", "b", "c"} do todo[i] = {action = "new", name = "tag=" .. v, values = {tag = v}} end
    local path = dir .. "/sweep.sbatch"
    write(path, slurm.sbatch_script(todo, ctx))
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
                     "/r/s%x/slurm/sweep.sbatch", "7"}, slurm.sbatch_argv(c, 5, 7))
  end)

  it("parallel.files: one NUL-ended job per run and a parallel.sh taking more arguments", function()
    local todo = {{action = "new", name = "tag=a", values = {tag = "a"}}, {action = "new", name = "tag=b", values = {tag = "b"}}}
    ctx.parallel_args = {"--sshlogin", "h1,h2"}
    local jobs, script = parallel.files(todo, ctx)
    assert.are.equal(2, select(2, jobs:gsub("%z", "")))
    assert.are.equal(0, select(2, jobs:gsub("\n", "")))
    assert.truthy(jobs:find('echo "S 2"', 1, true))
    assert.truthy(script:find("exec 'parallel' '--null' '--jobs' '2' '--line-buffer' '--termseq' 'TERM,60000,KILL,25' '--joblog' '"
                              .. dir .. "/parallel/joblog' '--sshlogin' 'h1,h2' \"$@\" -a '" .. dir .. "/parallel/jobs.nul'", 1, true),
                  script)
  end)
end)

describe("plan.plan and --dry-run", function()
  local dir
  before_each(function()
    dir = tmpdir()
    write(dir .. "/exp.lua", "-- nothing\n")
  end)
  after_each(function() h.rmdir(dir) end)

  local function make_plan(line, env)
    env = env or {}
    env.cwd, env.exe, env.host = dir, "/bin/ember", "me"
    env.cores = env.cores or 8
    return plan.plan(assert(parse(line)), env)
  end

  it("sizes the pool: cores / threads, one thread each when several run at once", function()
    local _, c = make_plan("exp.lua --grid a=1,2")
    assert.are.same({8, 1}, {c.jobs, c.threads})
    _, c = make_plan("exp.lua --grid a=1,2 --threads 4")
    assert.are.same({2, 4}, {c.jobs, c.threads})
    _, c = make_plan("exp.lua --grid a=1,2 --jobs 1")
    assert.are.same({1}, {c.jobs, c.threads})
    _, c = make_plan("exp.lua --grid a=1,2 --engine slurm --cpus-per-task 3")
    assert.are.same({3, 3}, {c.threads, c.cpus})
    assert.is_nil(c.jobs)
  end)

  it("names the sweep after the script and puts it below --runs", function()
    local _, c = make_plan("exp.lua --grid a=1,2 --runs out/")
    assert.are.same({"exp", dir .. "/out/exp", dir .. "/exp.lua"}, {c.name, c.sweepdir, c.script})
  end)

  it("prints the decisions and the ember run commands (local)", function()
    make_run(dir .. "/runs/exp", "a=1", "20250101-000000-aaaaaa", {status = "finished"}, {a = "1"})
    make_run(dir .. "/runs/exp", "a=2", "20250101-000000-bbbbbb", {status = "failed"}, {a = "2"})
    local entries, c = make_plan("exp.lua --grid a=1,2,3 --jobs 2")
    local text = report.dry_run_text(entries, c)
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

  it("lists at most report.SHOWN runs and commands, and counts the rest", function()
    local entries, c = make_plan("exp.lua --seeds 60 --jobs 2")
    local text = report.dry_run_text(entries, c)
    assert.truthy(text:find("^sweep exp: 60 run%(s%) in runs/exp: 60 new"))
    assert.are.equal(50, select(2, text:gsub("\n  new     seed=", "")))
    assert.are.equal(50, select(2, text:gsub("\n'/bin/ember' 'run' ", "")))
    assert.truthy(text:find("\n  new     seed=50  %(no run yet%)\n  %.%.%. and 10 more run%(s%)\n"), text)
    assert.truthy(text:find("seed=50.log'\n... and 10 more run(s)\n", 1, true), text)
    for _, engine in ipairs{"parallel", "slurm"} do
      entries, c = make_plan("exp.lua --seeds 60 --engine " .. engine)
      text = report.dry_run_text(entries, c)
      assert.is_nil(text:find("seed=51", 1, true), engine)
      assert.truthy(text:find("and 10 more run(s)", 1, true), engine)
    end
  end)

  it("splits a slurm array at MaxArraySize", function()
    local entries, c = make_plan("exp.lua --grid a=1,2,3,4,5 --engine slurm --jobs 2")
    c.max_array = 2
    local text = report.dry_run_text(entries, c)
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

describe("ember._process", function()
  local ember = require "ember"
  local P = ember._process
  local dir
  before_each(function() dir = tmpdir() end)
  after_each(function()
    P.watch(false)
    h.rmdir(dir)
  end)

  -- waits until pid ends (at most 10 s); returns its exit event and the other events seen
  local function wait_for(pid)
    local others = {}
    for _ = 1, 100 do
      for _, ev in ipairs(P.wait({pid}, 0.1)) do
        if ev.kind == "exit" and ev.pid == pid then return ev, others end
        others[#others + 1] = ev
      end
    end
    error("process " .. pid .. " did not end")
  end

  it("starts a program from its argument list, no shell between, stdin empty", function()
    P.watch(true)
    local out = dir .. "/out"
    local words = {"two words", "$(touch " .. dir .. "/m1)", "`touch " .. dir .. "/m2`", "it's", "new\nline", "*", ";", ""}
    local argv = {"printf", "[%s]"}
    for _, w in ipairs(words) do argv[#argv + 1] = w end
    local pid = assert(P.spawn(argv, {stdout = out}))
    assert.are.equal(0, wait_for(pid).code)
    assert.are.equal("[" .. table.concat(words, "][") .. "]", read(out))
    assert.is_nil(lfs.attributes(dir .. "/m1"))
    assert.is_nil(lfs.attributes(dir .. "/m2"))
    pid = assert(P.spawn({"sh", "-c", "cat; echo end >&2"}, {stdout = out, merge = true}))
    assert.are.equal(0, wait_for(pid).code)
    assert.are.equal("[" .. table.concat(words, "][") .. "]end\n", read(out))   -- appended
  end)

  it("makes each child the leader of its own process group, and signals the group", function()
    P.watch(true)
    local out = dir .. "/pgid"
    -- field 5 of /proc/PID/stat is the process group (read by builtins: no child to leave a zombie behind)
    local pid = assert(P.spawn({"sh", "-c", "read -r _ _ _ _ g _ </proc/$$/stat; echo $g; exec sleep 30"}, {stdout = out}))
    for _ = 1, 100 do if (read(out) or "") ~= "" then break end; P.wait({}, 0.05) end
    assert.are.equal(tostring(pid), (read(out):gsub("%s+$", "")))
    assert.is_true(P.alive(pid))
    assert.is_true(P.signal(pid, "TERM"))
    assert.are.equal(128 + 15, wait_for(pid).code)
    assert.is_false(P.alive(pid))
    local ok, why = P.signal(pid, "TERM")
    assert.is_nil(ok)
    assert.truthy(why:find("No such process", 1, true))
  end)

  it("reports the signals this process gets, with their sender, while watching", function()
    assert.is_false(P.watch(true))
    local pid = assert(P.spawn({"sh", "-c", "kill -INT $PPID; kill -TERM $PPID"}))
    local exit, others = wait_for(pid)
    for _, ev in ipairs(P.wait({}, 0.2)) do others[#others + 1] = ev end
    assert.are.equal(0, exit.code)
    local names = {}
    for _, ev in ipairs(others) do
      assert.are.equal("signal", ev.kind)
      assert.are.equal(pid, ev.sender)
      names[#names + 1] = ev.name
    end
    assert.are.same({"INT", "TERM"}, names)
    local was, late = P.watch(false)
    assert.is_true(was)
    assert.are.equal(0, late)
  end)

  it("reads a child's output through a pipe until it ends", function()
    P.watch(true)
    local pid, fd = P.spawn({"sh", "-c", "echo one; echo two >&2; exit 3"}, {pipe = true, merge = true})
    local text, eof, code = "", false, nil
    for _ = 1, 100 do
      for _, ev in ipairs(P.wait(code and {} or {pid}, 0.1, not eof and fd or nil)) do
        if ev.kind == "output" then text = text .. ev.text
        elseif ev.kind == "eof" then eof = true
        elseif ev.kind == "exit" then code = ev.code end
      end
      if eof and code then break end
    end
    P.close(fd)
    assert.are.same({"one\ntwo\n", 3}, {text, code})
  end)

  it("runs a short command and returns its output and status", function()
    assert.are.same({"a b\n", 0}, {P.run{"printf", "%s\n", "a b"}})
    assert.are.same({"", 4}, {P.run{"sh", "-c", "exit 4"}})
    local out, why = P.run{"/nonexistent/program"}
    assert.is_nil(out)
    assert.truthy(why:find("cannot run '/nonexistent/program': No such file or directory", 1, true), why)
    assert.is_true(P.cpus() >= 1)
  end)

  it("refuses bad arguments with ember errors", function()
    assert.are.equal("ember._process.spawn: the argument list is empty", h.errmsg(P.spawn, {}))
    assert.are.equal("ember._process.spawn: argument 2 is a number, not a string", h.errmsg(P.spawn, {"echo", 1}))
    assert.are.equal("ember._process.spawn: argument 1 holds a NUL byte", h.errmsg(P.spawn, {"a\0b"}))
    assert.are.equal("type", h.errkind(P.spawn, "echo"))
    assert.are.equal("ember._process.signal: not a child's process id: 0", h.errmsg(P.signal, 0, "TERM"))
    assert.are.equal("ember._process.signal: not a child's process id: -1", h.errmsg(P.signal, -1, "KILL"))
    assert.truthy(h.errmsg(P.signal, 12345, "BOGUS"):find("unknown signal 'BOGUS'", 1, true))
    assert.are.equal("state", h.errkind(P.wait, {}, 0))
  end)
end)

describe("ember.sweep.interrupt", function()
  local interrupt = require "ember.sweep.interrupt"
  local said
  local rep = {say = function(_, text) said[#said + 1] = text end}
  before_each(function() said = {} end)

  it("counts one process's signals within a second once, a terminal's each time, up to 3", function()
    local s = interrupt.new(rep)
    assert.is_true(s:request{name = "INT", sender = 4242})
    assert.is_false(s:request{name = "INT", sender = 4242})   -- timeout: the sweep, then its group
    assert.are.equal(1, s.level)
    assert.is_true(s:request{name = "INT", sender = 4343})    -- another process
    assert.is_true(s:request{name = "INT", sender = 0})       -- the terminal: every Ctrl-C counts
    assert.is_false(s:request{name = "INT", sender = 0})      -- past 3: nothing more to do
    assert.are.equal(3, s.level)
  end)

  it("signals each run once per level; at the first only the runs that have started", function()
    local s = interrupt.new(rep)
    local runs = {a = {name = "a", up = true}, b = {name = "b", up = false}}
    local sent = {}
    local function send(e, sig) sent[#sent + 1] = e.name .. ":" .. sig end
    local function started(e) return e.up end
    assert.are.equal(0, s:apply(runs, started, send))
    assert.are.same({}, sent)
    s:request{sender = 0}
    assert.are.equal(1, s:apply(runs, started, send))
    assert.are.same({"a:TERM"}, sent)
    assert.are.equal(1, s:apply(runs, started, send))   -- nothing twice
    runs.b.up = true
    assert.are.equal(0, s:apply(runs, started, send))
    assert.are.same({"a:TERM", "b:TERM"}, sent)
    s:request{sender = 0}
    s:apply(runs, started, send)
    s:request{sender = 0}
    s:apply(runs, started, send)
    table.sort(sent)
    assert.are.same({"a:KILL", "a:TERM", "a:TERM", "b:KILL", "b:TERM", "b:TERM"}, sent)
  end)
end)

describe("the local engine", function()
  local dir
  before_each(function()
    dir = tmpdir()
    write(dir .. "/exp.lua", "-- the fake ember below does the work\n")
  end)
  after_each(function() h.rmdir(dir) end)

  it("passes a second stop request on at once, and waits for the runs before it writes sweep.tsv", function()
    -- a fake `ember run`: a complete run directory, then two Ctrl-C to the sweep from two processes, 0.3 s
    -- apart; it ends (interrupted) at its second SIGTERM only
    local fake = dir .. "/fake ember"
    write(fake, [[#!/bin/sh
d="$4/$6/20250101-000000-aaaaaa"
mkdir -p "$d" && printf 'x\t1\n' >"$d/params.tsv" && : >"$d/metrics.tsv"
printf 'status\trunning\nhost\tme\npid\t%s\n' $$ >"$d/meta.tsv"
n=0
trap 'n=$((n + 1)); echo "TERM $n"' TERM
/bin/kill -INT $PPID; sleep 0.3; /bin/kill -INT $PPID
i=0
while [ $n -lt 2 ] && [ $i -lt 200 ]; do sleep 0.05 & wait $!; i=$((i + 1)); done
printf 'status\tinterrupted\nhost\tme\npid\t%s\n' $$ >"$d/meta.tsv"
exit 130
]])
    sh("chmod +x '" .. fake .. "'")
    local out, err = sink(), sink()
    local code = sweep.cli({dir .. "/exp.lua", "--grid", "x=1", "--runs", dir .. "/runs"},
                           {exe = fake, host = "me", cwd = dir, stdout = out, stderr = err, tty = false})
    assert.are.equal(130, code, out.text .. err.text)
    assert.truthy(out.text:find("ember sweep: interrupted: 1 running run(s) stop after their step", 1, true), out.text)
    assert.truthy(out.text:find("ember sweep: interrupted again: the runs stop now", 1, true), out.text)
    local log = read(dir .. "/runs/exp/logs/run.log")
    assert.truthy(log:find("\nTERM 1\n", 1, true) and log:find("\nTERM 2\n", 1, true), log)   -- its sleep got them too
    assert.are.equal("130\n", read(dir .. "/runs/exp/logs/run.exit"))
    assert.truthy(read(dir .. "/runs/exp/sweep.tsv"):find("\nrun\t1\tinterrupted\t", 1, true))
  end)
end)
