-- ember.nn: layers as modules (Linear, Conv2d, pooling, activations, Dropout, BatchNorm,
-- Sequential) over the C kernels of core/nn.h, the nn.Module base class for user models, parameter
-- initialisation (nn.init) and weight penalties.
--
-- Writing a module in Lua:
--
--   local Net = nn.Module:extend("Net")
--   function Net:init(hidden)                   -- called by Net(hidden) / Net.new(hidden)
--     self.fc1 = nn.Linear(784, hidden)          -- a module assigned to a field is registered ...
--     self.fc2 = nn.Linear(hidden, 10)
--     self.scale = ember.ones(10):requires_grad()  -- ... and so is a leaf tensor that requires grad
--     self:buffer("seen", ember.zeros(1))        -- state saved with the model but not trained
--   end
--   function Net:forward(x)                      -- any tensor ops: autograd records them
--     return self.fc2(self.fc1(x:flatten(2)):relu()) * self.scale
--   end
--   local net = Net(128)                         -- net(x) calls net:forward(x)
--
-- Registration by assignment covers modules and leaf tensors that require grad; `self:add(name, m)`,
-- `self:param(name, t)` and `self:buffer(name, t)` do the same explicitly (and return their argument).
-- Names are the field names, dotted through submodules ("fc1.weight", "1.bias" in a Sequential, whose
-- layers are fields 1, 2, ...). Order is stable: a module's own parameters in the order they were first
-- assigned, then each child's, recursively, in the order the children were first assigned (PyTorch's).
-- Reassigning a field keeps its place; setting it to nil removes it. Tensors that do not require grad
-- (constants, cached activations) are plain fields unless registered with self:buffer. Lua only sees
-- the first assignment of a field, so a field first set to a plain value (false, a number) and later
-- to a module is not registered: use self:add / self:param for it.
--
-- The files of this folder: module.lua (the Module protocol), print.lua (tostring of a model),
-- weight_init.lua (nn.init), linear, conv, pooling, activation, shape (Flatten, Identity), dropout,
-- normalization, container (Sequential), penalty, functional; spec.lua (model:spec(), nn.from_spec);
-- check.lua and window.lua hold what the layers share.
local M = {}

local module = require "ember.nn.module"
M.Module = module.Module
M.is_module = module.is_module
M.init = require "ember.nn.weight_init"

for _, family in ipairs{"linear", "conv", "pooling", "activation", "shape", "dropout", "normalization",
                        "container", "penalty"} do
  for name, v in pairs(require("ember.nn." .. family)) do M[name] = v end
end

M.functional = require "ember.nn.functional"
M.from_spec = require("ember.nn.spec").from_spec

return M
