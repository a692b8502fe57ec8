-- ember.runs: finds and reads run directories (format: docs/formats.md) for `ember plot` and `ember runs`.
-- Reading only: nothing in a run directory is executed or loaded as code, every file is parsed as text.
-- The folder holds the table of `ember runs` (ember.runs.table) and the run filter (ember.runs.filter).
local lfs = require "lfs"
local util = require "ember.util"

local fail = require("ember.error").module_fail("runs")

local M = {}

local is_dir, is_file = util.is_dir, util.is_file

-- "a/b/" -> "a/b", "/" stays "/"
local function strip_slash(path)
  local p = path:gsub("/+$", "")
  if p == "" then return path:sub(1, 1) == "/" and "/" or "." end
  return p
end

local function join(dir, name)
  if dir == "/" then return "/" .. name end
  return dir .. "/" .. name
end

local function basename(path)
  return path:match("([^/]*)$")
end

local function dirname(path)
  local d = path:match("^(.*)/[^/]*$")
  if d == nil then return "." end
  if d == "" then return "/" end
  return d
end

M.join, M.basename, M.dirname = join, basename, dirname

--- runs.is_run(dir): true when dir is a run directory (it holds metrics.tsv).
function M.is_run(dir)
  return is_file(join(strip_slash(dir), "metrics.tsv"))
end

