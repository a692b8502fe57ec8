-- ember.repl.docs: what help shows that no Lua doc comment says: the documentation of the functions
-- and tensor methods written in C, as users call them; a line for each public module; and where in
-- docs/api.md each name is written about at more length.
local M = {}

M.API = "docs/api.md"

--- docs.MODULES: the public modules, each with the line help shows for it and its section of
-- docs/api.md (titles exactly as there; the spec checks that they still are)
M.MODULES = {
  ["ember.nn"] = {"Layers: `ember.nn`", "ember.nn: layers (Linear, Conv2d, pooling, activations, Dropout, BatchNorm, " ..
    "Sequential),\nthe nn.Module base class for your own models, initialisers (nn.init) and weight penalties."},
  ["ember.loss"] = {"Losses: `ember.loss`", "ember.loss: loss functions, each ember.loss.NAME(input, target [, opts]) " ..
    "-> tensor,\nmatching PyTorch's loss of the same name; opts.reduction is \"mean\" (default), \"sum\" or \"none\"."},
  ["ember.optim"] = {"Optimizers: `ember.optim`", "ember.optim: optimizers (sgd, adam, adamw, rmsprop, adagrad) " ..
    "over a list of tensors or\nparameter groups, an L1 proximal step for all of them, and gradient clipping."},
  ["ember.schedule"] = {"Learning-rate schedules: `ember.schedule`", "ember.schedule: learning-rate schedules " ..
    "(PyTorch's lr_scheduler family) that compose\n(sequence, chain) and resume exactly; call sched:step() after opt:step()."},
  ["ember.stop"] = {"Early stopping: `ember.stop`", "ember.stop: early stopping: a rule sees one monitored value " ..
    "per epoch (rule:update(value, model))\nand says when training should stop and why; early can put the best weights back."},
  ["ember.data"] = {"Data: `ember.data`", "ember.data: datasets (Fashion-MNIST, IDX files, CSV tables, synthetic " ..
    "regression, tensors)\nand what training does with them: split, shuffle, batch, standardize, normalize."},
  ["ember.config"] = {"`ember.config`", "ember.config{defaults} -> the configuration of an experiment: the defaults " ..
    "with\n`ember run SCRIPT --set key=value` overrides, each parsed by the type of its default."},
  ["ember.run"] = {"`ember.run`", "ember.run{name, config} -> a run: a directory runs/<name>/<time>-<id>/ holding " ..
    "params.tsv,\nmeta.tsv, metrics.tsv and stdout.log; run:log{epoch = 1, train_loss = 0.5} appends a row."},
  ["ember.fit"] = {"`ember.fit`", "ember.fit{model, loss, optimizer, train, epochs, batch, ...} -> history: the " ..
    "training loop,\nwith validation, metrics, schedules, early stopping, checkpoints and `ember run --resume`."},
  ["ember.runs"] = {"`ember.runs`: reading run directories", "ember.runs: reads run directories " ..
    "(ember.runs.read(dir), ember.runs.find(paths)) for plots and tables."},
  ["ember.plot"] = {"Plotting: `ember.plot`", "ember.plot: loss curves and any numbers, drawn by gnuplot: " ..
    "ember.plot{runs = ...} draws\nthe metrics of runs, ember.plot.series{...} lists of numbers; " ..
    "at the prompt, plot(run) draws in the terminal."},
}

