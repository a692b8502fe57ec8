-- ember.cli.args: the one argument parser of the `ember` subcommands. A command declares its options
-- once, as a table; the same declaration parses the command line, writes `--help`, words every usage
-- error and writes the command reference of docs/cli.md and the man page (tools/gen-cli-docs.lua).
--
--   local spec = {
--     command = "ember run",                     -- the name in messages and help
--     usage = {"SCRIPT [options] [-- script args...]"},
--     about = "what the command does (one paragraph)",
--     positional = {name = "script", metavar = "SCRIPT", max = 1, extra = "script arguments go after '--'"},
--     rest = "script_args",                      -- where the words after `--` go
--     options = {
--       {"--seed", "S", type = "integer", min = 0, help = "seed of ember's RNG"},
--       {"--set", "KEY=VALUE", many = true, check = args.key_value, help = "..."},
--       {"--quiet", help = "no progress output"},                 -- no metavar: a flag
--       {"--term", "T", choices = {"png", "svg"}, help = "..."},
--       {"--metric", "M", many = true, split = ",", help = "..."},
--       {"--grid", "K=V,...", many = true, dest = "keys", check = parse_grid},  -- o.keys, with --random
--       {"--log-y", "[M]", optional = true, takes = is_metric},  -- o.log_y: true, or M (--log-y=M, or
--                                                              -- --log-y M when takes(M) is true)
--     },
--     footer = "Exit status: ...",
--   }
--   local o = args.parse(spec, argv)   -- o.seed, o.set (a list), o.quiet, o.script, o.script_args ...
--
-- Rules, the same for every command: `--opt value` or `--opt=value`; a value may start with '-'
-- (`--set lr=-1`); a flag takes no value; `-h` or `--help` anywhere gives {help = true}; `--` ends the
-- options (what follows goes to spec.rest, or to the positional list when rest is not given). A
-- repeated option that is not `many` keeps its last value. Bad usage raises an ember error of kind
-- "usage" (exit status 2) whose fn is spec.command.
local E = require "ember.error"

local M = {}

local function key_of(name) return (name:gsub("^%-%-", ""):gsub("%-", "_")) end

-- the message is one line: an argument's newline or escape sequence is shown as a space, never sent to
-- the terminal
local function usage_fail(spec, fmt, ...)
  error(E.new("usage", spec.command, (string.format(fmt, ...):gsub("%c", " "))), 0)
end

local INT_WORDS = {[0] = "a non-negative integer", [1] = "a positive integer"}

-- the text of one value, checked and converted by the option's declaration
local function convert(spec, opt, text)
  local name = opt[1]
  if opt.type == "integer" or opt.type == "number" then
    local n = tonumber(text)
    if opt.type == "integer" then n = n and math.tointeger(n) end
    local bad = n == nil or n ~= n or (opt.min and n < opt.min) or (opt.max and n > opt.max)
    if bad then
      local want
      if opt.type == "number" then want = "a number"
      elseif opt.min and opt.max then want = ("an integer from %d to %d"):format(opt.min, opt.max)
      elseif opt.min then want = INT_WORDS[opt.min] or ("an integer >= %d"):format(opt.min)
      else want = "an integer" end
      usage_fail(spec, "%s needs %s (got '%s')", name, want, text)
    end
    return n
  end
  if opt.choices then
    for _, c in ipairs(opt.choices) do
      if c == text then return text end
    end
    usage_fail(spec, "%s must be one of %s (got '%s')", name, table.concat(opt.choices, ", "), text)
  end
  if text == "" and not opt.empty then usage_fail(spec, "%s needs a non-empty value", name) end
  if opt.check then
    local v, why = opt.check(text)
    if v == nil then usage_fail(spec, "%s %s", name, why) end
    return v
  end
  return text
end

local function index_options(spec)
  local by = {}
  for _, opt in ipairs(spec.options or {}) do by[opt[1]] = opt end
  return by
end

local function dest(opt) return opt.dest or key_of(opt[1]) end

