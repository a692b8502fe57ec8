-- plot_fixtures.lua - what the plot specs share: run directories written by hand, and readers for the
-- .dat and .gp files ember.plot writes. Specs load it with `local fx = dofile("tests/lua/plot_fixtures.lua")`.
local h = dofile("tests/lua/spec_helper.lua")
local util = require "ember.util"

local M = {}

M.PNG_MAGIC = "\137PNG\r\n\26\n"
M.HEADER = {"epoch", "step", "time", "train_loss", "valid_loss", "lr"}

--- fx.make_run(dir, params, meta, header, rows) writes a run directory: params and meta as {{k, v}...}
-- (status finished is added first), metrics as a header list and rows of values (nil or "" for a
-- missing field). Returns dir.
function M.make_run(dir, params, meta, header, rows)
  assert(util.mkdir_p(dir))
  local p = {}
  for _, kv in ipairs(params or {}) do p[#p + 1] = kv[1] .. "\t" .. kv[2] .. "\n" end
  h.write(dir .. "/params.tsv", table.concat(p))
  local m = {"status\tfinished\n"}
  for _, kv in ipairs(meta or {}) do m[#m + 1] = kv[1] .. "\t" .. kv[2] .. "\n" end
  h.write(dir .. "/meta.tsv", table.concat(m))
  local lines = {table.concat(header, "\t")}
  for _, r in ipairs(rows) do
    local f = {}
    for i = 1, #header do f[i] = r[i] == nil and "" or tostring(r[i]) end
    lines[#lines + 1] = table.concat(f, "\t")
  end
  h.write(dir .. "/metrics.tsv", table.concat(lines, "\n") .. "\n")
  return dir
end

--- fx.loss_rows(n, k) -> rows for fx.HEADER: loss curves 1/epoch scaled by k, so runs differ and every
-- value is known
function M.loss_rows(n, k)
  local rows = {}
  for e = 1, n do rows[e] = {e, e * 10, e * 0.5, k / e, k / e + 0.5, 0.1} end
  return rows
end

--- fx.sink() -> a file-like object that collects what is written to it in .text
function M.sink()
  local s = {text = ""}
  function s:write(...) for _, v in ipairs{...} do self.text = self.text .. v end return self end
  return s
end

--- fx.block(dat, index) -> the rows (lists of numbers) of data block index (0 is the text block) of a
-- .dat file written by ember.plot
function M.block(dat, index)
  local text = h.read(dat)
  local blocks = {}
  for b in (text .. "\n\n\n"):gmatch("(.-)\n\n\n") do blocks[#blocks + 1] = b end
  local rows = {}
  for line in (blocks[index + 1] or ""):gmatch("[^\n]+") do
    if line:sub(1, 1) ~= "#" then
      local r = {}
      for f in line:gmatch("[^\t]+") do r[#r + 1] = tonumber(f) end
      rows[#rows + 1] = r
    end
  end
  return rows
end

--- fx.labels(dat) -> the texts of a .dat file by index (its readable comment lines "# i text")
function M.labels(dat)
  local out = {}
  for i, s in h.read(dat):gmatch("\n# (%d+) ([^\n]*)") do out[tonumber(i)] = s end
  return out
end

--- fx.legend(stem) -> {label = {lt = N, dt = N}} of the legend entries of stem.gp (texts from stem.dat),
-- and the list of labels in legend order
function M.legend(stem)
  local labels = M.labels(stem .. ".dat")
  local out, order = {}, {}
  for lt, dt, i in h.read(stem .. ".gp"):gmatch("keyentry with lines lt (%d+) dt (%d+) lw 2 title L%[(%d+)%]") do
    local label = labels[tonumber(i)]
    out[label] = {lt = tonumber(lt), dt = tonumber(dt)}
    order[#order + 1] = label
  end
  return out, order
end

--- fx.plots(stem) -> the plot commands of stem.gp, one string per panel
function M.plots(stem)
  local out = {}
  for p in (h.read(stem .. ".gp") .. "\n"):gmatch("\nplot (.-)\n[^ ]") do out[#out + 1] = p end
  return out
end

return M