-- the documentation of what is written in C, by the section of docs/api.md that says more
local GROUPS = {
  ["Tensors"] = {
    ["ember.tensor"] = "ember.tensor(data [, {requires_grad = true}]): a tensor from a number (0-d), nested tables of numbers\n" ..
      "or another tensor (copied). ember.tensor{{1, 2}, {3, 4}} is 2 x 2.",
    ["ember.zeros"] = "ember.zeros(d1, d2, ...) or ember.zeros{d1, d2, ...}: a tensor of zeros of that shape.",
    ["ember.ones"] = "ember.ones(d1, d2, ...) or ember.ones{...}: a tensor of ones.",
    ["ember.randn"] = "ember.randn(d1, d2, ...): samples of the standard normal distribution (global seeded RNG).",
    ["ember.rand"] = "ember.rand(d1, d2, ...): uniform samples in [0, 1) (global seeded RNG).",
    ["ember.empty"] = "ember.empty(d1, d2, ...): a tensor of that shape with unspecified values.",
    ["ember.full"] = "ember.full({d1, d2, ...}, value) or ember.full(d1, d2, ..., value): a tensor filled with value.",
    ["ember.arange"] = "ember.arange(stop) or ember.arange(start, stop [, step = 1]): 1-d tensor start, start+step, ... < stop\n" ..
      "(start defaults to 0).",
    ["ember.zeros_like"] = "ember.zeros_like(x): zeros of x's shape.",
    ["ember.ones_like"] = "ember.ones_like(x): ones of x's shape.",
    ["ember.is_tensor"] = "ember.is_tensor(v): true when v is a tensor.",
    ["ember.where"] = "ember.where(cond, a, b): elementwise a where cond is nonzero, else b (tensors or numbers, broadcast).",
    ["ember.cat"] = "ember.cat(list, dim): concatenates a list of tensors along dim (1-based); other dims must match.",
    ["ember.manual_seed"] = "ember.manual_seed(seed): seeds the global RNG (randn, rand, uniform, normal, shuffles).",
    ["ember.get_rng_state"] = "ember.get_rng_state(): the global RNG state as a string (for set_rng_state and checkpoints).",
    ["ember.set_rng_state"] = "ember.set_rng_state(state): restores a state from ember.get_rng_state().",
    ["ember.set_num_threads"] = "ember.set_num_threads(n): threads of ember's pool (1..1024; OpenBLAS runs on it);\n" ..
      "also EMBER_NUM_THREADS and --threads. Results are the same at every thread count.",
    ["ember.get_num_threads"] = "ember.get_num_threads(): the number of threads in use.",
    ["ember.blas"] = "ember.blas(): {kernel = ..., conv = ..., threads = ..., info = ...}: the OpenBLAS kernel\n" ..
      "ember chose and the convolution kernels it uses.",
    ["ember.set_conv_kernel"] = "ember.set_conv_kernel(name): \"auto\" (direct kernels where they fit, else\n" ..
      "im2col + sgemm), \"im2col\", or \"direct-avx2\"; ember.blas().conv says which.",
    ["ember.clock"] = "ember.clock(): seconds of a monotonic clock (differences are elapsed wall time).",
    ["ember.isatty"] = "ember.isatty([fd = 1]): true when file descriptor fd is a terminal.",
    ["ember.terminal_size"] = "ember.terminal_size([fd = 1]): columns, rows of the terminal (80, 24 when not one).",
    ["ember.hostname"] = "ember.hostname(): the host name.",
    ["ember.getpid"] = "ember.getpid(): the process id.",
    ["ember.version"] = "ember.version: the version string of ember.",
    ["ember.get_version"] = "ember.get_version(): the version string of ember.",
    ["Tensor:shape"] = "x:shape(): the sizes as a table {d1, d2, ...}.",
    ["Tensor:size"] = "x:size([dim]): the size of dim, or all sizes as a table.",
    ["Tensor:dim"] = "x:dim(): the number of dimensions.",
    ["Tensor:numel"] = "x:numel(): the number of elements.",
    ["Tensor:item"] = "x:item(): the value of a one-element tensor as a Lua number.",
    ["Tensor:totable"] = "x:totable(): the values as nested Lua tables (a number for a 0-d tensor).",
    ["Tensor:tolist"] = "x:tolist(): same as x:totable().",
    ["Tensor:is_contiguous"] = "x:is_contiguous(): true when the elements are stored densely in row-major order.",
    ["Tensor:add"] = "x:add(y): x + y (y a tensor, number or table; broadcasting).",
    ["Tensor:sub"] = "x:sub(y): x - y.",
    ["Tensor:mul"] = "x:mul(y): elementwise x * y.",
    ["Tensor:div"] = "x:div(y): elementwise x / y.",
    ["Tensor:pow"] = "x:pow(y): elementwise x ^ y.",
    ["Tensor:maximum"] = "x:maximum(y): elementwise maximum of x and y.",
    ["Tensor:minimum"] = "x:minimum(y): elementwise minimum of x and y.",
    ["Tensor:eq"] = "x:eq(y): 1 where x == y, else 0.",
    ["Tensor:ne"] = "x:ne(y): 1 where x ~= y, else 0.",
    ["Tensor:lt"] = "x:lt(y): 1 where x < y, else 0.",
    ["Tensor:le"] = "x:le(y): 1 where x <= y, else 0.",
    ["Tensor:gt"] = "x:gt(y): 1 where x > y, else 0.",
    ["Tensor:ge"] = "x:ge(y): 1 where x >= y, else 0.",
    ["Tensor:neg"] = "x:neg(): -x.",
    ["Tensor:exp"] = "x:exp(): elementwise e^x.",
    ["Tensor:log"] = "x:log(): elementwise natural logarithm.",
    ["Tensor:log1p"] = "x:log1p(): elementwise log(1 + x), accurate near 0.",
    ["Tensor:sqrt"] = "x:sqrt(): elementwise square root.",
    ["Tensor:square"] = "x:square(): elementwise x * x.",
    ["Tensor:abs"] = "x:abs(): elementwise absolute value.",
    ["Tensor:sign"] = "x:sign(): elementwise -1, 0 or 1.",
    ["Tensor:sin"] = "x:sin(): elementwise sine.",
    ["Tensor:cos"] = "x:cos(): elementwise cosine.",
    ["Tensor:relu"] = "x:relu(): max(x, 0).",
    ["Tensor:leaky_relu"] = "x:leaky_relu([slope = 0.01]): x where x > 0, else slope * x.",
    ["Tensor:sigmoid"] = "x:sigmoid(): 1 / (1 + e^-x).",
    ["Tensor:tanh"] = "x:tanh(): hyperbolic tangent.",
    ["Tensor:gelu"] = "x:gelu(): Gaussian error linear unit.",
    ["Tensor:softplus"] = "x:softplus(): log(1 + e^x).",
    ["Tensor:clamp"] = "x:clamp([lo] [, hi]): values limited to [lo, hi] (nil: no bound).",
    ["Tensor:sum"] = "x:sum([dim [, keepdim]]): sum of all elements (0-d), or over dim (kept as size 1 with keepdim).",
    ["Tensor:mean"] = "x:mean([dim [, keepdim]]): mean of all elements, or over dim.",
    ["Tensor:max"] = "x:max(): the largest element (0-d); x:max(dim [, keepdim]): values, indices (1-based) along dim;\n" ..
      "x:max(y): elementwise maximum.",
    ["Tensor:min"] = "x:min(): the smallest element; x:min(dim [, keepdim]): values, indices (1-based); x:min(y): elementwise.",
    ["Tensor:argmax"] = "x:argmax([dim [, keepdim]]): 1-based index of the largest element (over everything, or along dim).",
    ["Tensor:argmin"] = "x:argmin([dim [, keepdim]]): 1-based index of the smallest element.",
    ["Tensor:softmax"] = "x:softmax([dim = last]): e^x / sum(e^x) along dim.",
    ["Tensor:log_softmax"] = "x:log_softmax([dim = last]): log of softmax, computed stably.",
    ["Tensor:matmul"] = "x:matmul(y): matrix product (1-d and batched operands as in torch.matmul).",
    ["Tensor:mm"] = "x:mm(y): same as x:matmul(y).",
    ["Tensor:reshape"] = "x:reshape(d1, d2, ...) or x:reshape{...}: the same elements in a new shape (one size may be -1);\n" ..
      "a view when x is contiguous.",
    ["Tensor:view"] = "x:view(d1, d2, ...): same as x:reshape.",
    ["Tensor:t"] = "x:t(): the transpose of a 2-d tensor (a view).",
    ["Tensor:transpose"] = "x:transpose(d1, d2): swaps two dims (a view).",
    ["Tensor:permute"] = "x:permute(d1, d2, ...) or x:permute{...}: reorders the dims (a view).",
    ["Tensor:narrow"] = "x:narrow(dim, start, length): elements start .. start+length-1 along dim (1-based; a view).",
    ["Tensor:select"] = "x:select(dim, index): the slice at index along dim, with that dim removed (a view).",
    ["Tensor:expand"] = "x:expand(d1, d2, ...): broadcasts size-1 dims to the given sizes (a view, no copy).",
    ["Tensor:unsqueeze"] = "x:unsqueeze(dim): inserts a dim of size 1 at dim.",
    ["Tensor:squeeze"] = "x:squeeze([dim]): removes dims of size 1 (all of them, or just dim).",
    ["Tensor:flatten"] = "x:flatten([start = 1 [, stop = last]]): merges dims start..stop into one.",
    ["Tensor:contiguous"] = "x:contiguous(): x when contiguous, else a dense copy.",
    ["Tensor:clone"] = "x:clone(): a copy (differentiable: gradients flow back to x).",
    ["Tensor:index_select"] = "x:index_select(dim, indices): the slices at the given 1-based indices along dim (a copy).",
    ["Tensor:fill"] = "x:fill(v): sets every element to v, in place; returns x.",
    ["Tensor:zero"] = "x:zero(): sets every element to 0, in place; returns x.",
    ["Tensor:copy"] = "x:copy(src): copies src's elements into x in place (same number of elements); returns x.",
    ["Tensor:uniform"] = "x:uniform([lo = 0 [, hi = 1]]): fills x in place with uniform samples; returns x.",
    ["Tensor:normal"] = "x:normal([mean = 0 [, std = 1]]): fills x in place with normal samples; returns x.",
    ["Tensor:add_"] = "x:add_(y [, alpha = 1]): x += alpha * y in place; returns x.",
    ["Tensor:mul_"] = "x:mul_(y): x *= y in place; returns x.",
  },
  ["Autograd"] = {
    ["ember.no_grad"] = "ember.no_grad(fn, ...): calls fn with gradient recording off (no graph is built); returns its results.",
    ["ember.set_grad_enabled"] = "ember.set_grad_enabled(on): turns gradient recording on or off; returns the previous setting.",
    ["ember.is_grad_enabled"] = "ember.is_grad_enabled(): true when operations record the autograd graph.",
    ["Tensor:requires_grad"] = "x:requires_grad([on = true]): marks x as a leaf whose gradient backward() computes; returns x.",
    ["Tensor:grad_required"] = "x:grad_required(): true when x requires a gradient.",
    ["Tensor:backward"] = "x:backward([grad] [, {keep_graph = true}]): backpropagates from x (a 0-d tensor, or give grad of\n" ..
      "x's shape); gradients accumulate into .grad of the leaves.",
    ["Tensor:detach"] = "x:detach(): the same values without autograd history.",
  },
  ["Layers: `ember.nn`"] = {
    ["ember.linear"] = "ember.linear(x, w [, b]): x w^T + b; x is (N, in), w is (out, in), b is (out).",
    ["ember.conv2d"] = "ember.conv2d(x, w [, b] [, {stride = 1, padding = 0, dilation = 1}]): 2-d convolution;\n" ..
      "x is (N, C, H, W), w is (out, C, kh, kw), b is (out); stride, padding, dilation are n or {h, w}.",
    ["ember.max_pool2d"] = "ember.max_pool2d(x, kernel [, {stride = kernel, padding = 0, dilation = 1, ceil_mode = false}]):\n" ..
      "the maximum over each kernel window of x (N, C, H, W).",
    ["ember.avg_pool2d"] = "ember.avg_pool2d(x, kernel [, {stride = kernel, padding = 0, ceil_mode = false,\n" ..
      "count_include_pad = true}]): the mean over each kernel window of x (N, C, H, W).",
    ["ember.batch_norm"] = "ember.batch_norm(x, weight, bias, running_mean, running_var, training [, momentum = 0.1,\n" ..
      "eps = 1e-5]): batch normalisation over dim 2 of x; weight, bias and the running statistics may be nil.",
    ["ember.dropout"] = "ember.dropout(x, p [, training = true]): zeroes each element with probability p and scales the\n" ..
      "rest by 1 / (1 - p); x itself when not training.",
  },
  ["Checkpoints"] = {
    ["ember.save"] = "ember.save(path, value): writes a tensor, number, string, boolean or a table nesting them\n" ..
      "(string or integer keys) to a checkpoint file, atomically (the old file survives any failure).",
    ["ember.load"] = "ember.load(path): reads a checkpoint written by ember.save and returns the value; a safetensors\n" ..
      "or npz file (by its first bytes) gives its table name -> tensor, for model:load_state_dict.",
    ["ember.save_safetensors"] = "ember.save_safetensors(path, tensors [, metadata = {format = \"pt\"}]): writes a flat\n" ..
      "table name -> tensor (model:state_dict()) as safetensors, which PyTorch's safetensors.torch reads.",
    ["ember.save_npz"] = "ember.save_npz(path, tensors): writes a flat table name -> tensor (model:state_dict()) as an\n" ..
      "npz file, which numpy.load reads.",
  },
}

