-- ember.plot.gnuplot: draws a figure (the model ember.plot.figure builds) with gnuplot.
--
-- Safe by construction, because gnuplot can run shell commands from any text it parses as code:
--   1. the .gp script holds no user text: every name, label and title travels in the .dat file beside
--      it as byte codes ("label<TAB>byte" rows) that the script decodes as data into an array L[];
--   2. the script finds its data and its output from its own file name (ARG0), so no path is written
--      into it either; the figure's suffix is one of a few known extensions;
--   3. gnuplot is started with a script path that starts with "./" (never '<' or '|', which gnuplot
--      reads as a pipe), every argument quoted for sh;
--   4. every text is drawn `noenhanced`, so no markup in a label is interpreted.
local lfs = require "lfs"
local util = require "ember.util"
local E = require "ember.error"
local paths = require "ember.runs"

local fail = E.module_fail("plot")

local M = {}

M.TERMS = {
  png = {gp = "pngcairo", ext = ".png"},
  svg = {gp = "svg", ext = ".svg"},
  pdf = {gp = "pdfcairo", ext = ".pdf"},
  dumb = {gp = "dumb", ext = ".txt"},
}
M.EXT_TERM = {png = "png", svg = "svg", pdf = "pdf", txt = "dumb"}
local MAX_LABEL = 200   -- bytes of a legend entry or title; longer text is cut (at a UTF-8 boundary)

local function mode(path) return lfs.attributes(path, "mode") end

local function mkdir_p(dir)
  local ok, err = util.mkdir_p(dir)
  if not ok then fail("plot", "cannot create directory '%s': %s", dir, err) end
end

local function write_file(path, text)
  local ok, err = util.write_atomic(path, text)
  if not ok then fail("plot", "cannot write '%s': %s", path, err) end
end

--- gnuplot.temp_dir() -> a fresh private folder for figures nobody asked to keep (dumb previews)
function M.temp_dir()
  local name = os.tmpname()
  local dir = name .. ".d"
  local ok, err = lfs.mkdir(dir)
  os.remove(name)
  if not ok then fail("plot", "cannot create a temporary folder: %s", tostring(err)) end
  return dir
end

--- gnuplot.remove_dir(dir, files) removes the files named and then the folder
function M.remove_dir(dir, files)
  for _, f in ipairs(files) do os.remove(paths.join(dir, f)) end
  lfs.rmdir(dir)
end

local INSTALL_HINT = "install it with: apt-get install gnuplot-nox"

--- gnuplot.find([path]) -> the gnuplot program to run: path when given (it must exist), else
-- $EMBER_GNUPLOT, else `gnuplot` on $PATH; or nil and a message saying how to install it.
function M.find(path)
  path = path or os.getenv("EMBER_GNUPLOT")
  if path and path ~= "" then
    if mode(path) == "file" then return path end
    return nil, ("gnuplot not found at '%s'; %s"):format(path, INSTALL_HINT)
  end
  for dir in (os.getenv("PATH") or ""):gmatch("[^:]+") do
    local p = paths.join(dir, "gnuplot")
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

-- Cut text to MAX_LABEL bytes without splitting a UTF-8 sequence.
local function clip(s)
  if #s <= MAX_LABEL then return s end
  local n = MAX_LABEL
  while n > 0 and (s:byte(n + 1) or 0) & 0xC0 == 0x80 do n = n - 1 end
  return s:sub(1, n) .. "..."
end

-- out -> folder, stem and suffix: files are stem.gp and stem.dat, the figure is stem .. suffix. The
-- suffix is kept only when it is a known extension, so the script may spell it as a literal.
local function split_out(out)
  local dir, base = paths.dirname(out), paths.basename(out)
  if base == "" or base == "." or base == ".." then
    fail("plot", "out must name a file (got '%s')", out)
  end
  local stem, ext = base:match("^(.+)(%.%a%a%a)$")
  if stem and M.EXT_TERM[ext:sub(2):lower()] then return dir, stem, ext end
  return dir, base, ""
end

local function fmt(v)
  if v == math.floor(v) and math.abs(v) < 1e15 then return ("%d"):format(v) end
  return ("%.10g"):format(v)
end

