-- ember.repl: the Lua side of the interactive session (`ember` with no arguments; lua/repl.c reads the
-- lines and calls init, translate, print, format_error and complete here). The parts:
--   names.lua     what printing, help and completion share: the names of values, reading paths
--   show.lua      how values print (repl.show, repl.print)
--   help.lua      help(), ?NAME: what a name refers to; describe.lua writes the text from the doc
--                 comments (read by sources.lua, developers' remarks left out) and docs.lua (the C
--                 functions, the modules' lines, the sections of docs/api.md)
--   complete.lua  Tab completion candidates
--   errors.lua    how an error prints (message, then a short traceback)
--   tools.lua     the globals time() and plot()
-- This file: the :commands and ?NAME lines, the session's globals and its start.
local ember = require "ember"
local names = require "ember.repl.names"
local show = require "ember.repl.show"
local help = require "ember.repl.help"
local tools = require "ember.repl.tools"

local M = {}

M.show, M.print = show.show, show.print
M.docs, M.doc, M.lookup, M.help_text, M.help = help.docs, help.doc, help.lookup, help.help_text, help.help
M.complete = require("ember.repl.complete").complete
M.format_error = require("ember.repl.errors").format
M.time, M.plot, M._duration = tools.time, tools.plot, tools._duration
M._tensor_methods = names.tensor_methods

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
      if not names.LAZY[k] then return nil end
      local ok, v = pcall(function() return ember[k] end)
      if ok and v ~= nil then rawset(t, k, v); return v end
      return nil
    end})
  end
end

--- repl.init(h): called by lua/repl.c when the session starts; h.source(name) returns the source of
-- an embedded module (for help). Marks the session interactive (so Ctrl-C inside ember.fit returns the
-- history so far instead of raising), installs the globals and prints the banner.
function M.init(h)
  require("ember.repl.sources").set_host(h)
  require("ember.session").current().interactive = true
  M.install(_G)
  io.write(banner(), "\n")
end

return M
