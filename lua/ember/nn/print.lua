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

local function add_lines(m, indent, lines, label)
  local kids = m:named_children()
  local head = indent .. (label or "") .. m.__name .. "(" .. m:extra_repr()
  if #kids == 0 then
    lines[#lines + 1] = head .. ")" .. params_note(m:num_parameters())
    return
  end
  lines[#lines + 1] = head
  for _, p in ipairs(module.own(m, "param")) do
    lines[#lines + 1] = indent .. "  (" .. tostring(p[1]) .. "): parameter " .. shape_str(p[2]) ..
      params_note(p[2]:numel())
  end
  for _, c in ipairs(kids) do add_lines(c[2], indent .. "  ", lines, "(" .. tostring(c[1]) .. "): ") end
  lines[#lines + 1] = indent .. ")" .. (indent ~= "" and params_note(m:num_parameters()) or "")
end

--- print.text(m) -> the text tostring(m) gives: one line per layer with its parameter count; a
-- container ends with a line "Total: N parameters"
function M.text(m)
  local lines = {}
  add_lines(m, "", lines)
  if #m:children() > 0 then
    local total = m:num_parameters()
    lines[#lines + 1] = "Total: " .. count_text(total) .. (total == 1 and " parameter" or " parameters")
  end
  return table.concat(lines, "\n")
end

return M
