-- ember.repl: the Lua side of the interactive session (`ember` with no arguments, lua/repl.c reads the
-- lines): value printing, help and ?NAME from the doc comments of the Lua modules (and a table here for
-- the C functions), completion candidates, plot(), time() and the :commands.
local ember = require "ember"

local M = {}

local host = {}   -- from lua/repl.c: host.source(name) gives an embedded module's source text

-- ---------------------------------------------------------------------------------------------
-- documentation of what is written in C (the Lua modules document themselves in their comments)

M.docs = {
  ["ember"] = "ember: float32 tensors with reverse-mode autograd, layers, losses, optimizers, data, runs.\n" ..
    "Modules load on first use: ember.nn, ember.optim, ember.loss, ember.data, ember.schedule, ember.stop, ember.plot, ...",
  ["Tensor"] = "Tensor: an n-dimensional float32 array (dims are 1-based). Arithmetic + - * / ^ and unary -\n" ..
    "broadcast, with numbers on either side; x.grad holds the gradient after backward(); x[i] selects along dim 1.",
  -- creation
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
  -- rng, threads, system
  ["ember.manual_seed"] = "ember.manual_seed(seed): seeds the global RNG (randn, rand, uniform, normal, shuffles).",
  ["ember.get_rng_state"] = "ember.get_rng_state(): the global RNG state as a string (for set_rng_state and checkpoints).",
  ["ember.set_rng_state"] = "ember.set_rng_state(state): restores a state from ember.get_rng_state().",
  ["ember.set_num_threads"] = "ember.set_num_threads(n): threads of every pool, OpenBLAS's included (1..1024);\n" ..
    "also EMBER_NUM_THREADS and --threads.",
  ["ember.get_num_threads"] = "ember.get_num_threads(): the number of threads in use.",
  ["ember.blas"] = "ember.blas(): {kernel = ..., threads = ..., info = ...}: the OpenBLAS kernel ember chose.",
  ["ember.clock"] = "ember.clock(): seconds of a monotonic clock (differences are elapsed wall time).",
  ["ember.isatty"] = "ember.isatty([fd = 1]): true when file descriptor fd is a terminal.",
  ["ember.terminal_size"] = "ember.terminal_size([fd = 1]): columns, rows of the terminal (80, 24 when not one).",
  ["ember.hostname"] = "ember.hostname(): the host name.",
  ["ember.getpid"] = "ember.getpid(): the process id.",
  ["ember.version"] = "ember.version: the version string of ember.",
  ["ember.get_version"] = "ember.get_version(): the version string of ember.",
  -- autograd
  ["ember.no_grad"] = "ember.no_grad(fn, ...): calls fn with gradient recording off (no graph is built); returns its results.",
  ["ember.set_grad_enabled"] = "ember.set_grad_enabled(on): turns gradient recording on or off; returns the previous setting.",
  ["ember.is_grad_enabled"] = "ember.is_grad_enabled(): true when operations record the autograd graph.",
  -- checkpoints
  ["ember.save"] = "ember.save(path, value): writes a tensor, number, string, boolean or a table nesting them\n" ..
    "(string or integer keys) to a checkpoint file, atomically (the old file survives any failure).",
  ["ember.load"] = "ember.load(path): reads a checkpoint written by ember.save and returns the value.",
  -- layer kernels (the functions behind ember.nn's modules)
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
  -- tensor methods
  ["Tensor:shape"] = "x:shape(): the sizes as a table {d1, d2, ...}.",
  ["Tensor:size"] = "x:size([dim]): the size of dim, or all sizes as a table.",
  ["Tensor:dim"] = "x:dim(): the number of dimensions.",
  ["Tensor:numel"] = "x:numel(): the number of elements.",
  ["Tensor:item"] = "x:item(): the value of a one-element tensor as a Lua number.",
  ["Tensor:totable"] = "x:totable(): the values as nested Lua tables (a number for a 0-d tensor).",
  ["Tensor:tolist"] = "x:tolist(): same as x:totable().",
  ["Tensor:is_contiguous"] = "x:is_contiguous(): true when the elements are stored densely in row-major order.",
  ["Tensor:requires_grad"] = "x:requires_grad([on = true]): marks x as a leaf whose gradient backward() computes; returns x.",
  ["Tensor:grad_required"] = "x:grad_required(): true when x requires a gradient.",
  ["Tensor:backward"] = "x:backward([grad] [, {keep_graph = true}]): backpropagates from x (a 0-d tensor, or give grad of\n" ..
    "x's shape); gradients accumulate into .grad of the leaves.",
  ["Tensor:detach"] = "x:detach(): the same values without autograd history.",
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
}

-- ---------------------------------------------------------------------------------------------
-- small helpers

local KEYWORDS = {"and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in",
                  "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while"}
local LAZY = {nn = true, optim = true, loss = true}   -- globals resolved from ember's fields on first use
local STDLIBS = {"string", "table", "math", "io", "os", "coroutine", "utf8", "debug", "package"}
local MANUAL = "https://www.lua.org/manual/5.4/manual.html#pdf-"

local function is_tensor(v) return ember.is_tensor(v) end

local function is_ident(s) return type(s) == "string" and s:match("^[%a_][%w_]*$") ~= nil end

local function callable(v)
  if type(v) == "function" then return true end
  local mt = getmetatable(v)
  return type(mt) == "table" and rawget(mt, "__call") ~= nil
end

local function sorted_keys(set)
  local out = {}
  for k in pairs(set) do out[#out + 1] = k end
  table.sort(out)
  return out
end

local function terminal_width()
  local ok, cols = pcall(ember.terminal_size)
  return ok and tonumber(cols) or 80
end

local tensor_methods_cache
-- The method table of tensors: the upvalue of the C closure that is the tensor metatable's __index.
local function tensor_methods()
  if tensor_methods_cache then return tensor_methods_cache end
  local mt = getmetatable(ember.zeros(1))
  local idx = type(mt) == "table" and mt.__index
  if type(idx) == "table" then tensor_methods_cache = idx
  elseif type(idx) == "function" then
    for i = 1, 8 do
      local name, v = debug.getupvalue(idx, i)
      if name == nil then break end
      if type(v) == "table" then tensor_methods_cache = v; break end
    end
  end
  return tensor_methods_cache or {}
end
M._tensor_methods = tensor_methods

local function shape_str(x)
  local ok, s = pcall(x.shape, x)
  if not ok then return "?" end
  local parts = {}
  for i, d in ipairs(s) do parts[i] = tostring(d) end
  return table.concat(parts, " x ")
end

-- Names of the module tables in package.loaded, by table.
local function module_name(v)
  for name, mod in pairs(package.loaded) do
    if mod == v and type(name) == "string" and name ~= "_G" then return name end
  end
end

-- ---------------------------------------------------------------------------------------------
-- names of values: which documented name a function or table goes by

-- value -> list of names, most specific first: tensor methods, ember and its loaded modules, the
-- globals, then Lua's standard libraries.
local function name_index()
  local idx = {}
  local function add(v, name)
    if v == nil or type(v) == "number" or type(v) == "string" or type(v) == "boolean" then return end
    local l = idx[v]
    if not l then l = {}; idx[v] = l end
    l[#l + 1] = name
  end
  local methods = tensor_methods()
  for _, k in ipairs(sorted_keys(methods)) do add(methods[k], "Tensor:" .. k) end
  add(ember, "ember")
  local ek = {}
  for k in next, ember do if type(k) == "string" then ek[#ek + 1] = k end end
  table.sort(ek)
  for _, k in ipairs(ek) do add(rawget(ember, k), "ember." .. k) end
  local mods = {}
  for name in pairs(package.loaded) do
    if type(name) == "string" and name:match("^ember%.") then mods[#mods + 1] = name end
  end
  table.sort(mods)
  for _, name in ipairs(mods) do
    local mod = package.loaded[name]
    add(mod, name)
    if type(mod) == "table" then
      for _, k in ipairs(sorted_keys(mod)) do
        if type(k) == "string" then add(rawget(mod, k), name .. "." .. k) end
      end
    end
  end
  for _, k in ipairs(sorted_keys(_G)) do
    if type(k) == "string" then add(rawget(_G, k), k) end
  end
  for _, lib in ipairs(STDLIBS) do
    local t = rawget(_G, lib)
    if type(t) == "table" then
      for _, k in ipairs(sorted_keys(t)) do if type(k) == "string" then add(t[k], lib .. "." .. k) end end
    end
  end
  return idx
end

local STD, BASE = {}, {}
for _, lib in ipairs(STDLIBS) do STD[lib] = true end
for _, f in ipairs{"assert", "collectgarbage", "dofile", "error", "getmetatable", "ipairs", "load", "loadfile",
                   "next", "pairs", "pcall", "print", "rawequal", "rawget", "rawlen", "rawset", "require",
                   "select", "setmetatable", "tonumber", "tostring", "type", "xpcall", "warn"} do
  BASE[f] = true
end

local function is_std_name(name)
  local lib = name:match("^(%a+)%.")
  if lib then return STD[lib] == true end
  return BASE[name] == true
end

-- ---------------------------------------------------------------------------------------------
-- doc comments from the sources

local embedded_cache = {}   -- files are read again each time: they may have been edited

local read_file = require("ember.util").read_file

-- The source text of module name ("ember.plot"): $EMBER_PATH first (as the loader does), then the
-- copy embedded in the executable, then package.path (busted, plain lua5.4).
local function module_source(name)
  local dir, rest = os.getenv("EMBER_PATH"), name:match("^ember%.(.+)$")
  local src
  if dir and dir ~= "" and rest then src = read_file(dir .. "/ember/" .. rest:gsub("%.", "/") .. ".lua") end
  if src then return src end
  if embedded_cache[name] == nil then
    embedded_cache[name] = host.source and host.source(name) or false
  end
  if embedded_cache[name] then return embedded_cache[name] end
  local path = package.searchpath(name, package.path)
  return path and read_file(path) or nil
end

-- The source text behind a chunk name from debug.getinfo: "@path" or "=[ember]/NAME.lua".
local function chunk_source(chunk)
  local emb = chunk:match("^=%[ember%]/(.+)%.lua$")
  if emb then return module_source("ember." .. emb) end
  if chunk:sub(1, 1) == "@" then return read_file(chunk:sub(2)) end
  return nil
end

local function split_lines(s)
  local lines = {}
  for l in (s .. "\n"):gmatch("(.-)\r?\n") do lines[#lines + 1] = l end
  return lines
end

-- Comment text of "-- ..." lines: the dashes and one space go; separator lines ("-- ----") are dropped.
local function strip_comments(block)
  local out = {}
  for _, l in ipairs(block) do
    local t = l:gsub("^%s*%-%-%-?%s?", "")
    if not t:match("^[%-=%s]*$") or t == "" then out[#out + 1] = t end
  end
  while out[1] == "" do table.remove(out, 1) end
  while out[#out] == "" do out[#out] = nil end
  return table.concat(out, "\n")
end

-- The block of comment lines right above line n (no blank line between), as text; nil when none.
local function comment_above(lines, n)
  local block = {}
  local i = n - 1
  while i >= 1 and lines[i]:match("^%s*%-%-") and not lines[i]:match("^%s*%-%-%[=*%[") do
    table.insert(block, 1, lines[i])
    i = i - 1
  end
  local text = strip_comments(block)
  return text ~= "" and text or nil
end

-- The comment block that opens a file (its description), nil when it opens with code.
local function leading_comment(src)
  local block = {}
  for _, l in ipairs(split_lines(src)) do
    if l:match("^#!") and #block == 0 then -- a shebang line
    elseif l:match("^%s*%-%-") then block[#block + 1] = l
    else break end
  end
  local text = strip_comments(block)
  return text ~= "" and text or nil
end

local function params(f, drop_self)
  local info = debug.getinfo(f, "u")
  local ps = {}
  for i = 1, info.nparams do ps[#ps + 1] = debug.getlocal(f, i) end
  if drop_self and ps[1] == "self" then table.remove(ps, 1) end
  if info.isvararg then ps[#ps + 1] = "..." end
  return "(" .. table.concat(ps, ", ") .. ")"
end

local function where_defined(f)
  local info = debug.getinfo(f, "S")
  return info.short_src .. ":" .. info.linedefined
end

-- The doc comment above a Lua function's definition, or nil.
local function lua_doc(f)
  if type(f) ~= "function" then return nil end
  local info = debug.getinfo(f, "S")
  if info.what ~= "Lua" then return nil end
  local src = chunk_source(info.source)
  return src and comment_above(split_lines(src), info.linedefined) or nil
end

-- The comment block of module MOD that documents MOD.key without sitting above its definition
-- (classes made by a helper, as nn.ReLU): a comment line opening with "mod.key(" or "mod.key{", or
-- with it after a ";". full is "ember.nn.ReLU"; returns the text or nil.
local function mention_doc(full)
  local mod, key = full:match("^(ember%.[%w_.]+)%.([%a_][%w_]*)$")
  local src = mod and module_source(mod)
  if not src then return nil end
  local short = (mod:match("[^.]+$") .. "." .. key):gsub("%p", "%%%0")
  local lines = split_lines(src)
  for i, l in ipairs(lines) do
    local text = l:match("^%s*%-%-%-?%s*(.*)$")
    local at = text and (text:match("^" .. short .. "[%({]") and 1 or text:match(";%s+()" .. short .. "[%({]"))
    if at then   -- the text from the mention to the end of its comment block
      local block = {"-- " .. text:sub(at)}
      for j = i + 1, #lines do
        if not lines[j]:match("^%s*%-%-") then break end
        block[#block + 1] = lines[j]
      end
      local doc = strip_comments(block)
      return doc ~= "" and doc or nil
    end
  end
end

-- Doc text of function f, known by names (a list, may be empty).
local function function_doc(f, names)
  names = names or {}
  if debug.getinfo(f, "S").what == "Lua" then
    local doc = lua_doc(f)
    if doc then return doc end
    for _, n in ipairs(names) do
      doc = mention_doc(n)
      if doc then return doc end
    end
    local name = names[1] or "function"
    return name .. params(f, name:find(":", 1, true)) .. "\n(no doc comment; defined at " .. where_defined(f) .. ")"
  end
  for _, n in ipairs(names) do
    if M.docs[n] then return M.docs[n] end
  end
  for _, n in ipairs(names) do
    if is_std_name(n) then return n .. ": a Lua standard function; see " .. MANUAL .. n end
  end
  if names[1] then return names[1] .. ": a built-in function (no documentation)" end
  return "a built-in function (no documentation)"
end

-- A class (a callable table, as nn.Linear) is documented above its constructor (init, new or
-- __call), else above its forward, else where its module mentions it (name: "ember.nn.ReLU").
local function class_doc(cls, name)
  for _, k in ipairs{"init", "new"} do
    local d = lua_doc(rawget(cls, k))
    if d then return d end
  end
  local mt = getmetatable(cls)
  local d = lua_doc(type(mt) == "table" and rawget(mt, "__call") or nil) or lua_doc(rawget(cls, "forward"))
  if d then return d end
  return name and mention_doc(name) or nil
end

-- Classes set Cls.__index = Cls; their instances have the class as metatable.
local function is_class(v)
  return type(v) == "table" and rawget(v, "__index") == v
end

-- The first line of a doc, prefixed by the name when the doc does not start with it.
local function summary(name, doc)
  local first = doc:match("^[^\n]*")
  local short = name:match("[^.:]+$")
  if not first:find(short, 1, true) then first = name .. ": " .. first end
  return first
end

local CONSTRUCTORS = {init = true, new = true, extend = true, super = true}

-- Public functions of a table (and of its class, through __index tables), with their summaries;
-- with classes, callable tables (classes of a module) count too. Constructors of a class stay out
-- when listing methods (sep ":").
local function function_list(t, prefix, sep, classes)
  local seen, names = {}, {}
  local cur, depth = t, 0
  while type(cur) == "table" and depth < 8 do
    for k, v in next, cur do
      if is_ident(k) and not k:match("^_") and not seen[k] and not (sep == ":" and CONSTRUCTORS[k])
         and (type(v) == "function" or (classes and callable(v) and not module_name(v))) then
        seen[k] = v
        names[#names + 1] = k
      end
    end
    local mt = getmetatable(cur)
    cur = type(mt) == "table" and rawget(mt, "__index") or nil
    depth = depth + 1
  end
  table.sort(names)
  local idx = name_index()
  local out = {}
  for _, k in ipairs(names) do
    local v, full = seen[k], prefix .. sep .. k
    local doc
    if type(v) == "function" then
      local n = {full}
      for _, m in ipairs(idx[v] or {}) do n[#n + 1] = m end
      doc = function_doc(v, n)
      if doc:find("^[^\n]*%(no doc comment") or doc:find("\n%(no doc comment") then doc = full .. params(v, sep == ":") end
    else
      doc = class_doc(v, full) or full
    end
    out[#out + 1] = "  " .. summary(full, doc)
  end
  return out
end

local function clip_lines(lines, width)
  for i, l in ipairs(lines) do
    if #l > width then lines[i] = l:sub(1, width - 3) .. "..." end
  end
  return lines
end

local function tensor_help(x)
  local methods = sorted_keys(tensor_methods())
  local lines = {}
  if x ~= nil then
    lines[1] = ("tensor of shape [%s]%s"):format(shape_str(x), x.requires_grad and ", requires grad" or "")
  end
  lines[#lines + 1] = M.docs.Tensor
  lines[#lines + 1] = "methods (?x:NAME for one):"
  local width, line = terminal_width() - 2, " "
  for _, m in ipairs(methods) do
    if #line + #m + 1 > width then lines[#lines + 1] = line; line = " " end
    line = line .. " " .. m
  end
  if line ~= " " then lines[#lines + 1] = line end
  return table.concat(lines, "\n")
end

local function module_help(name, mod)
  local lines = {}
  local doc = M.docs[name]
  if not doc then
    local src = module_source(name)
    doc = src and leading_comment(src)
  end
  if STD[name] then doc = ("%s: a Lua standard library; see https://www.lua.org/manual/5.4/manual.html#6"):format(name) end
  lines[1] = doc or ("module " .. name)
  local fns = function_list(mod, name, ".", true)
  if name == "ember" then
    local subs = {}
    for k in pairs(package.preload) do
      local s = k:match("^ember%.([%a_][%w_]*)$")
      if s and s ~= "repl" then subs[#subs + 1] = "ember." .. s end
    end
    table.sort(subs)
    if #subs > 0 then lines[#lines + 1] = "modules: " .. table.concat(subs, ", ") end
  end
  if #fns > 0 then
    lines[#lines + 1] = "functions:"
    for _, l in ipairs(clip_lines(fns, terminal_width() - 1)) do lines[#lines + 1] = l end
  end
  return table.concat(lines, "\n")
end

local GENERAL = [[
ember interactive session (Lua 5.4)
  EXPR              prints its value; a statement runs; an unfinished block continues (>> prompt)
  ?NAME             documentation: ?ember.zeros  ?x:reshape  ?nn  ?plot   (help(value) does the same)
  :time EXPR        runs EXPR and reports how long it took (time(function() ... end) also does)
  plot(run)         a loss curve in the terminal: run directory, ember.run object, list of numbers,
                    {train_loss = {...}, ...} or rows {{epoch = 1, loss = 0.5}, ...}
  Tab               completes globals, fields, methods (x:resh<Tab>) and file names in strings
  Ctrl-C            interrupts a running computation; Ctrl-D (or :quit) leaves
Globals: ember, nn, optim, loss, help, plot, time. Variables declared `local` last one line only;
assign globals (x = ...) to keep them. History: ~/.ember_history (EMBER_HISTORY overrides).]]

--- repl.doc(value [, name]): the documentation text of a value: a function (its doc comment, or the
-- table of C function docs), a module, a tensor (its methods), an object (its methods). name, when
-- given, is the name it was looked up by. Returns the text.
function M.doc(v, name)
  local idx = name_index()
  local names = {}
  if name then names[1] = name end
  for _, n in ipairs(idx[v] or {}) do if n ~= name then names[#names + 1] = n end end
  if name and M.docs[name] and type(v) ~= "table" and type(v) ~= "function" then return M.docs[name] end
  if name == "Tensor" then return tensor_help(nil) end
  if is_tensor(v) then return tensor_help(v) end
  if type(v) == "function" then return function_doc(v, names) end
  if type(v) == "table" then
    local mname = module_name(v)
    if mname then return module_help(mname, v) end
    if v == _G then return "_G: the table of global variables" end
    local lines = {}
    local mt = getmetatable(v)
    local cls = not is_class(v) and type(mt) == "table" and type(rawget(mt, "__index")) == "table" and mt or nil
    local prefix = "obj"
    if is_class(v) or (callable(v) and not cls) then
      -- a class: the doc of its constructor, then its methods
      lines[1] = class_doc(v, names[1]) or names[1]
      prefix = names[1] and names[1]:match("[^.]+$") or "cls"
    elseif cls then
      -- an object: its class's doc, then the methods it inherits
      local cname = idx[cls] and idx[cls][1]
      local d = class_doc(cls, cname)
      lines[1] = (cname and ("an object of class " .. cname) or "an object") .. (d and ":\n" .. d or "")
    elseif names[1] then
      lines[1] = names[1]
    end
    local fns = function_list(v, prefix, ":")
    if #fns > 0 then
      lines[#lines + 1] = "methods:"
      for _, l in ipairs(clip_lines(fns, terminal_width() - 1)) do lines[#lines + 1] = l end
    end
    if #lines == 0 then lines[1] = "a table with no functions (no documentation)" end
    return table.concat(lines, "\n")
  end
  if name then return ("%s: a %s (no documentation)"):format(name, type(v)) end
  return ("a %s value (no documentation)"):format(type(v))
end

-- ---------------------------------------------------------------------------------------------
-- looking values up by name

-- The value a dotted path names ("ember.plot.dumb_curve"), reading fields the way code would
-- (so lazy modules load); nil when some part is missing.
local function resolve(path)
  local v = _G
  for part in path:gmatch("[^.]+") do
    if v == nil then return nil end
    local ok, r = pcall(function() return v[part] end)
    if not ok then return nil end
    v = r
  end
  return v
end

local function method_of(obj, m)
  if is_tensor(obj) then return rawget(tensor_methods(), m), "Tensor:" .. m end
  local ok, r = pcall(function() return obj[m] end)
  if ok then return r end
end

--- repl.lookup(name): the value a name refers to and its documented name: a path ("ember.zeros",
-- "x:reshape", "Tensor:sum") or a bare name searched among tensor methods, ember's functions and
-- modules, and Lua's libraries ("reshape", "cosine"). Returns value, name; nil when nothing matches.
function M.lookup(name)
  name = name:match("^%s*(.-)%s*$")
  local obj, m = name:match("^([%a_][%w_.]*):([%a_][%w_]*)$")
  if obj then
    if obj == "Tensor" then return rawget(tensor_methods(), m), "Tensor:" .. m end
    local o = resolve(obj)
    if o == nil then return nil end
    local v, n = method_of(o, m)
    return v, n or name
  end
  local tm = name:match("^Tensor%.([%a_][%w_]*)$")
  if tm then return rawget(tensor_methods(), tm), "Tensor:" .. tm end
  if name == "Tensor" then return ember.zeros(0), "Tensor" end
  if not name:match("^[%a_][%w_]*[%w_.]*$") then return nil end
  local v = resolve(name)
  if v ~= nil then return v, name end
  if name:find(".", 1, true) then
    -- names as the docs spell them: "plot.series" for ember.plot.series
    v = resolve("ember." .. name)
    if v ~= nil then return v, "ember." .. name end
    return nil
  end
  local tv = rawget(tensor_methods(), name)
  if tv then return tv, "Tensor:" .. name end
  v = rawget(ember, name)
  if v ~= nil then return v, "ember." .. name end
  -- load every ember module (a name may live in any of them) and search their fields
  local mods = {}
  for k in pairs(package.preload) do if k:match("^ember%.") then mods[#mods + 1] = k end end
  table.sort(mods)
  for _, mname in ipairs(mods) do
    local ok, mod = pcall(require, mname)
    if ok and type(mod) == "table" and rawget(mod, name) ~= nil then return rawget(mod, name), mname .. "." .. name end
  end
  for _, lib in ipairs(STDLIBS) do
    local t = rawget(_G, lib)
    if type(t) == "table" and rawget(t, name) ~= nil then return rawget(t, name), lib .. "." .. name end
  end
  return nil
end

--- repl.help_text([value]): the text help(value) prints; a string is looked up as a name (see
-- repl.lookup); with no argument, the overview of the session.
function M.help_text(...)
  if select("#", ...) == 0 then return GENERAL end
  local v = ...
  if type(v) == "string" then
    local found, name = M.lookup(v)
    if found == nil then
      if M.docs[v] then return M.docs[v] end
      return ("help: nothing named '%s' (try ?ember for the list of functions)"):format(v)
    end
    return M.doc(found, name)
  end
  if v == nil then return "help: the value is nil (an undefined name? try help(\"name\") or ?name)" end
  return M.doc(v)
end

--- help([value]): prints the documentation of a function, module, tensor or object; help("name")
-- looks a name up (help("reshape"), help("ember.zeros")); help() gives an overview. ?NAME at the
-- prompt is the same as help("NAME").
function M.help(...)
  io.write(M.help_text(...), "\n")
end

-- ---------------------------------------------------------------------------------------------
-- printing values

local MAX_STRING = 80
local MAX_ARRAY = 200
local MAX_KEYS = 100

local function quote(s)
  if #s > MAX_STRING then s = s:sub(1, MAX_STRING - 3) .. "..." end
  return (("%q"):format(s):gsub("\\\n", "\\n"))
end

-- One value as a short one-line text, for inside a table.
local function short(v, idx)
  local t = type(v)
  if t == "string" then return quote(v) end
  if t == "number" or t == "boolean" or t == "nil" then return tostring(v) end
  if is_tensor(v) then
    if v:dim() == 0 then return ("tensor(%s)"):format(tostring(v:item())) end
    return ("tensor[%s]"):format(shape_str(v))
  end
  if t == "table" then
    local mt = getmetatable(v)
    if type(mt) == "table" and rawget(mt, "__tostring") then
      local ok, s = pcall(tostring, v)
      if ok and type(s) == "string" then return s:match("^[^\n]*") end
    end
    local name = idx and idx[v] and idx[v][1]
    if name and module_name(v) then return "module " .. name end
    return next(v) == nil and "{}" or "{...}"
  end
  if t == "function" then
    local name = idx and idx[v] and idx[v][1]
    if debug.getinfo(v, "S").what == "Lua" then return "function" .. params(v) end
    return name and ("function " .. name) or "function"
  end
  return tostring(v)
end

local function key_text(k, idx)
  if is_ident(k) then
    for _, kw in ipairs(KEYWORDS) do if kw == k then return "[" .. quote(k) .. "]" end end
    return k
  end
  return "[" .. short(k, idx) .. "]"
end

local TYPE_ORDER = {number = 1, string = 2, boolean = 3}

local function key_less(a, b)
  local ta, tb = TYPE_ORDER[type(a)] or 4, TYPE_ORDER[type(b)] or 4
  if ta ~= tb then return ta < tb end
  if ta <= 2 then return a < b end
  return tostring(a) < tostring(b)
end

-- A table, one level deep: the array part then the other keys in order; on one line when it fits.
local function show_table(t, width)
  local idx = name_index()
  local n = rawlen(t)
  local arr, keyed = {}, {}
  for i = 1, math.min(n, MAX_ARRAY) do arr[i] = short(rawget(t, i), idx) end
  local keys = {}
  for k in next, t do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then keys[#keys + 1] = k end
  end
  table.sort(keys, key_less)
  for i = 1, math.min(#keys, MAX_KEYS) do
    keyed[i] = key_text(keys[i], idx) .. " = " .. short(rawget(t, keys[i]), idx)
  end
  local more = math.max(0, n - MAX_ARRAY) + math.max(0, #keys - MAX_KEYS)
  if #arr + #keyed == 0 then return "{}" end
  local all = {}
  for _, s in ipairs(arr) do all[#all + 1] = s end
  for _, s in ipairs(keyed) do all[#all + 1] = s end
  local one = "{" .. table.concat(all, ", ") .. (more > 0 and (", ... (%d more)"):format(more) or "") .. "}"
  if #one <= width and not one:find("\n", 1, true) then return one end
  local lines, line = {"{"}, nil
  for _, s in ipairs(arr) do   -- array items packed into lines
    if line and #line + #s + 2 > width then lines[#lines + 1] = line .. ","; line = nil end
    line = line and (line .. ", " .. s) or ("  " .. s)
  end
  if line then lines[#lines + 1] = line .. "," end
  for _, s in ipairs(keyed) do lines[#lines + 1] = "  " .. s .. "," end
  if more > 0 then lines[#lines + 1] = ("  ... (%d more)"):format(more) end
  lines[#lines + 1] = "}"
  return table.concat(lines, "\n")
end

--- repl.show(value): the text the session prints for a value: strings as they are, tensors through
-- tostring, tables one level deep (nested tables as {...}, tensors as tensor[shape]), functions with
-- their name or parameters. Returns the text.
function M.show(v)
  local t = type(v)
  if t == "string" then return v end
  if is_tensor(v) then return tostring(v) end
  if t == "table" then
    local mt = getmetatable(v)
    if type(mt) == "table" and rawget(mt, "__tostring") then
      local ok, s = pcall(tostring, v)
      if ok and type(s) == "string" then return s end
    end
    return show_table(v, terminal_width())
  end
  if t == "function" then
    local idx = name_index()
    local name = idx[v] and idx[v][1]
    if debug.getinfo(v, "S").what == "Lua" then
      return ("function: %s%s"):format(name or tostring(v):gsub("^function: ", ""), params(v, name and name:find(":", 1, true)))
    end
    return name and ("function: " .. name) or tostring(v)
  end
  return tostring(v)
end

--- repl.print(...): prints every value as repl.show does; on one line separated by tabs when they
-- are all short, else one per line.
function M.print(...)
  local n = select("#", ...)
  local parts, multi, len = {}, false, 0
  for i = 1, n do
    local s = M.show((select(i, ...)))
    parts[i] = s
    len = len + #s + 1
    if s:find("\n", 1, true) then multi = true end
  end
  io.write(table.concat(parts, (multi or len > terminal_width()) and "\n" or "\t"), "\n")
  io.stdout:flush()
end

-- ---------------------------------------------------------------------------------------------
-- errors

local MAX_FRAMES = 8

--- repl.format_error(msg): an error message with a short traceback: frames of the C glue
-- (error, assert, the REPL's own call) are dropped, at most 8 frames are kept, and none when the
-- error happened in the typed line itself.
function M.format_error(msg)
  msg = tostring(msg)
  local head, tb = msg:match("^(.-)\nstack traceback:\n(.*)$")
  if not head then return msg end
  local frames = {}
  for l in tb:gmatch("[^\n]+") do
    local f = l:gsub("^%s+", "")
    if not (f == "[C]: in ?" or f:match("^%[C%]: in function '[%w_.]*error'") or f:match("^%[C%]: in function 'assert'")
            or f:match("^%[C%]: in function 'pcall'")) then
      frames[#frames + 1] = f
    end
  end
  if #frames == 0 or (#frames == 1 and frames[1]:match("^stdin:%d+: in main chunk$")) then return head end
  local out = {head, "stack traceback:"}
  for i = 1, math.min(#frames, MAX_FRAMES) do out[#out + 1] = "\t" .. frames[i] end
  if #frames > MAX_FRAMES then out[#out + 1] = ("\t... (%d more)"):format(#frames - MAX_FRAMES) end
  return table.concat(out, "\n")
end

-- ---------------------------------------------------------------------------------------------
-- timing and plotting

local function duration(s)
  if s < 1e-3 then return ("%.1f us"):format(s * 1e6) end
  if s < 1 then return ("%.2f ms"):format(s * 1e3) end
  if s < 60 then return ("%.3f s"):format(s) end
  return ("%dm %.1fs"):format(math.floor(s / 60), s % 60)
end
M._duration = duration

--- time(fn, ...): calls fn(...), prints how long it took (wall clock) and returns fn's results.
-- At the prompt, `:time EXPR` is time(function() return EXPR end).
function M.time(fn, ...)
  if not callable(fn) then
    error(("time: expected a function (got %s); at the prompt, :time EXPR times an expression"):format(type(fn)), 2)
  end
  local t0 = ember.clock()
  local r = table.pack(fn(...))
  local dt = ember.clock() - t0
  io.write("time: ", duration(dt), "\n")
  return table.unpack(r, 1, r.n)
end

local function list_of_numbers(t)
  if #t == 0 then return false end
  for i = 1, #t do if type(t[i]) ~= "number" then return false end end
  return true
end

-- What plot() draws, as metric rows or a run for plot.dumb_curve.
local function plot_source(src)
  if type(src) == "string" then return src end
  if type(src) ~= "table" then return nil end
  if src.rows or type(src.dir) == "string" then return src end
  if list_of_numbers(src) then
    local rows = {}
    for i, v in ipairs(src) do rows[i] = {step = i, loss = v} end
    return rows
  end
  if #src > 0 and type(src[1]) == "table" then return src end
  local rows, any = {}, false
  for k, list in pairs(src) do
    if type(k) ~= "string" or type(list) ~= "table" or not list_of_numbers(list) then return nil end
    any = true
    for i, v in ipairs(list) do
      rows[i] = rows[i] or {epoch = i}
      rows[i][k] = v
    end
  end
  return any and rows or nil
end

--- plot(src [, metric [, {width, height}]]): draws a curve in the terminal with gnuplot's dumb
-- terminal. src: a run directory, a run (ember.run, runs.read), a list of numbers (one per step),
-- named lists {train_loss = {...}, valid_loss = {...}} (one per epoch) or metric rows
-- {{epoch = 1, loss = 0.5}, ...}. metric: a name or a list (default: train and valid loss, else loss).
-- Size defaults to the terminal's. Prints the curve; returns nothing.
function M.plot(src, metric, opts)
  local s = plot_source(src)
  if s == nil then
    error(("plot: expected a run directory, a run, a list of numbers or a table of named lists (got %s)")
          :format(type(src)), 2)
  end
  opts = opts or {}
  local ok, cols, rows = pcall(ember.terminal_size)
  if not ok then cols, rows = 80, 24 end
  local width = opts.width or math.max(40, cols - 1)
  local height = opts.height or math.max(12, math.min(rows - 4, 40))   -- train and valid take a panel each
  local text, err = require("ember.plot").dumb_curve(s, metric, width, height)
  if not text then
    err = tostring(err)
    error(err:match("^plot") and err or "plot: " .. err, 0)
  end
  io.write(text)
  if text:sub(-1) ~= "\n" then io.write("\n") end
end

-- ---------------------------------------------------------------------------------------------
-- commands typed at the prompt

local function is_path(s) return s:match("^[%a_][%w_]*[%w_.]*:?[%a_]?[%w_]*$") ~= nil and not s:find("%.%.") end

--- repl.translate(line): the Lua code for a line starting with ? or : -- ?NAME (help("NAME")),
-- ?EXPR (help((EXPR))), :time EXPR, :help [NAME], :quit. Returns the code, or nil and a message.
function M.translate(line)
  if line:sub(1, 1) == "?" then
    local what = line:sub(2):match("^%s*(.-)%s*$")
    if what == "" then return "help()" end
    if is_path(what) then return ("help(%q)"):format(what) end
    return "help((" .. what .. "\n))"
  end
  local cmd, rest = line:match("^:(%S*)%s*(.-)%s*$")
  if cmd == "time" or cmd == "t" then
    if rest == "" then return nil, ":time needs an expression or a statement, e.g. :time x:matmul(x)" end
    local code = ("return time(function() return %s\nend)"):format(rest)
    if load(code, "=stdin") then return code end
    return ("return time(function() %s\nend)"):format(rest)
  elseif cmd == "help" or cmd == "h" then
    return M.translate("?" .. (rest or ""))
  elseif cmd == "quit" or cmd == "q" or cmd == "exit" then
    return "os.exit(0, true)"
  end
  return nil, ("unknown command ':%s' (commands: :time EXPR, :help [NAME], :quit; ?NAME for help)"):format(cmd or "")
end

-- ---------------------------------------------------------------------------------------------
-- completion

-- Where the string literal open at the end of s starts (the index after its quote), or nil;
-- second result "comment" when s ends inside a comment.
local function open_string(s)
  local i, n = 1, #s
  while i <= n do
    local c = s:sub(i, i)
    if c == '"' or c == "'" then
      local j = i + 1
      while j <= n do
        local d = s:sub(j, j)
        if d == "\\" then j = j + 2
        elseif d == c then break
        else j = j + 1 end
      end
      if j > n then return i + 1 end
      i = j + 1
    elseif c == "-" and s:sub(i + 1, i + 1) == "-" then
      local eq = s:match("^%[(=*)%[", i + 2)
      if not eq then return nil, "comment" end
      local close = s:find("]" .. eq .. "]", i + 4 + #eq, true)
      if not close then return nil, "comment" end
      i = close + #eq + 2
    elseif c == "[" and s:match("^%[=*%[", i) then
      local eq = s:match("^%[(=*)%[", i)
      local close = s:find("]" .. eq .. "]", i + 2 + #eq, true)
      if not close then return i + 2 + #eq end
      i = close + #eq + 2
    else
      i = i + 1
    end
  end
  return nil
end

local lfs_ok, lfs = pcall(require, "lfs")

local function list_dir(dir)
  local out = {}
  if lfs_ok then
    local ok, iter, state = pcall(lfs.dir, dir)
    if not ok then return out end
    for name in iter, state do out[#out + 1] = name end
  else
    local p = io.popen("ls -1a " .. require("ember.util").shell_quote(dir) .. " 2>/dev/null")
    if p then
      for name in p:lines() do out[#out + 1] = name end
      p:close()
    end
  end
  return out
end

local function is_dir(path)
  if lfs_ok then return lfs.attributes(path, "mode") == "directory" end
  local f = io.open(path .. "/.")
  if f then f:close(); return true end
  return false
end

-- File names that complete partial (a path typed inside a string); directories end with /.
local function file_candidates(partial)
  local dir, base = partial:match("^(.*/)([^/]*)$")
  if not dir then dir, base = "", partial end
  local real = dir
  if real:sub(1, 2) == "~/" then real = (os.getenv("HOME") or "~") .. real:sub(2) end
  local out = {}
  for _, name in ipairs(list_dir(real == "" and "." or real)) do
    if name ~= "." and name ~= ".." and name:sub(1, #base) == base
       and (base:sub(1, 1) == "." or name:sub(1, 1) ~= ".") then
      local c = dir .. name
      if is_dir(real .. name) then c = c .. "/" end
      out[#out + 1] = c
    end
  end
  table.sort(out)
  return out
end

-- Field names of a value: its keys, its class's (through __index tables), the submodules ember would
-- load, tensor methods and fields, string methods. methods_only keeps the callable ones.
local function field_names(v, methods_only)
  local names = {}
  local function add_table(t)
    for k, val in next, t do
      if is_ident(k) and (not methods_only or callable(val)) then names[k] = true end
    end
  end
  if is_tensor(v) then
    add_table(tensor_methods())
    if not methods_only then
      for _, k in ipairs{"grad", "requires_grad", "is_leaf", "grad_fn"} do names[k] = true end
    end
  elseif type(v) == "table" then
    add_table(v)
    local cur, depth = v, 0
    while depth < 8 do
      local mt = getmetatable(cur)
      local idx = type(mt) == "table" and rawget(mt, "__index")
      if type(idx) ~= "table" then break end
      add_table(idx)
      cur, depth = idx, depth + 1
    end
    local mname = module_name(v)
    if mname and not methods_only then
      local pat = "^" .. mname:gsub("%p", "%%%0") .. "%.([%a_][%w_]*)$"
      for k in pairs(package.preload) do
        local sub = k:match(pat)
        if sub and sub ~= "repl" then names[sub] = true end
      end
    end
  elseif type(v) == "string" then
    add_table(string)
  elseif type(v) == "userdata" then
    local mt = getmetatable(v)
    if type(mt) == "table" and type(rawget(mt, "__index")) == "table" then add_table(mt.__index) end
  end
  return names
end

--- repl.complete(line): completion candidates for the text before the cursor. Returns a sorted list
-- of words, the index in line where the word they replace starts, and the kind of word ("file" or
-- "name"). Candidates: globals and keywords, fields
-- after a dot, methods after a colon (tensors included: x:resh -> x:reshape), file names inside a
-- string. Names starting with _ only show when the typed prefix does.
function M.complete(line)
  local q, where = open_string(line)
  if where == "comment" then return {}, #line + 1 end
  if q then
    return file_candidates(line:sub(q)), q, "file"
  end
  local token = line:match("[%w_.:]*$")
  local start = #line - #token + 1
  local before = line:sub(start - 1, start - 1)
  if before == ")" or before == "]" or before == "}" or before == "\"" or before == "'" then return {}, start end
  local head, sep, last = token:match("^(.*)([.:])([%w_]*)$")
  local names, prefix
  if not head then
    if token:match("^%d") then return {}, start end
    last, prefix = token, ""
    names = {}
    for k in next, _G do if is_ident(k) then names[k] = true end end
    for k in pairs(LAZY) do if package.preload["ember." .. k] then names[k] = true end end
    for _, k in ipairs(KEYWORDS) do names[k] = true end
  else
    for part in (head .. "."):gmatch("([^.]*)%.") do
      if not is_ident(part) then return {}, start end
    end
    local v = resolve(head)
    if v == nil then return {}, start end
    names = field_names(v, sep == ":")
    prefix = head .. sep
  end
  local out = {}
  for name in pairs(names) do
    if name:sub(1, #last) == last and (last:sub(1, 1) == "_" or name:sub(1, 1) ~= "_") then
      out[#out + 1] = prefix .. name
    end
  end
  table.sort(out)
  return out, start, "name"
end

-- ---------------------------------------------------------------------------------------------
-- start of a session

local function banner()
  local parts = {"ember " .. tostring(ember.version) .. " (Lua 5.4"}
  local ok, b = pcall(ember.blas)
  if ok and type(b) == "table" and b.kernel then parts[#parts + 1] = ", OpenBLAS " .. tostring(b.kernel) end
  local okt, t = pcall(ember.get_num_threads)
  if okt and t then parts[#parts + 1] = (", %d thread%s"):format(t, t == 1 and "" or "s") end
  parts[#parts + 1] = ")  help() or ?NAME for help, Ctrl-D to leave"
  return table.concat(parts)
end

--- repl.install([env = _G]): the session's globals: ember, help, plot, time, and nn, optim, loss
-- resolved from ember's fields on first use (a module that fails to load does not stop the session).
function M.install(env)
  env = env or _G
  if rawget(env, "ember") == nil then rawset(env, "ember", ember) end
  rawset(env, "help", M.help)
  rawset(env, "plot", M.plot)
  rawset(env, "time", M.time)
  local mt = getmetatable(env)
  if mt == nil then
    setmetatable(env, {__index = function(t, k)
      if not LAZY[k] then return nil end
      local ok, v = pcall(function() return ember[k] end)
      if ok and v ~= nil then rawset(t, k, v); return v end
      return nil
    end})
  end
end

--- repl.init(h): called by lua/repl.c when the session starts; h.source(name) returns the source of
-- an embedded module (for help). Installs the globals and prints the banner.
function M.init(h)
  host = type(h) == "table" and h or {}
  M.install(_G)
  io.write(banner(), "\n")
end

return M
