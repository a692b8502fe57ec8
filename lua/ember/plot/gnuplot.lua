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
  local f, err = io.open(path, "wb")
  if not f then fail("plot", "cannot write '%s': %s", path, tostring(err)) end
  f:write(text)
  f:close()
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

-- The plot items of one panel (curves, bands, marks), as gnuplot plot clauses.
local function panel_items(panel, st, dumb)
  local items = {}
  for c, curve in ipairs(panel.curves) do
    local lt = curve.lt or c
    local dt = (lt - 1) // 8 + 1   -- gnuplot has 8 colours: later curves get dashes
    local k = st.label(curve.label)
    if curve.band and #curve.band > 0 then
      local b = st.block(curve.band)
      if not dumb then
        items[#items + 1] = ("data index %d using 1:3:4 with filledcurves lt %d fs transparent solid 0.2 noborder notitle")
          :format(b, lt)
      end
      items[#items + 1] = ("data index %d using 1:2 with lines lt %d dt %d lw 2 title L[%d] noenhanced"):format(b, lt, dt, k)
    elseif #curve.points > 0 then
      local b = st.block(curve.points)
      if curve.smoothed and not dumb then
        items[#items + 1] = ("data index %d using 1:3 with lines lt %d lw 0.5 dt 3 notitle"):format(b, lt)
      end
      items[#items + 1] = ("data index %d using 1:2 with lines lt %d dt %d lw 2 title L[%d] noenhanced"):format(b, lt, dt, k)
    end
  end
  if panel.best and #panel.best > 0 then
    items[#items + 1] = ('data index %d using 1:2 with points pt %s ps 1.2 lc "black" title "best epoch"')
      :format(st.block(panel.best), dumb and '"o"' or "7")
  end
  if panel.stop and #panel.stop > 0 then
    items[#items + 1] = ('data index %d using 1:2 with points pt %s ps 1.6 lc "red" title "early stop"')
      :format(st.block(panel.stop), dumb and '"x"' or "2")
  end
  if #items == 0 then fail("plot", "nothing to draw for '%s'", panel.ylabel) end
  return items
end

local function figure_size(fig, P, has_title)
  local width, height = fig.width, fig.height
  if fig.term == "dumb" then
    local cols, lines = terminal_size()
    width = width or math.max(40, math.min(cols, 240))
    height = height or (P == 1 and math.max(15, math.min(lines - 1, 40)) or 14 * P + (has_title and 2 or 0))
  else
    width = width or 900
    height = height or (P == 1 and 540 or 300 * P + (has_title and 40 or 0))
  end
  return width, height
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

-- The script's head: how it finds its data, decodes the texts, and the terminal.
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
end

-- The whole .gp script of fig, its texts and blocks collected in st.
local function script_text(fig, st, stem, suffix)
  local P = #fig.panels
  local dumb = fig.term == "dumb"
  local title_i = (fig.title and fig.title ~= "") and st.label(fig.title) or nil
  local x_i = st.label(fig.xlabel)
  local plots = {}
  for p, panel in ipairs(fig.panels) do
    local y_i = st.label(panel.ylabel)
    plots[p] = {y = y_i, items = panel_items(panel, st, dumb)}
  end
  local sentinel = st.label("-")   -- the label block is never empty, so stats always has a row
  local gp = {}
  local function w(s) gp[#gp + 1] = s end
  local width, height = figure_size(fig, P, title_i)
  script_head(w, st, stem, suffix, fig.term, width, height)
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

--- gnuplot.render(fig, out, opt) draws fig to out: writes stem.dat and stem.gp next to out and runs
-- gnuplot (opt.gnuplot, else found) there. Returns out, and for the dumb terminal the text drawn.
function M.render(fig, out, opt)
  local gnuplot, err = M.find(opt.gnuplot)
  if not gnuplot then fail("plot", "%s", err) end
  local dir, stem, suffix = split_out(out)
  mkdir_p(dir)
  local st = new_store()
  local script = script_text(fig, st, stem, suffix)
  write_file(paths.join(dir, stem .. ".dat"), data_text(st))
  write_file(paths.join(dir, stem .. ".gp"), script)
  local figure = paths.join(dir, stem .. suffix)
  run_gnuplot(gnuplot, dir, stem .. ".gp", figure)
  if fig.term == "dumb" then
    local t = (util.read_file(figure) or ""):gsub("\f", ""):gsub("[ \t]+\n", "\n"):gsub("^\n+", "")
    return figure, t
  end
  return figure
end

return M
