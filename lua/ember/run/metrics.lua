-- ember.run.metrics: metrics.tsv, written row by row and flushed after each (format: docs/formats.md).
--
-- The first row fixes the header (epoch, step, train_loss, valid_loss first, then the other keys in
-- alphabetical order, lr and time last). When a later row brings new columns, they are appended to the
-- column list and the whole file is rewritten (temp file + rename) with the new header and every earlier
-- row padded with empty fields. So the file always has exactly one header line and the same number of
-- fields on every line, which gnuplot (`set datafile separator "\t"`, `columnheader`) and ember.runs both
-- read directly; an empty field is a missing value. Rewrites happen only when columns are added, which
-- in practice is in the first epoch or two.
--
-- The functions work on the run's own fields: dir, columns (the header), _known (column -> true), rows
-- (data rows in the file) and _mf (the append handle).
local util = require "ember.util"
local E = require "ember.error"
local show = util.show

local M = {}

local fail = E.raiser("run:log", "value")

local RANK = {epoch = 1, step = 2, train_loss = 3, valid_loss = 4, lr = 6, time = 7}

local function order_columns(cols)
  table.sort(cols, function(a, b)
    local ra, rb = RANK[a] or 5, RANK[b] or 5
    if ra ~= rb then return ra < rb end
    return a < b
  end)
  return cols
end

local function path_of(run) return run.dir .. "/metrics.tsv" end

local function header_line(cols) return table.concat(cols, "\t") .. "\n" end

local function write_fail(run, err) E.raise("io", "run:log", "cannot write '%s': %s", path_of(run), err) end

local function open_append(run, who)
  local f, err = io.open(path_of(run), "ab")
  if not f then E.raise("io", who, "cannot write '%s': %s", path_of(run), err) end
  run._mf = f
end

--- metrics.create(run): an empty metrics.tsv, which makes the folder a run directory from the start
function M.create(run)
  open_append(run, "ember.run")
  run._mf:close()
  run._mf = nil
end

--- metrics.repair(run, who) -> the text of metrics.tsv, without the torn last line that a process killed
-- while writing a row leaves (every complete line ends with a newline); the file is rewritten without
-- it, atomically, with a warning
function M.repair(run, who)
  local path = path_of(run)
  local text = util.read_file(path) or ""
  if text == "" or text:sub(-1) == "\n" then return text end
  local keep = text:match("^(.*\n)") or ""
  local ok, err = util.write_atomic(path, keep)
  if not ok then E.raise("io", who, "cannot write '%s': %s", path, err) end
  io.stderr:write(("ember: warning: %s ended in a torn line (%d bytes, the process stopped while writing "
    .. "it): removed\n"):format(path, #text - #keep))
  return keep
end

--- metrics.open(run): reads the header and counts the rows of an existing file (a resumed run), so new
-- rows line up with the old ones, and opens the file for appending
function M.open(run, who)
  local text = M.repair(run, who)
  local head = text:match("^([^\n]*)\n")
  if head and head ~= "" then
    for c in (head:gsub("\r$", "") .. "\t"):gmatch("([^\t]*)\t") do
      run.columns[#run.columns + 1] = c
      run._known[c] = true
    end
  end
  local n = 0
  for _ in text:gmatch("\n") do n = n + 1 end
  run.rows = math.max(0, n - 1)
  open_append(run, who)
end

-- Rewrites metrics.tsv with the current columns, keeping the first keep rows (all when nil), every row
-- padded to the full width. Atomic (temp file + rename); the append handle is reopened.
local function rewrite(run, keep)
  local path = path_of(run)
  if run._mf then run._mf:close(); run._mf = nil end
  local text = util.read_file(path) or ""
  local out, n, first, width = {}, 0, true, #run.columns
  for line in text:gmatch("([^\n]*)\n") do
    if first then
      first = false
    elseif keep == nil or n < keep then
      n = n + 1
      local fields = 1
      for _ in line:gmatch("\t") do fields = fields + 1 end
      out[#out + 1] = line .. string.rep("\t", math.max(0, width - fields)) .. "\n"
    end
  end
  local body = table.concat(out)
  if width > 0 then body = header_line(run.columns) .. body end
  local ok, err = util.write_atomic(path, body)
  if not ok then write_fail(run, err) end
  run.rows = n
  open_append(run, "run:log")
end

--- metrics.truncate(run, rows): keeps the header and the first `rows` rows
function M.truncate(run, rows)
  if rows < run.rows then rewrite(run, rows) end
end

local function field_text(v)
  if type(v) == "number" then return util.number_text(v) end
  return require("ember.run.meta").clean(v)
end

-- the row's values by column, checked; a one-element tensor becomes its number
local function row_values(row)
  local vals = {}
  for k, v in pairs(row) do
    if type(k) ~= "string" or k == "" or k:find("[%c]") then
      fail("column names must be non-empty strings without tabs or newlines (got %s)", show(k))
    end
    local t = type(v)
    if t ~= "number" and t ~= "string" and t ~= "boolean" then
      local ok, x = pcall(function() return v:item() end)
      if ok and type(x) == "number" then v = x
      else fail("value of column '%s' must be a number, string or boolean (got %s)", k, t) end
    end
    vals[k] = v
  end
  return vals
end

-- adds the columns the row brings: the first row writes the header, later ones rewrite the file
local function add_columns(run, vals)
  local new = {}
  for k in pairs(vals) do if not run._known[k] then new[#new + 1] = k end end
  if #new == 0 then return end
  order_columns(new)
  local had = #run.columns
  for _, c in ipairs(new) do
    run.columns[#run.columns + 1] = c
    run._known[c] = true
  end
  if had == 0 then
    order_columns(run.columns)
    local ok, err = run._mf:write(header_line(run.columns))
    if not ok then write_fail(run, err) end
  else
    rewrite(run, nil)
  end
end

--- metrics.log(run, row): appends one row (column -> number, string, boolean or one-element tensor)
-- and flushes it; adds a `time` column (run:elapsed(), to the millisecond) unless the row has one
function M.log(run, row)
  if type(row) ~= "table" then fail("expected a table of column = value (got %s)", show(row)) end
  if not run._mf then E.raise("state", "run:log", "the run in '%s' is closed (status %s)", run.dir, run.status) end
  local vals = row_values(row)
  if vals.time == nil then vals.time = math.floor(run:elapsed() * 1000 + 0.5) / 1000 end
  add_columns(run, vals)
  local fields = {}
  for i, c in ipairs(run.columns) do
    local v = vals[c]
    fields[i] = v == nil and "" or field_text(v)
  end
  local ok, err = run._mf:write(table.concat(fields, "\t"), "\n")
  if ok then ok, err = run._mf:flush() end
  if not ok then write_fail(run, err) end
  run.rows = run.rows + 1
end

return M
