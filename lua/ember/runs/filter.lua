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
      -- lr=>0.1 or lr<<1 is a mistyped operator, which would compare as text and keep nothing or all
      local stray = value:match("^[=!<>]+")
      if stray then
        return nil, ("'%s': the value after %s starts with '%s': write one operator of =, !=, <, <=, >, >="):format(
          text, op, stray)
      end
      return {key = key, op = op == "==" and "=" or op, value = value, text = text}
    end
  end
  return nil, ("'%s': the operator must be one of =, !=, <, <=, >, >="):format(text)
end

-- the characters of s: its UTF-8 sequences, and each byte that is not part of one on its own, so that
-- ? and a class take "é" whole and a name that is not UTF-8 still matches byte by byte
local function chars(s)
  local out, i = {}, 1
  while i <= #s do
    local b = s:byte(i)
    local len = b < 0xC2 and 1 or b < 0xE0 and 2 or b < 0xF0 and 3 or b < 0xF5 and 4 or 1
    if len > 1 and not utf8.len(s, i, i) then len = 1 end
    out[#out + 1] = s:sub(i, i + len - 1)
    i = i + len
  end
  return out
end

-- a character's order in a range [a-z]: its code point, or its byte when it is not UTF-8
local function code(c) return #c > 1 and utf8.codepoint(c) or c:byte() end

local STAR, ANY = {}, {}

-- the class that starts at pc[i] = "[": a token and the index after its "]", or nil when no "]" closes it
-- (then the "[" is a character like any other). "!" or "^" first negates; a "]" first is a member;
-- a-z is a range ("-" first or last is a member)
local function class_at(pc, i)
  local j = i + 1
  local negate = pc[j] == "!" or pc[j] == "^"
  if negate then j = j + 1 end
  local items, first = {}, true
  while j <= #pc do
    local c = pc[j]
    if c == "]" and not first then return {negate = negate, items = items}, j + 1 end
    if pc[j + 1] == "-" and pc[j + 2] ~= nil and pc[j + 2] ~= "]" then
      items[#items + 1] = {code(c), code(pc[j + 2])}
      j = j + 3
    else
      items[#items + 1] = {code(c), code(c)}
      j = j + 1
    end
    first = false
  end
  return nil
end

local function compile(pattern)
  local pc, tokens, i = chars(pattern), {}, 1
  while i <= #pc do
    local c, class, after = pc[i], nil, nil
    if c == "[" then class, after = class_at(pc, i) end
    if class then tokens[#tokens + 1], i = class, after
    else
      if c == "*" then
        if tokens[#tokens] ~= STAR then tokens[#tokens + 1] = STAR end
      else tokens[#tokens + 1] = c == "?" and ANY or c end
      i = i + 1
    end
  end
  return tokens
end

-- does token t (not STAR) take the character c?
local function takes(t, c)
  if t == ANY then return true end
  if type(t) == "string" then return t == c end
  local n = code(c)
  for _, r in ipairs(t.items) do
    if r[1] <= n and n <= r[2] then return not t.negate end
  end
  return t.negate
end

-- the classic iterative match: on a mismatch, go back to the last * and let it take one more
-- character. Time at most #tokens x #s, whatever the pattern (no exponential backtracking).
local function match(tokens, s)
  local p, i, star, mark = 1, 1, nil, nil
  while i <= #s do
    local t = tokens[p]
    if t == STAR then
      star, mark, p = p, i, p + 1
    elseif t ~= nil and takes(t, s[i]) then
      p, i = p + 1, i + 1
    elseif star then
      mark = mark + 1
      p, i = star + 1, mark
    else
      return false
    end
  end
  while tokens[p] == STAR do p = p + 1 end
  return p > #tokens
end

--- filter.glob(pattern) -> a function(s) -> true when s matches the shell glob pattern as a whole:
-- * any text, ? one character, [abc] [a-z] [!abc] (or [^abc]) a class, whose first character may be "]"
-- ([]a] takes "]" or "a"); every other character stands for itself, and so does a "[" that no "]"
-- closes ("[", "[]", "[!]" and "a[b" match themselves). There is no escape character ([*] matches "*")
-- and there are no named classes ([:alpha:]).
-- Characters are UTF-8 characters. The time is bounded by #pattern x #s.
function M.glob(pattern)
  if type(pattern) ~= "string" then
    E.raise("type", "ember.runs.filter", "a glob must be a string (got %s)", type(pattern))
  end
  local tokens = compile(pattern)
  return function(s) return type(s) == "string" and match(tokens, chars(s)) end
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
