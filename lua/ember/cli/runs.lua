-- ember.cli.runs: `ember runs [DIR]`: the table of the runs below a folder.
local E = require "ember.error"

local M = {}

M.spec = {
  command = "ember runs",
  usage = {"[DIR] [--tsv]"},
  about = "Lists the runs below DIR (default runs), oldest first: name, id, status, the params that differ "
    .. "between the runs, the main metric (the monitored one, else valid_loss, else train_loss) with its best "
    .. "and last value, the last epoch logged and the duration.",
  positional = {name = "dir", metavar = "DIR", max = 1, extra = "give one folder"},
  options = {
    {"--tsv", help = "print the same as tab-separated values (duration in seconds) for scripts"},
  },
}

local function err(fmt, ...)
  io.stderr:write(string.format(fmt, ...), "\n")
  io.stderr:flush()
end

local function first_line(s) return (tostring(s):match("^[^\n]*")) end

local function parse_time(s)
  if type(s) ~= "string" then return nil end
  local y, mo, d, h, mi, se = s:match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)")
  if not y then return nil end
  return os.time{year = tonumber(y), month = tonumber(mo), day = tonumber(d), hour = tonumber(h),
                 min = tonumber(mi), sec = tonumber(se)}
end

local function fmt_duration(s)
  if s == nil then return "" end
  if s < 60 then return ("%ds"):format(s) end
  if s < 3600 then return ("%dm%02ds"):format(s // 60, s % 60) end
  return ("%dh%02dm"):format(s // 3600, (s % 3600) // 60)
end

local function short_num(v)
  if v == nil then return "" end
  if type(v) ~= "number" then return tostring(v) end
  if math.type(v) == "integer" then return tostring(v) end
  return string.format("%.4g", v)
end

local function full_num(v)
  if v == nil then return "" end
  if type(v) ~= "number" then return tostring(v) end
  return require("ember.util").number_text(v)
end

-- the run's main metric, its mode, best and last values
local function main_metric(run)
  local has = {}
  for _, c in ipairs(run.columns) do has[c] = true end
  local m = run.meta.monitor
  if not (m and has[m]) then
    m = nil
    for _, c in ipairs{"valid_loss", "train_loss", "loss"} do
      if has[c] then m = c; break end
    end
    if not m then
      for _, c in ipairs(run.columns) do
        if c ~= "epoch" and c ~= "step" and c ~= "time" and c ~= "lr" then m = c; break end
      end
    end
  end
  if not m then return nil end
  local mode = run.meta.mode
  if mode ~= "min" and mode ~= "max" then mode = m:find("acc") and "max" or "min" end
  local best, last
  for _, row in ipairs(run.rows) do
    local v = row[m]
    if type(v) == "number" then
      last = v
      if v == v and (best == nil or (mode == "min" and v < best) or (mode == "max" and v > best)) then best = v end
    end
  end
  return m, best, last
end

--- cli.runs.table(dir) -> header (list of column names), rows (lists of display values), tsv rows
-- (lists of exact values); the data of `ember runs`. Raises an error naming dir when it is not a folder.
function M.table(dir)
  local runs = require "ember.runs"
  local list = {}
  for _, d in ipairs(runs.find(dir)) do
    local ok, r = pcall(runs.read, d)
    if ok then list[#list + 1] = r else err("ember runs: skipping %s: %s", d, first_line(E.message(r))) end
  end
  table.sort(list, function(a, b)
    local ta, tb = a.meta.start_time or "", b.meta.start_time or ""
    if ta ~= tb then return ta < tb end
    return a.dir < b.dir
  end)
  local keys = #list > 1 and runs.differing_params(list) or {}
  local header = {"name", "id", "status"}
  for _, k in ipairs(keys) do header[#header + 1] = k end
  for _, c in ipairs{"metric", "best", "last", "epoch", "duration"} do header[#header + 1] = c end
  local shown, exact = {}, {}
  local now = os.time()
  for _, r in ipairs(list) do
    local m, best, last = main_metric(r)
    local epochs
    for _, row in ipairs(r.rows) do
      if type(row.epoch) == "number" then epochs = row.epoch end
    end
    epochs = epochs or #r.rows
    local t0, t1 = parse_time(r.meta.start_time), parse_time(r.meta.end_time)
    if not t1 and r.meta.status == "running" then t1 = now end
    local dur = t0 and t1 and math.max(0, t1 - t0) or nil
    local a = {r.name, r.id, r.meta.status or "?"}
    local b = {r.name, r.id, r.meta.status or ""}
    for _, k in ipairs(keys) do
      a[#a + 1] = r.params[k] or "-"
      b[#b + 1] = r.params[k] or ""
    end
    a[#a + 1], b[#b + 1] = m or "-", m or ""
    a[#a + 1], b[#b + 1] = short_num(best), full_num(best)
    a[#a + 1], b[#b + 1] = short_num(last), full_num(last)
    a[#a + 1], b[#b + 1] = tostring(epochs), tostring(epochs)
    a[#a + 1], b[#b + 1] = fmt_duration(dur), dur and tostring(dur) or ""
    shown[#shown + 1], exact[#exact + 1] = a, b
  end
  return header, shown, exact
end

local function tsv_field(s) return (tostring(s):gsub("[%c]", " ")) end

--- cli.runs.main(o) -> exit status of `ember runs` with the parsed options o (see M.spec)
function M.main(o)
  local dir, tsv = o.dir, o.tsv
  dir = dir or "runs"
  if require("lfs").attributes(dir, "mode") ~= "directory" then
    err("ember runs: no such directory '%s'", dir)
    return 1
  end
  local ok, header, shown, exact = pcall(M.table, dir)
  if not ok then
    err("ember runs: %s", E.message(header))
    return 1
  end
  if tsv then
    local out = {}
    local h = {}
    for i, c in ipairs(header) do h[i] = tsv_field(c) end
    out[1] = table.concat(h, "\t")
    for _, row in ipairs(exact) do
      local f = {}
      for i, v in ipairs(row) do f[i] = tsv_field(v) end
      out[#out + 1] = table.concat(f, "\t")
    end
    io.stdout:write(table.concat(out, "\n"), "\n")
    return 0
  end
  if #shown == 0 then
    print(("no runs below %s"):format(dir))
    return 0
  end
  local width = {}
  for i, c in ipairs(header) do width[i] = #c end
  for _, row in ipairs(shown) do
    for i, v in ipairs(row) do
      v = tsv_field(v)
      row[i] = v
      local len = utf8.len(v) or #v
      if len > width[i] then width[i] = len end
    end
  end
  local numeric = {best = true, last = true, epoch = true, duration = true}
  local function line(cells)
    local parts = {}
    for i, v in ipairs(cells) do
      local pad = string.rep(" ", width[i] - (utf8.len(v) or #v))
      parts[i] = numeric[header[i]] and pad .. v or v .. pad
    end
    return (table.concat(parts, "  "):gsub("%s+$", ""))
  end
  print(line(header))
  for _, row in ipairs(shown) do print(line(row)) end
  return 0
end

return M
