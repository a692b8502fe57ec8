-- ember.nn.shape: layers that pass their input on rearranged or unchanged (Flatten, Identity).
local check = require "ember.nn.check"
local Module = require("ember.nn.module").Module
local util = require "ember.util"


local M = {}

local Flatten = Module:extend("Flatten")
M.Flatten = Flatten
--- nn.Flatten([start_dim = 2, end_dim = -1]): merges dims start_dim..end_dim (keeps the batch dim)
function Flatten:init(start_dim, end_dim)
  self.start_dim = start_dim == nil and 2 or check.nonzero_dim("nn.Flatten", "start_dim", start_dim)
  self.end_dim = check.nonzero_dim("nn.Flatten", "end_dim", end_dim)
end
function Flatten:extra_repr()
  return (self.start_dim == 2 and self.end_dim == -1) and "" or (self.start_dim .. ", " .. self.end_dim)
end
function Flatten:spec_args() return {self.start_dim, self.end_dim} end
function Flatten:forward(x)
  check.input(self, x)
  local s, e = check.dim(self, x, "start_dim", self.start_dim), check.dim(self, x, "end_dim", self.end_dim)
  if e < s then
    check.shape_error(self, "end_dim %d comes before start_dim %d for input %s", self.end_dim, self.start_dim,
                      util.shape_str(x))
  end
  return x:flatten(s, e)
end

local Identity = Module:extend("Identity")
M.Identity = Identity
--- nn.Identity(): returns its input (a placeholder layer)
function Identity:forward(x) return x end
function Identity:spec_args() return {} end

return M
