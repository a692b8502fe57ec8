-- ember.plot: loss curves and any numbers drawn by gnuplot (`ember plot`, ember.plot{...}, ember.plot.series).
-- Safe by construction: each figure is a fixed .gp script that holds no user text. Every name, label and
-- title travels in the data file beside it as byte codes that the script decodes as data, and the script
-- finds its data and output from its own file name (ARG0), so no user text is ever parsed as gnuplot code.
local lfs = require "lfs"
local runs = require "ember.runs"
local E = require "ember.error"
local fail = E.module_fail("plot")

local M = {}

M.spec = {
  command = "ember plot",
  usage = {"PATH... [options]"},
  about = "PATH is a run directory or a folder of runs (every run below it is drawn). Each figure is written "
    .. "next to its .gp script and .dat data: re-run `gnuplot NAME.gp` to tweak it. Needs gnuplot "
    .. "(apt-get install gnuplot-nox).",
  positional = {name = "paths", metavar = "PATH", min = 1, missing = "give at least one run directory or folder of runs"},
  options = {
    {"--metric", "M", many = true, split = ",", help = "metric to draw; repeat or give a,b for one panel per "
      .. "metric (default: train_loss and valid_loss, else loss, else the first column)"},
    {"--x", "X", choices = {"epoch", "step", "time"}, help = "x axis: epoch, step or time (default: epoch when logged)"},
    {"--by", "PARAM", help = "one curve per value of PARAM: the mean, with a min-max band over repeats"},
    {"--out", "FILE", help = "output file (default: plots/ in the first PATH; the path is printed)"},
    {"--term", "T", choices = {"png", "svg", "pdf", "dumb"},
      help = "png, svg, pdf or dumb (text in the terminal); default from FILE, else png"},
    {"--log-y", help = "logarithmic y axis"},
    {"--smooth", "N", type = "integer", min = 1, help = "moving average over the last N points"},
    {"--title", "T", empty = true, help = "figure title"},
    {"--width", "W", type = "integer", min = 10, max = 20000, help = "width (pixels; characters for dumb)"},
    {"--height", "H", type = "integer", min = 10, max = 20000, help = "height (pixels; lines for dumb)"},
    {"--each", help = "write plots/<metric>.png into every run directory and one comparison figure per "
      .. "experiment name (<runs>/<name>/plots/); skips up-to-date figures"},
  },
}

local TERMS = {
  png = {gp = "pngcairo", ext = ".png"},
  svg = {gp = "svg", ext = ".svg"},
  pdf = {gp = "pdfcairo", ext = ".pdf"},
  dumb = {gp = "dumb", ext = ".txt"},
}
local EXT_TERM = {png = "png", svg = "svg", pdf = "pdf", txt = "dumb"}
local X_COLUMNS = {epoch = true, step = true, time = true}
local MAX_LABEL = 200   -- bytes of a legend entry or title; longer text is cut (at a UTF-8 boundary)

-- ---------------------------------------------------------------------------------------------
-- files and processes

-- Quote one word for sh: inside single quotes only ' is special, and it becomes '\''.
local util = require "ember.util"
local shell_quote, read_file = util.shell_quote, util.read_file
M._shell_quote = shell_quote

local function mode(path) return lfs.attributes(path, "mode") end
local function mtime(path) return lfs.attributes(path, "modification") end

local function mkdir_p(dir)
  local ok, err = util.mkdir_p(dir)
  if not ok then fail("plot", "cannot create directory '%s': %s", dir, err) end
end

local function write_file(path, text)
  local f, err = io.open(path, "wb")
  if not f then fail("plot", "cannot write '%s': %s", path, tostring(err)) end
  f:write(text)
  f:close()
end

-- A fresh private folder for figures nobody asked to keep (dumb previews).
local function temp_dir()
  local name = os.tmpname()
  local dir = name .. ".d"
  local ok, err = lfs.mkdir(dir)
  os.remove(name)
  if not ok then fail("plot", "cannot create a temporary folder: %s", tostring(err)) end
  return dir
end

local function remove_dir(dir, files)
  for _, f in ipairs(files) do os.remove(runs.join(dir, f)) end
  lfs.rmdir(dir)
end

local INSTALL_HINT = "install it with: apt-get install gnuplot-nox"

--- plot.find_gnuplot([path]): the gnuplot program to run: path when given (it must exist), else
-- $EMBER_GNUPLOT, else `gnuplot` on $PATH. Returns the path, or nil and a message saying how to install it.
function M.find_gnuplot(path)
  path = path or os.getenv("EMBER_GNUPLOT")
  if path and path ~= "" then
    if mode(path) == "file" then return path end
    return nil, ("gnuplot not found at '%s'; %s"):format(path, INSTALL_HINT)
  end
  for dir in (os.getenv("PATH") or ""):gmatch("[^:]+") do
    local p = runs.join(dir, "gnuplot")
    if mode(p) == "file" then return p end
  end
  return nil, "gnuplot not found on PATH; " .. INSTALL_HINT