local function store(o, opt, value)
  local k = dest(opt)
  if not opt.many then o[k] = value; return end
  o[k] = o[k] or {}
  if opt.split and type(value) == "string" then
    for part in value:gmatch("[^" .. opt.split .. "]+") do o[k][#o[k] + 1] = part end
  else
    o[k][#o[k] + 1] = value
  end
end

-- One --name or --name=value word at argv[i] (and its value word): stores it in o, returns the index of
-- the last word it used.
local function parse_long(spec, by, o, argv, i)
  local a = argv[i]
  local name, value = a:match("^(%-%-[^=]+)=(.*)$")
  name = name or a
  local opt = by[name]
  if not opt then usage_fail(spec, "unknown option '%s'", name) end
  if opt.optional then
    -- a value of its own (--opt=V), the next word when the option takes it, else none (true)
    local nxt = argv[i + 1]
    if value == nil and type(nxt) == "string" and nxt:sub(1, 1) ~= "-" and (not opt.takes or opt.takes(nxt)) then
      value, i = nxt, i + 1
    end
    store(o, opt, value == nil and true or convert(spec, opt, value))
  elseif opt[2] == nil then
    if value ~= nil then usage_fail(spec, "%s takes no value (got '%s')", name, a) end
    store(o, opt, true)
  else
    if value == nil then
      i = i + 1
      value = argv[i]
      if value == nil then usage_fail(spec, "%s needs a value (%s)", name, opt[2]) end
    end
    store(o, opt, convert(spec, opt, value))
  end
  return i
end

--- args.parse(spec, argv) -> the options table (see the module comment); raises a usage error.
function M.parse(spec, argv)
  local by = index_options(spec)
  local pos = spec.positional
  for _, a in ipairs(argv) do
    if a == "--" then break end
    if a == "-h" or a == "--help" then return {help = true} end
  end
  local o, words = {}, {}
  for _, opt in ipairs(spec.options or {}) do
    if opt.many then o[dest(opt)] = {} end
    if opt.default ~= nil then o[dest(opt)] = opt.default end
  end
  local i = 1
  while i <= #argv do
    local a = argv[i]
    if type(a) ~= "string" then usage_fail(spec, "argument %d is not a string", i) end
    if a == "--" then
      local rest = {}
      for j = i + 1, #argv do rest[#rest + 1] = argv[j] end
      if spec.rest then
        -- `-- SCRIPT args` names the positional first when it has not been given
        if pos and pos.max == 1 and #words == 0 and rest[1] ~= nil then words[1] = table.remove(rest, 1) end
        o[spec.rest] = rest
      else
        for _, w in ipairs(rest) do words[#words + 1] = w end
      end
      break
    elseif a:sub(1, 2) == "--" and #a > 2 then
      i = parse_long(spec, by, o, argv, i)
    elseif a:sub(1, 1) == "-" and #a > 1 then
      usage_fail(spec, "unknown option '%s'", a)
    else
      words[#words + 1] = a
    end
    i = i + 1
  end
  if pos then
    if pos.max == 1 then
      if #words > 1 then usage_fail(spec, "unexpected argument '%s' (%s)", words[2], pos.extra or "one " .. pos.metavar .. " only") end
      o[pos.name] = words[1]
    else
      o[pos.name] = words
    end
    if (pos.min or 0) > #words then usage_fail(spec, "%s", pos.missing or ("give " .. pos.metavar)) end
  elseif #words > 0 then
    usage_fail(spec, "unexpected argument '%s'", words[1])
  end
  if spec.rest and o[spec.rest] == nil then o[spec.rest] = {} end
  return o
end

--- args.key_value(text) -> {key = K, value = V} from "K=V" (K trimmed and a config name), or nil and why
function M.key_value(text)
  local k, v = text:match("^([^=]*)=(.*)$")
  if not k then return nil, ("needs KEY=VALUE (got '%s')"):format(text) end
  k = k:match("^%s*(.-)%s*$")
  if not k:match("^[%a_][%w_.-]*$") then
    return nil, ("%s: the key must be a config name (letters, digits, _ . -; got '%s')"):format(text, k)
  end
  local control = require("ember.config.parse").control_problem(k, v)
  if control then return nil, ("%s: %s"):format(require("ember.util").tsv_field(text), control) end
  return {key = k, value = v}
end

-- help text ----------------------------------------------------------------------------------------------

local function option_label(opt)
  local label = opt[1]
  if opt[2] then label = label .. " " .. opt[2] end
  return label
end

local function wrap(text, width, indent)
  local lines = {}
  for para in (text .. "\n"):gmatch("(.-)\n") do
    local line = ""
    for word in para:gmatch("%S+") do
      if line ~= "" and #line + 1 + #word > width then
        lines[#lines + 1] = line
        line = word
      else
        line = line == "" and word or line .. " " .. word
      end
    end
    lines[#lines + 1] = line
  end
  return table.concat(lines, "\n" .. indent)
end

--- args.usage_lines(spec) -> "usage: ember run ...\n       ember run ..."
function M.usage_lines(spec)
  local out = {}
  for i, u in ipairs(spec.usage or {""}) do
    out[i] = (i == 1 and "usage: " or "       ") .. spec.command .. (u ~= "" and " " .. u or "")
  end
  return table.concat(out, "\n")
end

--- args.help(spec) -> the text of `COMMAND --help`
function M.help(spec)
  local out = {M.usage_lines(spec)}
  if spec.about then out[#out + 1] = wrap(spec.about, 100, "") end
  local labels, width = {}, 0
  for i, opt in ipairs(spec.options or {}) do
    labels[i] = option_label(opt)
    if #labels[i] <= 24 then width = math.max(width, #labels[i]) end
  end
  for i, opt in ipairs(spec.options or {}) do
    local label = labels[i]
    local help = opt.help or ""
    if opt.choices and not help:find(opt.choices[1], 1, true) then
      help = help .. (help ~= "" and " " or "") .. "(" .. table.concat(opt.choices, ", ") .. ")"
    end
    local indent = string.rep(" ", width + 4)
    if #label > width then
      out[#out + 1] = "  " .. label .. "\n" .. indent .. wrap(help, 96 - width, indent)
    else
      out[#out + 1] = "  " .. label .. string.rep(" ", width - #label + 2) .. wrap(help, 96 - width, indent)
    end
  end
  out[#out + 1] = "  -h, --help" .. string.rep(" ", math.max(2, width - 8)) .. "show this text"
  if spec.footer then out[#out + 1] = wrap(spec.footer, 100, "") end
  return table.concat(out, "\n")
end

-- reference documents ----------------------------------------------------------------------------------------

local function md_escape(s) return (s:gsub("|", "\\|")) end

--- args.markdown(spec) -> the command's reference in Markdown (a section of docs/cli.md)
function M.markdown(spec)
  local out = {"## " .. spec.command, "", "```", M.usage_lines(spec):gsub("^usage: ", ""), "```", ""}
  if spec.about then out[#out + 1] = spec.about:gsub("\n", " "); out[#out + 1] = "" end
  if spec.options and #spec.options > 0 then
    out[#out + 1] = "| option | meaning |"
    out[#out + 1] = "|---|---|"
    for _, opt in ipairs(spec.options) do
      local help = (opt.help or ""):gsub("\n", " ")
      if opt.choices and not help:find(opt.choices[1], 1, true) then
        help = help .. " (" .. table.concat(opt.choices, ", ") .. ")"
      end
      if opt.many then help = help .. " Repeatable." end
      out[#out + 1] = ("| `%s` | %s |"):format(md_escape(option_label(opt)), md_escape(help))
    end
    out[#out + 1] = "| `-h`, `--help` | show the command's help |"
    out[#out + 1] = ""
  end
  if spec.footer then out[#out + 1] = spec.footer:gsub("\n", " "); out[#out + 1] = "" end
  return table.concat(out, "\n")
end

local function roff_escape(s)
  s = s:gsub("\\", "\\e"):gsub("%-", "\\-")
  return (s:gsub("\n%.", "\n\\&."):gsub("^%.", "\\&.")):gsub("\n'", "\n\\&'")
end

--- args.roff(spec) -> the command's section of the man page (roff)
function M.roff(spec)
  local out = {".SS " .. roff_escape(spec.command)}
  for _, u in ipairs(spec.usage or {""}) do
    out[#out + 1] = ".B " .. roff_escape(spec.command)
    out[#out + 1] = roff_escape(u)
    out[#out + 1] = ".br"
  end
  if spec.about then out[#out + 1] = ".PP"; out[#out + 1] = roff_escape(spec.about:gsub("\n", " ")) end
  for _, opt in ipairs(spec.options or {}) do
    out[#out + 1] = ".TP"
    out[#out + 1] = ".B " .. roff_escape(option_label(opt))
    local help = (opt.help or ""):gsub("\n", " ")
    if opt.choices and not help:find(opt.choices[1], 1, true) then
      help = help .. " (" .. table.concat(opt.choices, ", ") .. ")"
    end
    out[#out + 1] = roff_escape(help)
  end
  if spec.footer then out[#out + 1] = ".PP"; out[#out + 1] = roff_escape(spec.footer:gsub("\n", " ")) end
  return table.concat(out, "\n")
end

return M
