-- ember.runs.filter: the one language that picks runs, the same for `ember plot`, `ember runs` and
-- `ember sweep --status`:
--   --where 'lr<=0.01' --where opt=adam --where 'status!=diverged'   every condition must hold
--   --last 5                                                          the 5 runs started last
--   --match 'lr=0.1*'                                                 a glob on the run's name or id
-- A --where key is any key of ember.runs.values (a param, compared by the value the run used; a meta
-- key such as status or name; best.METRIC or last.METRIC); values compare as numbers when both are
-- numbers, else as text. A run without the key fails every condition but `!=`.
--
-- A command declares the options with filter.with_options{...its own...}, so every command words them
-- the same, and picks its runs with filter.select(list, o, "ember runs").
local E = require "ember.error"
local values = require "ember.runs.values"

local M = {}

local OPS = {"<=", ">=", "!=", "==", "=", "<", ">"}

--- filter.parse_where(text) -> {key, op, value, text} from "KEY OP VALUE" (OP one of = != < <= > >=;
-- == is =), or nil and why
function M.parse_where(text)
  local key, rest = text:match("^%s*([^=!<>]-)%s*([=!<>].*)$")
  if not key or key == "" then
    return nil, ("needs KEY=VALUE, KEY!=VALUE, KEY<VALUE, KEY<=VALUE, KEY>VALUE or KEY>=VALUE (got '%s')"):format(text)
  end
  for _, op in ipairs(OPS) do
    if rest:sub(1, #op) == op then
      local value = rest:sub(#op + 1):match("^%s*(.-)%s*$")
      return {key = key, op = op == "==" and "=" or op, value = value, text = text}
    end
  end
  return nil, ("'%s': the operator must be one of =, !=, <, <=, >, >="):format(text)
end

--- filter.glob(pattern) -> a function(s) -> true when s matches the shell glob pattern as a whole
-- (* any text, ? one character, [abc] [a-z] [!abc] a class; every other character stands for itself)
function M.glob(pattern)
  local out, i = {"^"}, 1
  while i <= #pattern do
    local c = pattern:sub(i, i)
    if c == "*" then out[#out + 1] = ".*"
    elseif c == "?" then out[#out + 1] = "."
    elseif c == "[" and pattern:find("]", i + 2, true) then
      local close = pattern:find("]", i + 2, true)
      local class = pattern:sub(i + 1, close - 1):gsub("^!", "^"):gsub("%%", "%%%%")
      out[#out + 1] = "[" .. class .. "]"
      i = close
    else
      out[#out + 1] = c:gsub("%W", "%%%0")
    end
    i = i + 1
  end
  local lua_pattern = table.concat(out) .. "$"
  return function(s) return s ~= nil and s:find(lua_pattern) ~= nil end
end

--- filter.options: the declarations of --where, --last and --match for ember.cli.args
M.options = {
  {"--where", "EXPR", many = true, check = M.parse_where,
    help = "keep the runs where EXPR holds: KEY=V, KEY!=V, KEY<V, KEY<=V, KEY>V or KEY>=V; KEY is a param "
      .. "(the value the run used), a meta key such as status or name, or best.METRIC / last.METRIC; "
      .. "repeat: every condition must hold"},
  {"--last", "N", type = "integer", min = 1, help = "keep the N runs started last"},
  {"--match", "GLOB", many = true,
    help = "keep the runs whose name or id matches GLOB (* ? [abc]); repeat: any may match"},
}

--- filter.with_options(options) -> options followed by filter.options (copies), for a command's spec
function M.with_options(options)
  local out = {}
  for _, o in ipairs(options) do out[#out + 1] = o end
  for _, o in ipairs(M.options) do
    local copy = {}
    for k, v in pairs(o) do copy[k] = v end
    out[#out + 1] = copy
  end
  return out
end

local function holds(cond, run)
  local v = values.get(run, cond.key)
  if cond.op == "!=" then
    return v == nil or not values.same(v, cond.value)
  end
  if v == nil then return false end
  if cond.op == "=" then return values.same(v, cond.value) end
  local c = values.compare(v, cond.value)
  if c == nil then return false end
  if cond.op == "<" then return c < 0 elseif cond.op == "<=" then return c <= 0
  elseif cond.op == ">" then return c > 0 end
  return c >= 0
end

-- a list of conditions from strings or parsed conditions; raises a usage error naming fn
local function conditions(where, fn)
  if where == nil then return {} end
  if type(where) == "string" or (type(where) == "table" and where.key) then where = {where} end
  if type(where) ~= "table" then
    E.raise("usage", fn, "where must be a condition or a list of them (got %s)", type(where))
  end
  local out = {}
  for i, w in ipairs(where) do
    if type(w) == "string" then
      local cond, why = M.parse_where(w)
      if not cond then E.raise("usage", fn, "where %s", why) end
      w = cond
    elseif type(w) ~= "table" or type(w.key) ~= "string" then
      E.raise("usage", fn, "where[%d] must be a string such as 'lr<=0.01' (got %s)", i, type(w))
    end
    out[#out + 1] = w
  end
  return out
end

local function started(run)
  return (run.meta or {}).start_time or "", run.id or "", run.dir or ""
end

-- the runs of list started last, n of them, in list's order
local function last_n(list, n)
  if n >= #list then return list end
  local order = {}
  for i = 1, #list do order[i] = i end
  table.sort(order, function(a, b)
    local ta, ia, da = started(list[a])
    local tb, ib, db = started(list[b])
    if ta ~= tb then return ta > tb end
    if ia ~= ib then return ia > ib end
    return da > db
  end)
  local keep = {}
  for i = 1, n do keep[order[i]] = true end
  local out = {}
  for i, r in ipairs(list) do if keep[i] then out[#out + 1] = r end end
  return out
end

--- filter.select(list, o [, fn]) -> the runs of list (tables from runs.read) that o keeps, in list's
-- order. o: {where = a condition or a list ("lr<=0.01", or parsed by parse_where), last = N, match =
-- a glob or a list}. A where key that no run of list has is a usage error naming fn (default
-- "ember.runs.filter") with the keys the runs have, so a typo never silently empties a figure.
function M.select(list, o, fn)
  fn = fn or "ember.runs.filter"
  o = o or {}
  local conds = conditions(o.where, fn)
  for _, c in ipairs(conds) do
    if #list > 0 and not values.known(list, c.key) then
      E.raise("usage", fn, "--where %s: no run has '%s' (%s)", c.text or c.key, c.key, values.describe_keys(list))
    end
  end
  local globs = {}
  local match = o.match
  if type(match) == "string" then match = {match} end
  for _, g in ipairs(match or {}) do globs[#globs + 1] = M.glob(g) end
  local out = {}
  for _, run in ipairs(list) do
    local keep = true
    for _, c in ipairs(conds) do
      if not holds(c, run) then keep = false; break end
    end
    if keep and #globs > 0 then
      keep = false
      for _, g in ipairs(globs) do
        if g(run.name) or g(run.id) then keep = true; break end
      end
    end
    if keep then out[#out + 1] = run end
  end
  if o.last ~= nil then
    if math.type(o.last) ~= "integer" or o.last < 1 then
      E.raise("usage", fn, "last must be a positive integer (got %s)", tostring(o.last))
    end
    out = last_n(out, o.last)
  end
  return out
end

--- filter.active(o) -> true when o asks for any filtering
function M.active(o)
  return o ~= nil and ((o.where ~= nil and (type(o.where) ~= "table" or next(o.where) ~= nil))
    or o.last ~= nil or (o.match ~= nil and (type(o.match) ~= "table" or next(o.match) ~= nil)))
end

return M
