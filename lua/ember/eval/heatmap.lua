-- ember.eval.heatmap: a confusion matrix drawn by gnuplot: one cell per (true, predicted) pair holding
-- its count, coloured by the share of its true class (rows sum to 1), class names on both axes. Drawn
-- through ember.plot's renderer, so the safety rules of `ember plot` hold: the .gp script holds no user
-- text (class names and the title travel in the .dat file and are decoded as data), and finds its data
-- and output from its own name.
local gnuplot = require "ember.plot.gnuplot"

local M = {}

-- the cells: x the predicted class, y the true one, the row share, the count
local function cells(cm)
  local rows = {}
  for t = 1, cm.C do
    local total = 0
    for p = 1, cm.C do total = total + cm.counts[t][p] end
    for p = 1, cm.C do
      local c = cm.counts[t][p]
      rows[#rows + 1] = {p, t, total > 0 and c / total or 0, c}
    end
  end
  return rows
end

local function size(cm, term, o)
  local longest = 1
  for _, s in ipairs(cm.classes) do longest = math.max(longest, utf8.len(s) or #s) end
  if term == "dumb" then
    local cell = math.max(6, math.min(longest, 12) + 2)
    return o.width or math.min(240, 16 + cm.C * cell), o.height or math.min(80, 7 + cm.C * 2)
  end
  local label = math.min(longest, 30) * 8
  local side = math.max(300, math.min(1200, cm.C * 56))
  return o.width or (side + label + 150), o.height or (side + label + 110)
end

-- the .gp script of cm's heatmap; every text goes through st.label
local function script(cm, term, o, st, head)
  local dumb = term == "dumb"
  local title = o.title and st.label(dumb and (o.title .. "; rows: true class") or o.title) or nil
  local first = #st.labels + 1
  for _, name in ipairs(cm.classes) do st.label((tostring(name):gsub("%c", " "))) end
  local x_label, y_label = st.label("predicted"), st.label("true class")
  local bar_label = st.label("share of the true class")
  local block = st.block(cells(cm))
  local longest = 0
  for _, s in ipairs(cm.classes) do longest = math.max(longest, utf8.len(s) or #s) end
  local gp = {}
  local function w(s) gp[#gp + 1] = s end
  head(w, size(cm, term, o))
  w(("C = %d"):format(cm.C))
  w("set xrange [0.5:C + 0.5]; set yrange [C + 0.5:0.5]")
  w("set xtics (); set ytics (); set tics scale 0")
  w(("do for [i = 1:C] { set xtics add (L[%d + i] i); set ytics add (L[%d + i] i) }"):format(first - 1, first - 1))
  if longest > 3 and not dumb then w("set xtics rotate by 45 right") end
  w(("set xlabel L[%d] noenhanced; set ylabel L[%d] noenhanced"):format(x_label, y_label))
  if title then w(("set title L[%d] noenhanced"):format(title)) end
  w("unset key")
  if dumb then
    -- no colours in text: the counts on their grid (and no rotated y label: the title says it)
    w("plot data index " .. block .. ' using 1:2:(sprintf("%d", $4)) with labels')
  else
    w("set cbrange [0:1]; set palette defined (0 \"#ffffff\", 1 \"#1f4e9c\")")
    w(("set cblabel L[%d] noenhanced"):format(bar_label))
    w("set size ratio -1")
    w(("plot data index %d using 1:2:3 with image, \\"):format(block))
    w(("     data index %d using 1:2:(sprintf(\"%%d\", $4)):($3 > 0.55 ? 0xffffff : 0x202020) with labels tc rgb variable")
      :format(block))
  end
  w("set output")
  return table.concat(gp, "\n") .. "\n"
end

--- heatmap.draw(cm, dir, o) -> the figure's path (dir/confusion.<ext>, beside confusion.gp and .dat),
-- and for the dumb terminal the text drawn (its files then go to a temporary folder and are removed).
-- o: term ("png" | "svg" | "pdf" | "dumb"), gnuplot (the program), width, height, title.
function M.draw(cm, dir, o)
  local term = o.term or "png"
  local out, tmp = dir .. "/confusion" .. gnuplot.TERMS[term].ext, nil
  if term == "dumb" then
    tmp = gnuplot.temp_dir()
    out = tmp .. "/confusion.txt"
  end
  local ok, path, text = pcall(gnuplot.draw, out, o, term, function(st, head) return script(cm, term, o, st, head) end)
  if tmp then gnuplot.remove_dir(tmp, {"confusion.txt", "confusion.gp", "confusion.dat"}) end
  if not ok then error(path, 0) end
  if term == "dumb" then return nil, text end
  return path
end

return M
