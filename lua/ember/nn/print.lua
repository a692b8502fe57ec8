-- ember.nn.print: tostring(model), the architecture one line per layer with its parameter count:
--
--   Sequential(
--     (1): Conv2d(1 -> 10, kernel 5)  260 params
--     ...
--   )
--   Total: 8,490 parameters
local module = require "ember.nn.module"
local shape_str = require("ember.util").shape_str

local M = {}

-- 1234567 -> "1,234,567"
local function count_text(n)
  local sign, digits = tostring(math.tointeger(n) or math.floor(n)):match("^(%-?)(%d+)$")
  if not digits then return tostring(n) end
  local k = #digits % 3
  if k == 0 then k = 3 end
  return sign .. digits:sub(1, k) .. (digits:sub(k + 1):gsub("(%d%d%d)", ",%1"))
end

local function params_note(n)
  return n > 0 and ("  " .. count_text(n) .. (n == 1 and " param" or " params")) or ""
end

-- the line of a module printed before, as a reference to where it was: a module shared by two
-- fields is printed once, and a cycle (a module that contains itself) ends here instead of never
local function reference(m, head, state)
  local at = state.printed[m]
  local place = at == "" and "the model" or at
  if state.open[m] then return head .. "  cycle: back to " .. place end
  return head .. "  same module as " .. place
end

-- appends the lines of m (reached by the dotted path, printed after label) to state.lines
local function add_lines(m, indent, label, path, state)
  local lines = state.lines
  local head = indent .. label .. m.__name .. "(" .. m:extra_repr()
  if state.printed[m] then
    lines[#lines + 1] = reference(m, head .. ")", state)
    return
  end
  state.printed[m] = path
  local kids = m:named_children()
  if #kids == 0 then
    lines[#lines + 1] = head .. ")" .. params_note(m:num_parameters())
    return
  end
  state.open[m] = true
  lines[#lines + 1] = head
  for _, p in ipairs(module.own(m, "param")) do
    lines[#lines + 1] = indent .. "  (" .. tostring(p[1]) .. "): parameter " .. shape_str(p[2]) ..
      params_note(p[2]:numel())
  end
  for _, c in ipairs(kids) do
    local name = tostring(c[1])
    add_lines(c[2], indent .. "  ", "(" .. name .. "): ", path == "" and name or (path .. "." .. name), state)
  end
  lines[#lines + 1] = indent .. ")" .. (indent ~= "" and params_note(m:num_parameters()) or "")
  state.open[m] = nil
end

--- print.text(m) -> the text tostring(m) gives: one line per layer with its parameter count; a
-- container ends with a line "Total: N parameters". A module reached a second time (shared by two
-- fields, or through a cycle) is one line saying where it was printed.
function M.text(m)
  local state = {lines = {}, printed = {}, open = {}}
  add_lines(m, "", "", "", state)
  local lines = state.lines
  if #m:children() > 0 then
    local total = m:num_parameters()
    lines[#lines + 1] = "Total: " .. count_text(total) .. (total == 1 and " parameter" or " parameters")
  end
  return table.concat(lines, "\n")
end

return M
