-- Specs for ember.optim: trajectories of every optimizer and option on f(w) = (w - 3)^2 / 2 (gradient
-- w - 3, from autograd) checked against values computed by hand (arithmetic in the comments), L1 exact
-- zeros, param-group edits, groups with different options, state_dict round trips, clipping, errors,
-- and an end-to-end fit of y = 3x + 2 with each optimizer.
local ember = require "ember"
local optim = require "ember.optim"

local function close(expected, got, tol)
  tol = tol or 2e-6
  assert(math.abs(expected - got) <= tol,
         string.format("expected %.9g, got %.9g (tol %g)", expected, got, tol))
end

local errors_with = dofile("tests/lua/spec_helper.lua").errors_with

-- f(w) = (w - 3)^2 / 2 from w = 0: n steps of kind(config); returns the trajectory, the optimizer and w
local function quad(kind, config, n, w0)
  local w = ember.tensor{w0 or 0}:requires_grad()
  local opt = optim[kind]({w}, config)
  local traj = {}
  for i = 1, n do
    opt:zero_grad()
    local loss = ((w - 3) ^ 2 / 2):sum()
    loss:backward()
    opt:step()
    traj[i] = w:item()
  end
  return traj, opt, w
end

local function check_traj(expected, got, tol)
  assert.are.equal(#expected, #got)
  for i = 1, #expected do close(expected[i], got[i], tol) end
end

-- steps with the given gradient sequence (set by hand) from w = w0
local function with_grads(kind, config, grads, w0)
  local w = ember.tensor{w0 or 0}:requires_grad()
  local opt = optim[kind]({w}, config)
  local traj = {}
  for i, g in ipairs(grads) do
    w.grad = ember.tensor{g}
    opt:step()
    traj[i] = w:item()
  end
  return traj, opt, w
end

describe("optim.sgd trajectories", function()
  it("plain: w <- w - lr g", function()
    -- lr 0.1: w1 = 0 + 0.1 * 3 = 0.3; w2 = 0.3 + 0.1 * 2.7 = 0.57; w3 = 0.57 + 0.1 * 2.43 = 0.813
    check_traj({0.3, 0.57, 0.813}, (quad("sgd", {lr = 0.1}, 3)))
  end)

  it("momentum: the buffer starts as the first gradient", function()
    -- lr 0.1, momentum 0.9: b1 = -3, w1 = 0.3
    -- g2 = -2.7: b2 = 0.9 * -3 - 2.7 = -5.4, w2 = 0.3 + 0.54 = 0.84
    -- g3 = -2.16: b3 = 0.9 * -5.4 - 2.16 = -7.02, w3 = 0.84 + 0.702 = 1.542
    local traj, opt, w = quad("sgd", {lr = 0.1, momentum = 0.9}, 3)
    check_traj({0.3, 0.84, 1.542}, traj)
    close(-7.02, opt.state[w].momentum_buffer:item())
    assert.are.equal(3, opt.state[w].step)
  end)

  it("dampening scales the new gradient from the second step on", function()
    -- lr 0.1, momentum 0.9, dampening 0.5: b1 = g1 = -3 (no dampening on the first step), w1 = 0.3
    -- g2 = -2.7: b2 = 0.9 * -3 + 0.5 * -2.7 = -4.05, w2 = 0.3 + 0.405 = 0.705
    -- g3 = -2.295: b3 = 0.9 * -4.05 + 0.5 * -2.295 = -4.7925, w3 = 0.705 + 0.47925 = 1.18425
    check_traj({0.3, 0.705, 1.18425}, (quad("sgd", {lr = 0.1, momentum = 0.9, dampening = 0.5}, 3)))
  end)

  it("nesterov: steps along g + momentum * b", function()
    -- b1 = -3, d1 = -3 + 0.9 * -3 = -5.7, w1 = 0.57
    -- g2 = -2.43: b2 = -2.7 - 2.43 = -5.13, d2 = -2.43 - 4.617 = -7.047, w2 = 0.57 + 0.7047 = 1.2747
    -- g3 = -1.7253: b3 = -4.617 - 1.7253 = -6.3423, d3 = -1.7253 - 5.70807 = -7.43337, w3 = 2.018037
    check_traj({0.57, 1.2747, 2.018037}, (quad("sgd", {lr = 0.1, momentum = 0.9, nesterov = true}, 3)))
  end)

  it("coupled weight decay adds weight_decay * w to the gradient", function()
    -- wd 0.5: d = (w - 3) + 0.5 w = 1.5 w - 3; w1 = 0.3; d2 = 0.45 - 3 = -2.55, w2 = 0.555
    -- d3 = 0.8325 - 3 = -2.1675, w3 = 0.555 + 0.21675 = 0.77175
    check_traj({0.3, 0.555, 0.77175}, (quad("sgd", {lr = 0.1, weight_decay = 0.5}, 3)))
  end)

  it("maximize climbs -f along the same path as minimizing f", function()
    -- loss -(w - 3)^2 / 2 has gradient 3 - w; maximize negates it to w - 3: 0.3, 0.57, 0.813
    local w = ember.tensor{0}:requires_grad()
    local opt = optim.sgd({w}, {lr = 0.1, maximize = true})
    local traj = {}
    for i = 1, 3 do
      opt:zero_grad()
      ;(-((w - 3) ^ 2 / 2)):sum():backward()
      opt:step()
      traj[i] = w:item()
    end
    check_traj({0.3, 0.57, 0.813}, traj)
  end)
end)

describe("optim.adam and adamw trajectories", function()
  it("adam with the default betas", function()
    -- lr 0.1. g1 = -3: m = -0.3, v = 0.001 * 9 = 0.009; m^ = -3, v^ = 9; w1 = 0.1 * 3 / (3 + 1e-8) = 0.1
    -- g2 = -2.9: m = -0.27 - 0.29 = -0.56; v = 0.008991 + 0.00841 = 0.017401
    --   m^ = -0.56 / 0.19 = -2.947368; v^ = 0.017401 / 0.001999 = 8.704852, sqrt 2.950399
    --   w2 = 0.1 + 0.1 * 2.947368 / 2.950399 = 0.199897292
    -- g3 = -2.800103: m = -0.784010; v = 0.025224174; bc1 = 0.271, bc2 = 0.002997001
    --   w3 = 0.199897 + 0.1 * 2.893027 / 2.901130 = 0.299618476
    local traj, opt, w = quad("adam", {lr = 0.1}, 3)
    check_traj({0.0999999997, 0.199897292, 0.299618476}, traj)
    local s = opt.state[w]
    assert.are.equal(3, s.step)
    close(-0.784010271, s.exp_avg:item())
    close(0.0252241742, s.exp_avg_sq:item(), 1e-8)
    assert.is_nil(s.max_exp_avg_sq)
  end)

  it("adam's weight_decay is coupled, adamw's decoupled", function()
    -- wd 0.5, lr 0.1. Step 1 is the same for both (w0 = 0): w1 = 0.1
    -- adam:  g2 = (0.1 - 3) + 0.5 * 0.1 = -2.85; m = -0.27 - 0.285 = -0.555; v = 0.008991 + 0.00081225 * 10
    --        = 0.0171135; w2 = 0.1 + 0.1 * (0.555 / 0.19) / sqrt(0.0171135 / 0.001999) = 0.199833514
    -- adamw: w <- 0.1 * (1 - 0.1 * 0.5) = 0.095 first, then the plain Adam step of g2 = -2.9 (0.0998973)
    --        w2 = 0.095 + 0.0998973 = 0.194897292
    check_traj({0.0999999997, 0.199833514}, (quad("adam", {lr = 0.1, weight_decay = 0.5}, 2)))
    check_traj({0.0999999997, 0.194897292}, (quad("adamw", {lr = 0.1, weight_decay = 0.5}, 2)))
  end)

  it("adamw defaults to weight_decay 0.01", function()
    local _, opt = quad("adamw", {}, 1)
    assert.are.equal(0.01, opt.param_groups[1].weight_decay)
    assert.are.equal(0, optim.adam({ember.zeros(1)}).param_groups[1].weight_decay)
  end)

  it("amsgrad keeps the largest second moment", function()
    -- eps 0, lr 0.1, gradients 1, 0, 0.5 from w = 0:
    -- step 1: m = 0.1, v = 0.001; w1 = -0.1 * 1 / 1 = -0.1
    -- step 2: m = 0.09, v = 0.000999 < vmax 0.001; w2 = -0.1 - 0.1 * (0.09 / 0.19) / sqrt(0.001 / 0.001999)
    --         = -0.166972314 (plain Adam: sqrt(0.000999 / 0.001999) gives -0.167005825)
    -- step 3: m = 0.131, v = 0.001248001 (the new max); w3 = -0.241882001 (plain: -0.241915512)
    local traj, opt, w = with_grads("adam", {lr = 0.1, eps = 0, amsgrad = true}, {1, 0, 0.5})
    check_traj({-0.1, -0.166972314, -0.241882001}, traj)
    close(0.001248001, opt.state[w].max_exp_avg_sq:item(), 1e-9)
    check_traj({-0.1, -0.167005825, -0.241915512}, (with_grads("adam", {lr = 0.1, eps = 0}, {1, 0, 0.5})))
  end)

  it("betas and eps are used as given", function()
    -- betas {0.5, 0.5}, eps 1, lr 1, g = 2: m = 1, v = 2; m^ = 2, v^ = 4; w = -2 / (2 + 1) = -0.666667
    check_traj({-2 / 3}, (with_grads("adam", {lr = 1, betas = {0.5, 0.5}, eps = 1}, {2})))
  end)
end)

describe("optim.rmsprop trajectories", function()
  it("plain", function()
    -- lr 0.01, alpha 0.99: g1 = -3: sq = 0.09, avg = 0.3; w1 = 0.01 * 3 / 0.3 = 0.1
    -- g2 = -2.9: sq = 0.0891 + 0.0841 = 0.1732, avg = 0.416173; w2 = 0.1 + 0.029 / 0.416173 = 0.169682548
    check_traj({0.0999999967, 0.169682548}, (quad("rmsprop", {lr = 0.01}, 2)))
  end)

  it("centered with momentum", function()
    -- g1 = -3: sq = 0.09, ga = -0.03, avg = sqrt(0.09 - 0.0009) = 0.298496241
    --   b1 = -3 / 0.298496 = -10.0503778, w1 = 0.100503778
    -- g2 = -2.899496: sq = 0.1731708, ga = -0.0586950, avg = sqrt(0.1731708 - 0.0034451) = 0.411977782
    --   b2 = 0.5 * -10.0503778 - 7.0380 = -12.0631806, w2 = 0.100503778 + 0.120631806 = 0.221135584
    local traj, opt, w = quad("rmsprop", {lr = 0.01, centered = true, momentum = 0.5}, 2)
    check_traj({0.100503778, 0.221135584}, traj)
    close(-12.0631806, opt.state[w].momentum_buffer:item(), 1e-5)
    close(-0.0586949622, opt.state[w].grad_avg:item())
  end)

  it("weight_decay is coupled", function()
    -- wd 1, lr 0.01, w0 = 1, g = 0 (set by hand): d = 0 + 1 * 1 = 1; sq = 0.01, avg = 0.1; w = 1 - 0.1 = 0.9
    check_traj({0.9}, (with_grads("rmsprop", {lr = 0.01, weight_decay = 1}, {0}, 1)))
  end)
end)

describe("optim.adagrad trajectories", function()
  it("plain", function()
    -- lr 0.1: g1 = -3: sum = 9, w1 = 0.1 * 3 / 3 = 0.1
    -- g2 = -2.9: sum = 17.41, w2 = 0.1 + 0.1 * 2.9 / 4.172529 = 0.16950221
    check_traj({0.1, 0.16950221}, (quad("adagrad", {lr = 0.1}, 2)))
  end)

  it("lr_decay divides lr by 1 + (step - 1) * lr_decay", function()
    -- lr_decay 0.5: step 2 uses lr 0.1 / 1.5: w2 = 0.1 + 0.0666667 * 2.9 / 4.172529 = 0.146334806
    check_traj({0.1, 0.146334806}, (quad("adagrad", {lr = 0.1, lr_decay = 0.5}, 2)))
  end)

  it("initial_accumulator_value starts the sum", function()
    -- init 1: sum1 = 1 + 9 = 10, w1 = 0.3 / sqrt(10) = 0.0948683298
    -- g2 = -2.905132: sum2 = 18.43979, w2 = 0.0948683 + 0.2905132 / 4.294158 = 0.162521451
    local traj, opt, w = quad("adagrad", {lr = 0.1, initial_accumulator_value = 1}, 2)
    check_traj({0.0948683298, 0.162521451}, traj)
    close(18.43979, opt.state[w].sum:item(), 1e-5)
  end)
end)

describe("optim l1 (proximal soft threshold)", function()
  it("lands exactly on zero where the optimum is sparse", function()
    -- f(w) = (w1 - 3)^2 / 2 + (w2 - 0.05)^2 / 2 + 0.1 (|w1| + |w2|): optimum w1 = 2.9, w2 = 0 exactly
    -- (|0.05| < 0.1). lr 0.5: each step w <- soft(w - 0.5 (w - c), 0.05)
    local w = ember.tensor{0, 1}:requires_grad()
    local c = ember.tensor{3, 0.05}
    local opt = optim.sgd({w}, {lr = 0.5, l1 = 0.1})
    local zero_at
    for i = 1, 60 do
      opt:zero_grad()
      ;(((w - c) ^ 2) / 2):sum():backward()
      opt:step()
      if not zero_at and w:totable()[2] == 0 then zero_at = i end
    end
    local v = w:totable()
    assert.are.equal(0, v[2])          -- exactly zero, not merely small
    close(2.9, v[1], 1e-5)
    -- w2: 1 -> soft(0.525, 0.05) = 0.475 -> 0.2375... reaches 0 once 0.5 w + 0.025 <= 0.05, then stays
    assert.is_truthy(zero_at and zero_at <= 6, "w2 reached 0 at step " .. tostring(zero_at))
  end)

  it("the same penalty as a loss term only hovers around zero", function()
    local w = ember.tensor{0, 1}:requires_grad()
    local c = ember.tensor{3, 0.05}
    local opt = optim.sgd({w}, {lr = 0.5})
    for _ = 1, 60 do
      opt:zero_grad()
      ;((((w - c) ^ 2) / 2):sum() + w:abs():sum() * 0.1):backward()
      opt:step()
    end
    assert.are_not.equal(0, w:totable()[2])
  end)

  for _, kind in ipairs({"sgd", "adam", "adamw", "rmsprop", "adagrad"}) do
    it(kind .. " applies it after its update", function()
      -- zero gradient: every update is 0 (adamw's decay is off), so only the threshold lr * l1 = 0.01
      -- acts: {0.004, -0.004, 2} -> {0, 0, 1.99}
      local w = ember.tensor{0.004, -0.004, 2}:requires_grad()
      local config = {lr = 0.1, l1 = 0.1}
      if kind == "adamw" then config.weight_decay = 0 end
      local opt = optim[kind]({w}, config)
      w.grad = ember.zeros(3)
      opt:step()
      local v = w:totable()
      assert.are.equal(0, v[1])
      assert.are.equal(0, v[2])
      close(1.99, v[3])
    end)
  end
end)

describe("optim param groups", function()
  it("an lr edit takes effect on the next step", function()
    -- lr 0.1: w1 = 0.3; then lr 0.01: w2 = 0.3 + 0.01 * 2.7 = 0.327
    local w = ember.tensor{0}:requires_grad()
    local opt = optim.sgd({w}, {lr = 0.1})
    local function step()
      opt:zero_grad()
      ;((w - 3) ^ 2 / 2):sum():backward()
      opt:step()
      return w:item()
    end
    close(0.3, step())
    for _, g in ipairs(opt.param_groups) do g.lr = g.lr * 0.1 end
    close(0.327, step())
    -- any option: momentum switched on now starts its buffer from this gradient (-2.673)
    opt.param_groups[1].momentum = 0.9
    close(0.327 + 0.01 * 2.673, step())
  end)

  it("a schedule's lr reaches the next step", function()
    local w = ember.tensor{0}:requires_grad()
    local opt = optim.sgd({w}, {lr = 0.1})
    local sched = ember.schedule.step{optimizer = opt, step_size = 1, gamma = 0.5}
    w.grad = ember.tensor{-3}; opt:step()            -- w = 0.3
    sched:step()                                       -- lr 0.05
    w.grad = ember.tensor{-2.7}; opt:step()          -- w = 0.3 + 0.05 * 2.7 = 0.435
    close(0.435, w:item())
  end)

  it("a bad edit is caught at the next step", function()
    local opt = optim.sgd({ember.zeros(1)}, {lr = 0.1})
    opt.param_groups[1].lr = -1
    errors_with("optim.sgd:step: param group 1: lr must be a finite number >= 0 (got -1)", opt.step, opt)
    opt.param_groups[1].lr = nil
    errors_with("optim.sgd:step: param group 1: lr is required", opt.step, opt)
  end)

  it("two groups with different options (no decay on biases)", function()
    -- both start at 0 with gradient (x - 3); weights decay 0.5: 0.3, 0.555 (as the coupled decay test);
    -- the bias group has weight_decay 0 and lr 0.2: 0.6, 0.6 + 0.2 * 2.4 = 1.08
    local w, b = ember.tensor{0}:requires_grad(), ember.tensor{0}:requires_grad()
    local opt = optim.sgd({{params = {w}}, {params = {b}, weight_decay = 0, lr = 0.2}},
                          {lr = 0.1, weight_decay = 0.5})
    assert.are.equal(2, #opt.param_groups)
    assert.are.equal(0.5, opt.param_groups[1].weight_decay)
    assert.are.equal(0.1, opt.param_groups[1].lr)
    assert.are.equal(0, opt.param_groups[2].weight_decay)
    local wt, bt = {}, {}
    for i = 1, 2 do
      opt:zero_grad()
      ;((w - 3) ^ 2 / 2 + (b - 3) ^ 2 / 2):sum():backward()
      opt:step()
      wt[i], bt[i] = w:item(), b:item()
    end
    check_traj({0.3, 0.555}, wt)
    check_traj({0.6, 1.08}, bt)
  end)

  it("add_param_group uses the defaults for options it does not give", function()
    local w, b = ember.tensor{0}:requires_grad(), ember.tensor{0}:requires_grad()
    local opt = optim.adam({w}, {lr = 0.5})
    opt:add_param_group{params = {b}, betas = {0.5, 0.5}}
    assert.are.equal(0.5, opt.param_groups[2].lr)
    assert.are.equal(0.5, opt.param_groups[2].betas[1])
    local c = ember.tensor{0}:requires_grad()
    errors_with("optim.adam:add_param_group: param group 3: a parameter [1] appears in more than one param group",
                opt.add_param_group, opt, {params = {c, w}})
    assert.are.equal(2, #opt.param_groups)
    opt:add_param_group{params = {c}}                -- the refused call did not claim c
    assert.are.equal(3, #opt.param_groups)
  end)

  it("skips parameters whose grad is nil", function()
    local w, b = ember.tensor{1}:requires_grad(), ember.tensor{1}:requires_grad()
    local opt = optim.adam({w, b}, {lr = 0.1})
    w.grad = ember.tensor{1}
    opt:step()
    close(0.9, w:item())
    assert.are.equal(1, b:item())
    assert.is_nil(opt.state[b])
    assert.are.equal(1, opt.state[w].step)
  end)
end)

describe("optim config and state", function()
  it("never writes the user's config or group tables", function()
    local w = ember.tensor{0}:requires_grad()
    local config = {lr = 0.1, betas = {0.9, 0.999}}
    local group = {params = {w}, eps = 1e-6}
    local opt = optim.adam({group}, config)
    opt.param_groups[1].betas[1] = 0.5
    opt.param_groups[1].lr = 0.3
    for _ = 1, 3 do
      opt:zero_grad()
      ;((w - 3) ^ 2):sum():backward()
      opt:step()
    end
    local n = 0
    for _ in pairs(config) do n = n + 1 end
    assert.are.equal(2, n)
    assert.are.equal(0.1, config.lr)
    assert.are.equal(0.9, config.betas[1])
    assert.are.equal(2, #config.betas)
    n = 0
    for _ in pairs(group) do n = n + 1 end
    assert.are.equal(2, n)
    assert.are.equal(1e-6, group.eps)
    assert.are.equal(1, #group.params)
  end)

  it("zero_grad sets grads to nil, or to zeros with false", function()
    local w = ember.tensor{1, 2}:requires_grad()
    local opt = optim.sgd({w}, {lr = 0.1})
    w.grad = ember.tensor{3, 4}
    opt:zero_grad(false)
    assert.are.same({0, 0}, w.grad:totable())
    opt:zero_grad()
    assert.is_nil(w.grad)
  end)

  it("step(closure) evaluates the loss with grad mode on and returns it", function()
    local w = ember.tensor{0}:requires_grad()
    local opt = optim.sgd({w}, {lr = 0.1})
    local loss = ember.no_grad(function()
      return opt:step(function()
        opt:zero_grad()
        local l = ((w - 3) ^ 2 / 2):sum()
        l:backward()
        return l
      end)
    end)
    close(4.5, loss:item())
    close(0.3, w:item())
    errors_with("optim.sgd:step: closure must be a function (got 3)", opt.step, opt, 3)
  end)

  local function resume_test(kind, config, via_file)
    -- uninterrupted: 6 steps; resumed: 3 steps, state_dict, a new optimizer on a copy, 3 more steps
    local function loss_of(w) return ((w - 3) ^ 2 / 2 + (w * w):sum() * 0.01):sum() end
    local w = ember.tensor{0, 1}:requires_grad()
    local opt = optim[kind]({w}, config)
    local full = {}
    for i = 1, 6 do
      opt:zero_grad(); loss_of(w):backward(); opt:step()
      full[i] = w:totable()
    end
    local v = ember.tensor{0, 1}:requires_grad()
    local o1 = optim[kind]({v}, config)
    for _ = 1, 3 do o1:zero_grad(); loss_of(v):backward(); o1:step() end
    local sd = o1:state_dict()
    if via_file then
      local path = os.tmpname()
      ember.save(path, {optimizer = sd})
      sd = ember.load(path).optimizer
      os.remove(path)
    end
    local v2 = v:detach():clone():requires_grad()
    local o2 = optim[kind]({v2}, config)
    o2:load_state_dict(sd)
    for i = 4, 6 do
      o2:zero_grad(); loss_of(v2):backward(); o2:step()
      assert.are.same(full[i], v2:totable())    -- bit-identical
    end
  end

  for _, c in ipairs({
    {"sgd", {lr = 0.1, momentum = 0.9, nesterov = true}},
    {"adam", {lr = 0.1, amsgrad = true}},
    {"adamw", {lr = 0.1}},
    {"rmsprop", {lr = 0.01, centered = true, momentum = 0.5}},
    {"adagrad", {lr = 0.1, lr_decay = 0.1, initial_accumulator_value = 0.5}},
  }) do
    it("state_dict round trip continues " .. c[1] .. " bit for bit", function() resume_test(c[1], c[2]) end)
  end

  it("state_dict survives ember.save / ember.load", function()
    resume_test("adam", {lr = 0.1, amsgrad = true}, true)
    resume_test("sgd", {lr = 0.1, momentum = 0.9}, true)
  end)

  it("state_dict holds clones, step counts, indices and the group options", function()
    local w, b = ember.tensor{0}:requires_grad(), ember.tensor{0}:requires_grad()
    local opt = optim.adam({{params = {w}}, {params = {b}, lr = 0.5}}, {lr = 0.1})
    b.grad = ember.tensor{1}
    opt:step()
    opt.param_groups[1].lr = 0.25
    local sd = opt:state_dict()
    assert.are.equal("adam", sd.optimizer)
    assert.is_nil(sd.state[1])                       -- w had no gradient: no state
    assert.are.equal(1, sd.state[2].step)
    assert.are.same({1}, sd.param_groups[1].params)
    assert.are.same({2}, sd.param_groups[2].params)
    assert.are.equal(0.25, sd.param_groups[1].lr)
    sd.param_groups[1].initial_lr = 0.3              -- keys that are not options come back as they were
    local m = sd.state[2].exp_avg:item()
    opt:step()                                       -- moves the live buffer, not the saved one
    assert.are.equal(m, sd.state[2].exp_avg:item())
    -- loading restores the options into the same group tables
    local g1 = opt.param_groups[1]
    g1.lr = 9
    opt:load_state_dict(sd)
    assert.are.equal(g1, opt.param_groups[1])
    assert.are.equal(0.25, g1.lr)
    assert.are.equal(0.3, g1.initial_lr)
    assert.are.equal(1, opt.state[b].step)
    assert.is_nil(opt.state[w])
  end)

  it("load_state_dict checks what it is given", function()
    local w = ember.tensor{0, 0}:requires_grad()
    local opt = optim.adam({w}, {lr = 0.1})
    w.grad = ember.tensor{1, 1}
    opt:step()
    local sd = opt:state_dict()
    errors_with("optim.sgd:load_state_dict: the state is from optim.adam, not optim.sgd",
                optim.sgd({w}, {lr = 1}).load_state_dict, optim.sgd({ember.zeros(1)}, {lr = 1}), sd)
    local other = optim.adam({ember.zeros(3)})
    errors_with("optim.adam:load_state_dict: state[1].exp_avg has shape [2] but the parameter has shape [3]",
                other.load_state_dict, other, sd)
    local two = optim.adam({{params = {ember.zeros(2)}}, {params = {ember.zeros(1)}}})
    errors_with("the state has 1 param groups but the optimizer has 2", two.load_state_dict, two, sd)
    errors_with("expected a table from opt:state_dict()", opt.load_state_dict, opt, 5)
    sd.state[1].exp_avg_sq = nil
    errors_with("state[1].exp_avg_sq must be a tensor (got nil)", opt.load_state_dict, opt, sd)
  end)
end)

describe("optim argument errors", function()
  local w = ember.tensor{0}:requires_grad()
  it("name the optimizer, the option and the value", function()
    errors_with("optim.sgd: lr is required", optim.sgd, {w}, {})
    errors_with("optim.sgd: lr must be a finite number >= 0 (got -1)", optim.sgd, {w}, {lr = -1})
    errors_with("optim.sgd: momentum must be a finite number >= 0 (got -0.5)", optim.sgd, {w},
                {lr = 0.1, momentum = -0.5})
    errors_with("optim.sgd: nesterov = true requires momentum > 0 and dampening = 0 (got momentum 0, dampening 0)",
                optim.sgd, {w}, {lr = 0.1, nesterov = true})
    errors_with("optim.sgd: nesterov = true requires momentum > 0 and dampening = 0 (got momentum 0.9, dampening 0.1)",
                optim.sgd, {w}, {lr = 0.1, momentum = 0.9, dampening = 0.1, nesterov = true})
    errors_with("optim.adam: betas[1] must be a number in [0, 1) (got 1)", optim.adam, {w}, {betas = {1, 0.999}})
    errors_with("optim.adamw: betas[2] must be a number in [0, 1) (got -0.1)", optim.adamw, {w},
                {betas = {0.9, -0.1}})
    errors_with("optim.adam: betas must be a list of two numbers in [0, 1) (got 1 values)", optim.adam, {w},
                {betas = {0.9}})
    errors_with("optim.adam: eps must be a finite number >= 0 (got nan)", optim.adam, {w}, {eps = 0 / 0})
    errors_with('optim.adam: amsgrad must be true or false (got "yes")', optim.adam, {w}, {amsgrad = "yes"})
    errors_with("optim.adam: weight_decay must be a finite number >= 0 (got inf)", optim.adam, {w},
                {weight_decay = math.huge})
    errors_with("optim.rmsprop: alpha must be a number in [0, 1] (got 1.5)", optim.rmsprop, {w}, {alpha = 1.5})
    errors_with("optim.adagrad: lr_decay must be a finite number >= 0 (got -1)", optim.adagrad, {w},
                {lr_decay = -1})
    errors_with("optim.adagrad: l1 must be a finite number >= 0 (got -0.1)", optim.adagrad, {w}, {l1 = -0.1})
    errors_with('optim.adam: unknown option "momentum" (options: lr, betas, eps, weight_decay, amsgrad, '
                .. 'maximize, l1)', optim.adam, {w}, {momentum = 0.9})
    errors_with("optim.sgd: param group 2: lr must be a finite number >= 0 (got -2)", optim.sgd,
                {{params = {w}}, {params = {ember.zeros(1)}, lr = -2}}, {lr = 0.1})
    errors_with("optim.sgd: param group 1: a group table needs params", optim.sgd, {{lr = 0.1}})
    errors_with("optim.adam: config must be a table of options", optim.adam, {w}, 0.1)
  end)

  it("check the parameters", function()
    errors_with("optim.sgd: params[2] is not a tensor (got 1)", optim.sgd, {w, 1}, {lr = 0.1})
    errors_with("optim.adam: params is an empty list", optim.adam, {})
    errors_with("optim.adam: params must be a list of tensors (got nil)", optim.adam, nil)
    errors_with("optim.sgd: params[1] is not a leaf tensor", optim.sgd, {w * 2}, {lr = 0.1})
    errors_with("optim.sgd: a parameter [1] appears in more than one param group", optim.sgd, {w, w}, {lr = 0.1})
    errors_with("optim.sgd: param group 2: a parameter [1] appears in more than one param group", optim.sgd,
                {{params = {w}}, {params = {w}}}, {lr = 0.1})
  end)

  it("get finds constructors by name", function()
    assert.are.equal(optim.adam, optim.get("adam"))
    assert.are.equal(optim.rmsprop, optim.get("RMSprop"))
    errors_with('optim.get: unknown optimizer "adm" (known: adagrad, adam, adamw, rmsprop, sgd)', optim.get, "adm")
    assert.is_true(optim.is_optimizer(optim.sgd({w}, {lr = 1})))
    assert.is_false(optim.is_optimizer({}))
  end)
end)

describe("optim gradient clipping", function()
  local function params(ga, gb)
    local a, b, c = ember.zeros(2):requires_grad(), ember.zeros(1):requires_grad(), ember.zeros(3)
    a.grad, b.grad = ember.tensor(ga), ember.tensor(gb)
    return {a, b, c}, a, b
  end

  it("clip_grad_norm returns the 2-norm and scales above max_norm", function()
    -- grads [3, 4] and [12]: sqrt(9 + 16 + 144) = 13; max_norm 6.5 scales by 6.5 / 13 -> [1.5, 2], [6]
    local ps, a, b = params({3, 4}, {12})
    assert.are.equal(13, optim.clip_grad_norm(ps, 100))
    assert.are.same({3, 4}, a.grad:totable())            -- under max_norm: untouched
    close(13, optim.clip_grad_norm(ps, 6.5), 1e-12)
    close(1.5, a.grad:totable()[1]); close(2, a.grad:totable()[2]); close(6, b.grad:item())
    close(6.5, optim.grad_norm(ps), 1e-5)
  end)

  it("the C functions behind them take the 2-norm when no norm type is given, as PyTorch", function()
    local ps, a = params({3, 4}, {12})
    assert.are.equal(13, ember._grad_norm(ps))
    close(13, ember._clip_grad_norm(ps, 6.5), 1e-12)
    close(1.5, a.grad:totable()[1])
    ps = params({3, 4}, {12})
    ember._clip_grad_value(ps, 3.5)
    assert.are.same({3, 3.5}, ps[1].grad:totable())
  end)

  it("clip_grad_norm with the inf norm and other orders", function()
    -- inf norm of [3, -4], [2] is 4; max_norm 2 halves every gradient: [1.5, -2], [1]
    local ps, a, b = params({3, -4}, {2})
    assert.are.equal(4, optim.clip_grad_norm(ps, 2, "inf"))
    close(1.5, a.grad:totable()[1]); close(-2, a.grad:totable()[2]); close(1, b.grad:item())
    close(2, optim.clip_grad_norm(ps, 10, math.huge), 1e-6)
    -- 1-norm 1.5 + 2 + 1 = 4.5
    close(4.5, optim.clip_grad_norm(ps, 10, 1), 1e-5)
    -- the group list of an optimizer works too
    local opt = optim.sgd(ps, {lr = 1})
    close(4.5, optim.grad_norm(opt.param_groups, 1), 1e-5)
  end)

  it("a non-finite norm leaves the gradients alone, or raises with error_if_nonfinite", function()
    local ps, a, b = params({0 / 0, 1}, {2})
    local n = optim.clip_grad_norm(ps, 1)
    assert.is_true(n ~= n)
    assert.are.equal(2, b.grad:item())
    errors_with("optim.clip_grad_norm: the total norm of order 2 of the gradients is", optim.clip_grad_norm, ps, 1,
                {error_if_nonfinite = true})
    errors_with("of order inf of the gradients is", optim.clip_grad_norm, ps, 1, "inf", {error_if_nonfinite = true})
    assert.are.equal(2, b.grad:item())
    assert.is_true(a.grad:totable()[1] ~= a.grad:totable()[1])
  end)

  it("clip_grad_value clamps every element", function()
    local ps, a, b = params({3, -0.5}, {-12})
    optim.clip_grad_value(ps, 1)
    assert.are.same({1, -0.5}, a.grad:totable())
    assert.are.equal(-1, b.grad:item())
  end)

  it("checks its arguments", function()
    local ps = params({1, 1}, {1})
    errors_with("optim.clip_grad_norm: max_norm must be a finite number >= 0 (got -1)", optim.clip_grad_norm, ps, -1)
    errors_with("optim.clip_grad_norm: norm_type must be a number > 0 or inf (got 0)", optim.clip_grad_norm, ps, 1, 0)
    errors_with("optim.clip_grad_norm: params[1] is not a tensor (got 5)", optim.clip_grad_norm, {5}, 1)
    errors_with("optim.clip_grad_value: clip_value must be a finite number >= 0 (got nil)", optim.clip_grad_value, ps)
  end)
end)

describe("optim end to end", function()
  -- y = 3x + 2 on 9 points in [-1, 1]: every optimizer must find w = 3, b = 2
  local x = ember.tensor{-1, -0.75, -0.5, -0.25, 0, 0.25, 0.5, 0.75, 1}
  local y = x * 3 + 2
  for _, c in ipairs({
    {"sgd", {lr = 0.1, momentum = 0.9}, 300},
    {"sgd", {lr = 0.1, momentum = 0.9, nesterov = true}, 300},
    {"adam", {lr = 0.1}, 500},
    {"adam", {lr = 0.1, amsgrad = true}, 500},
    {"adamw", {lr = 0.1, weight_decay = 0}, 500},
    {"rmsprop", {lr = 0.01, momentum = 0.5, centered = true}, 800},
    {"adagrad", {lr = 0.5}, 800},
  }) do
    it(c[1] .. " " .. (c[2].momentum and "with momentum " or "") .. "fits y = 3x + 2", function()
      local w, b = ember.zeros(1):requires_grad(), ember.zeros(1):requires_grad()
      local opt = optim[c[1]]({w, b}, c[2])
      local loss
      for _ = 1, c[3] do
        opt:zero_grad()
        loss = ((x * w + b - y) ^ 2):mean()
        loss:backward()
        opt:step()
      end
      close(3, w:item(), 1e-2)
      close(2, b:item(), 1e-2)
      assert.is_true(loss:item() < 1e-4)
    end)
  end
end)
