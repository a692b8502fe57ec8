-- gen-cli-docs.lua [--check] : writes the command reference from the one declaration of each command
-- (lua/ember/cli, ember.cli.args): the generated blocks of docs/cli.md (between the markers
-- "<!-- generated: NAME -->" and "<!-- end generated -->") and the man page docs/ember.1.
-- Run it with the built ember (`make docs`); with --check it writes nothing and exits 1 when a file
-- is out of date (a test runs that).
local args = require "ember.cli.args"
local cli = require "ember.cli"
local util = require "ember.util"

local check = arg[1] == "--check"

local function read(path) return assert(util.read_file(path), "gen-cli-docs: cannot read " .. path) end

-- the text each marker of docs/cli.md stands for
local function block(name)
  if name == "usage" then return "```\n" .. cli.usage() .. "\n```" end
  local spec = cli.spec(name)
  if not spec then error(("gen-cli-docs: docs/cli.md names an unknown command '%s'"):format(name)) end
  return "```\n" .. args.help(spec) .. "\n```"
end

local function cli_md(text)
  local out, n = text:gsub("(<!%-%- generated: ([%w-]+) %-%->\n)(.-)(<!%-%- end generated %-%->)",
    function(open, name, _, close) return open .. block(name) .. "\n" .. close end)
  if n == 0 then error("gen-cli-docs: docs/cli.md has no generated blocks") end
  return out
end

local function roff(s)
  return (s:gsub("\\", "\\e"):gsub("%-", "\\-"):gsub("\n([.'])", "\n\\&%1"))
end

local function man_page()
  local ember = require "ember"
  local out = {
    ('.TH EMBER 1 "" "ember %s" "User Commands"'):format(ember.version),
    ".SH NAME",
    "ember \\- train neural networks and compare losses, optimizers and schedules from Lua",
    ".SH SYNOPSIS",
  }
  for line in cli.usage():gmatch("[^\n]+") do
    local cmd = line:match("^  (ember.-)%s%s+%S") or line:match("^  (ember.*)$")
    if cmd then out[#out + 1] = ".B " .. roff(cmd); out[#out + 1] = ".br" end
  end
  out[#out + 1] = ".SH DESCRIPTION"
  out[#out + 1] = roff("ember is a small toolkit for training neural networks: a C core (tensors with "
    .. "reverse-mode autograd, layers, losses, optimizers, data loaders) bound into Lua 5.4. Experiments "
    .. "are Lua scripts; every run is logged to a plain-text run directory and plotted with gnuplot. "
    .. "With no arguments on a terminal, ember starts an interactive session (REPL). ember SCRIPT.lua "
    .. "runs a script as lua5.4 would, with the global ember loaded.")
  out[#out + 1] = ".SH GLOBAL OPTIONS"
  out[#out + 1] = ".TP\n.B \\-\\-threads T"
  out[#out + 1] = "threads of every pool (also EMBER_NUM_THREADS); comes before the script or command"
  out[#out + 1] = ".TP\n.B \\-\\-version"
  out[#out + 1] = "the version, the BLAS library and kernel, the thread count"
  out[#out + 1] = ".TP\n.B \\-e CODE"
  out[#out + 1] = "run a string of Lua"
  out[#out + 1] = ".SH COMMANDS"
  for _, name in ipairs{"run", "plot", "runs", "sweep"} do out[#out + 1] = args.roff(cli.spec(name)) end
  out[#out + 1] = ".SH EXIT STATUS"
  out[#out + 1] = "0 success; 1 an error (the message on stderr); 2 bad usage; 130 interrupted (Ctrl\\-C, SIGTERM)."
  out[#out + 1] = ".SH ENVIRONMENT"
  for _, kv in ipairs{
      {"EMBER_NUM_THREADS", "threads of every pool, as --threads: an integer from 1 to 1024; any other value "
        .. "ends ember with exit status 2"},
      {"OPENBLAS_CORETYPE", "the OpenBLAS kernel; when unset ember picks one from the CPU"},
      {"EMBER_PATH", "a folder whose ember/*.lua files replace the embedded Lua modules"},
      {"EMBER_FASHION_MNIST", "the folder of the Fashion-MNIST IDX files"},
      {"EMBER_GNUPLOT", "the gnuplot program ember plot runs"},
      {"EMBER_HISTORY", "the REPL's history file (default ~/.ember_history)"}} do
    out[#out + 1] = ".TP\n.B " .. kv[1]
    out[#out + 1] = roff(kv[2])
  end
  out[#out + 1] = ".SH SEE ALSO"
  out[#out + 1] = roff("gnuplot(1), lua5.4(1). The manual: README.md and docs/ (api.md, cli.md, formats.md, "
    .. "performance.md, architecture.md), installed in share/doc/ember.")
  return table.concat(out, "\n") .. "\n"
end

local files = {
  {"docs/cli.md", function() return cli_md(read("docs/cli.md")) end},
  {"docs/ember.1", man_page},
}
local stale = {}
for _, f in ipairs(files) do
  local path, make = f[1], f[2]
  local want = make()
  local ok, have = pcall(read, path)
  if not ok or have ~= want then
    stale[#stale + 1] = path
    if not check then
      local out = assert(io.open(path, "wb"))
      out:write(want)
      out:close()
    end
  end
end
if check and #stale > 0 then
  io.stderr:write("gen-cli-docs: out of date (run make docs): ", table.concat(stale, ", "), "\n")
  os.exit(1)
end
for _, p in ipairs(stale) do print("wrote " .. p) end
