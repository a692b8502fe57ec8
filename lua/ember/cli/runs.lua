-- ember.cli.runs: `ember runs [DIR]`: the table of the runs below a folder (built by ember.runs.table).
local E = require "ember.error"

local M = {}

M.spec = {
  command = "ember runs",
  usage = {"[DIR] [--tsv]"},
  about = "Lists the runs below DIR (default runs), oldest first: name, id, status, the params that differ "
    .. "between the runs, the main metric (the monitored one, else valid_loss, else train_loss) with its best "
    .. "and last value, the last epoch logged and the duration.",
  positional = {name = "dir", metavar = "DIR", max = 1, extra = "give one folder"},
  options = {
    {"--tsv", help = "print the same as tab-separated values (duration in seconds) for scripts"},
  },
}

--- cli.runs.main(o [, env]) -> exit status of `ember runs` with the parsed options o (see M.spec);
-- env (for tests): stdout, stderr
function M.main(o, env)
  env = env or {}
  local stdout, stderr = env.stdout or io.stdout, env.stderr or io.stderr
  local dir = o.dir or "runs"
  if require("lfs").attributes(dir, "mode") ~= "directory" then
    stderr:write(("ember runs: no such directory '%s'\n"):format(dir))
    return 1
  end
  local rt = require "ember.runs.table"
  local ok, header, shown, exact = pcall(function()
    return rt.build(rt.read(dir, function(msg) stderr:write(msg, "\n") end))
  end)
  if not ok then
    stderr:write("ember runs: ", E.message(header), "\n")
    return 1
  end
  if o.tsv then
    stdout:write(rt.tsv(header, exact))
  elseif #shown == 0 then
    stdout:write(("no runs below %s\n"):format(dir))
  else
    stdout:write(rt.text(header, shown))
  end
  return 0
end

return M
