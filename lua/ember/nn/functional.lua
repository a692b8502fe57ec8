-- ember.nn.functional: the layers as plain functions (the kernels the layers use).
local ember = require "ember"

--- nn.functional: linear(x, w [, b]), conv2d(x, w [, b] [, {stride, padding, dilation, groups}]),
--- max_pool2d / avg_pool2d(x, kernel [, opts]), batch_norm(x, w, b, rm, rv, training [, momentum, eps]),
--- dropout(x, p [, training = true]), relu, sigmoid, tanh, gelu, softmax(x, dim), log_softmax(x, dim)
return {
  linear = ember.linear, conv2d = ember.conv2d, max_pool2d = ember.max_pool2d, avg_pool2d = ember.avg_pool2d,
  batch_norm = ember.batch_norm, dropout = ember.dropout,
  relu = function(x) return x:relu() end, sigmoid = function(x) return x:sigmoid() end,
  tanh = function(x) return x:tanh() end, gelu = function(x) return x:gelu() end,
  leaky_relu = function(x, s) return x:leaky_relu(s) end,
  softmax = function(x, dim) return x:softmax(dim or -1) end,
  log_softmax = function(x, dim) return x:log_softmax(dim or -1) end,
}
