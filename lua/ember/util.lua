-- ember.util: the small file and text helpers the Lua modules share (one copy of each). Callers wrap
-- the `nil, message` results in errors worded for their own command.
local M = {}

--- util.show(v) -> v as a message shows it: strings quoted ("adam"), tensors as tensor[2 x 3], NaN as
-- nan (tostring gives -nan on x86), numbers, booleans and nil as tostring gives them, any other value by
-- its type ("table", "function"), never by an address
function M.show(v)
  local t = type(v)
  if t == "string" then return string.format("%q", v) end
  if M.is_tensor(v) then return "tensor" .. M.shape_str(v) end
  if v ~= v then return "nan" end
  if t == "number" or t == "boolean" or t == "nil" then return tostring(v) end
  return t
end

--- util.is_finite(x) -> true for a number that is neither NaN nor infinite
function M.is_finite(x)
  return type(x) == "number" and x == x and x ~= math.huge and x ~= -math.huge
end

--- util.is_tensor(v) -> true for an ember tensor
function M.is_tensor(v)
  local mt = getmetatable(v)
  return type(v) == "userdata" and type(mt) == "table" and mt.__name == "ember.Tensor"
end

--- util.shape_str(t) -> "[64 x 1 x 28 x 28]" for a tensor (or a list of sizes); "[]" for a 0-d tensor.
-- The same format as the core's messages.
function M.shape_str(t)
  local shape = type(t) == "table" and t or t:shape()
  return "[" .. table.concat(shape, " x ") .. "]"
end

--- util.callable(f) -> true for a function or a value with a __call metamethod
function M.callable(f)
  if type(f) == "function" then return true end
  local mt = getmetatable(f)
  return type(mt) == "table" and mt.__call ~= nil
end

--- util.same_list(a, b) -> true when the lists a and b have the same length and equal (==) items
function M.same_list(a, b)
  if #a ~= #b then return false end
  for i = 1, #a do
    if a[i] ~= b[i] then return false end
  end
  return true
end

--- util.option_problem(opts, known) -> nil when every key of the options table opts is an option known
-- names (known maps a name to "boolean" for an option that must be true or false, or to true for any
-- value); else the kind and the text of the problem ("value", "unknown option 'delt' (known: delta,
-- reduction)" or "type", "option header must be true or false (got 5)"), for the caller to raise
-- under its own name. A misspelt option is an error rather than an option silently ignored.
function M.option_problem(opts, known)
  local names, bad = {}, nil
  for name in pairs(known) do names[#names + 1] = name end
  table.sort(names)
  for k in pairs(opts) do
    if not known[k] and (bad == nil or tostring(k) < tostring(bad)) then bad = k end
  end
  if bad ~= nil then
    return "value", ("unknown option '%s' (known: %s)"):format(tostring(bad), table.concat(names, ", "))
  end
  for _, k in ipairs(names) do
    if known[k] == "boolean" and opts[k] ~= nil and type(opts[k]) ~= "boolean" then
      return "type", ("option %s must be true or false (got %s)"):format(k, M.show(opts[k]))
    end
  end
  return nil
end

--- util.trim(s) -> s without the white space at its ends
function M.trim(s)
  return (s:match("^%s*(.-)%s*$"))
end

local CONTROL_NAMES = {["\n"] = "\\n (newline)", ["\t"] = "\\t (tab)", ["\r"] = "\\r (carriage return)",
  ["\0"] = "\\0 (NUL)", ["\27"] = "\\27 (escape)", ["\127"] = "\\127 (delete)"}

--- util.control_char(s) -> the byte position and a printable name ("\\n (newline)", "\\1") of the first
-- control character of s (a byte below 0x20, or 0x7f), or nil when it has none
function M.control_char(s)
  local at = s:find("[%z\1-\31\127]")
  if not at then return nil end
  local c = s:sub(at, at)
  return at, CONTROL_NAMES[c] or ("\\" .. c:byte())
end

--- util.tsv_field(v) -> tostring(v) with every control character (tab, newline, ...) made a space: text
-- that stays one field of one line of a TSV file
function M.tsv_field(v)
  return (tostring(v):gsub("%c", " "))
end

--- util.has_nul(s) -> true when the string s holds a NUL byte. The C library ends a file name there, so
-- a path with one names another file than the one given: every path a script can pass is checked.
function M.has_nul(s) return s:find("\0", 1, true) ~= nil end

--- util.read_file(path) -> the whole file as a string, or nil when it cannot be opened
function M.read_file(path)
  if M.has_nul(path) then return nil end
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

--- util.write_atomic(path, text) -> true, or nil and a message. Writes a temporary file beside path
-- (named with the process id, so two writers never share one), flushes it and renames it over path:
-- a reader sees the old file or the new one, never half of one.
function M.write_atomic(path, text)
  return require("ember")._write_atomic(path, text)   -- the temporary file never follows a symlink
end

--- util.is_file(path), util.is_dir(path) -> true when path is a regular file / a directory (following
-- symlinks)
function M.is_file(path) return not M.has_nul(path) and require("lfs").attributes(path, "mode") == "file" end
function M.is_dir(path) return not M.has_nul(path) and require("lfs").attributes(path, "mode") == "directory" end

--- util.mkdir_p(dir) -> true, or nil and a message (mkdir -p)
function M.mkdir_p(dir)
  local lfs = require "lfs"   -- here, so modules that only read files work without lua-filesystem
  if M.has_nul(dir) then return nil, "a folder name cannot contain a NUL byte" end
  if dir == "" or lfs.attributes(dir, "mode") == "directory" then return true end
  local parent = dir:match("^(.+)/[^/]*$")
  if parent and parent ~= dir then
    local ok, err = M.mkdir_p(parent)
    if not ok then return nil, err end
  end
  local ok, err = lfs.mkdir(dir)
  if not ok and lfs.attributes(dir, "mode") ~= "directory" then return nil, tostring(err) end
  return true
end

--- util.shell_quote(s) -> s as one single-quoted sh word ('it''s' -> 'it'\''s'); nothing inside is
-- expanded by the shell. Raises on a NUL byte, which no command-line argument can hold.
function M.shell_quote(s)
  s = tostring(s)
  if s:find("\0", 1, true) then error("a command-line argument contains a NUL byte", 0) end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

--- util.number_text(v) -> the shortest decimal text that reads back as the same number (integers as
-- integers; nan, inf, -inf spelled so), for TSV files that must round-trip exactly
function M.number_text(v)
  if math.type(v) == "integer" then return string.format("%d", v) end
  if v ~= v then return "nan" end
  if v == math.huge then return "inf" end
  if v == -math.huge then return "-inf" end
  for digits = 15, 17 do
    local s = string.format("%." .. digits .. "g", v)
    if tonumber(s) == v then return s end
  end
  return string.format("%.17g", v)
end

--- util.read_kv(path) -> map, keys in file order (key<TAB>value lines; the value is everything after
-- the first tab; a repeated key keeps its last value), or nil when the file cannot be read. The text
-- is data: nothing in a run directory is ever executed.
function M.read_kv(path)
  local text = M.read_file(path)
  if not text then return nil end
  local map, keys = {}, {}
  for line in text:gmatch("[^\n]+") do
    local k, v = line:gsub("\r$", ""):match("^([^\t]+)\t(.*)$")
    if k then
      if map[k] == nil then keys[#keys + 1] = k end
      map[k] = v
    end
  end
  return map, keys
end

return M
