-- ember.nn.window: what the layers that slide a 2-d window share (Conv2d, the pools): the check of
-- the input's size against the dilated kernel, and the printing of their sizes.
local check = require "ember.nn.check"
local shape_str = require("ember.util").shape_str

local M = {}

local pair_text = check.pair_text

-- the padding as printed: "same" for m.same, whose numbers are the top and left padding only
local function padding_text(m, pad)
  if m.same then return ", padding same" end
  return (pad[1] ~= 0 or pad[2] ~= 0) and (", padding " .. pair_text(pad[1], pad[2])) or ""
end

--- window.check_fits(m, x, kernel, padding, dilation [, extra]) raises an error naming the module m when
-- x's two last dims, padded, are smaller than the dilated kernel; extra: the padding added at the bottom
-- and right only (padding "same" with an even dilated kernel pads one more row and column there)
function M.check_fits(m, x, k, pad, dil, extra)
  local d = x:dim()
  local h, w = x:size(d - 1), x:size(d)
  local eh, ew = extra and extra[1] or 0, extra and extra[2] or 0
  if h + 2 * pad[1] + eh < dil[1] * (k[1] - 1) + 1 or w + 2 * pad[2] + ew < dil[2] * (k[2] - 1) + 1 then
    local extra_text = padding_text(m, pad) ..
      (dil[1] * dil[2] > 1 and (", dilation " .. pair_text(dil[1], dil[2])) or "")
    check.shape_error(m, "input %s is smaller than the kernel (%d x %d%s)", shape_str(x), k[1], k[2], extra_text)
  end
end

--- window.sizes_text(m [, always_stride]) -> ", stride 2, padding 1, dilation 2": m's stride, padding
-- and dilation where they differ from 1, 0 and 1 (the stride always with always_stride); "padding same"
-- for a layer built with padding = "same"
function M.sizes_text(m, always_stride)
  local st, pd, dl = m.stride, m.padding, m.dilation
  local s = ""
  if always_stride or st[1] ~= 1 or st[2] ~= 1 then s = ", stride " .. pair_text(st[1], st[2]) end
  s = s .. padding_text(m, pd)
  if dl[1] ~= 1 or dl[2] ~= 1 then s = s .. ", dilation " .. pair_text(dl[1], dl[2]) end
  return s
end

return M
