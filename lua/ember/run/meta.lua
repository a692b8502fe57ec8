-- ember.run.meta: meta.tsv, the run's provenance and status as key<TAB>value lines: what a new run
-- records, what a resume updates, and the atomic rewrite after every change.
local ember = require "ember"
local util = require "ember.util"
local E = require "ember.error"
local dirs = require "ember.run.dir"

local M = {}

-- the documented keys first, in this order (docs/formats.md); others (run:set_meta) follow sorted
local ORDER = {"status", "name", "id", "seed", "start_time", "end_time", "script", "script_sha",
  "ember_version", "threads", "blas_kernel", "conv_kernel", "host", "pid", "git_commit", "git_dirty", "resumes",
  "resume_time", "monitor", "mode", "best_epoch", "stop_epoch", "stop_reason", "error"}

-- tabs and newlines would break a key<TAB>value line
function M.clean(v)
  return (tostring(v):gsub("[%c]", " "))
end

function M.now() return os.date("%Y-%m-%dT%H:%M:%S") end

--- meta.text(v) -> the text meta.tsv holds for a value: numbers exactly, the rest as tostring gives it
function M.text(v)
  if type(v) == "number" then return util.number_text(v) end
  return tostring(v)
end

--- meta.write(dir, meta, who): rewrites dir/meta.tsv atomically; an error names the public function who
function M.write(dir, meta, who)
  local lines, done = {}, {}
  for _, k in ipairs(ORDER) do
    if meta[k] ~= nil then
      lines[#lines + 1] = k .. "\t" .. M.clean(meta[k]) .. "\n"
      done[k] = true
    end
  end
  local extra = {}
  for k in pairs(meta) do if not done[k] then extra[#extra + 1] = k end end
  table.sort(extra)
  for _, k in ipairs(extra) do lines[#lines + 1] = M.clean(k) .. "\t" .. M.clean(meta[k]) .. "\n" end
  local path = dir .. "/meta.tsv"
  local ok, err = util.write_atomic(path, table.concat(lines))
  if not ok then E.raise("io", who, "cannot write '%s': %s", path, err) end
end

local function command_output(cmd)
  local p = io.popen(cmd, "r")
  if not p then return nil end
  local out = p:read("a")
  p:close()
  return out
end

-- git commit and dirtiness of the work tree holding dir, or nil
local function git_info(dir)
  local q = util.shell_quote(dir)
  local out = command_output("git -C " .. q .. " rev-parse HEAD 2>/dev/null")
  local commit = out and out:match("^(%x+)%s*$")
  if not commit or #commit < 7 then return nil end
  local st = command_output("git -C " .. q .. " status --porcelain --untracked-files=no 2>/dev/null")
  return commit, st ~= nil and st:match("%S") ~= nil
end

local function threads() return ember.get_num_threads and ember.get_num_threads() or 1 end

function M.script_sha(text) return "fnv1a64:" .. dirs.fnv1a64(text) end

--- meta.fresh(run) -> the meta table of a new run: status, identity, seed and what runs it
function M.fresh(run)
  local meta = {status = "running", name = run.name, id = run.id, seed = tostring(run.seed),
    start_time = M.now(), ember_version = tostring(ember.version), threads = tostring(threads()),
    host = ember.hostname(), pid = tostring(ember.getpid())}
  local okb, blas = pcall(ember.blas)
  meta.blas_kernel = okb and type(blas) == "table" and blas.kernel or "unknown"
  -- with blas_kernel, what results depend on besides the seed (where the build chooses among kernels)
  if okb and type(blas) == "table" and blas.conv then meta.conv_kernel = blas.conv end
  local script = run.script
  if script then
    meta.script = script
    local text = util.read_file(script)
    if text then meta.script_sha = M.script_sha(text) end
    local commit, dirty = git_info(dirs.dirname(script))
    if commit then meta.git_commit, meta.git_dirty = commit, tostring(dirty) end
  end
  return meta
end

--- meta.resume(run): updates run.meta for a resume (status running again, resume count and time, this
-- process), warning when the thread count or the script changed since the run started
function M.resume(run)
  local meta, n = run.meta, threads()
  if meta.threads and tonumber(meta.threads) ~= n then
    io.stderr:write(("ember: warning: resuming with %d thread(s) but the run used %s: the numbers may differ in the last bits\n")
      :format(n, meta.threads))
  end
  if run.script and meta.script_sha then
    local text = util.read_file(run.script)
    if text and M.script_sha(text) ~= meta.script_sha then
      io.stderr:write(("ember: warning: %s changed since the run started\n"):format(run.script))
    end
  end
  meta.status, meta.end_time, meta.error = "running", nil, nil
  meta.resumes = tostring((tonumber(meta.resumes or "0") or 0) + 1)
  meta.resume_time = M.now()
  meta.threads = tostring(n)
  meta.pid = tostring(ember.getpid())
end

return M
