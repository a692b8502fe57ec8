-- ember.plot.groups: which runs share a curve, what its legend says, and which colour it gets.
--
-- Groups never lie: with `by = K`, runs share a curve (their mean, with a band) only when they differ in
-- nothing but K and the seed: their experiment name and every other param (as used, see
-- ember.runs.values) are the same. Runs that differ in another param form groups of their own, and the
-- label says what differs ("opt=adam lr=0.003 (3 runs)"); notes say which params split the groups.
--
-- Colours are stable: a curve's colour is its rank among all the runs (or groups) below the folders
-- drawn, before any filter, so the same run keeps its colour in every figure of a folder.
local runs = require "ember.runs"
local values = require "ember.runs.values"
local E = require "ember.error"

local fail = E.module_fail("plot")

local M = {}

-- params that never split a group: the seed is what repeats vary
local REPEAT_KEYS = {seed = true}

--- groups.identity(run, by) -> the text that runs of one group share: the experiment (values.experiment)
-- and every param but the seed, as used (numbers canonical); by nil: the run itself
function M.identity(run, by)
  if by == nil then return run.dir or (tostring(run.name) .. "/" .. tostring(run.id)) end
  local parts = {tostring(values.experiment(run))}
  local keys = values.param_keys({run})
  table.sort(keys)
  for _, k in ipairs(keys) do
    if not REPEAT_KEYS[k] then
      parts[#parts + 1] = k .. "=" .. tostring(values.canonical((values.param(run, k))))
    end
  end
  return table.concat(parts, "\0")
end

local function numeric_order(list_of_values)
  for _, v in ipairs(list_of_values) do if v ~= nil and not runs.number(v) then return false end end
  return true
end

-- orders groups by their value of by, then by the other params that differ, in key order
local function sort_groups(groups, keys)
  local numeric = {}
  for _, k in ipairs(keys) do
    local vals = {}
    for _, g in ipairs(groups) do vals[#vals + 1] = g.values[k] end
    numeric[k] = numeric_order(vals)
  end
  table.sort(groups, function(a, b)
    for _, k in ipairs(keys) do
      local va, vb = a.values[k], b.values[k]
      if va ~= vb then
        if va == nil then return false elseif vb == nil then return true end
        if numeric[k] then
          local x, y = runs.number(va), runs.number(vb)
          if x ~= y then return x < y end
        else
          return va < vb
        end
      end
    end
    return a.first < b.first
  end)
end

-- the params (but by and the seed) whose values differ between the groups
local function splitting_keys(groups, list, by)
  local out = {}
  for _, k in ipairs(values.param_keys(list)) do
    if k ~= by and not REPEAT_KEYS[k] then
      local first = groups[1].values[k]
      for i = 2, #groups do
        if not values.same(groups[i].values[k], first) then out[#out + 1] = k; break end
      end
    end
  end
  return out
end

--- groups.experiments_differ(list) -> true when the runs come from more than one experiment
function M.experiments_differ(list)
  local first = values.experiment(list[1])
  for i = 2, #list do if values.experiment(list[i]) ~= first then return true end end
  return false
end
local experiments_differ = M.experiments_differ

--- groups.by(list, by) -> groups, notes. groups: {{label, runs, identity}} in the order drawn (by the
-- value of by, numbers as numbers); notes: sentences for the user when other params split the groups.
function M.by(list, by)
  if type(by) ~= "string" or by == "" then fail("plot", "by must be a param name (got %s)", tostring(by)) end
  local any = false
  for _, r in ipairs(list) do if values.param(r, by) ~= nil then any = true; break end end
  if not any then
    local keys = values.differing(list)
    fail("plot", "no run has a param '%s'%s", by,
      #keys > 0 and (" (params that differ: " .. table.concat(keys, ", ") .. ")") or "")
  end
  local groups, index = {}, {}
  for i, r in ipairs(list) do
    local id = M.identity(r, by)
    local g = index[id]
    if not g then
      g = {identity = id, runs = {}, values = {}, first = i}
      for _, k in ipairs(values.param_keys({r})) do g.values[k] = values.param(r, k) end
      groups[#groups + 1], index[id] = g, g
    end
    g.runs[#g.runs + 1] = r
  end
  local split = splitting_keys(groups, list, by)
  local keys = {by}
  for _, k in ipairs(split) do keys[#keys + 1] = k end
  sort_groups(groups, keys)
  local with_name = experiments_differ(list)
  for _, g in ipairs(groups) do
    local parts = {}
    if with_name then parts[1] = values.experiment(g.runs[1]) or "?" end
    for _, k in ipairs(keys) do parts[#parts + 1] = k .. "=" .. (g.values[k] or "?") end
    local n = #g.runs
    g.label = table.concat(parts, " ") .. (n > 1 and (" (" .. n .. " runs)") or "")
  end
  local notes = {}
  -- a note only when a value of by has several groups: a param that moves with by splits nothing
  local per_value, split_value = {}, false
  for _, g in ipairs(groups) do
    local v = values.canonical(g.values[by] or "?")
    if per_value[v] then split_value = true end
    per_value[v] = true
  end
  if split_value and #split > 0 then
    notes[1] = ("--by %s: the runs also differ in %s, so each combination is a group of its own "
      .. "(runs share a curve only when they differ in nothing but %s and the seed; --where picks some)")
      :format(by, table.concat(split, ", "), by)
  end
  if with_name then
    notes[#notes + 1] = ("--by %s: the runs come from different experiments, which never share a curve"):format(by)
  end
  return groups, notes
end

--- groups.per_run(list) -> one group per run, labelled by the params that differ between the runs (and
-- the experiment when they come from several); runs that would share a label get their id added
function M.per_run(list)
  local diff = values.differing(list)
  local with_name = experiments_differ(list)
  local groups, count = {}, {}
  for i, r in ipairs(list) do
    local parts = {}
    if with_name then parts[#parts + 1] = values.experiment(r) or "?" end
    for _, k in ipairs(diff) do parts[#parts + 1] = k .. "=" .. (values.param(r, k) or "?") end
    local s = table.concat(parts, " ")
    if s == "" then s = #list == 1 and (r.name or "run") or (r.id or tostring(i)) end
    groups[i] = {label = s, runs = {r}, identity = M.identity(r)}
    count[s] = (count[s] or 0) + 1
  end
  for _, g in ipairs(groups) do
    local r = g.runs[1]
    if count[g.label] > 1 and r.id and g.label ~= r.id then g.label = g.label .. " " .. r.id end
  end
  return groups
end

--- groups.colour(groups, universe, by) sets g.colour (1, 2, ...) on every group: the rank of its
-- identity among the identities of universe (the runs below the folders drawn, before any filter, in
-- folder order); a group whose identity universe lacks gets the next free rank
function M.colour(groups, universe, by)
  local rank, n = {}, 0
  for _, r in ipairs(universe or {}) do
    local id = M.identity(r, by)
    if not rank[id] then n = n + 1; rank[id] = n end
  end
  local used = {}
  for _, g in ipairs(groups) do
    g.colour = rank[g.identity]
    if g.colour then used[g.colour] = true end
  end
  for _, g in ipairs(groups) do
    if not g.colour then
      n = n + 1
      while used[n] do n = n + 1 end
      g.colour = n
    end
  end
end

return M
