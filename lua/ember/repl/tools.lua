-- ember.repl.tools: the helpers the REPL adds as globals: time(fn, ...) (also :time EXPR) and
-- plot(src) (a curve in the terminal).
local ember = require "ember"
local E = require "ember.error"
local callable = require("ember.util").callable

local M = {}

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
    E.raise("type", "time", "expected a function (got %s); at the prompt, :time EXPR times an expression", type(fn))
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
    E.raise("type", "plot", "expected a run directory, a run, a list of numbers or a table of named lists (got %s)",
            type(src))
  end
  opts = opts or {}
  local ok, cols, rows = pcall(ember.terminal_size)
  if not ok then cols, rows = 80, 24 end
  local width = opts.width or math.max(40, cols - 1)
  local height = opts.height or math.max(12, math.min(rows - 4, 40))   -- train and valid take a panel each
  local text, err = require("ember.plot").dumb_curve(s, metric, width, height)
  if not text then E.raise("value", "plot", "%s", (tostring(err):gsub("^plot: ", ""))) end
  io.write(text)
  if text:sub(-1) ~= "\n" then io.write("\n") end
end

return M
