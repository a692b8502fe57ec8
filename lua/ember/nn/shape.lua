-- ember.nn.shape: layers that pass their input on rearranged or unchanged (Flatten, Identity).
local check = require "ember.nn.check"
local Module = require("ember.nn.module").Module
local show = require("ember.util").show

local M = {}

local Flatten = Module:extend("Flatten")
M.Flatten = Flatten
--- nn.Flatten([start_dim = 2, end_dim = -1]): merges dims start_dim..end_dim (keeps the batch dim)
function Flatten:init(start_dim, end_dim)
  for _, d in ipairs{{"start_dim", start_dim}, {"end_dim", end_dim}} do
    if d[2] ~= nil and not check.is_int(d[2]) then
      check.fail("nn.Flatten", "%s must be an integer (got %s)", d[1], show(d[2]))
    end
  end
  self.start_dim, self.end_dim = start_dim or 2, end_dim or -1
end
function Flatten:extra_repr()
  return (self.start_dim == 2 and self.end_dim == -1) and "" or (self.start_dim .. ", " .. self.end_dim)
end
function Flatten:forward(x) return check.input(self, x):flatten(self.start_dim, self.end_dim) end

local Identity = Module:extend("Identity")
M.Identity = Identity
--- nn.Identity(): returns its input (a placeholder layer)
function Identity:forward(x) return x end

return M