end

-- Terminal size for dumb output: $COLUMNS/$LINES, else the tty, else 80 x 24.
local function terminal_size()
  local cols, lines = tonumber(os.getenv("COLUMNS") or ""), tonumber(os.getenv("LINES") or "")
  if not (cols and lines) then
    local p = io.popen("stty size 2>/dev/null </dev/tty")
    if p then
      local out = p:read("a") or ""
      p:close()
      local l, c = out:match("(%d+)%s+(%d+)")
      lines, cols = lines or tonumber(l), cols or tonumber(c)
    end
  end
  return cols or 80, lines or 24
end

-- ---------------------------------------------------------------------------------------------
-- the figure: a model of panels and curves, rendered to a data file and a text-free script

-- Cut text to MAX_LABEL bytes without splitting a UTF-8 sequence.
local function clip(s)
  if #s <= MAX_LABEL then return s end
  local n = MAX_LABEL
  while n > 0 and (s:byte(n + 1) or 0) & 0xC0 == 0x80 do n = n - 1 end
  return s:sub(1, n) .. "..."
end

-- File names made from metric and param names: letters, digits and _ . + - only, never leading '.'.
local function safe_name(s)
  local n = s:gsub("[^%w_.+-]", "_"):gsub("^%.", "_")
  if n == "" then n = "_" end
  return n
end

-- out -> folder, stem and suffix: files are stem.gp and stem.dat, the figure is stem .. suffix. The
-- suffix is kept only when it is a known extension, so the script may spell it as a literal.
local function split_out(out)
  local dir, base = runs.dirname(out), runs.basename(out)
  if base == "" or base == "." or base == ".." then
    fail("plot", "out must name a file (got '%s')", out)
  end
  local stem, ext = base:match("^(.+)(%.%a%a%a)$")
  if stem and EXT_TERM[ext:sub(2):lower()] then return dir, stem, ext end
  return dir, base, ""
end

local function fmt(v)
  if v == math.floor(v) and math.abs(v) < 1e15 then return ("%d"):format(v) end
  return ("%.10g"):format(v)
end

