-- ember.nn.window: what the layers that slide a 2-d window share (Conv2d, the pools): the check of
-- the input's size against the dilated kernel, and the printing of their sizes.
local check = require "ember.nn.check"
local shape_str = require("ember.util").shape_str

local M = {}

local pair_text = check.pair_text

--- window.check_fits(m, x, kernel, padding, dilation) raises an error naming the module m when x's two
-- last dims, padded, are smaller than the dilated kernel
function M.check_fits(m, x, k, pad, dil)
  local d = x:dim()
  local h, w = x:size(d - 1), x:size(d)
  if h + 2 * pad[1] < dil[1] * (k[1] - 1) + 1 or w + 2 * pad[2] < dil[2] * (k[2] - 1) + 1 then
    local extra = (pad[1] + pad[2] > 0 and (", padding " .. pair_text(pad[1], pad[2])) or "") ..
      (dil[1] * dil[2] > 1 and (", dilation " .. pair_text(dil[1], dil[2])) or "")
    check.shape_error(m, "input %s is smaller than the kernel (%d x %d%s)", shape_str(x), k[1], k[2], extra)
  end
end

--- window.sizes_text(m [, always_stride]) -> ", stride 2, padding 1, dilation 2": m's stride, padding
-- and dilation where they differ from 1, 0 and 1 (the stride always with always_stride)
function M.sizes_text(m, always_stride)
  local st, pd, dl = m.stride, m.padding, m.dilation
  local s = ""
  if always_stride or st[1] ~= 1 or st[2] ~= 1 then s = ", stride " .. pair_text(st[1], st[2]) end
  if pd[1] ~= 0 or pd[2] ~= 0 then s = s .. ", padding " .. pair_text(pd[1], pd[2]) end
  if dl[1] ~= 1 or dl[2] ~= 1 then s = s .. ", dilation " .. pair_text(dl[1], dl[2]) end
  return s
end

return M
