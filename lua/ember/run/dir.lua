-- ember.run.dir: the run directory on disk: path helpers, a new directory with a unique name, the lock
-- that keeps a second process from writing a directory while its run is open, and the removal of the
-- temporary files a killed process leaves behind.
local ember = require "ember"
local lfs = require "lfs"
local E = require "ember.error"
local util = require "ember.util"

local M = {}

function M.is_dir(p) return lfs.attributes(p, "mode") == "directory" end
function M.is_file(p) return lfs.attributes(p, "mode") == "file" end

--- dir.strip_slash(p) -> p without trailing slashes ("/" stays "/")
function M.strip_slash(p)
  local s = p:gsub("/+$", "")
  if s == "" then return p:sub(1, 1) == "/" and "/" or "." end
  return s
end

function M.basename(p) return (M.strip_slash(p):match("([^/]*)$")) end

function M.dirname(p)
  local d = M.strip_slash(p):match("^(.*)/[^/]*$")
  if d == nil then return "." end
  if d == "" then return "/" end
  return d
end

--- run.fnv1a64(text) -> FNV-1a 64-bit hash of the bytes of text, as 16 hex digits.
-- (Lua integers wrap modulo 2^64, which is exactly the arithmetic FNV needs.)
function M.fnv1a64(text)
  local h = -3750763034362895579   -- 0xcbf29ce484222325
  local prime = 1099511628211       -- 0x100000001b3
  for i = 1, #text do
    h = (h ~ text:byte(i)) * prime
  end
  return string.format("%016x", h)
end

-- 6 hex digits from /dev/urandom; never from ember's RNG, which belongs to the experiment
local function short_id()
  local f = io.open("/dev/urandom", "rb")
  local bytes = f and f:read(3)
  if f then f:close() end
  if bytes and #bytes == 3 then
    return string.format("%02x%02x%02x", bytes:byte(1, 3))
  end
  return M.fnv1a64(tostring(os.time()) .. tostring(ember.clock()) .. tostring(ember.getpid())):sub(1, 6)
end

--- dir.create(root, name) -> dir, id: makes root/name/<YYYYmmdd-HHMMSS>-<id>/, a name no other run has
-- (mkdir fails on an existing one, so two processes starting together get two directories)
function M.create(root, name)
  local parent = M.strip_slash(root) .. "/" .. name
  local ok, err = util.mkdir_p(parent)
  if not ok then E.raise("io", "ember.run", "cannot create run folder '%s': %s", parent, err) end
  for _ = 1, 20 do
    local id = os.date("%Y%m%d-%H%M%S") .. "-" .. short_id()
    local dir = parent .. "/" .. id
    local made, merr = lfs.mkdir(dir)
    if made then return dir, id end
    if not M.is_dir(dir) then E.raise("io", "ember.run", "cannot create run directory '%s': %s", dir, merr) end
  end
  E.raise("io", "ember.run", "cannot find a free run directory name below '%s'", parent)
end

--- dir.contains(dir, path) -> true when path, with symlinks and .. resolved, is dir itself or below it;
-- false when it is elsewhere or does not exist
function M.contains(dir, path)
  local rdir, rpath = ember._realpath(dir), ember._realpath(path)
  if not rdir or not rpath then return false end
  local prefix = rdir:gsub("/+$", "") .. "/"
  return rpath == rdir or rpath:sub(1, #prefix) == prefix
end

-- the files a run writes (ember.fit's checkpoints: last.ckpt, last-2.ckpt, best.ckpt, ...)
local function written_by_run(name)
  return name == "meta.tsv" or name == "params.tsv" or name == "metrics.tsv" or name == "stdout.log"
    or name == "lock" or name:match("%.ckpt$") or name:match("%.tsv$") or name:match("%.log$")
end

--- dir.find_link(dir) -> the name of a symbolic link in dir where the run writes a file, or nil: a
-- resumed run would append or write through it, to wherever it points
function M.find_link(dir)
  local ok, iter, state = pcall(lfs.dir, dir)
  if not ok then return nil end
  for name in iter, state do
    if written_by_run(name) and lfs.symlinkattributes(dir .. "/" .. name, "mode") == "link" then return name end
  end
  return nil
end

-- the message for a run directory whose lock another process (or this one) holds
local function in_use(dir, pid)
  if pid == ember.getpid() then
    return ("run directory '%s' is already open in this process (--resume continues one run; this script "
      .. "opens another)"):format(dir)
  end
  local who = pid and pid > 0 and ("process %d"):format(pid) or "another process"
  return ("run directory '%s' is in use by %s, whose run is still open: wait for it to end or stop it "
    .. "(kill %s) before resuming"):format(dir, who, pid and pid > 0 and tostring(pid) or "PID")
end

--- dir.holder(dir) -> nil when no process holds the lock of dir, else a message naming the process that does
function M.holder(dir)
  local lock, pid = ember._lock(dir .. "/lock")
  if lock then lock:unlock(); return nil end
  if pid then return in_use(dir, pid) end
  return nil   -- not lockable here (a read-only folder): M.lock says so when a run opens it
end

--- dir.lock(dir, who) -> the lock on dir/lock, held until lock:unlock() or the process ends; raises an
-- error of kind state naming the holder when another process has it. Where the file system cannot
-- lock, warns and returns nil.
function M.lock(dir, who)
  local lock, pid, err = ember._lock(dir .. "/lock")
  if lock then return lock end
  if pid then E.raise("state", who, "%s", in_use(dir, pid)) end
  io.stderr:write(("ember: warning: %s: nothing keeps another process from writing this run\n"):format(err))
  return nil
end

--- dir.remove_stale_temps(dir, locked): removes the temporary files (NAME.tmp.PID of checkpoints,
-- NAME.tmp-PID of text files) that a process killed while writing left in dir: those of processes that
-- have ended and, when this process holds the directory's lock (every writer of a run holds it), those
-- of any other process
function M.remove_stale_temps(dir, locked)
  local me = ember.getpid()
  local ok, iter, state = pcall(lfs.dir, dir)
  if not ok then return end
  for name in iter, state do
    local pid = math.tointeger(tonumber(name:match("%.tmp[.-](%d+)$") or ""))
    if pid and pid ~= me and (locked or not ember._pid_alive(pid)) and M.is_file(dir .. "/" .. name) then
      os.remove(dir .. "/" .. name)
    end
  end
end

return M
