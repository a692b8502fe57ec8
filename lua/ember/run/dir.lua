-- ember.run.dir: the run directory on disk: path helpers, and a new directory with a unique name.
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

--- dir.fnv1a64(text) -> FNV-1a 64-bit hash of the bytes of text, as 16 hex digits.
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

return M