--- docs.text: name ("ember.zeros", "Tensor:sum") -> its documentation; docs.section: name -> its
-- section of docs/api.md
M.text, M.section = {}, {}
for section, docs in pairs(GROUPS) do
  for name, text in pairs(docs) do M.text[name], M.section[name] = text, section end
end
M.text["ember"] = "ember: float32 tensors with reverse-mode autograd, layers, losses, optimizers, schedules, data,\n" ..
  "logged runs and plots. Modules load on first use: ember.nn, ember.loss, ember.optim, ember.schedule, ...\n" ..
  "At the prompt nn, optim and loss are ember.nn, ember.optim and ember.loss."
M.text["Tensor"] = "Tensor: an n-dimensional float32 array (dims are 1-based). Arithmetic + - * / ^ and unary -\n" ..
    "broadcast, with numbers on either side; x.grad holds the gradient after backward(); x[i] selects along dim 1."
M.section["Tensor"] = "Tensors"
-- a class written in Lua whose source says nothing a user reads first
M.text["ember.nn.Module"] = "nn.Module: the base class of layers and of your own models:\n" ..
  "  local Net = nn.Module:extend(\"Net\")\n" ..
  "  function Net:init(hidden) self.fc = nn.Linear(10, hidden) end   -- a module in a field is registered\n" ..
  "  function Net:forward(x) return self.fc(x):relu() end\n" ..
  "  local net = Net(32)                                              -- net(x) calls net:forward(x)"

--- docs.section_of(name) -> the section of docs/api.md about name ("ember.nn.Linear" -> "Layers:
-- `ember.nn`"), nil when none is
function M.section_of(name)
  if M.section[name] then return M.section[name] end
  local best
  for mod in pairs(M.MODULES) do
    if (name == mod or name:sub(1, #mod + 1) == mod .. "." or name:sub(1, #mod + 1) == mod .. ":")
       and (not best or #mod > #best) then
      best = mod
    end
  end
  return best and M.MODULES[best][1] or nil
end

return M
