-- run_spec.lua - ember.run: the run directory's contents, per-row flushing, header rewrites, stdout.log,
-- statuses and the errors of the run object.
local ember = require "ember"
local runmod = require "ember.run"
local runs = require "ember.runs"
local session = require "ember.session"
local h = dofile("tests/lua/spec_helper.lua")
local read, exists, lines, kv, errmsg = h.read, h.exists, h.lines, h.kv, h.errmsg

local root
before_each(function() root = h.fresh_session() end)
after_each(function() h.end_session(root) end)

describe("ember.run", function()
  it("creates runs/<name>/<YYYYmmdd-HHMMSS>-<id>/ with params, meta, metrics and stdout.log", function()
    local cfg = {lr = 0.1, epochs = 3, name = "tab\there"}
    local run = ember.run{name = "exp", config = cfg, runs = root .. "/runs", seed = 3}
    assert.matches("^" .. root:gsub("%p", "%%%0") .. "/runs/exp/%d%d%d%d%d%d%d%d%-%d%d%d%d%d%d%-%x%x%x%x%x%x$", run.dir)
    -- sorted keys, tabs in values turned into spaces
    assert.equal("epochs\t3\nlr\t0.1\nname\ttab here\n", read(run.dir .. "/params.tsv"))
    local meta = kv(run.dir .. "/meta.tsv")
    assert.equal("running", meta.status)
    assert.equal("exp", meta.name)
    assert.equal(run.id, meta.id)
    assert.equal("3", meta.seed)
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d$", meta.start_time)
    assert.is_nil(meta.end_time)
    assert.equal(ember.version, meta.ember_version)
    assert.equal(tostring(ember.get_num_threads()), meta.threads)
    assert.equal(ember.blas().kernel, meta.blas_kernel)
    assert.equal(ember.hostname(), meta.host)
    assert.equal("", read(run.dir .. "/metrics.tsv"))
    assert.is_true(exists(run.dir .. "/stdout.log"))
    run:finish()
    meta = kv(run.dir .. "/meta.tsv")
    assert.equal("finished", meta.status)
    assert.matches("^%d%d%d%d%-", meta.end_time)
  end)

  it("seeds ember's RNG with its seed", function()
    ember.run{name = "a", runs = root .. "/runs", seed = 11}
    local a = ember.randn(3):totable()
    session.current().seeded = nil   -- as in a fresh process
    ember.run{name = "b", runs = root .. "/runs", seed = 11}
    assert.same(a, ember.randn(3):totable())
  end)

  it("takes name, runs root and seed from the command line over its arguments", function()
    session.begin({name = "cli_name", runs = root .. "/other", seed = 42, set = {}, set_order = {}})
    local run = ember.run{name = "arg_name", runs = root .. "/runs", seed = 1}
    assert.matches("/other/cli_name/", run.dir)
    assert.equal("42", kv(run.dir .. "/meta.tsv").seed)
  end)

  it("flushes every row: another reader sees it before the run ends", function()
    local run = ember.run{name = "m", runs = root .. "/runs"}
    run:log{epoch = 1, train_loss = 0.5, time = 0.25}
    assert.equal("epoch\ttrain_loss\ttime\n1\t0.5\t0.25\n", read(run.dir .. "/metrics.tsv"))
    run:log{epoch = 2, train_loss = 0.25, time = 0.5}
    assert.equal("epoch\ttrain_loss\ttime\n1\t0.5\t0.25\n2\t0.25\t0.5\n", read(run.dir .. "/metrics.tsv"))
  end)

  it("orders the first header (epoch, step, losses, others, lr, time) and writes numbers exactly", function()
    local run = ember.run{name = "m", runs = root .. "/runs"}
    run:log{time = 1, lr = 0.1, zeta = 1, valid_loss = 2, alpha = 0 / 0, train_loss = 1 / 3, step = 10, epoch = 1}
    assert.equal("epoch\tstep\ttrain_loss\tvalid_loss\talpha\tzeta\tlr\ttime\n"
      .. "1\t10\t0.3333333333333333\t2\tnan\t1\t0.1\t1\n", read(run.dir .. "/metrics.tsv"))
  end)

  it("adds a time column (seconds since the start) when a row has none", function()
    local run = ember.run{name = "m", runs = root .. "/runs"}
    run:log{loss = 1}
    local l = lines(read(run.dir .. "/metrics.tsv"))
    assert.equal("loss\ttime", l[1])
    local t = tonumber(l[2]:match("\t(.*)$"))
    assert.is_true(t >= 0 and t < 5)
  end)

  it("rewrites the header when new columns appear, padding earlier rows, and ember.runs reads it", function()
    local run = ember.run{name = "m", runs = root .. "/runs"}
    run:log{epoch = 1, train_loss = 0.5, time = 1}
    run:log{epoch = 2, train_loss = 0.4, time = 2, test_acc = 0.75}
    run:log{epoch = 3, train_loss = 0.3, time = 3}
    assert.equal("epoch\ttrain_loss\ttime\ttest_acc\n1\t0.5\t1\t\n2\t0.4\t2\t0.75\n3\t0.3\t3\t\n",
      read(run.dir .. "/metrics.tsv"))
    local r = runs.read(run.dir)
    assert.same({"epoch", "train_loss", "time", "test_acc"}, r.columns)
    assert.same({epoch = 2, train_loss = 0.4, time = 2, test_acc = 0.75}, r.rows[2])
    assert.is_nil(r.rows[3].test_acc)
  end)

  it("refuses bad rows, options and statuses with messages naming them", function()
    local run = ember.run{name = "m", runs = root .. "/runs"}
    assert.matches("run:log: value of column 'x' must be a number, string or boolean %(got table%)",
      errmsg(run.log, run, {x = {}}))
    assert.matches("column names must be non%-empty strings", errmsg(run.log, run, {[1] = 2}))
    assert.matches("unknown status \"done\"", errmsg(run.set_status, run, "done"))
    assert.matches("ember.run: unknown option \"nmae\"", errmsg(ember.run, {nmae = "x"}))
    assert.matches("name must be a non%-empty string without '/'", errmsg(ember.run, {name = "a/b", runs = root}))
    -- a NUL ends a path at the C library: 'r' would be created, and run:path would name another file
    assert.matches("ember.run: runs must be a folder name without a NUL byte %(got \".*/r\\0uns\"%)",
      errmsg(ember.run, {name = "n", runs = root .. "/r\0uns"}))
    assert.is_false(exists(root .. "/r"))
    assert.matches("run:path: name must be a non%-empty string without a NUL byte", errmsg(run.path, run, "x\0y"))
    assert.matches("run:path: name must be", errmsg(run.path, run, 5))
    assert.equals(run.dir .. "/plots/a.png", run:path("plots/a.png"))
    assert.matches("a run directory cannot contain a NUL byte", select(2, runmod.check_resumable(run.dir .. "\0")))
    run:finish()
    assert.matches("is closed", errmsg(run.log, run, {a = 1}))
  end)

  it("says which folder it cannot create", function()
    local f = io.open(root .. "/file", "w")
    f:close()
    assert.matches("ember.run: cannot create run folder '" .. root:gsub("%p", "%%%0") .. "/file/x'",
      errmsg(ember.run, {name = "x", runs = root .. "/file"}))
  end)

  it("says which file it cannot write when the disk is full, and keeps the rows written before", function()
    local run = ember.run{name = "full", runs = root .. "/runs"}
    run:log{a = 1, time = 0}
    local real = run._mf
    run._mf = assert(io.open("/dev/full", "ab"))
    local e = errmsg(run.log, run, {a = 2, time = 1})
    assert.matches("^run:log: cannot write '" .. run.dir:gsub("%p", "%%%0") .. "/metrics.tsv': No space left on device", e)
    run._mf:close()
    run._mf = real
    assert.equal("a\ttime\n1\t0\n", read(run.dir .. "/metrics.tsv"))
  end)

  it("copies what print and io.write send to stdout into stdout.log while it is open", function()
    local p0, w0 = print, io.write
    local run = ember.run{name = "p", runs = root .. "/runs"}
    assert.are_not.equal(p0, print)
    print("hello", 1, 2.5)
    io.write("x=", 3, " y=", 0.5, "\n")
    run:finish()
    print("after")
    assert.equal("hello\t1\t2.5\nx=3 y=0.5\n", read(run.dir .. "/stdout.log"))
    assert.equal(p0, print)
    assert.equal(w0, io.write)
  end)

  it("set_used records the values a run used as used.<key> in meta.tsv, and refuses what it cannot write", function()
    local run = ember.run{name = "u", runs = root .. "/runs", config = {lr = 0, betas = {0.9, 0.999}}}
    assert.equal(run, run:set_used{lr = 1e-3, betas = {0.9, 0.99}, opt = "adam", nesterov = true})
    local meta = kv(run.dir .. "/meta.tsv")
    assert.equal("0.001", meta["used.lr"])
    assert.equal("0.9,0.99", meta["used.betas"])
    assert.equal("adam", meta["used.opt"])
    assert.equal("true", meta["used.nesterov"])
    assert.equal("betas\t0.9,0.999\nlr\t0\n", read(run.dir .. "/params.tsv"))   -- params.tsv keeps the config
    assert.matches("^run:set_used: value of lr must be a number, string, boolean or a list of them",
      errmsg(run.set_used, run, {lr = {a = 1}}))
    assert.matches("^run:set_used: keys must be config names", errmsg(run.set_used, run, {["a=b"] = 1}))
    assert.matches("^run:set_used: expected a table", errmsg(run.set_used, run, 3))
    assert.matches("^run:set_meta: expected a table", errmsg(run.set_meta, run, 3))
  end)

  it("holds the lock of its directory while it is open, with this process's pid in the lock file", function()
    local run = ember.run{name = "l", runs = root .. "/runs"}
    assert.equal(tostring(ember.getpid()) .. "\n", read(run.dir .. "/lock"))
    local other, pid = ember._lock(run.dir .. "/lock")
    assert.is_nil(other)
    assert.equal(ember.getpid(), pid)
    session.begin{resume = run.dir, set = {}, set_order = {}}
    assert.matches("^ember.run: cannot resume: run directory '.*' is already open in this process", errmsg(ember.run, {}))
    assert.equal("state", h.errkind(ember.run, {}))
    run:finish()
    local lock = assert(ember._lock(run.dir .. "/lock"))
    lock:unlock()
  end)

  it("as a to-be-closed variable marks a failing block failed, with the message", function()
    local dir
    local ok = pcall(function()
      local run <close> = ember.run{name = "c", runs = root .. "/runs"}
      dir = run.dir
      error("boom", 0)
    end)
    assert.is_false(ok)
    local meta = kv(dir .. "/meta.tsv")
    assert.equal("failed", meta.status)
    assert.equal("boom", meta.error)
    assert.matches("boom\n$", read(dir .. "/stdout.log"))
  end)

  it("hashes the script with FNV-1a 64 (reference vectors)", function()
    assert.equal("cbf29ce484222325", runmod.fnv1a64(""))
    assert.equal("af63dc4c8601ec8c", runmod.fnv1a64("a"))
    assert.equal("85944171f73967e8", runmod.fnv1a64("foobar"))
  end)
end)
