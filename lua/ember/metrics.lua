-- ember.metrics: classification metrics from predictions and targets. Class labels are 1..C, as
-- everywhere in ember.
--
--   local cm = ember.metrics.confusion(logits, y, {"cat", "dog", "bird"})
--   print(cm)                  --> the matrix and the per-class table, aligned, with the class names
--   cm.counts[2][3]            --> how many samples of class 2 were predicted as class 3
--   cm.per_class[2].recall, cm.accuracy, cm.macro.f1, cm.weighted.f1
--
-- Conventions are scikit-learn's (classification_report with labels 1..C and zero_division=0): rows of
-- the matrix are the true classes and columns the predicted ones; a class never predicted has precision
-- 0, a class with no sample recall 0, and F1 is 0 when precision and recall are both 0; each such case
-- is listed in cm.notes. Macro averages weigh every class alike (classes absent from the data
-- included), weighted averages weigh them by support.
local E = require "ember.error"
local util = require "ember.util"

local M = {}

local Confusion = {}
M.Confusion = Confusion

local FN = "ember.metrics.confusion"

local function fail(kind, fmt, ...) E.raise(kind, FN, fmt, ...) end

-- classes: C, or a list of C names -> C and the names (strings)
local function resolve_classes(classes)
  if math.type(classes) == "integer" or (type(classes) == "number" and math.tointeger(classes)) then
    local c = math.tointeger(classes)
    if c < 1 then fail("value", "classes must be at least 1 (got %d)", c) end
    local names = {}
    for i = 1, c do names[i] = tostring(i) end
    return c, names
  end
  if type(classes) ~= "table" or #classes == 0 then
    fail("type", "classes must be the number of classes or a list of their names (got %s)", util.show(classes))
  end
  local names = {}
  for i = 1, #classes do
    local v = classes[i]
    if type(v) ~= "string" and type(v) ~= "number" then
      fail("type", "classes[%d] must be a name (got %s)", i, util.show(v))
    end
    names[i] = math.type(v) == "float" and math.tointeger(v) and tostring(math.tointeger(v)) or tostring(v)
  end
  return #classes, names
end

--- metrics.Confusion.new(classes) -> an empty confusion matrix over classes (C, or a list of C names);
-- fill it batch by batch with cm:add(pred_or_logits, target)
function Confusion.new(classes)
  local c, names = resolve_classes(classes)
  local counts = {}
  for t = 1, c do
    counts[t] = {}
    for p = 1, c do counts[t][p] = 0 end
  end
  return setmetatable({C = c, classes = names, counts = counts, n = 0}, Confusion)
end

-- values -> a flat list of class indices, checked to be integers in 1..C (what names them: "pred")
local function indices(v, what, c)
  local list
  if util.is_tensor(v) then
    if v:dim() == 2 and v:shape()[2] == 1 then v = v:reshape(v:shape()[1]) end
    if v:dim() ~= 1 then
      fail("shape", "%s must hold one class index per sample, shape (N) (got %s)", what, util.shape_str(v))
    end
    list = v:totable()
  elseif type(v) == "table" then
    list = v
  else
    fail("type", "%s must be a tensor or a list of class indices (got %s)", what, util.show(v))
  end
  local out = {}
  for i = 1, #list do
    local x = list[i]
    local k = type(x) == "number" and math.tointeger(x)
    if not k or k < 1 or k > c then
      fail("value", "%s[%d] is %s: class indices are integers 1..%d", what, i, util.show(x), c)
    end
    out[i] = k
  end
  return out
end

-- predictions: class indices (N), or scores (N, C) whose largest entry per row is the prediction
local function predictions(v, c)
  if util.is_tensor(v) and v:dim() == 2 and v:shape()[2] > 1 then
    if v:shape()[2] ~= c then
      fail("shape", "pred has scores for %d classes, the matrix has %d (pred %s)", v:shape()[2], c, util.shape_str(v))
    end
    local finite = v:eq(v):sum():item() == v:numel() and v:abs():max():item() < math.huge
    if v:numel() > 0 and not finite then fail("value", "pred holds NaN or infinite scores") end
    if v:shape()[1] == 0 then return {} end
    return indices(v:argmax(2), "pred", c)
  end
  return indices(v, "pred", c)
end

