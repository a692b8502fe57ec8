-- ember.repl.sources: the doc comments help reads from the Lua sources: the comment above a function's
-- definition, the comment that opens a module, and a comment that documents a name without sitting
-- above it (classes made by a helper, as nn.ReLU).
local read_file = require("ember.util").read_file

local M = {}

local mention_in

local host = {}   -- from lua/repl.c: host.source(name) gives an embedded module's source text
local embedded_cache = {}   -- files are read again each time: they may have been edited

--- sources.set_host(h): h.source(name) -> the source text embedded in the executable, or nil
function M.set_host(h)
  host = type(h) == "table" and h or {}
end

-- "ember.fit.loop" -> "fit/loop"
local function relative(name)
  local rest = name:match("^ember%.(.+)$")
  return rest and (rest:gsub("%.", "/")) or nil
end

--- sources.module(name) -> the source text of module name ("ember.plot", "ember.fit" from fit.lua or
-- fit/init.lua): $EMBER_PATH first (as the loader does), then the copy embedded in the executable,
-- then package.path (busted, plain lua5.4); nil when there is none
function M.module(name)
  local dir, rest = os.getenv("EMBER_PATH"), relative(name)
  if dir and dir ~= "" and rest then
    local src = read_file(dir .. "/ember/" .. rest .. ".lua") or read_file(dir .. "/ember/" .. rest .. "/init.lua")
    if src then return src end
  end
  if embedded_cache[name] == nil then
    embedded_cache[name] = host.source and host.source(name) or false
  end
  if embedded_cache[name] then return embedded_cache[name] end
  local path = package.searchpath(name, package.path)
  return path and read_file(path) or nil
end

--- sources.chunk(chunk) -> the source text behind a chunk name from debug.getinfo: "@path" or
-- "=[ember]/fit/loop.lua" (module ember.fit.loop; ".../init.lua" is the folder's module)
function M.chunk(chunk)
  local emb = chunk:match("^=%[ember%]/(.+)%.lua$")
  if emb then return M.module("ember." .. emb:gsub("/init$", ""):gsub("/", ".")) end
  if chunk:sub(1, 1) == "@" then return read_file(chunk:sub(2)) end
  return nil
end

function M.split_lines(s)
  local lines = {}
  for l in (s .. "\n"):gmatch("(.-)\r?\n") do lines[#lines + 1] = l end
  return lines
end

-- Comment text of "-- ..." lines: the dashes and one space go; separator lines ("-- ----") are dropped.
local function strip_comments(block)
  local out = {}
  for _, l in ipairs(block) do
    local t = l:gsub("^%s*%-%-%-?%s?", "")
    if not t:match("^[%-=%s]*$") or t == "" then out[#out + 1] = t end
  end
  while out[1] == "" do table.remove(out, 1) end
  while out[#out] == "" do out[#out] = nil end
  return table.concat(out, "\n")
end

-- The block of comment lines right above line n (no blank line between), as text; nil when none.
local function comment_above(lines, n)
  local block = {}
  local i = n - 1
  while i >= 1 and lines[i]:match("^%s*%-%-") and not lines[i]:match("^%s*%-%-%[=*%[") do
    table.insert(block, 1, lines[i])
    i = i - 1
  end
  local text = strip_comments(block)
  return text ~= "" and text or nil
end

--- sources.leading_comment(src) -> the comment block that opens a file (its description), nil when
-- it opens with code
function M.leading_comment(src)
  local block = {}
  for i, l in ipairs(M.split_lines(src)) do
    if l:match("^%s*%-%-") then block[#block + 1] = l
    elseif not (i == 1 and l:match("^#!")) then break end   -- past a shebang line
  end
  local text = strip_comments(block)
  return text ~= "" and text or nil
end

--- sources.where_defined(f) -> "file:line" of a Lua function's definition
function M.where_defined(f)
  local info = debug.getinfo(f, "S")
  return info.short_src .. ":" .. info.linedefined
end

--- sources.lua_doc(f) -> the doc comment above a Lua function's definition, or nil
function M.lua_doc(f)
  if type(f) ~= "function" then return nil end
  local info = debug.getinfo(f, "S")
  if info.what ~= "Lua" then return nil end
  local src = M.chunk(info.source)
  return src and comment_above(M.split_lines(src), info.linedefined) or nil
end

--- sources.mention_doc(full) -> the comment of module MOD (or a file of its folder) that documents
-- MOD.key without sitting above its definition (classes made by a helper, as nn.ReLU): a comment line
-- opening with "mod.key(" or "mod.key{", or with it after a ";". full is "ember.nn.ReLU"; returns the
-- text up to the next name documented on that line (and the lines below when it opens the line and is
-- alone on it), or nil.
function M.mention_doc(full)
  local mod, key = full:match("^(ember%.[%w_.]+)%.([%a_][%w_]*)$")
  if not mod then return nil end
  local short = (mod:match("[^.]+$") .. "." .. key):gsub("%p", "%%%0")
  for _, src in ipairs(M.module_family(mod)) do
    local doc = mention_in(M.split_lines(src), short)
    if doc then return doc end
  end
end

mention_in = function(lines, short)
  for i, l in ipairs(lines) do
    local text = l:match("^%s*%-%-%-?%s*(.*)$")
    local at = text and (text:match("^" .. short .. "[%({]") and 1 or text:match(";%s+()" .. short .. "[%({]"))
    if at then
      local rest = text:sub(at)
      local cut = rest:find(";%s+[%a_][%w_.:]*[%({]")
      local block = {"-- " .. (cut and rest:sub(1, cut - 1) or rest)}
      for j = i + 1, (at == 1 and not cut) and #lines or 0 do
        if not lines[j]:match("^%s*%-%-") then break end
        block[#block + 1] = lines[j]
      end
      local doc = strip_comments(block)
      return doc ~= "" and doc or nil
    end
  end
end

--- sources.module_family(name) -> the source texts of module name and of the modules of its folder
-- (ember.nn, then ember.nn.layers, ...), those that can be found
function M.module_family(name)
  local out, subs = {}, {}
  for k in next, package.preload do
    if type(k) == "string" and k:sub(1, #name + 1) == name .. "." then subs[#subs + 1] = k end
  end
  table.sort(subs)
  table.insert(subs, 1, name)
  for _, k in ipairs(subs) do out[#out + 1] = M.module(k) end
  return out
end

-- What marks a line as written for ember's developers: a path of the source tree, a C file or header,
-- a name internal to ember (ember._mse)
local DEVELOPER = {"%f[%w_]core/", "%f[%w_]lua/", "%f[%w_]tests/", "%f[%w_]tools/", "%f[%w_]bench/", "DESIGN%.md",
                   "%w%.[ch]%f[^%w_]", "%f[%w_]ember%._", "%f[%w_][%a][%w_]*%._%a"}

local function for_developers(s)
  for _, p in ipairs(DEVELOPER) do
    if s:find(p) then return true end
  end
  return false
end

--- sources.user_text(doc) -> doc as users may read it: remarks in parentheses that cite the source tree
-- or internal names are cut, lines that still do are dropped; nil when nothing is left
function M.user_text(doc)
  if not doc then return nil end
  local out = {}
  for line in (doc .. "\n"):gmatch("(.-)\n") do
    line = line:gsub("(%s*)(%b())", function(_, group)
      if for_developers(group) then return "" end
    end)
    if not for_developers(line) then out[#out + 1] = line end
  end
  while out[1] == "" do table.remove(out, 1) end
  while out[#out] == "" do out[#out] = nil end
  return #out > 0 and table.concat(out, "\n") or nil
end

return M
