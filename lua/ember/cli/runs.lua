-- ember.cli.runs: `ember runs [DIR]`: the table of the runs below a folder (built by ember.runs.table,
-- the runs picked by ember.runs.filter).
local E = require "ember.error"
local filter = require "ember.runs.filter"
local values = require "ember.runs.values"

local M = {}

M.spec = {
  command = "ember runs",
  usage = {"[DIR] [--where EXPR] [--sort KEY] [--columns A,B,...] [--tsv | --csv | --json]"},
  about = "Lists the runs below DIR (default runs), oldest first: name, id, status, the params that differ "
    .. "between the runs, the main metric (the monitored one, else valid_loss, else train_loss) with its best "
    .. "and last value, the last epoch logged and the duration. A param shows the value the run used: when "
    .. "the run recorded a resolved value (meta.tsv used.KEY, e.g. the optimizer's default lr for a config "
    .. "lr of 0) it is shown marked with *.",
  positional = {name = "dir", metavar = "DIR", max = 1, extra = "give one folder"},
  options = filter.with_options{
    {"--columns", "A,B,...", many = true, split = ",", help = "the columns to show: any param, meta key "
      .. "(status, seed, optimizer.lr, a run:set_meta key, ...), best.METRIC or last.METRIC, or name, id, "
      .. "dir, metric, best, last, epoch, duration; start with + to add to the default columns (+seed)"},
    {"--sort", "KEY", help = "order the runs by KEY (any key --columns takes; -KEY for descending); runs "
      .. "without a value last"},
    {"--desc", help = "sort in descending order"},
    {"--tsv", help = "print tab-separated values (exact numbers, duration in seconds) for scripts"},
    {"--csv", help = "print comma-separated values (RFC 4180)"},
    {"--json", help = "print a JSON array of objects, one per run"},
  },
}

--- cli.runs.main(o [, env]) -> exit status of `ember runs` with the parsed options o (see M.spec);
-- env (for tests): stdout, stderr
function M.main(o, env)
  env = env or {}
  local stdout, stderr = env.stdout or io.stdout, env.stderr or io.stderr
  local formats = {}
  for _, f in ipairs{"tsv", "csv", "json"} do if o[f] then formats[#formats + 1] = "--" .. f end end
  if #formats > 1 then E.raise("usage", "ember runs", "%s cannot be combined: choose one", table.concat(formats, " and ")) end
  local dir = o.dir or "runs"
  if require("lfs").attributes(dir, "mode") ~= "directory" then
    stderr:write(("ember runs: no such directory '%s'\n"):format(dir))
    return 1
  end
  local rt = require "ember.runs.table"
  local all = rt.read(dir, function(msg) stderr:write(msg, "\n") end)
  local list = filter.select(all, o, "ember runs")
  local cols = rt.columns(list, o.columns, "ember runs", all)
  if o.sort then
    local key, minus = o.sort:gsub("^%-", "")
    if key == "" then E.raise("usage", "ember runs", "--sort needs a key (got '%s')", o.sort) end
    if #all > 0 and not values.BUILTIN[key] and not values.known(all, key) then
      E.raise("usage", "ember runs", "--sort: no run has '%s' (%s)", key, values.describe_keys(all))
    end
    rt.sort(list, key, (minus > 0) ~= (o.desc == true))
  elseif o.desc then
    for i = 1, #list // 2 do list[i], list[#list + 1 - i] = list[#list + 1 - i], list[i] end
  end
  local t = rt.build(list, cols)
  if o.tsv then stdout:write(rt.tsv(t))
  elseif o.csv then stdout:write(rt.csv(t))
  elseif o.json then stdout:write(rt.json(t))
  elseif #list == 0 then
    stdout:write(("no runs below %s%s\n"):format(dir, filter.active(o) and " that the filter keeps" or ""))
  else
    stdout:write(rt.text(t))
  end
  return 0
end

return M
