-- Specs for ember.metrics: confusion matrices and per-class precision, recall and F1 against values
-- computed by hand, scikit-learn's zero_division=0 conventions for classes never predicted or never seen,
-- batches that add up to the whole, the printed table and the TSV files.
local ember = require "ember"
local h = dofile("tests/lua/spec_helper.lua")
local metrics = ember.metrics

local function near(a, b) assert.is_true(math.abs(a - b) < 1e-12, ("%.17g vs %.17g"):format(a, b)) end

-- 7 samples, 4 classes; class 4 is neither in the data nor predicted.
--   true: 1 2 3 2 1 1 2     pred: 1 2 3 3 1 2 2
local PRED, TRUE = {1, 2, 3, 3, 1, 2, 2}, {1, 2, 3, 2, 1, 1, 2}

describe("ember.metrics.confusion", function()
  it("counts rows as true classes and columns as predictions", function()
    local cm = metrics.confusion(ember.tensor(PRED), ember.tensor(TRUE), {"cat", "dog", "bird", "fish"})
    assert.are.same({{2, 1, 0, 0}, {0, 2, 1, 0}, {0, 0, 1, 0}, {0, 0, 0, 0}}, cm.counts)
    assert.are.equal(7, cm.n)
    assert.are.equal(4, cm.C)
    assert.are.same({"cat", "dog", "bird", "fish"}, cm.classes)
  end)

  it("gives precision, recall, F1 and support per class, computed by hand", function()
    local cm = metrics.confusion(PRED, TRUE, 4)
    local p = cm.per_class
    -- cat: tp 2, predicted 2, support 3
    near(p[1].precision, 1); near(p[1].recall, 2 / 3); near(p[1].f1, 0.8); assert.are.equal(3, p[1].support)
    -- dog: tp 2, predicted 3 (two dogs and a cat), support 3
    near(p[2].precision, 2 / 3); near(p[2].recall, 2 / 3); near(p[2].f1, 2 / 3)
    -- bird: tp 1, predicted 2, support 1
    near(p[3].precision, 0.5); near(p[3].recall, 1); near(p[3].f1, 2 / 3)
    assert.are.equal(2, p[3].predicted)
    near(cm.accuracy, 5 / 7)
    near(cm.macro.precision, (1 + 2 / 3 + 0.5 + 0) / 4)
    near(cm.macro.recall, (2 / 3 + 2 / 3 + 1 + 0) / 4)
    near(cm.macro.f1, (0.8 + 2 / 3 + 2 / 3 + 0) / 4)
    near(cm.weighted.precision, (3 * 1 + 3 * 2 / 3 + 1 * 0.5) / 7)
    near(cm.weighted.recall, 5 / 7)   -- support-weighted recall is the accuracy
    near(cm.weighted.f1, (3 * 0.8 + 3 * 2 / 3 + 2 / 3) / 7)
  end)

  it("defines the precision of a class never predicted as 0, and says so", function()
    -- class 2 is in the data but never predicted; class 3 is predicted but never in the data
    local cm = metrics.confusion({1, 1, 3, 1}, {1, 2, 1, 1}, {"a", "b", "c"})
    local p = cm.per_class
    assert.are.equal(0, p[2].precision); assert.are.equal(0, p[2].recall); assert.are.equal(0, p[2].f1)
    assert.are.equal(0, p[3].precision); assert.are.equal(0, p[3].recall); assert.are.equal(0, p[3].support)
    near(p[1].precision, 2 / 3); near(p[1].recall, 2 / 3)
    assert.are.equal(2, #cm.notes)
    assert.truthy(cm.notes[1]:find("never predicted, so precision 0 (as scikit-learn's zero_division=0): b", 1, true))
    assert.truthy(cm.notes[2]:find("no sample in the data, so recall 0", 1, true))
    assert.truthy(cm.notes[2]:find(": c$"))
    assert.truthy(tostring(cm):find("note: never predicted", 1, true))
  end)

  it("takes logits or probabilities (N, C): the largest score is the prediction", function()
    local logits = ember.tensor{{2, 1, 0}, {0, 3, 1}, {0, 0, 0.5}, {5, 0, 0}}
    local cm = metrics.confusion(logits, ember.tensor{{1}, {3}, {3}, {1}})
    assert.are.equal(3, cm.C)
    assert.are.same({{2, 0, 0}, {0, 0, 0}, {0, 1, 1}}, cm.counts)
  end)

  it("adds batches up to the matrix of the whole", function()
    local cm = metrics.Confusion.new({"a", "b", "c", "d"})
    cm:add(ember.tensor{1, 2, 3}, ember.tensor{1, 2, 3})
    near(cm.accuracy, 1)
    cm:add({3, 1, 2, 2}, {2, 1, 1, 2})
    assert.are.same(metrics.confusion(PRED, TRUE, 4).counts, cm.counts)
    near(cm.accuracy, 5 / 7)   -- the report follows the counts
  end)

  it("sizes the matrix from the data when classes are not given", function()
    assert.are.equal(5, metrics.confusion({1, 2}, {5, 1}).C)
    assert.are.same({"1", "2"}, metrics.confusion({1, 2}, {2, 1}).classes)
  end)

  it("refuses what is not a class index, naming the function and the value", function()
    assert.are.equal("ember.metrics.confusion: target[2] is 0: class indices are integers 1..3",
                     h.errmsg(metrics.confusion, {1, 2}, {1, 0}, 3))
    assert.are.equal("value", h.errkind(metrics.confusion, {1, 2.5}, {1, 1}, 3))
    assert.truthy(h.errmsg(metrics.confusion, {1, 4}, {1, 1}, 3):find("pred[2] is 4", 1, true))
    assert.are.equal("shape", h.errkind(metrics.confusion, {1, 2}, {1}, 3))
    assert.truthy(h.errmsg(metrics.confusion, ember.zeros(2, 4), {1, 1}, 3):find("scores for 4 classes, the matrix has 3"))
    assert.truthy(h.errmsg(metrics.confusion, ember.tensor{{0 / 0, 1}}, {1}, 2):find("NaN"))
    assert.are.equal("shape", h.errkind(metrics.confusion, ember.zeros(2, 2, 2), {1, 1}, 2))
    assert.are.equal("type", h.errkind(metrics.confusion, {1}, {1}, "three"))
    assert.are.equal("type", h.errkind(metrics.confusion, "1", {1}, 3))
  end)

  it("prints the matrix and the report aligned, with the class names", function()
    local cm = metrics.confusion(PRED, TRUE, {"cat", "dog", "bird", "fish\tx"})
    local lines = h.lines(tostring(cm) .. "\n")
    assert.are.equal("confusion matrix, 7 samples (rows: true class, columns: predicted)", lines[1])
    -- every column as wide as the widest name ("fish x", its tab shown as a space)
    assert.are.equal("true \\ pred    cat    dog   bird fish x", lines[2])
    assert.are.equal("cat              2      1      0      0", lines[3])
    local text = tostring(cm)
    assert.truthy(text:find("\n         cat     1.0000     0.6667     0.8000        3\n", 1, true))
    assert.truthy(text:find("\n    accuracy                           0.7143        7\n", 1, true))
    assert.truthy(text:find("\nweighted avg     0.7857     0.7143     0.7238        7", 1, true))
  end)

  it("writes the matrix and the metrics as TSV, numbers exactly", function()
    local cm = metrics.confusion(PRED, TRUE, {"cat", "dog", "bird", "fi\tsh"})
    assert.are.equal("true\\pred\tcat\tdog\tbird\tfi sh\ncat\t2\t1\t0\t0\ndog\t0\t2\t1\t0\nbird\t0\t0\t1\t0\n"
                     .. "fi sh\t0\t0\t0\t0\n", cm:confusion_tsv())
    local rows = h.lines(cm:metrics_tsv())
    assert.are.equal("class\tprecision\trecall\tf1\tsupport", rows[1])
    assert.are.equal("cat\t1\t0.6666666666666666\t0.8\t3", rows[2])
    assert.are.equal("fi sh\t0\t0\t0\t0", rows[5])
    assert.are.equal("accuracy\t0.7142857142857143\t0.7142857142857143\t0.7142857142857143\t7", rows[8])
    assert.are.equal(8, #rows)
  end)
end)
