-- Specs for what ember.fit records in its checkpoints for `ember eval`: the model's spec (or why it has
-- none), the training data's classes and columns, and the `input` option; and ember eval reproducing the
-- accuracy of a model trained by ember.fit on the shipped digits.
local ember = require "ember"
local session = require "ember.session"
local h = dofile("tests/lua/spec_helper.lua")
local nn = ember.nn

local root

before_each(function()
  root = h.tmpdir()
  session.finish()
end)

after_each(function()
  session.current():close_runs()
  session.finish()
  h.rmdir(root)
end)

local ember_cli = h.cli

describe("ember.fit for ember eval", function()
  local function digits()
    local ds = ember.data.csv("experiments/data/digits.csv", {target = "label", classes = true})
    return ember.data.tensor_dataset(ds.x / 16, ds.y, ds)
  end

  it("records the model's spec, the data's classes and columns, and the input in its checkpoints", function()
    ember.manual_seed(3)
    local train = digits():subset(300)
    local model = nn.Sequential{nn.Linear(64, 10)}
    local run = ember.run{name = "fit_eval", runs = root .. "/runs"}
    ember.fit{model = model, loss = "cross_entropy", optimizer = ember.optim.sgd(model:parameters(), {lr = 0.5}),
              train = train, epochs = 2, batch = 50, run = run, input = {scale = 1 / 16}, quiet = true}
    run:finish()
    for _, f in ipairs{"best.ckpt", "last.ckpt"} do
      local ck = ember.load(run.dir .. "/" .. f)
      assert.are.same(model:spec(), ck.model_spec)
      assert.are.same({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, ck.data.classes)
      assert.are.equal(64, #ck.data.features)
      assert.are.same({"label"}, ck.data.target)
      assert.are.equal(1 / 16, ck.data.input.scale)
    end
    -- and ember eval reproduces the model's accuracy on the data prepared by hand
    local status, out = ember_cli("eval", {run.dir, "--data", "digits", "--term", "dumb"})
    assert.are.equal(0, status, out)
    local d = digits()
    local correct = ember.no_grad(function() return model:eval()(d.x):argmax(2):eq(d.y):sum():item() end)
    assert.are.equal(require("ember.util").number_text(correct / 1797), h.kv(run.dir .. "/eval/info.tsv").accuracy)
  end)

  it("records why a model could not describe itself, and refuses a bad input", function()
    local Net = nn.Module:extend("Net")
    function Net:init() self.fc = nn.Linear(64, 10) end
    function Net:forward(x) return self.fc(x) end
    local model = Net()
    local run = ember.run{name = "fit_eval2", runs = root .. "/runs"}
    local opt = ember.optim.sgd(model:parameters(), {lr = 0.1})
    ember.fit{model = model, loss = "cross_entropy", optimizer = opt, train = digits():subset(50), epochs = 1,
              batch = 50, run = run, quiet = true}
    local ck = ember.load(run.dir .. "/best.ckpt")
    assert.is_nil(ck.model_spec)
    assert.truthy(ck.model_spec_error:find("Net has no spec", 1, true))
    assert.are.equal("ember.fit: input.scale must be a finite non-zero number (got 0)",
      h.errmsg(ember.fit, {model = model, loss = "cross_entropy", optimizer = opt, train = digits(), epochs = 1,
                           batch = 50, input = {scale = 0}}))
    assert.truthy(h.errmsg(ember.fit, {model = model, loss = "cross_entropy", optimizer = opt, train = digits(),
                                       epochs = 1, batch = 50, input = {shape = {1, 8, 8}, sclae = 2}})
                  :find("ember.fit: input: unknown option 'sclae'", 1, true))
    run:finish()
  end)
end)