--- cm:add(pred_or_logits, target) counts a batch: pred_or_logits is (N) class indices or (N, C) scores
-- (logits or probabilities; the largest is the prediction), target (N) or (N, 1) class indices (tensors
-- or lists). Returns cm.
function Confusion:add(pred, target)
  local p = predictions(pred, self.C)
  local t = indices(target, "target", self.C)
  if #p ~= #t then fail("shape", "pred has %d samples, target %d", #p, #t) end
  local counts = self.counts
  for i = 1, #t do
    local row = counts[t[i]]
    row[p[i]] = row[p[i]] + 1
  end
  self.n = self.n + #t
  self._report = nil
  return self
end

local function ratio(a, b) return b > 0 and a / b or 0 end

-- per-class precision, recall, F1, support and predicted count; the averages, accuracy and notes
local function report(cm)
  if cm._report then return cm._report end
  local c, counts = cm.C, cm.counts
  local per, notes = {}, {}
  local never_predicted, no_support = {}, {}
  local correct = 0
  for k = 1, c do
    local tp, support, predicted = counts[k][k], 0, 0
    for j = 1, c do
      support = support + counts[k][j]
      predicted = predicted + counts[j][k]
    end
    correct = correct + tp
    local precision, recall = ratio(tp, predicted), ratio(tp, support)
    per[k] = {precision = precision, recall = recall, f1 = ratio(2 * precision * recall, precision + recall),
              support = support, predicted = predicted}
    if predicted == 0 then never_predicted[#never_predicted + 1] = cm.classes[k] end
    if support == 0 then no_support[#no_support + 1] = cm.classes[k] end
  end
  local macro, weighted = {}, {}
  for _, m in ipairs{"precision", "recall", "f1"} do
    local sum, wsum = 0, 0
    for k = 1, c do
      sum = sum + per[k][m]
      wsum = wsum + per[k][m] * per[k].support
    end
    macro[m], weighted[m] = sum / c, ratio(wsum, cm.n)
  end
  if #never_predicted > 0 then
    notes[#notes + 1] = ("never predicted, so precision 0 (as scikit-learn's zero_division=0): %s")
      :format(table.concat(never_predicted, ", "))
  end
  if #no_support > 0 then
    notes[#notes + 1] = ("no sample in the data, so recall 0 (as scikit-learn's zero_division=0): %s")
      :format(table.concat(no_support, ", "))
  end
  cm._report = {per_class = per, macro = macro, weighted = weighted, accuracy = ratio(correct, cm.n), notes = notes}
  return cm._report
end

-- cm.per_class, cm.macro, cm.weighted, cm.accuracy and cm.notes are computed when first read
function Confusion:__index(k)
  local m = Confusion[k]
  if m ~= nil then return m end
  if k == "per_class" or k == "macro" or k == "weighted" or k == "accuracy" or k == "notes" then
    return report(self)[k]
  end
  return nil
end

--- metrics.confusion(pred_or_logits, target [, classes]) -> a confusion matrix (see the module comment).
-- classes: C, or a list of the C class names (default: C = the largest index seen, or the score
-- columns of pred).
function M.confusion(pred, target, classes)
  if classes == nil then
    local c = 1
    if util.is_tensor(pred) and pred:dim() == 2 and pred:shape()[2] > 1 then c = pred:shape()[2] end
    for _, v in ipairs{pred, target} do
      local biggest
      if util.is_tensor(v) and v:numel() > 0 and not (v:dim() == 2 and v:shape()[2] > 1) then
        biggest = v:max():item()
      elseif type(v) == "table" then
        for _, x in ipairs(v) do if type(x) == "number" and (biggest == nil or x > biggest) then biggest = x end end
      end
      if biggest and biggest == biggest and biggest < math.huge then c = math.max(c, math.floor(biggest)) end
    end
    classes = c
  end
  return Confusion.new(classes):add(pred, target)
end

-- display ---------------------------------------------------------------------------------------------------

-- a name as one line of a table: control characters (tabs, newlines, escapes) become spaces
local function cell(s) return (tostring(s):gsub("%c", " ")) end
local function width(s) return utf8.len(s) or #s end
local function pad_left(s, w) return string.rep(" ", w - width(s)) .. s end
local function pad_right(s, w) return s .. string.rep(" ", w - width(s)) end

-- s cut to at most n characters (UTF-8 aware)
local function cut(s, n)
  if width(s) <= n then return s end
  local stop = utf8.offset(s, n + 1)
  return stop and s:sub(1, stop - 1) or s:sub(1, n)
end

--- cm:matrix_text() -> the matrix as aligned text: rows true classes, columns predicted, class names on both
-- (a column's name cut to 7 characters, so that ten classes fit a terminal)
function Confusion:matrix_text()
  local names, label, w = {}, 10, 4
  for k, s in ipairs(self.classes) do
    names[k] = cell(s)
    label = math.max(label, width(names[k]))
    w = math.max(w, width(cut(names[k], 7)))
  end
  for t = 1, self.C do
    for p = 1, self.C do w = math.max(w, #tostring(self.counts[t][p])) end
  end
  local lines = {pad_right("true \\ pred", label + 1)}
  for p = 1, self.C do lines[1] = lines[1] .. " " .. pad_left(cut(names[p], w), w) end
  for t = 1, self.C do
    local line = pad_right(names[t], label + 1)
    for p = 1, self.C do line = line .. " " .. pad_left(tostring(self.counts[t][p]), w) end
    lines[#lines + 1] = line
  end
  for i, l in ipairs(lines) do lines[i] = l:gsub("%s+$", "") end
  return table.concat(lines, "\n")
end

--- cm:report_text() -> the per-class table (precision, recall, f1, support), the averages, accuracy
-- and the notes, aligned as scikit-learn's classification_report
function Confusion:report_text()
  local r = report(self)
  local names, w = {}, #"weighted avg"
  for k, s in ipairs(self.classes) do names[k] = cell(s); w = math.max(w, width(names[k])) end
  local sw = math.max(7, #tostring(self.n))
  local function row(name, p, rc, f, s)
    local num = function(v) return v and ("%.4f"):format(v) or "" end
    return (pad_left(name, w) .. "  " .. pad_left(num(p), 9) .. "  " .. pad_left(num(rc), 9) .. "  "
            .. pad_left(num(f), 9) .. "  " .. pad_left(tostring(s), sw))
  end
  local lines = {pad_left("", w) .. "  " .. pad_left("precision", 9) .. "  " .. pad_left("recall", 9) .. "  "
                 .. pad_left("f1", 9) .. "  " .. pad_left("support", sw), ""}
  for k = 1, self.C do
    local p = r.per_class[k]
    lines[#lines + 1] = row(names[k], p.precision, p.recall, p.f1, p.support)
  end
  lines[#lines + 1] = ""
  lines[#lines + 1] = row("accuracy", nil, nil, r.accuracy, self.n)
  lines[#lines + 1] = row("macro avg", r.macro.precision, r.macro.recall, r.macro.f1, self.n)
  lines[#lines + 1] = row("weighted avg", r.weighted.precision, r.weighted.recall, r.weighted.f1, self.n)
  for _, n in ipairs(r.notes) do lines[#lines + 1] = "note: " .. cell(n) end
  return table.concat(lines, "\n")
end

function Confusion:__tostring()
  return ("confusion matrix, %d samples (rows: true class, columns: predicted)\n%s\n\n%s")
    :format(self.n, self:matrix_text(), self:report_text())
end

-- files -------------------------------------------------------------------------------------------------------

local function tsv(s) return (tostring(s):gsub("[%c]", " ")) end

--- cm:confusion_tsv() -> the matrix as TSV: a header `true\pred` then the predicted class names, then
-- one row per true class: its name and its counts
function Confusion:confusion_tsv()
  local head = {"true\\pred"}
  for p = 1, self.C do head[#head + 1] = tsv(self.classes[p]) end
  local lines = {table.concat(head, "\t")}
  for t = 1, self.C do
    local f = {tsv(self.classes[t])}
    for p = 1, self.C do f[#f + 1] = tostring(self.counts[t][p]) end
    lines[#lines + 1] = table.concat(f, "\t")
  end
  return table.concat(lines, "\n") .. "\n"
end

--- cm:metrics_tsv() -> the per-class table as TSV: `class precision recall f1 support`, one row per class,
-- then the rows `macro avg`, `weighted avg` and `accuracy` (whose precision, recall and f1 are the micro
-- averages, which equal the accuracy); numbers exactly (util.number_text)
function Confusion:metrics_tsv()
  local r = report(self)
  local num = util.number_text
  local lines = {"class\tprecision\trecall\tf1\tsupport"}
  local function add(name, p, rc, f, s)
    lines[#lines + 1] = table.concat({tsv(name), num(p), num(rc), num(f), tostring(s)}, "\t")
  end
  for k = 1, self.C do
    local p = r.per_class[k]
    add(self.classes[k], p.precision, p.recall, p.f1, p.support)
  end
  add("macro avg", r.macro.precision, r.macro.recall, r.macro.f1, self.n)
  add("weighted avg", r.weighted.precision, r.weighted.recall, r.weighted.f1, self.n)
  add("accuracy", r.accuracy, r.accuracy, r.accuracy, self.n)
  return table.concat(lines, "\n") .. "\n"
end

return M
