-- ember.nn.dropout: the Dropout layer (active in training mode only).
local ember = require "ember"
local check = require "ember.nn.check"
local Module = require("ember.nn.module").Module

local M = {}

local Dropout = Module:extend("Dropout")
M.Dropout = Dropout

--- nn.Dropout([p = 0.5]): in training mode zeroes each element with probability p (from ember's seeded
--- generator) and scales the rest by 1 / (1 - p); in eval mode returns its input unchanged.
function Dropout:init(p)
  if p == nil then p = 0.5 end
  if type(p) ~= "number" or not (p >= 0 and p <= 1) then
    check.fail("nn.Dropout", "p must be a number in [0, 1] (got %s)", require("ember.util").show(p))
  end
  self.p = p
end
function Dropout:extra_repr() return "p = " .. self.p end
function Dropout:spec_args() return {self.p} end
function Dropout:forward(x)
  check.input(self, x)
  if not self.training or self.p == 0 then return x end
  return ember.dropout(x, self.p)
end

return M
