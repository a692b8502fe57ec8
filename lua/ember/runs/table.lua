-- ember.runs.table: the table of `ember runs`: which columns (the defaults, or any key of
-- ember.runs.values), one row per run in the order asked, and its forms: aligned text for people, TSV,
-- CSV and JSON for programs.
local E = require "ember.error"
local util = require "ember.util"
local runs = require "ember.runs"
local values = require "ember.runs.values"

local M = {}

local NUMERIC = {best = true, last = true, epoch = true, duration = true}
local TEXT_KEYS = {name = true, id = true, dir = true, status = true, metric = true}

local function first_line(s) return (tostring(s):match("^[^\n]*")) end

--- table.read(dir [, warn]) -> the runs below dir, oldest first; a run that cannot be read is skipped
-- and warn(message) is called (default: a line on stderr).
function M.read(dir, warn)
  warn = warn or function(msg) io.stderr:write(msg, "\n") end
  local list = {}
  for _, d in ipairs(runs.find(dir)) do
    local ok, r = pcall(runs.read, d)
    if ok then list[#list + 1] = r
    else warn(("ember runs: skipping %s: %s"):format(d, first_line(E.message(r)))) end
  end
  table.sort(list, function(a, b)
    local ta, tb = a.meta.start_time or "", b.meta.start_time or ""
    if ta ~= tb then return ta < tb end
    return a.dir < b.dir
  end)
  return list
end

--- table.default_columns(list) -> name, id, status, the params that differ between the runs, metric,
-- best, last, epoch, duration
function M.default_columns(list)
  local cols = {"name", "id", "status"}
  if #list > 1 then
    for _, k in ipairs(values.differing(list)) do cols[#cols + 1] = k end
  end
  for _, c in ipairs{"metric", "best", "last", "epoch", "duration"} do cols[#cols + 1] = c end
  return cols
end

--- table.columns(list, spec, fn [, all]) -> the columns asked for the runs of list: spec is nil (the
-- defaults), or a list of keys, which a first key starting with '+' adds to the defaults. A key that
-- no run of all (default list: the runs before a filter) has is a usage error naming fn, with the keys
-- the runs have.
function M.columns(list, spec, fn, all)
  all = all or list
  if spec == nil or #spec == 0 then return M.default_columns(list) end
  local cols = {}
  local add = spec[1]:sub(1, 1) == "+"
  if add then
    for _, c in ipairs(M.default_columns(list)) do cols[#cols + 1] = c end
  end
  local seen = {}
  for _, c in ipairs(cols) do seen[c] = true end
  for i, key in ipairs(spec) do
    if i == 1 and add then key = key:sub(2) end
    if key == "" then E.raise("usage", fn, "--columns: an empty column name") end
    if #all > 0 and not values.BUILTIN[key] and not values.known(all, key) then
      E.raise("usage", fn, "--columns: no run has '%s' (%s)", key, values.describe_keys(all))
    end
    if not seen[key] then seen[key] = true; cols[#cols + 1] = key end
  end
  return cols
end

--- table.sort(list, key, descending) -> list sorted by the value of key (ember.runs.values): numbers
-- as numbers, text as text, runs without a value last whichever the direction; ties keep their order
function M.sort(list, key, descending)
  local index = {}
  for i, r in ipairs(list) do index[r] = i end
  local cache = {}
  for _, r in ipairs(list) do cache[r] = values.get(r, key) end
  table.sort(list, function(a, b)
    local va, vb = cache[a], cache[b]
    local c = values.compare(va, vb)
    if c == nil or c == 0 then
      local ma, mb = va == nil or values.compare(va, va) == nil, vb == nil or values.compare(vb, vb) == nil
      if ma ~= mb then return mb end
      return index[a] < index[b]
    end
    if descending then return c > 0 end
    return c < 0
  end)
  return list
end

local function fmt_duration(s)
  if s == nil then return "" end
  if s < 60 then return ("%ds"):format(s) end
  if s < 3600 then return ("%dm%02ds"):format(s // 60, s % 60) end
  return ("%dh%02dm"):format(s // 3600, (s % 3600) // 60)
end

local function short(v)
  if type(v) ~= "number" then return tostring(v) end
  if math.type(v) == "integer" then return tostring(v) end
  if v ~= v then return "nan" end
  return string.format("%.4g", v)
end

local function exact(v)
  if v == nil then return "" end
  if type(v) == "number" then return util.number_text(v) end
  return tostring(v)
end

-- the text a person reads for the value v of column key
local function shown(key, v, resolved)
  if v == nil then
    if key == "status" then return "?" end
    return (NUMERIC[key] or key:find("^best%.") or key:find("^last%.")) and "" or "-"
  end
  if key == "duration" then return fmt_duration(v) end
  return short(v) .. (resolved and "*" or "")
end

-- what a cell of `typed` holds where the run has no value (exact writes "", JSON null)
local MISSING = setmetatable({}, {__name = "missing"})

--- table.build(list, cols) -> {header = {...}, shown = {{...}}, exact = {{...}}, typed = {{...}},
-- resolved = bool}: the cells of the runs of list for the columns cols (default table.default_columns):
-- shown for people (numbers cut to 4 digits, durations as 1m05s, resolved params marked *), exact for
-- programs, typed the values themselves (numbers, text, or table.MISSING) for JSON, which tells a
-- missing value from an empty text. In the exact forms a param column K with a resolved value in some
-- run is followed by a column used.K that holds the resolved values (empty where the run used
-- params.tsv's value).
function M.build(list, cols)
  cols = cols or M.default_columns(list)
  local header, exact_header, used_after = {}, {}, {}
  local asked = {}
  for _, c in ipairs(cols) do asked[c] = true end
  for _, c in ipairs(cols) do
    header[#header + 1] = c
    exact_header[#exact_header + 1] = c
    if not values.BUILTIN[c] and not asked["used." .. c] then
      for _, r in ipairs(list) do
        if select(2, values.get(r, c)) then
          used_after[c] = true
          exact_header[#exact_header + 1] = "used." .. c
          break
        end
      end
    end
  end
  local t = {header = header, exact_header = exact_header, shown = {}, exact = {}, typed = {}, resolved = false}
  for _, r in ipairs(list) do
    local a, b, typed = {}, {}, {}
    for _, c in ipairs(cols) do
      local v, resolved = values.get(r, c)
      a[#a + 1] = shown(c, v, resolved)
      b[#b + 1], typed[#b + 1] = exact(v), v == nil and MISSING or v
      if resolved then t.resolved = true end
      if used_after[c] then b[#b + 1], typed[#b + 1] = resolved and exact(v) or "", resolved and v or MISSING end
    end
    t.shown[#t.shown + 1], t.exact[#t.exact + 1], t.typed[#t.typed + 1] = a, b, typed
  end
  return t
end

M.MISSING = MISSING

local tsv_field = util.tsv_field

-- the exact cells, header first, each field written by field(), joined by sep, lines ended by eol
local function delimited(t, field, sep, eol)
  local out = {}
  for _, row in ipairs{t.exact_header, table.unpack(t.exact)} do
    local f = {}
    for i, v in ipairs(row) do f[i] = field(v) end
    out[#out + 1] = table.concat(f, sep)
  end
  return table.concat(out, eol) .. eol
end

--- table.tsv(t) -> the exact cells as tab-separated values (control characters as spaces)
function M.tsv(t) return delimited(t, tsv_field, "\t", "\n") end

local function csv_field(s)
  s = tostring(s)
  if s:find('[,"\r\n]') then return '"' .. s:gsub('"', '""') .. '"' end
  return s
end

--- table.csv(t) -> the exact cells as comma-separated values (RFC 4180: a field with a comma, quote or
-- line break is quoted, quotes doubled)
function M.csv(t) return delimited(t, csv_field, ",", "\r\n") end

local JSON_ESCAPES = {['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f", ["\n"] = "\\n",
  ["\r"] = "\\r", ["\t"] = "\\t"}

-- s with every byte that is not part of a valid UTF-8 sequence replaced by U+FFFD, so that text read
-- from a run's files (any bytes) is always valid JSON
local function valid_utf8(s)
  if utf8.len(s) then return s end
  local out, i = {}, 1
  while i <= #s do
    local ascii = s:find("[\128-\255]", i)
    if not ascii then out[#out + 1] = s:sub(i); break end
    out[#out + 1] = s:sub(i, ascii - 1)
    local b = s:byte(ascii)
    local len = b < 0xE0 and 2 or b < 0xF0 and 3 or 4
    if b >= 0xC2 and b < 0xF5 and utf8.len(s, ascii, ascii) then
      out[#out + 1] = s:sub(ascii, ascii + len - 1)
      i = ascii + len
    else
      out[#out + 1] = "\u{FFFD}"
      i = ascii + 1
    end
  end
  return table.concat(out)
end

local function json_string(s)
  return '"' .. valid_utf8(s):gsub('[%c"\\]', function(c)
    return JSON_ESCAPES[c] or ("\\u%04x"):format(c:byte())
  end) .. '"'
end

-- true for text that is a number as JSON writes one: -?(0|[1-9]d*)(.d+)?([eE][+-]?d+)?
local function is_json_number(s)
  local rest = s:match("^%-?0(.*)$") or s:match("^%-?[1-9]%d*(.*)$")
  if not rest then return false end
  rest = rest:match("^%.%d+(.*)$") or rest
  rest = rest:match("^[eE][-+]?%d+(.*)$") or rest
  return rest == ""
end

-- a typed cell as JSON: missing is null; a number is a number, NaN and infinities null (JSON has none);
-- text that is a finite JSON number stays a number as written (a param "0.001"), any other text, "",
-- "nan" and "1e400" (infinite as a double) included, is a string; names are always text
local function json_value(key, v)
  if v == MISSING then return "null" end
  if type(v) == "number" then
    if v ~= v or v == math.huge or v == -math.huge then return "null" end
    local s = util.number_text(v)
    return is_json_number(s) and s or json_string(s)
  end
  v = tostring(v)
  if not TEXT_KEYS[key] and is_json_number(v) and util.is_finite(tonumber(v)) then return v end
  return json_string(v)
end

--- table.json(t) -> the typed cells as a JSON array of objects, keys in column order; numbers as
-- numbers (NaN and infinities as null), text as strings (invalid UTF-8 bytes as U+FFFD), missing
-- values as null
function M.json(t)
  local rows = {}
  for _, row in ipairs(t.typed) do
    local f = {}
    for i, key in ipairs(t.exact_header) do
      f[i] = json_string(key) .. ": " .. json_value(key, row[i])
    end
    rows[#rows + 1] = "  {" .. table.concat(f, ", ") .. "}"
  end
  if #rows == 0 then return "[]\n" end
  return "[\n" .. table.concat(rows, ",\n") .. "\n]\n"
end

--- table.text(t) -> the table for people: columns aligned, numbers to the right, and a note under it
-- when a value is marked * (resolved)
function M.text(t)
  local width = {}
  for i, c in ipairs(t.header) do width[i] = utf8.len(c) or #c end
  local rows = {}
  for r, row in ipairs(t.shown) do
    rows[r] = {}
    for i, v in ipairs(row) do
      v = tsv_field(v)
      rows[r][i] = v
      width[i] = math.max(width[i], utf8.len(v) or #v)
    end
  end
  local numeric = {}
  for i, c in ipairs(t.header) do
    numeric[i] = NUMERIC[c] or c:find("^best%.") ~= nil or c:find("^last%.") ~= nil
  end
  local function line(cells)
    local parts = {}
    for i, v in ipairs(cells) do
      local pad = string.rep(" ", width[i] - (utf8.len(v) or #v))
      parts[i] = numeric[i] and pad .. v or v .. pad
    end
    return (table.concat(parts, "  "):gsub("%s+$", ""))
  end
  local out = {line(t.header)}
  for _, row in ipairs(rows) do out[#out + 1] = line(row) end
  if t.resolved then
    out[#out + 1] = "* the value the run used (meta.tsv used.KEY): the config held a stand-in for it"
  end
  return table.concat(out, "\n") .. "\n"
end

return M
