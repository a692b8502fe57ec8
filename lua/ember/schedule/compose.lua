-- ember.schedule.compose: schedules made of schedules: sequence (SequentialLR) and chain
-- (ChainedScheduler), and the spec tables such as {"cosine", t_max = 10} their items may be.
local B = require "ember.schedule.base"

local M = {}

local fail, show, copy, int_arg = B.fail, B.show, B.copy, B.int_arg
local class, begin, bind, check_optimizer, is_schedule = B.class, B.begin, B.bind, B.check_optimizer, B.is_schedule
local Schedule = B.Schedule
local constructors, spec_kind = B.constructors, B.spec_kind
local wrap = require("ember.schedule.simple").wrap

local function build_spec(where, spec, opt)
  local kind = spec_kind(spec)
  if type(kind) ~= "string" or not constructors[kind] then
    fail(where, "unknown schedule kind %s", show(kind))
  end
  local args = copy(spec)
  args.optimizer, args.lr = opt, nil
  return constructors[kind](args)
end

-- The items of a composite: schedules on one optimizer, functions or spec tables, built on that optimizer.
local function build_children(self, where, args)
  local first = type(args[1]) == "string" and 2 or 1
  local opt = args.optimizer
  if opt == nil then
    for j = first, #args do
      if is_schedule(args[j]) then opt = args[j].optimizer; break end
    end
  end
  if opt == nil then
    fail(where, "needs optimizer = ... (or at least one schedule built on the optimizer)")
  end
  check_optimizer(where, opt)
  local children = {}
  for j = first, #args do
    local c = args[j]
    if is_schedule(c) then
      if c.optimizer ~= opt then fail(where, "item %d is bound to a different optimizer", j - first + 1) end
      if c._parent then fail(where, "item %d is already part of a %s", j - first + 1, c._parent.kind) end
    elseif type(c) == "function" then
      c = wrap(c, opt)
    elseif spec_kind(c) then
      c = build_spec(where, c, opt)
    else
      fail(where, "item %d must be a schedule, a function epoch -> lr or a spec table such as " ..
           '{"cosine", t_max = 10} (got %s)', j - first + 1, show(c))
    end
    for _, d in ipairs(children) do
      if d == c then fail(where, "item %d appears twice", j - first + 1) end
    end
    children[#children + 1] = c
  end
  if #children == 0 then fail(where, "needs at least one schedule") end
  self.children = children
  return opt
end

-- Marks the items as owned once the composite is valid, so that stepping one of them alone is an error.
local function adopt(self)
  for _, c in ipairs(self.children) do c._parent = self end
  return self
end

local function save_children(self, s)
  s.last_epoch, s.children = self.last_epoch, {}
  for k, c in ipairs(self.children) do s.children[k] = c:_save({}) end
  return s
end

local function load_children(self, s, where)
  Schedule._load(self, s, where)
  if type(s.children) ~= "table" or #s.children ~= #self.children then
    fail(where, "children must hold %d states (got %s)", #self.children,
         type(s.children) == "table" and #s.children .. " states" or show(s.children))
  end
  for k, c in ipairs(self.children) do
    if type(s.children[k]) ~= "table" then fail(where, "children[%d] must be a table", k) end
    c:_load(s.children[k], where)
  end
end

local Sequence = class()

--- schedule.sequence{s1, s2, ..., milestones = {m1, ...}, optimizer = opt} -- SequentialLR: s_k is active
-- for m_(k-1) <= t < m_k and starts at its own epoch 0; #milestones = #schedules - 1, strictly increasing.
-- Items: schedules on opt, functions epoch -> lr, or spec tables {"kind", options...}.
function M.sequence(args)
  local self, where = begin("sequence", Sequence, args, {"milestones"}, true)
  local opt = build_children(self, where, args)
  local ms = args.milestones
  if type(ms) ~= "table" or #ms ~= #self.children - 1 then
    fail(where, "milestones must be a list of %d increasing positive integers, one per switch (got %s)",
         #self.children - 1, type(ms) == "table" and #ms .. " values" or show(ms))
  end
  self.milestones = {}
  for k, m in ipairs(ms) do
    self.milestones[k] = int_arg(where, "milestones[" .. k .. "]", m, 1)
    if k > 1 and self.milestones[k] <= self.milestones[k - 1] then
      fail(where, "milestones must be strictly increasing (got %s after %s)", show(m), show(ms[k - 1]))
    end
  end
  self.active = 1
  self._spec = {milestones = self.milestones}
  return adopt(bind(self, opt):_write())
end

function Sequence:_lr(base, i)
  return self.children[self.active]:_lr(base, i)
end

function Sequence:_advance(metric, lenient)
  self.last_epoch = self.last_epoch + 1
  local k = 1
  for j, m in ipairs(self.milestones) do
    if self.last_epoch >= m then k = j + 1 end
  end
  if k ~= self.active then
    self.active = k
    self.children[k]:_reset()
  else
    self.children[k]:_advance(metric, lenient)
  end
end

function Sequence:_reset()
  self.last_epoch, self.active = 0, 1
  for _, c in ipairs(self.children) do c:_reset() end
end

function Sequence:_save(s)
  save_children(self, s)
  s.active = self.active
  return s
end

function Sequence:_load(s, where)
  load_children(self, s, where)
  local a = int_arg(where, "active", s.active, 1)
  if a > #self.children then fail(where, "active must be at most %d (got %d)", #self.children, a) end
  self.active = a
end

function Sequence:_clone(opt)
  local args = {optimizer = opt, milestones = self.milestones}
  for k, c in ipairs(self.children) do args[k] = c:_clone(opt) end
  return M.sequence(args)
end

local Chain = class()

--- schedule.chain{s1, s2, ..., optimizer = opt} -- ChainedScheduler: all items step together and the lr
-- flows through them in order, lr = s_n(...s_1(base)); multiplicative schedules multiply.
function M.chain(args)
  local self, where = begin("chain", Chain, args, {}, true)
  local opt = build_children(self, where, args)
  self._spec = {}
  return adopt(bind(self, opt):_write())
end

function Chain:_lr(base, i)
  for _, c in ipairs(self.children) do base = c:_lr(base, i) end
  return base
end

function Chain:_advance(metric, lenient)
  self.last_epoch = self.last_epoch + 1
  for _, c in ipairs(self.children) do c:_advance(metric, lenient) end
end

function Chain:_reset()
  self.last_epoch = 0
  for _, c in ipairs(self.children) do c:_reset() end
end

Chain._save = save_children
Chain._load = load_children

function Chain:_clone(opt)
  local args = {optimizer = opt}
  for k, c in ipairs(self.children) do args[k] = c:_clone(opt) end
  return M.chain(args)
end

M.build_spec = build_spec

return M
