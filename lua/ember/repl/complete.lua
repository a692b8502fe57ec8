-- ember.repl.complete: the candidates of Tab completion: globals and keywords, fields after a dot,
-- methods after a colon (tensors included), file names inside a string.
local ember = require "ember"
local names = require "ember.repl.names"

local M = {}

local is_ident, callable = names.is_ident, names.callable

-- Where the string literal open at the end of s starts (the index after its quote), or nil;
-- second result "comment" when s ends inside a comment.
local function open_string(s)
  local i, n = 1, #s
  while i <= n do
    local c = s:sub(i, i)
    if c == '"' or c == "'" then
      local j = i + 1
      while j <= n do
        local d = s:sub(j, j)
        if d == "\\" then j = j + 2
        elseif d == c then break
        else j = j + 1 end
      end
      if j > n then return i + 1 end
      i = j + 1
    elseif c == "-" and s:sub(i + 1, i + 1) == "-" then
      local eq = s:match("^%[(=*)%[", i + 2)
      if not eq then return nil, "comment" end
      local close = s:find("]" .. eq .. "]", i + 4 + #eq, true)
      if not close then return nil, "comment" end
      i = close + #eq + 2
    elseif c == "[" and s:match("^%[=*%[", i) then
      local eq = s:match("^%[(=*)%[", i)
      local close = s:find("]" .. eq .. "]", i + 2 + #eq, true)
      if not close then return i + 2 + #eq end
      i = close + #eq + 2
    else
      i = i + 1
    end
  end
  return nil
end

local lfs_ok, lfs = pcall(require, "lfs")

local function list_dir(dir)
  local out = {}
  if lfs_ok then
    local ok, iter, state = pcall(lfs.dir, dir)
    if not ok then return out end
    for name in iter, state do out[#out + 1] = name end
  else
    local p = io.popen("ls -1a " .. require("ember.util").shell_quote(dir) .. " 2>/dev/null")
    if p then
      for name in p:lines() do out[#out + 1] = name end
      p:close()
    end
  end
  return out
end

local function is_dir(path)
  if lfs_ok then return lfs.attributes(path, "mode") == "directory" end
  local f = io.open(path .. "/.")
  if f then f:close(); return true end
  return false
end

-- File names that complete partial (a path typed inside a string); directories end with /.
local function file_candidates(partial)
  local dir, base = partial:match("^(.*/)([^/]*)$")
  if not dir then dir, base = "", partial end
  local real = dir
  if real:sub(1, 2) == "~/" then real = (os.getenv("HOME") or "~") .. real:sub(2) end
  local out = {}
  for _, name in ipairs(list_dir(real == "" and "." or real)) do
    if name ~= "." and name ~= ".." and name:sub(1, #base) == base
       and (base:sub(1, 1) == "." or name:sub(1, 1) ~= ".") then
      local c = dir .. name
      if is_dir(real .. name) then c = c .. "/" end
      out[#out + 1] = c
    end
  end
  table.sort(out)
  return out
end

-- Field names of a value: its keys, its class's (through __index tables), the submodules ember would
-- load, tensor methods and fields, string methods. methods_only keeps the callable ones. Read raw:
-- no __pairs or __index of the user's runs.
local function field_names(v, methods_only)
  local found = {}
  local function add_table(t)
    for k, val in next, t do
      if is_ident(k) and (not methods_only or callable(val)) then found[k] = true end
    end
  end
  if ember.is_tensor(v) then
    add_table(names.tensor_methods())
    if not methods_only then
      for _, k in ipairs{"grad", "requires_grad", "is_leaf", "grad_fn"} do found[k] = true end
    end
  elseif type(v) == "table" then
    add_table(v)
    local cur, depth = v, 0
    while depth < 8 do
      local mt = getmetatable(cur)
      local idx = type(mt) == "table" and rawget(mt, "__index")
      if type(idx) ~= "table" then break end
      add_table(idx)
      cur, depth = idx, depth + 1
    end
    local mname = names.module_name(v)
    if mname and not methods_only then
      local pat = "^" .. mname:gsub("%p", "%%%0") .. "%.([%a_][%w_]*)$"
      for k in next, package.preload do
        local sub = k:match(pat)
        if sub and sub ~= "repl" then found[sub] = true end
      end
    end
  elseif type(v) == "string" then
    add_table(string)
  elseif type(v) == "userdata" then
    local mt = getmetatable(v)
    local idx = type(mt) == "table" and rawget(mt, "__index")
    if type(idx) == "table" then add_table(idx) end
  end
  return found
end

--- complete.complete(line): completion candidates for the text before the cursor. Returns a sorted list
-- of words, the index in line where the word they replace starts, and the kind of word ("file" or
-- "name"). Candidates: globals and keywords, fields
-- after a dot, methods after a colon (tensors included: x:resh -> x:reshape), file names inside a
-- string. Names starting with _ only show when the typed prefix does.
function M.complete(line)
  local q, where = open_string(line)
  if where == "comment" then return {}, #line + 1 end
  if q then
    return file_candidates(line:sub(q)), q, "file"
  end
  local token = line:match("[%w_.:]*$")
  local start = #line - #token + 1
  local before = line:sub(start - 1, start - 1)
  if before == ")" or before == "]" or before == "}" or before == "\"" or before == "'" then return {}, start end
  local head, sep, last = token:match("^(.*)([.:])([%w_]*)$")
  local found, prefix
  if not head then
    if token:match("^%d") then return {}, start end
    last, prefix = token, ""
    found = {}
    for k in next, _G do if is_ident(k) then found[k] = true end end
    for k in pairs(names.LAZY) do if package.preload["ember." .. k] then found[k] = true end end
    for _, k in ipairs(names.KEYWORDS) do found[k] = true end
  else
    for part in (head .. "."):gmatch("([^.]*)%.") do
      if not is_ident(part) then return {}, start end
    end
    local v = names.resolve_raw(head)
    if v == nil then return {}, start end
    found = field_names(v, sep == ":")
    prefix = head .. sep
  end
  local out = {}
  for name in pairs(found) do
    if name:sub(1, #last) == last and (last:sub(1, 1) == "_" or name:sub(1, 1) ~= "_") then
      out[#out + 1] = prefix .. name
    end
  end
  table.sort(out)
  return out, start, "name"
end

return M