-- Collect run directories below dir; symlinked folders below the starting path are not followed,
-- so a link loop cannot make the walk endless.
local function walk(dir, out)
  if M.is_run(dir) then out[#out + 1] = dir; return end
  local names = {}
  local ok, iter, state = pcall(lfs.dir, dir)
  if not ok then return end
  for name in iter, state do
    if name ~= "." and name ~= ".." then names[#names + 1] = name end
  end
  table.sort(names)
  for _, name in ipairs(names) do
    local p = join(dir, name)
    if lfs.symlinkattributes(p, "mode") == "directory" then walk(p, out) end
  end
end

--- runs.find(paths): run directories at or below each path (a run directory or a folder of runs).
-- paths: a string or a list of strings. Returns a list of directory paths, each once, sorted within each
-- path (run ids start with their start time, so this is chronological per name). Raises an error
-- naming the path when a path is not a directory.
function M.find(paths)
  if type(paths) == "string" then paths = {paths} end
  if type(paths) ~= "table" then
    fail("runs.find", "paths must be a string or a list of strings (got %s)", type(paths))
  end
  local out, seen = {}, {}
  for i, p in ipairs(paths) do
    if type(p) ~= "string" then
      fail("runs.find", "paths[%d] must be a string (got %s)", i, type(p))
    end
    if util.has_nul(p) then fail("runs.find", "paths[%d] cannot contain a NUL byte (got %s)", i, util.show(p)) end
    local dir = strip_slash(p)
    if not is_dir(dir) then
      fail("runs.find", "no such directory '%s'", p)
    end
    local found = {}
    walk(dir, found)
    for _, d in ipairs(found) do
      if not seen[d] then seen[d] = true; out[#out + 1] = d end
    end
  end
  return out
end

local function lines(path)
  local text = util.read_file(path)
  if not text then return nil end
  local out = {}
  for line in text:gmatch("([^\n]*)\n?") do
    out[#out + 1] = (line:gsub("\r$", ""))
  end
  -- gmatch yields one empty match after a trailing newline
  if out[#out] == "" then out[#out] = nil end
  return out
end

-- Split a line on tabs, keeping empty fields.
local function split_tabs(line)
  local fields = {}
  for field in (line .. "\t"):gmatch("([^\t]*)\t") do fields[#fields + 1] = field end
  return fields
end

-- key<TAB>value lines -> map and the keys in file order (empty when the file is missing)
local function read_kv(path)
  local map, keys = util.read_kv(path)
  return map or {}, keys or {}
end

local special = {nan = 0 / 0, ["-nan"] = 0 / 0, inf = math.huge, ["+inf"] = math.huge,
  ["-inf"] = -math.huge, infinity = math.huge, ["-infinity"] = -math.huge}

--- runs.number(field): a metrics.tsv field as a number (nan and inf spelled as C prints them are
-- understood), nil when the field is empty or not a number.
function M.number(field)
  if field == nil or field == "" then return nil end
  local n = tonumber(field)
  if n then return n end
  return special[field:lower()]
end

-- A line that repeats or rewrites the header: no field is a number and it names known columns.
local function is_header(fields, known)
  local named = false
  for _, f in ipairs(fields) do
    if f ~= "" and M.number(f) ~= nil then return false end
    if known[f] then named = true end
  end
  return named
end

-- The header and rows of a TSV table of numbers (metrics.tsv, steps.tsv): columns in order of first
-- appearance; a header line that appears again later (the logger rewrote it to add a column) replaces
-- the column list from there on.
local function read_table(text_lines)
  local columns, rows = {}, {}
  local header, known = nil, {}
  local function set_header(fields)
    header = fields
    for _, c in ipairs(fields) do
      if c ~= "" and not known[c] then known[c] = true; columns[#columns + 1] = c end
    end
  end
  for _, line in ipairs(text_lines) do
    if line ~= "" then
      local fields = split_tabs(line)
      if header == nil or is_header(fields, known) then
        set_header(fields)
      else
        local row = {}
        for i, f in ipairs(fields) do
          local col = header[i]
          if col and col ~= "" and f ~= "" then row[col] = M.number(f) or f end
        end
        rows[#rows + 1] = row
      end
    end
  end
  return columns, rows
end

-- the dir argument of fn, checked to be a string, without its trailing slashes
local function dir_arg(fn, dir)
  if type(dir) ~= "string" then fail(fn, "dir must be a string (got %s)", type(dir)) end
  if util.has_nul(dir) then fail(fn, "dir cannot contain a NUL byte (got %s)", util.show(dir)) end
  return strip_slash(dir)
end

--- runs.read_info(dir): a run directory's params and meta without its metrics (cheap for a folder of
-- long runs): {dir, name, id, params, param_keys, meta, meta_keys} as runs.read gives them. Does not
-- check that dir is a run directory.
function M.read_info(dir)
  dir = dir_arg("runs.read_info", dir)
  local params, param_keys = read_kv(join(dir, "params.tsv"))
  local meta, meta_keys = read_kv(join(dir, "meta.tsv"))
  return {dir = dir, id = basename(dir), name = basename(dirname(dir)), params = params,
          param_keys = param_keys, meta = meta, meta_keys = meta_keys}
end

--- runs.read(dir): one run directory as a table
-- {dir, name, id, params = {k = "v"}, param_keys = {k...}, meta = {k = "v"}, meta_keys = {k...},
--  columns = {...}, rows = {{col = value}...}}, and when the run logged per-batch rows (steps.tsv)
-- steps = {{col = value}...} and step_columns = {...}. Params and meta values stay strings exactly as
-- written; metric values are numbers (missing fields are absent from their row, text that is not a
-- number is kept as a string). name is the folder above the run directory (runs/<name>/<id>). A
-- header line that appears again later (the logger rewrote it to add a column) replaces the column
-- list from there on.
function M.read(dir)
  dir = dir_arg("runs.read", dir)
  local metrics = lines(join(dir, "metrics.tsv"))
  if not metrics then
    fail("runs.read", "'%s' is not a run directory (no readable metrics.tsv)", dir)
  end
  local run = M.read_info(dir)
  run.columns, run.rows = read_table(metrics)
  local steps = lines(join(dir, "steps.tsv"))
  if steps then run.step_columns, run.steps = read_table(steps) end
  return run
end

--- runs.differing_params(list): the param keys whose values are not the same in every run of list
-- (a key missing from some runs differs), in order of first appearance. list holds tables from
-- runs.read. Returns a list of keys (empty for fewer than two runs).
function M.differing_params(list)
  local keys, seen = {}, {}
  for _, run in ipairs(list) do
    for _, k in ipairs(run.param_keys or {}) do
      if not seen[k] then seen[k] = true; keys[#keys + 1] = k end
    end
    -- tables built by hand may have params without param_keys
    local extra = {}
    for k in pairs(run.params or {}) do
      if not seen[k] then extra[#extra + 1] = k end
    end
    table.sort(extra)
    for _, k in ipairs(extra) do seen[k] = true; keys[#keys + 1] = k end
  end
  local out = {}
  for _, k in ipairs(keys) do
    local first = (list[1].params or {})[k]
    for i = 2, #list do
      if (list[i].params or {})[k] ~= first then out[#out + 1] = k; break end
    end
  end
  return out
end

return M