-- The texts and data blocks of one figure: label(s) -> index in L[], block(rows) -> gnuplot index.
local function new_store()
  local st = {labels = {}, blocks = {}}
  function st.label(s) st.labels[#st.labels + 1] = clip(s); return #st.labels end
  function st.block(rows)
    local lines = {}
    for _, r in ipairs(rows) do
      local f = {}
      for i, v in ipairs(r) do f[i] = fmt(v) end
      lines[#lines + 1] = table.concat(f, "\t")
    end
    st.blocks[#st.blocks + 1] = table.concat(lines, "\n")
    return #st.blocks  -- index 0 holds the labels, so block k is `index k`
  end
  return st
end

-- The data file: index 0 holds every text as "label<TAB>byte" rows (a comment line shows it readable),
-- then one block per curve.
local function data_text(st)
  local data = {"# ember plot data: index 0 holds the texts (one byte per row), then one block per curve"}
  for i, s in ipairs(st.labels) do
    data[#data + 1] = "# " .. i .. " " .. s:gsub("%c", " ")
    for j = 1, #s do data[#data + 1] = i .. "\t" .. s:byte(j) end
  end
  local text = table.concat(data, "\n") .. "\n"
  for _, b in ipairs(st.blocks) do text = text .. "\n\n" .. b .. "\n" end
  return text
end

-- The palette: a curve of colour c is linetype (c - 1) % 10 + 1, dashed after the first ten. The
-- colours of matplotlib's tab10, which stay apart for most readers and in print.
local PALETTE = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
  "#bcbd22", "#17becf"}

local function style(colour)
  return (colour - 1) % #PALETTE + 1, (colour - 1) // #PALETTE + 1
end

-- The plot clauses of one panel's curves, bands and marks (all without a title: the legend is apart).
local function panel_items(panel, st, dumb)
  local items = {}
  for _, curve in ipairs(panel.curves) do
    local lt, dt = style(curve.colour)
    if curve.band and #curve.band > 0 then
      local b = st.block(curve.band)
      if not dumb then
        items[#items + 1] = ("data index %d using 1:3:4 with filledcurves lt %d fs transparent solid 0.2 noborder notitle")
          :format(b, lt)
      end
      items[#items + 1] = ("data index %d using 1:2 with lines lt %d dt %d lw 2 notitle"):format(b, lt, dt)
    elseif #curve.points > 0 then
      local b = st.block(curve.points)
      if curve.smoothed and not dumb then
        items[#items + 1] = ("data index %d using 1:3 with lines lt %d lw 0.5 dt 3 notitle"):format(b, lt)
      end
      items[#items + 1] = ("data index %d using 1:2 with lines lt %d dt %d lw 2 notitle"):format(b, lt, dt)
    end
  end
  -- marks in the colour of their run: column 3 is the colour, mapped to its linetype
  for _, kind in ipairs{"best", "stop"} do
    local marks = panel[kind] or {}
    if #marks > 0 then
      local rows = {}
      for i, m in ipairs(marks) do rows[i] = {m[1], m[2], (style(m[3]))} end
      local pt = kind == "best" and (dumb and '"o"' or "7 ps 1.4") or (dumb and '"x"' or "2 ps 1.8 lw 2")
      items[#items + 1] = ("data index %d using 1:2:3 with points pt %s lc variable notitle"):format(st.block(rows), pt)
    end
  end
  if #items == 0 then fail("plot", "nothing to draw for '%s'", panel.ylabel) end
  return items
end

-- The legend: keyentry clauses (entries that draw nothing), so it holds each curve once.
local function legend_items(legend, st, dumb)
  local items = {}
  for _, e in ipairs(legend.entries) do
    local lt, dt = style(e.colour)
    items[#items + 1] = ("keyentry with lines lt %d dt %d lw 2 title L[%d]"):format(lt, dt, st.label(e.label))
  end
  if legend.best then
    items[#items + 1] = ('keyentry with points pt %s lc "black" title "best epoch"'):format(dumb and '"o"' or "7 ps 1.4")
  end
  if legend.stop then
    items[#items + 1] = ('keyentry with points pt %s lc "black" title "early stop"'):format(dumb and '"x"' or "2 ps 1.8 lw 2")
  end
  return items
end

-- whether the figure needs a legend: more than one curve, marks, or bands to explain
local function wants_legend(fig)
  local lg = fig.legend
  return lg ~= nil and #lg.entries > 0 and (#lg.entries > 1 or lg.best or lg.stop or lg.title ~= nil)
end

local function legend_size(fig)
  local lg = fig.legend
  local rows, longest = 0, lg.title and #lg.title or 0
  for _, e in ipairs(lg.entries) do rows = rows + 1; longest = math.max(longest, utf8.len(e.label) or #e.label) end
  if lg.best then rows = rows + 1; longest = math.max(longest, 10) end
  if lg.stop then rows = rows + 1; longest = math.max(longest, 10) end
  return rows + (lg.title and 1 or 0), math.min(longest, 60)
end

-- the width of an average character of each terminal's font, in its units (pixels; 1/100 inch for pdf)
local CHAR_WIDTH = {png = 8.5, svg = 9.4, pdf = 7, dumb = 1}

local function figure_size(fig, P, has_title, legend_w, legend_rows)
  local width, height = fig.width, fig.height
  if fig.term == "dumb" then
    local cols, lines = terminal_size()
    width = width or math.max(40, math.min(cols, 240))
    height = height or ((P == 1 and math.max(15, math.min(lines - 1, 40)) or 14 * P + (has_title and 1 or 0))
                        + legend_rows)
  else
    width = width or (legend_w > 0 and 760 + legend_w or 900)
    height = height or (P == 1 and 540 or 280 * P + (has_title and 40 or 0))
  end
  return width, height
end

-- The places of the panels and the legend, as fractions of the screen: panels share one left and one
-- right edge (so they line up), the legend sits outside them (right, or below in the terminal).
local function layout(fig, has_title)
  local P = #fig.panels
  local dumb = fig.term == "dumb"
  local legend = wants_legend(fig)
  local legend_rows, longest = 0, 0
  if legend then legend_rows, longest = legend_size(fig) end
  -- a legend line: its sample, a gap and the text, in widths of an average character of the font
  local legend_w = (legend and not dumb) and math.floor((longest + 6) * CHAR_WIDTH[fig.term] + 10) or 0
  local width, height = figure_size(fig, P, has_title, legend_w, dumb and legend_rows or 0)
  legend_w = math.min(legend_w, math.floor(width * 0.45))
  local L = {width = width, height = height, legend = legend, panels = {}}
  L.left = (dumb and 10 or 80) / width
  L.right = 1 - ((dumb and 2 or 20) + legend_w) / width
  -- units: characters in the terminal, pixels elsewhere
  local top = height - (has_title and (dumb and 1 or 36) or (dumb and 0 or 12))
  local bottom = dumb and (legend and legend_rows + 1 or 0) or 0
  local xaxis = dumb and 2 or 50          -- x tics and label under the last panel
  local head = dumb and 1 or 10           -- a panel's title line (dumb) or gap
  local gap = dumb and 1 or 16            -- between panels
  local avail = top - bottom - xaxis - P * head - (P - 1) * gap
  local each = avail / P
  local y = top
  for p = 1, P do
    local t = y - head
    local b = t - each
    L.panels[p] = {top = t / height, bottom = b / height}
    y = b - gap
  end
  L.key_x = dumb and 1 / width or (width - legend_w + 4) / width
  L.key_y = dumb and (legend_rows + 0.5) / height or L.panels[1].top
  L.legend_rows = legend_rows
  return L
end

local function terminal_line(term, width, height)
  if term == "pdf" then
    return ("set terminal pdfcairo size %gin,%gin noenhanced font \"sans,9\""):format(width / 100, height / 100)
  elseif term == "dumb" then
    return ("set terminal dumb size %d,%d noenhanced"):format(width, height)
  elseif term == "svg" then
    return ("set terminal svg size %d,%d noenhanced dynamic font \"sans,11\""):format(width, height)
  end
  return ("set terminal pngcairo size %d,%d noenhanced font \"sans,10\""):format(width, height)
end

-- The script's head: how it finds its data, decodes the texts, the terminal and the palette.
local function script_head(w, st, stem, suffix, term, width, height)
  w("# Written by ember plot. Re-run it from this folder with: gnuplot " .. (stem:match("^[%w_.+-]+$")
    and stem .. ".gp" or "NAME.gp"))
  w("# It reads every text and number from the data file beside it (same name, .dat) and writes the")
  w("# figure beside it too; the script itself holds no names, so it is safe to edit and share.")
  w('base = ARG0[1:strlen(ARG0) - 3]')
  w('if (base[1:1] ne "/" && base[1:2] ne "./") { base = "./" . base }')
  w('data = base . ".dat"')
  w('set datafile separator "\\t"')
  w(("array L[%d]"):format(#st.labels))
  w(("do for [i = 1:%d] { L[i] = \"\" }"):format(#st.labels))
  w('stats data index 0 using (L[int($1)] = L[int($1)] . sprintf("%c", int($2)), 0) nooutput')
  w(terminal_line(term, width, height))
  w(('set output base . "%s"'):format(suffix))
  for i, c in ipairs(PALETTE) do w(('set linetype %d lc rgb "%s" lw 2'):format(i, c)) end
  w(("set linetype cycle %d"):format(#PALETTE))
end

-- the x range every panel shares, so that their x axes line up: {min, max} of all points, or nil
local function x_range(fig)
  local lo, hi = math.huge, -math.huge
  for _, panel in ipairs(fig.panels) do
    for _, c in ipairs(panel.curves) do
      for _, p in ipairs(c.band or c.points) do lo, hi = math.min(lo, p[1]), math.max(hi, p[1]) end
    end
  end
  if lo > hi then return nil end
  if lo == hi then lo, hi = lo - 0.5, hi + 0.5 end
  return lo, hi
end

-- The labelled ticks a log axis needs: 1, 2 and 5 times the decades when the values span less than
-- three decades (1, 2, 3, 5 when less than one); gnuplot's own labels decades only, and in a small
-- figure not all of them.
local function log_ticks(panel)
  local lo, hi = math.huge, -math.huge
  local function see(y) if y > 0 then lo, hi = math.min(lo, y), math.max(hi, y) end end
  for _, c in ipairs(panel.curves) do
    for _, p in ipairs(c.points) do see(p[2]) end
    for _, b in ipairs(c.band or {}) do see(b[2]); see(b[3]); see(b[4]) end
  end
  if lo > hi then return {} end
  local span = math.log(hi / lo, 10)
  local multiples = span >= 3 and {} or span >= 1 and {1, 2, 5} or {1, 2, 3, 5}
  local ticks = {}
  for d = math.floor(math.log(lo, 10)) - 1, math.ceil(math.log(hi, 10)) do
    for _, k in ipairs(multiples) do
      local t = k * 10 ^ d
      if t >= lo * 0.9 and t <= hi * 1.1 then ticks[#ticks + 1] = ("%.12g"):format(t) end
    end
  end
  return ticks
end

-- the commands of panel p: its place, axes and, in the first, the legend
local function panel_setup(w, fig, L, p, labels)
  local panel = fig.panels[p]
  local dumb = fig.term == "dumb"
  local P = #fig.panels
  w(("set tmargin at screen %.5f; set bmargin at screen %.5f"):format(L.panels[p].top, L.panels[p].bottom))
  if p == P then
    w(("set xlabel L[%d] noenhanced"):format(labels.x))
    w('set format x "% h"')
  else
    w("unset xlabel")
    w('set format x ""')
  end
  w("unset ytics; set ytics border mirror")
  if panel.log then
    -- the range of the values (not widened to whole decades), with readable labels: 1e-08, 0.2, 5
    w("set logscale y; set autoscale yfix; set offsets 0, 0, graph 0.04, graph 0.04")
    w('set format y "%g"')
    local ticks = log_ticks(panel)
    if #ticks > 0 then w(("set ytics add (%s)"):format(table.concat(ticks, ", "))) end
  else
    w("unset logscale y; set autoscale y; set offsets 0, 0, 0, 0")
    w('set format y "% h"')
  end
  if dumb then
    -- the dumb terminal cannot draw the rotated y label: the metric goes into the panel title
    w(("set title L[%d] noenhanced"):format(labels.y[p]))
  else
    w(("set ylabel L[%d] noenhanced"):format(labels.y[p]))
  end
  if p == 1 and L.legend then
    local lg = fig.legend
    w(("set key at screen %.5f, screen %.5f left top Left reverse samplen 2 spacing 1.1 noenhanced%s")
      :format(L.key_x, L.key_y, dumb and (" maxrows %d"):format(math.max(1, L.legend_rows - (lg.title and 1 or 0))) or ""))
    if labels.key_title then w(("set key title L[%d] noenhanced left"):format(labels.key_title)) end
  else
    w("unset key")
  end
end

-- The whole .gp script of fig, its texts and blocks collected in st; head writes the script's head.
local function script_text(fig, st, head)
  local dumb = fig.term == "dumb"
  local title_i = (fig.title and fig.title ~= "") and st.label(fig.title) or nil
  local labels = {x = st.label(fig.xlabel), y = {}}
  local items = {}
  for p, panel in ipairs(fig.panels) do
    labels.y[p] = st.label(panel.ylabel)
    items[p] = panel_items(panel, st, dumb)
  end
  local L = layout(fig, title_i ~= nil)
  if L.legend then
    for _, it in ipairs(legend_items(fig.legend, st, dumb)) do items[1][#items[1] + 1] = it end
    if fig.legend.title then labels.key_title = st.label(fig.legend.title) end
  end
  local sentinel = st.label("-")   -- the label block is never empty, so stats always has a row
  local gp = {}
  local function w(s) gp[#gp + 1] = s end
  head(w, L.width, L.height)
  if not dumb then w("set grid") end
  w(("set lmargin at screen %.5f; set rmargin at screen %.5f"):format(L.left, L.right))
  local lo, hi = x_range(fig)
  if lo then w(("set xrange [%s:%s]"):format(fmt(lo), fmt(hi))) end
  w("set multiplot" .. (title_i and (" title L[%d] noenhanced"):format(title_i) or ""))
  for p = 1, #fig.panels do
    panel_setup(w, fig, L, p, labels)
    w("plot " .. table.concat(items[p], ", \\\n     "))
  end
  w("unset multiplot")
  w("set output")
  w(("# L[%d] is a placeholder that keeps the text block non-empty"):format(sentinel))
  return table.concat(gp, "\n") .. "\n"
end

-- Runs gnuplot on dir/script; raises with gnuplot's output when it fails or draws nothing.
local function run_gnuplot(gnuplot, dir, script, figure)
  os.remove(figure)
  local cd = dir:sub(1, 1) == "/" and dir or "./" .. dir
  local cmd = ("cd %s && %s -c %s 2>&1"):format(util.shell_quote(cd), util.shell_quote(gnuplot),
    util.shell_quote("./" .. script))
  local pipe = io.popen(cmd)
  local log = pipe:read("a") or ""
  local ok, _, code = pipe:close()
  if not ok or mode(figure) ~= "file" then
    local msg = log:gsub("%s+$", "")
    fail("plot", "gnuplot failed (exit %s) on %s%s", tostring(code), paths.join(dir, script),
      msg ~= "" and (":\n" .. msg) or "")
  end
end

--- gnuplot.draw(out, opt, term, script_of) -> out, and for the dumb terminal the text drawn: any figure
-- drawn by gnuplot (opt.gnuplot, else found) with the rules above. script_of(st, head) returns the .gp
-- script: st.label(text) -> the index of text in the script's array L (every user text goes through
-- it, so that none is ever in the script), st.block(rows) -> the `index` of a block of numbers in the
-- data file; head(w, width, height), called once every text has its label, writes the script's head
-- (how it finds its data and output, the texts decoded into L, the terminal, the palette) through w.
-- Writes stem.dat and stem.gp next to out and runs gnuplot there.
function M.draw(out, opt, term, script_of)
  local gnuplot, err = M.find(opt.gnuplot)
  if not gnuplot then fail("plot", "%s", err) end
  local dir, stem, suffix = split_out(out)
  mkdir_p(dir)
  local st = new_store()
  local script = script_of(st, function(w, width, height) script_head(w, st, stem, suffix, term, width, height) end)
  write_file(paths.join(dir, stem .. ".dat"), data_text(st))
  write_file(paths.join(dir, stem .. ".gp"), script)
  local figure = paths.join(dir, stem .. suffix)
  run_gnuplot(gnuplot, dir, stem .. ".gp", figure)
  if term == "dumb" then
    local t = (util.read_file(figure) or ""):gsub("\f", ""):gsub("[ \t]+\n", "\n"):gsub("^\n+", "")
      :gsub("[ \t]+$", ""):gsub("\n*$", "\n")
    return figure, t
  end
  return figure
end

--- gnuplot.render(fig, out, opt) draws fig (the model ember.plot.figure builds) to out: gnuplot.draw
-- with the script of its panels, curves and legend
function M.render(fig, out, opt)
  return M.draw(out, opt, fig.term, function(st, head) return script_text(fig, st, head) end)
end

return M