-- Render fig (see build_* below) to out. Writes stem.dat and stem.gp next to out and runs gnuplot
-- there. Returns out, and for the dumb terminal the text drawn.
local function render(fig, out, opt)
  local gnuplot, err = M.find_gnuplot(opt.gnuplot)
  if not gnuplot then fail("plot", "%s", err) end
  local term = TERMS[fig.term]
  local dir, stem, suffix = split_out(out)
  mkdir_p(dir)

  local labels = {}
  local function label(s) labels[#labels + 1] = clip(s); return #labels end
  local blocks = {}
  local function block(rows)
    local lines = {}
    for _, r in ipairs(rows) do
      local f = {}
      for i, v in ipairs(r) do f[i] = fmt(v) end
      lines[#lines + 1] = table.concat(f, "\t")
    end
    blocks[#blocks + 1] = table.concat(lines, "\n")
    return #blocks  -- index 0 holds the labels, so block k is `index k`
  end

  local P = #fig.panels
  local dumb = fig.term == "dumb"
  local gp = {}
  local function w(s) gp[#gp + 1] = s end
  local title_i = (fig.title and fig.title ~= "") and label(fig.title) or nil
  local x_i = label(fig.xlabel)
  local plots = {}
  for p, panel in ipairs(fig.panels) do
    local y_i = label(panel.ylabel)
    local items = {}
    for c, curve in ipairs(panel.curves) do
      local lt = curve.lt or c
      local dt = (lt - 1) // 8 + 1   -- gnuplot has 8 colours: later curves get dashes
      local k = label(curve.label)
      if curve.band and #curve.band > 0 then
        local b = block(curve.band)
        if not dumb then
          items[#items + 1] = ("data index %d using 1:3:4 with filledcurves lt %d fs transparent solid 0.2 noborder notitle")
            :format(b, lt)
        end
        items[#items + 1] = ("data index %d using 1:2 with lines lt %d dt %d lw 2 title L[%d] noenhanced"):format(b, lt, dt, k)
      elseif #curve.points > 0 then
        local b = block(curve.points)
        if curve.smoothed and not dumb then
          items[#items + 1] = ("data index %d using 1:3 with lines lt %d lw 0.5 dt 3 notitle"):format(b, lt)
        end
        items[#items + 1] = ("data index %d using 1:2 with lines lt %d dt %d lw 2 title L[%d] noenhanced"):format(b, lt, dt, k)
      end
    end
    if panel.best and #panel.best > 0 then
      items[#items + 1] = ('data index %d using 1:2 with points pt %s ps 1.2 lc "black" title "best epoch"')
        :format(block(panel.best), dumb and '"o"' or "7")
    end
    if panel.stop and #panel.stop > 0 then
      items[#items + 1] = ('data index %d using 1:2 with points pt %s ps 1.6 lc "red" title "early stop"')
        :format(block(panel.stop), dumb and '"x"' or "2")
    end
    if #items == 0 then fail("plot", "nothing to draw for '%s'", panel.ylabel) end
    plots[p] = {y = y_i, items = items}
  end
  local sentinel = label("-")   -- the label block is never empty, so stats always has a row

  -- data file: index 0 holds every text as "label<TAB>byte" rows (a comment line shows it readable)
  local data = {"# ember plot data: index 0 holds the texts (one byte per row), then one block per curve"}
  for i, s in ipairs(labels) do
    data[#data + 1] = "# " .. i .. " " .. s:gsub("%c", " ")
    for j = 1, #s do data[#data + 1] = i .. "\t" .. s:byte(j) end
  end
  local text = table.concat(data, "\n") .. "\n"
  for _, b in ipairs(blocks) do text = text .. "\n\n" .. b .. "\n" end
  write_file(runs.join(dir, stem .. ".dat"), text)

  local width, height = fig.width, fig.height
  if dumb then
    local cols, lines = terminal_size()
    width = width or math.max(40, math.min(cols, 240))
    height = height or (P == 1 and math.max(15, math.min(lines - 1, 40)) or 14 * P + (title_i and 2 or 0))
  else
    width = width or 900
    height = height or (P == 1 and 540 or 300 * P + (title_i and 40 or 0))
  end

  w("# Written by ember plot. Re-run it from this folder with: gnuplot " .. (stem:match("^[%w_.+-]+$")
    and stem .. ".gp" or "NAME.gp"))
  w("# It reads every text and number from the data file beside it (same name, .dat) and writes the")
  w("# figure beside it too; the script itself holds no names, so it is safe to edit and share.")
  w('base = ARG0[1:strlen(ARG0) - 3]')
  w('if (base[1:1] ne "/" && base[1:2] ne "./") { base = "./" . base }')
  w('data = base . ".dat"')
  w('set datafile separator "\\t"')
  w(("array L[%d]"):format(#labels))
  w(("do for [i = 1:%d] { L[i] = \"\" }"):format(#labels))
  w('stats data index 0 using (L[int($1)] = L[int($1)] . sprintf("%c", int($2)), 0) nooutput')
  if fig.term == "pdf" then
    w(("set terminal pdfcairo size %gin,%gin noenhanced font \"sans,9\""):format(width / 100, height / 100))
  elseif dumb then
    w(("set terminal dumb size %d,%d noenhanced"):format(width, height))
  elseif fig.term == "svg" then
    w(("set terminal svg size %d,%d noenhanced dynamic font \"sans,11\""):format(width, height))
  else
    w(("set terminal pngcairo size %d,%d noenhanced font \"sans,10\""):format(width, height))
  end
  w(('set output base . "%s"'):format(suffix))
  if not dumb then w("set grid") end
  local most = 0
  for _, panel in ipairs(fig.panels) do most = math.max(most, #panel.curves) end
  w((not dumb and most > 5) and "set key outside right top noenhanced" or "set key top right noenhanced")
  if fig.log_y then w("set logscale y") end
  if P > 1 then
    w(("set multiplot layout %d,1%s"):format(P, title_i and (" title L[%d] noenhanced"):format(title_i) or ""))
  elseif title_i and not dumb then
    w(("set title L[%d] noenhanced"):format(title_i))
  end
  for p, pl in ipairs(plots) do
    if p == P then w(("set xlabel L[%d] noenhanced"):format(x_i)) else w("unset xlabel") end
    if dumb then
      -- the dumb terminal cannot draw the rotated y label: the metric goes into the panel title
      if P == 1 and title_i then
        w(('set title L[%d] . ": " . L[%d] noenhanced'):format(title_i, pl.y))
      else
        w(("set title L[%d] noenhanced"):format(pl.y))
      end
    else
      w(("set ylabel L[%d] noenhanced"):format(pl.y))
    end
    w("plot " .. table.concat(pl.items, ", \\\n     "))
  end
  if P > 1 then w("unset multiplot") end
  w("set output")
  w(("# L[%d] is a placeholder that keeps the text block non-empty"):format(sentinel))
  local script = stem .. ".gp"
  write_file(runs.join(dir, script), table.concat(gp, "\n") .. "\n")

  local figure = runs.join(dir, stem .. suffix)
  os.remove(figure)
  local cd = dir:sub(1, 1) == "/" and dir or "./" .. dir
  local cmd = ("cd %s && %s -c %s 2>&1"):format(shell_quote(cd), shell_quote(gnuplot), shell_quote("./" .. script))
  local pipe = io.popen(cmd)
  local log = pipe:read("a") or ""
  local ok, _, code = pipe:close()
  if not ok or mode(figure) ~= "file" then
    local msg = log:gsub("%s+$", "")
    fail("plot", "gnuplot failed (exit %s) on %s%s", tostring(code), runs.join(dir, script),
      msg ~= "" and (":\n" .. msg) or "")
  end
  if dumb then
    local t = (read_file(figure) or ""):gsub("\f", ""):gsub("[ \t]+\n", "\n"):gsub("^\n+", "")
    return figure, t
  end
  return figure
end

-- ---------------------------------------------------------------------------------------------
-- from runs to a figure

local function is_num(v) return type(v) == "number" and v == v and v > -math.huge and v < math.huge end

-- Turn the runs option into a list of tables from runs.read. Entries are paths (a run directory or a
-- folder of runs), tables that were already read (they have rows), or objects with a dir field.
local function load_runs(spec, fname)
  if type(spec) == "string" or (type(spec) == "table" and (spec.rows or spec.dir)) then spec = {spec} end
  if type(spec) ~= "table" or #spec == 0 then
    fail(fname, "runs must be a path or a list of paths or runs (got %s)", type(spec))
  end
  local list = {}
  for i, r in ipairs(spec) do
    if type(r) == "string" then
      local found = runs.find(r)
      if #found == 0 then fail(fname, "no runs (folders with metrics.tsv) below '%s'", r) end
      for _, d in ipairs(found) do list[#list + 1] = runs.read(d) end
    elseif type(r) == "table" and r.rows then
      list[#list + 1] = r
    elseif type(r) == "table" and type(r.dir) == "string" then
      list[#list + 1] = runs.read(r.dir)
    else
      fail(fname, "runs[%d] must be a path or a run (got %s)", i, type(r))
    end
  end
  return list
end

local function has_column(run, col)
  for _, c in ipairs(run.columns or {}) do if c == col then return true end end
  for _, row in ipairs(run.rows) do if row[col] ~= nil then return true end end
  return false
end

local function has_values(run, col)
  for _, row in ipairs(run.rows) do if is_num(row[col]) then return true end end
  return false
end

-- The metric columns of a run that hold numbers: every column but the x candidates.
local function metric_columns(run)
  local out = {}
  for _, c in ipairs(run.columns or {}) do
    if not X_COLUMNS[c] and has_values(run, c) then out[#out + 1] = c end
  end
  return out
end

local function default_metrics(list)
  local any = function(col)
    for _, r in ipairs(list) do if has_values(r, col) then return true end end
    return false
  end
  local out = {}
  for _, m in ipairs{"train_loss", "valid_loss"} do if any(m) then out[#out + 1] = m end end
  if #out == 0 and any("loss") then out[1] = "loss" end
  if #out == 0 then
    for _, r in ipairs(list) do
      local cols = metric_columns(r)
      if cols[1] then return {cols[1]} end
    end
  end
  return out
end

local function default_x(list)
  for _, x in ipairs{"epoch", "step", "time"} do
    local all = true
    for _, r in ipairs(list) do if not has_column(r, x) then all = false; break end end
    if all then return x end
  end
  return "row"
end

-- (x, y) points of a metric in one run, in logged order; rows where either is missing are skipped.
local function series(run, x, metric)
  local pts = {}
  for i, row in ipairs(run.rows) do
    local xv = x == "row" and i or row[x]
    local yv = row[metric]
    if is_num(xv) and is_num(yv) then pts[#pts + 1] = {xv, yv} end
  end
  return pts
end

-- Trailing moving average over n points: {x, smoothed, raw}.
local function smooth(pts, n)
  if not n or n <= 1 then return pts, false end
  local out, sum = {}, 0
  for i, p in ipairs(pts) do
    sum = sum + p[2]
    if i > n then sum = sum - pts[i - n][2] end
    out[i] = {p[1], sum / math.min(i, n), p[2]}
  end
  return out, true
end

-- Mean, min and max over runs: matched by x value, or by position when x is time (each run has its own).
local function aggregate(list_of_pts, by_position)
  local acc, order = {}, {}
  for _, pts in ipairs(list_of_pts) do
    for i, p in ipairs(pts) do
      local key = by_position and i or p[1]
      local a = acc[key]
      if not a then a = {xs = 0, n = 0, sum = 0, min = math.huge, max = -math.huge}; acc[key] = a; order[#order + 1] = key end
      a.xs, a.n, a.sum = a.xs + p[1], a.n + 1, a.sum + p[2]
      a.min, a.max = math.min(a.min, p[2]), math.max(a.max, p[2])
    end
  end
  local out = {}
  for _, key in ipairs(order) do
    local a = acc[key]
    out[#out + 1] = {a.xs / a.n, a.sum / a.n, a.min, a.max}
  end
  table.sort(out, function(a, b) return a[1] < b[1] end)
  return out
end

-- Legend labels: the params that differ between the runs (and the name when names differ);
-- runs that would share a label get their id added.
local function run_labels(list)
  local diff = runs.differing_params(list)
  local names_differ = false
  for i = 2, #list do if list[i].name ~= list[1].name then names_differ = true end end
  local labels, count = {}, {}
  for i, r in ipairs(list) do
    local parts = {}
    if names_differ then parts[#parts + 1] = r.name or "?" end
    for _, k in ipairs(diff) do parts[#parts + 1] = k .. "=" .. ((r.params or {})[k] or "?") end
    local s = table.concat(parts, " ")
    if s == "" then s = #list == 1 and (r.name or "run") or (r.id or tostring(i)) end
    labels[i] = s
    count[s] = (count[s] or 0) + 1
  end
  for i, r in ipairs(list) do
    if count[labels[i]] > 1 and r.id and labels[i] ~= r.id then labels[i] = labels[i] .. " " .. r.id end
  end
  return labels
end

-- The (x, y) of the logged value of metric at a given epoch (the last such row), or nil.
local function point_at_epoch(run, epoch, x, metric)
  local found
  for i, row in ipairs(run.rows) do
    local xv = x == "row" and i or row[x]
    if row.epoch == epoch and is_num(xv) and is_num(row[metric]) then found = {xv, row[metric]} end
  end
  return found
end

local function sort_values(values)
  local numeric = true
  for _, v in ipairs(values) do if not tonumber(v) then numeric = false end end
  table.sort(values, function(a, b)
    if numeric then return tonumber(a) < tonumber(b) end
    return a < b
  end)
end

local function check_opts(o, fname)
  if type(o) ~= "table" then fail(fname, "options must be a table (got %s)", type(o)) end
  if o.term ~= nil and not TERMS[o.term] then
    fail(fname, "term must be png, svg, pdf or dumb (got %s)", tostring(o.term))
  end
  if o.smooth ~= nil and (math.type(o.smooth) ~= "integer" or o.smooth < 1) then
    fail(fname, "smooth must be a positive integer (got %s)", tostring(o.smooth))
  end
  for _, k in ipairs{"width", "height"} do
    local v = o[k]
    if v ~= nil and (type(v) ~= "number" or v < 10 or v > 20000) then
      fail(fname, "%s must be a number from 10 to 20000 (got %s)", k, tostring(v))
    end
  end
  if o.out ~= nil and (type(o.out) ~= "string" or o.out == "") then
    fail(fname, "out must be a file name (got %s)", tostring(o.out))
  end
  if o.title ~= nil and o.title ~= false and type(o.title) ~= "string" then
    fail(fname, "title must be a string (got %s)", type(o.title))
  end
end

local function term_of(o)
  if o.term then return o.term end
  local ext = o.out and o.out:match("%.(%a+)$")
  return ext and EXT_TERM[ext:lower()] or nil
end

--- plot.plot{runs, metric, x, by, out, term, log_y, smooth, title, width, height, marks, gnuplot}:
-- draw metrics of runs with gnuplot, one curve per run labelled by the params that differ.
--   runs    a path (run directory or folder of runs), a run table (runs.read) or a list of these
--   metric  a column name or a list of them, one panel each (default train_loss and valid_loss,
--           else loss, else the first metric column)
--   x       "epoch" | "step" | "time" | any column (default epoch, else step, else time, else row number)
--   by      a param: one curve per value, the mean over its runs with a min-max band
--   out     output file (default <first path or run>/plots/<metrics>[_by_<by>].<ext>; none for dumb)
--   term    "png" | "svg" | "pdf" | "dumb" (default from the extension of out, else png)
--   log_y   false; smooth: moving average over N points (default none); title: text (default the
--   experiment name when all runs share one); width, height: pixels or characters; marks: true
--   (best epoch and early-stopping point from meta.tsv); gnuplot: the program (default from PATH)
-- Returns the path of the figure; for term dumb, the text drawn and the path when out was given.
function M.plot(o)
  check_opts(o, "plot")
  local list = load_runs(o.runs, "plot")
  local term = term_of(o) or "png"
  local metrics = o.metric
  if type(metrics) == "string" then metrics = {metrics} end
  if metrics == nil then metrics = default_metrics(list) end
  if type(metrics) ~= "table" or #metrics == 0 then
    fail("plot", "no metric to draw (give metric = NAME; the runs have no numeric columns)")
  end
  for i, m in ipairs(metrics) do
    if type(m) ~= "string" or m == "" then
      fail("plot", "metric[%d] must be a column name (got %s)", i, tostring(m))
    end
  end
  local x = o.x or default_x(list)
  if o.x ~= nil then
    if type(x) ~= "string" or x == "" then fail("plot", "x must be a column name (got %s)", tostring(x)) end
    for _, r in ipairs(list) do
      if not has_column(r, x) then
        fail("plot", "run '%s' has no column '%s' (columns: %s)", r.dir or r.name or "?", x,
          table.concat(r.columns or {}, ", "))
      end
    end
  end

  local fig = {term = term, xlabel = x == "row" and "row" or x, log_y = o.log_y and true or false,
               width = o.width, height = o.height, panels = {}}
  if o.title == nil then
    local same = true
    for i = 2, #list do if list[i].name ~= list[1].name then same = false end end
    fig.title = same and list[1].name or nil
  elseif o.title ~= false then
    fig.title = o.title
  end

  local groups   -- {label, runs}
  if o.by ~= nil then
    if type(o.by) ~= "string" or o.by == "" then fail("plot", "by must be a param name (got %s)", tostring(o.by)) end
    local members, values, any = {}, {}, false
    for _, r in ipairs(list) do
      local v = (r.params or {})[o.by]
      if v ~= nil then any = true else v = "?" end
      if not members[v] then members[v] = {}; values[#values + 1] = v end
      table.insert(members[v], r)
    end
    if not any then
      local keys = runs.differing_params(list)
      fail("plot", "no run has a param '%s'%s", o.by,
        #keys > 0 and (" (params that differ: " .. table.concat(keys, ", ") .. ")") or "")
    end
    sort_values(values)
    groups = {}
    for _, v in ipairs(values) do
      local n = #members[v]
      groups[#groups + 1] = {label = o.by .. "=" .. v .. (n > 1 and (" (" .. n .. " runs)") or ""), runs = members[v]}
    end
  else
    groups = {}
    local labels = run_labels(list)
    for i, r in ipairs(list) do groups[i] = {label = labels[i], runs = {r}} end
  end

  for _, m in ipairs(metrics) do
    local panel = {ylabel = m, curves = {}, best = {}, stop = {}}
    local drawn = false
    for c, g in ipairs(groups) do
      local curve = {label = g.label, lt = c, points = {}}
      if #g.runs == 1 then
        curve.points, curve.smoothed = smooth(series(g.runs[1], x, m), o.smooth)
      else
        local all = {}
        for _, r in ipairs(g.runs) do
          local pts = smooth(series(r, x, m), o.smooth)
          if #pts > 0 then all[#all + 1] = pts end
        end
        if #all == 1 then curve.points = all[1]
        elseif #all > 1 then curve.band = aggregate(all, x == "time" or x == "row") end
      end
      if #curve.points > 0 or (curve.band and #curve.band > 0) then drawn = true end
      panel.curves[#panel.curves + 1] = curve
      if o.by == nil and o.marks ~= false then
        local r = g.runs[1]
        local best, stop = runs.number((r.meta or {}).best_epoch), runs.number((r.meta or {}).stop_epoch)
        local bp = best and point_at_epoch(r, best, x, m)
        local sp = stop and point_at_epoch(r, stop, x, m)
        if bp then panel.best[#panel.best + 1] = bp end
        if sp then panel.stop[#panel.stop + 1] = sp end
      end
    end
    if not drawn then
      fail("plot", "no values for metric '%s' in the %d run(s) given (columns: %s)", m, #list,
        table.concat(list[1].columns or {}, ", "))
    end
    fig.panels[#fig.panels + 1] = panel
  end

  local out, tmp = o.out, nil
  if out == nil then
    if term == "dumb" then
      tmp = temp_dir()
      out = runs.join(tmp, "plot.txt")
    else
      local first = type(o.runs) == "string" and o.runs or (type(o.runs) == "table" and type(o.runs[1]) == "string"
        and o.runs[1]) or list[1].dir
      if not first then fail("plot", "out is required when the runs have no directory") end
      first = first:gsub("/+$", "")
      if first == "" then first = "/" end
      local names = {}
      for i, m in ipairs(metrics) do names[i] = m end
      out = runs.join(runs.join(first, "plots"), safe_name(table.concat(names, "+")
        .. (o.by and ("_by_" .. o.by) or "")) .. TERMS[term].ext)
    end
  end
  local ok, path, text = pcall(render, fig, out, o)
  if tmp then remove_dir(tmp, {"plot.txt", "plot.gp", "plot.dat"}) end
  if not ok then error(path, 0) end
  if term == "dumb" then return text, (not tmp) and path or nil end
  return path
end

--- plot.series{x, y | ys, out, term, title, xlabel, ylabel, log_y, width, height, gnuplot}: draw any
-- numbers. x: a list (default 1..n); y: a list, or ys: {name = list, ...} (one curve each, by name)
-- or a list of {name = N, y = list}. term defaults to the extension of out, else dumb when out is nil,
-- else png. Returns the path, or for dumb the text drawn (and the path when out was given).
function M.series(o)
  check_opts(o, "plot.series")
  local curves = {}
  if o.y ~= nil then
    if type(o.y) ~= "table" then fail("plot.series", "y must be a list of numbers (got %s)", type(o.y)) end
    curves[1] = {name = o.ylabel or "y", y = o.y}
  elseif type(o.ys) == "table" then
    if #o.ys > 0 then
      for i, c in ipairs(o.ys) do
        if type(c) ~= "table" or type(c.y) ~= "table" then
          fail("plot.series", "ys[%d] must be {name = ..., y = {...}}", i)
        end
        curves[#curves + 1] = {name = tostring(c.name or i), y = c.y}
      end
    else
      local names = {}
      for k in pairs(o.ys) do names[#names + 1] = tostring(k) end
      table.sort(names)
      for _, k in ipairs(names) do
        local v = o.ys[k]
        if v == nil then v = o.ys[tonumber(k)] end
        if type(v) ~= "table" then fail("plot.series", "ys.%s must be a list of numbers (got %s)", k, type(v)) end
        curves[#curves + 1] = {name = k, y = v}
      end
    end
  end
  if #curves == 0 then fail("plot.series", "give y = {...} or ys = {name = {...}}") end
  if o.x ~= nil and type(o.x) ~= "table" then
    fail("plot.series", "x must be a list of numbers (got %s)", type(o.x))
  end
  local term = term_of(o) or (o.out and "png" or "dumb")
  local panel = {ylabel = o.ylabel or (#curves == 1 and curves[1].name or "y"), curves = {}}
  for c, cv in ipairs(curves) do
    local pts = {}
    for i, v in ipairs(cv.y) do
      local xv = o.x and o.x[i] or i
      if o.x and #o.x ~= #cv.y then
        fail("plot.series", "x has %d values but %s has %d", #o.x, cv.name, #cv.y)
      end
      if is_num(xv) and is_num(v) then pts[#pts + 1] = {xv, v} end
    end
    panel.curves[c] = {label = cv.name, lt = c, points = pts}
  end
  local fig = {term = term, xlabel = o.xlabel or "x", title = o.title or nil, log_y = o.log_y and true or false,
               width = o.width, height = o.height, panels = {panel}}
  local out, tmp = o.out, nil
  if out == nil then
    if term ~= "dumb" then fail("plot.series", "out is required for term %s", term) end
    tmp = temp_dir()
    out = runs.join(tmp, "plot.txt")
  end
  local ok, path, text = pcall(render, fig, out, o)
  if tmp then remove_dir(tmp, {"plot.txt", "plot.gp", "plot.dat"}) end
  if not ok then E.reraise_as(path, "ember.plot.series") end
  if term == "dumb" then return text, (not tmp) and path or nil end
  return path
end

--- plot.dumb_curve(src, metric, width, height [, opts]): a text preview of a run's curve for the
-- terminal (`ember run --live`, the REPL). src: a run directory, a run table (runs.read) or a list of
-- metrics rows {{epoch = 1, train_loss = 0.5}, ...}; metric: a name or a list (default as in
-- plot.plot); width, height: characters (default 80 x 20); opts.gnuplot: the program. Returns the
-- text, or nil and a message (never raises: a missing gnuplot must not stop training).
function M.dumb_curve(src, metric, width, height, opts)
  local ok, res = pcall(function()
    local run = src
    if type(src) == "table" and not src.rows and not src.dir then
      local cols, seen = {}, {}
      for _, row in ipairs(src) do
        local keys = {}
        for k in pairs(row) do if not seen[k] then keys[#keys + 1] = k end end
        table.sort(keys)
        for _, k in ipairs(keys) do seen[k] = true; cols[#cols + 1] = k end
      end
      run = {rows = src, columns = cols, params = {}, meta = {}, name = "", id = ""}
    end
    return (M.plot{runs = run, metric = metric, term = "dumb", width = width or 80, height = height or 20,
                   title = false, gnuplot = opts and opts.gnuplot})
  end)
  if ok then return res end
  return nil, tostring(res)
end

-- ---------------------------------------------------------------------------------------------
-- batch mode

local function up_to_date(figure, deps)
  local t = mtime(figure)
  if not t then return false end
  for _, d in ipairs(deps) do
    local td = mtime(d)
    if not td or td >= t then return false end
  end
  return true
end

--- plot.each{paths, metric, x, term, log_y, smooth, width, height, gnuplot, force}: batch mode.
-- Writes <run>/plots/<metric>.<ext> for every run below paths and every metric it logged (or the
-- metrics given), and <runs>/<name>/plots/<metric>.<ext> comparing the runs of each experiment name
-- (when it has two or more). A figure newer than every metrics.tsv it draws is skipped unless force.
-- Returns {written = {paths...}, skipped = n}.
function M.each(o)
  check_opts(o, "plot.each")
  local term = o.term or "png"
  local list = {}
  for _, d in ipairs(runs.find(o.paths)) do list[#list + 1] = runs.read(d) end
  if #list == 0 then
    fail("plot.each", "no runs (folders with metrics.tsv) below %s", table.concat(
      type(o.paths) == "table" and o.paths or {tostring(o.paths)}, ", "))
  end
  local wanted = o.metric
  if type(wanted) == "string" then wanted = {wanted} end
  local result = {written = {}, skipped = 0}
  local function draw(group, metric, out, deps)
    if not o.force and up_to_date(out, deps) then result.skipped = result.skipped + 1; return end
    M.plot{runs = group, metric = metric, x = o.x, term = term, out = out, log_y = o.log_y,
           smooth = o.smooth, width = o.width, height = o.height, gnuplot = o.gnuplot}
    result.written[#result.written + 1] = out
  end
  local function metrics_of(group)
    local out, seen = {}, {}
    for _, r in ipairs(group) do
      local cols = wanted or metric_columns(r)
      for _, m in ipairs(cols) do
        if not seen[m] and has_values(r, m) then seen[m] = true; out[#out + 1] = m end
      end
    end
    return out
  end
  local by_name, names = {}, {}
  for _, r in ipairs(list) do
    local deps = {runs.join(r.dir, "metrics.tsv")}
    for _, m in ipairs(metrics_of({r})) do
      draw({r}, m, runs.join(runs.join(r.dir, "plots"), safe_name(m) .. TERMS[term].ext), deps)
    end
    local parent = runs.dirname(r.dir)
    if not by_name[parent] then by_name[parent] = {}; names[#names + 1] = parent end
    table.insert(by_name[parent], r)
  end
  for _, parent in ipairs(names) do
    local group = by_name[parent]
    if #group > 1 then
      local deps = {}
      for i, r in ipairs(group) do deps[i] = runs.join(r.dir, "metrics.tsv") end
      for _, m in ipairs(metrics_of(group)) do
        draw(group, m, runs.join(runs.join(parent, "plots"), safe_name(m) .. TERMS[term].ext), deps)
      end
    end
  end
  return result
end

-- ---------------------------------------------------------------------------------------------
-- command line

--- plot.cli(args [, env]) -> the exit status of `ember plot ARGS` (see plot.spec): 0 ok, 1 error
-- (message on stderr), 2 bad usage. env: gnuplot (the program), stdout, stderr (files to write to).
function M.cli(args, env)
  return require("ember.cli").main("plot", args, env)
end

--- plot.main(o, env) -> exit status of `ember plot` with the parsed options o (ember.cli calls it)
function M.main(o, env)
  env = env or {}
  local stdout, stderr = env.stdout or io.stdout, env.stderr or io.stderr
  if o.each and o.out then E.raise("usage", "ember plot", "--each writes its own files; --out cannot be used with it") end
  if o.each and o.term == "dumb" then E.raise("usage", "ember plot", "--each writes files; use --term png, svg or pdf") end
  if #o.metric == 0 then o.metric = nil end
  local found, why = M.find_gnuplot(env.gnuplot)
  if not found then
    stderr:write("ember plot: ", why, "\n")
    return 1
  end
  for _, p in ipairs(o.paths) do
    if mode(p) ~= "directory" then
      stderr:write(("ember plot: '%s' is not a run directory or a folder of runs\n"):format(p))
      return 1
    end
  end
  local ok, res, path = pcall(function()
    if o.each then
      return M.each{paths = o.paths, metric = o.metric, x = o.x, term = o.term, log_y = o.log_y,
                    smooth = o.smooth, width = o.width, height = o.height, gnuplot = found}
    end
    return M.plot{runs = o.paths, metric = o.metric, x = o.x, by = o.by, out = o.out, term = o.term,
                  log_y = o.log_y, smooth = o.smooth, title = o.title, width = o.width, height = o.height,
                  gnuplot = found}
  end)
  if not ok then
    stderr:write("ember plot: ", E.message(res), "\n")
    return 1
  end
  if o.each then
    for _, w in ipairs(res.written) do stdout:write(w, "\n") end
    stdout:write(("%d figure(s) written, %d up to date\n"):format(#res.written, res.skipped))
  elseif term_of(o) == "dumb" then
    if path then stdout:write(path, "\n") else stdout:write(res) end
  else
    stdout:write(res, "\n")
  end
  return 0
end

return setmetatable(M, {__call = function(_, o) return M.plot(o) end})
