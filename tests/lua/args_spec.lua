-- args_spec.lua - ember.cli.args, the one argument parser of the subcommands: values, flags, repeats,
-- `--`, types and ranges, and the usage errors every command words the same way.
local args = require "ember.cli.args"
local E = require "ember.error"

local spec = {
  command = "ember demo",
  usage = {"FILE [options] [-- rest...]"},
  about = "A demo command.",
  positional = {name = "file", metavar = "FILE", max = 1, extra = "extra words go after '--'"},
  rest = "rest",
  options = {
    {"--seed", "S", type = "integer", min = 0, help = "a seed"},
    {"--width", "W", type = "integer", min = 10, max = 200, help = "a width"},
    {"--rate", "R", type = "number", help = "a rate"},
    {"--name", "N", help = "a name"},
    {"--title", "T", empty = true, help = "a title"},
    {"--term", "T", choices = {"png", "dumb"}, help = "a terminal"},
    {"--set", "K=V", many = true, check = args.key_value, help = "an override"},
    {"--metric", "M", many = true, split = ",", help = "metrics"},
    {"--grid", "K=V", many = true, dest = "keys", check = function(t) return {grid = t} end, help = "g"},
    {"--random", "K=V", many = true, dest = "keys", check = function(t) return {random = t} end, help = "r"},
    {"--quiet", help = "a flag"},
    {"--dry-run", help = "a flag with a dash"},
  },
  footer = "Exit status: 0 ok.",
}

local function usage_error(argv)
  local ok, e = pcall(args.parse, spec, argv)
  assert.is_false(ok, "expected a usage error")
  assert.equal("usage", E.kind(e))
  assert.equal("ember demo", e.fn)
  return e.message
end

describe("ember.cli.args", function()
  it("takes an optional value: --opt alone, --opt=V, or --opt V when the option takes the word", function()
    local opt = {command = "ember demo", positional = {name = "paths", metavar = "P"},
      options = {{"--log-y", "[M]", optional = true, many = true, split = ",",
                  takes = function(w) return not w:find("/", 1, true) end}}}
    assert.same({true}, args.parse(opt, {"a/b", "--log-y"}).log_y)
    assert.same({"x", "y"}, args.parse(opt, {"a/b", "--log-y", "x,y"}).log_y)
    local o = args.parse(opt, {"--log-y", "a/b"})
    assert.same({true}, o.log_y)
    assert.same({"a/b"}, o.paths)
    assert.same({true, "z"}, args.parse(opt, {"--log-y", "--log-y=z", "a/b"}).log_y)
    assert.same({true}, args.parse(opt, {"--log-y", "--", "x"}).log_y)
  end)

  it("takes --opt value, --opt=value, flags, repeats and the positional", function()
    local o = args.parse(spec, {"f.lua", "--seed", "3", "--rate=1e-3", "--name=a=b", "--quiet", "--dry-run",
                                "--set", "lr=-1", "--set", " wd =0", "--metric", "a,b", "--metric=c"})
    assert.equal("f.lua", o.file)
    assert.equal(3, o.seed)
    assert.equal("integer", math.type(o.seed))
    assert.equal(0.001, o.rate)
    assert.equal("a=b", o.name)
    assert.is_true(o.quiet)
    assert.is_true(o.dry_run)
    assert.same({{key = "lr", value = "-1"}, {key = "wd", value = "0"}}, o.set)
    assert.same({"a", "b", "c"}, o.metric)
    assert.same({}, o.rest)
  end)

  it("keeps the command-line order of options that share a destination", function()
    local o = args.parse(spec, {"--random", "x", "--grid", "y", "--random", "z"})
    assert.same({{random = "x"}, {grid = "y"}, {random = "z"}}, o.keys)
  end)

  it("sends what follows -- to rest, naming the positional first when it is missing", function()
    assert.same({"a", "--b"}, args.parse(spec, {"f", "--", "a", "--b"}).rest)
    local o = args.parse(spec, {"--seed", "1", "--", "f", "x"})
    assert.equal("f", o.file)
    assert.same({"x"}, o.rest)
  end)

  it("gives {help = true} for -h or --help anywhere, even beside bad options", function()
    assert.same({help = true}, args.parse(spec, {"--bogus", "-h"}))
    assert.same({help = true}, args.parse(spec, {"--help"}))
  end)

  it("words every usage error the same way", function()
    assert.equal("unknown option '--bogus'", usage_error{"--bogus"})
    assert.equal("unknown option '-x'", usage_error{"-x"})
    assert.equal("--seed needs a value (S)", usage_error{"--seed"})
    assert.equal("--seed needs a non-negative integer (got '-1')", usage_error{"--seed", "-1"})
    assert.equal("--seed needs a non-negative integer (got '2.5')", usage_error{"--seed=2.5"})
    assert.equal("--width needs an integer from 10 to 200 (got '5')", usage_error{"--width", "5"})
    assert.equal("--rate needs a number (got 'nan')", usage_error{"--rate", "nan"})
    assert.equal("--term must be one of png, dumb (got 'gif')", usage_error{"--term", "gif"})
    assert.equal("--name needs a non-empty value", usage_error{"--name="})
    assert.equal("--quiet takes no value (got '--quiet=yes')", usage_error{"--quiet=yes"})
    assert.equal("--set needs KEY=VALUE (got 'lr')", usage_error{"--set", "lr"})
    assert.equal("--set l r=1: the key must be a config name (letters, digits, _ . -; got 'l r')",
                 usage_error{"--set", "l\nr=1"})
    assert.equal("unknown option '--x [31m'", usage_error{"--x\27[31m"})
    assert.equal("--set note=a b: the value of note holds a control character (\\n (newline) at byte 2); a config value "
      .. "is one line of printable text", usage_error{"--set", "note=a\nb"})
    assert.equal("unexpected argument 'g' (extra words go after '--')", usage_error{"f", "g"})
    assert.equal("argument 2 is not a string", usage_error{"f", 3})
  end)

  it("accepts an empty value where the option allows it, and a value that starts with a dash", function()
    assert.equal("", args.parse(spec, {"--title", ""}).title)
    assert.equal("--x", args.parse(spec, {"--name", "--x"}).name)
  end)

  it("refuses a missing required positional with the declared message", function()
    local s = {command = "ember need", positional = {name = "paths", metavar = "PATH", min = 1,
               missing = "give at least one path"}, options = {}}
    local ok, e = pcall(args.parse, s, {})
    assert.is_false(ok)
    assert.equal("give at least one path", e.message)
    assert.same({"a", "b"}, args.parse(s, {"a", "--", "b"}).paths)
  end)

  it("writes the help, the Markdown and the man page from the same declaration", function()
    local help = args.help(spec)
    assert.matches("^usage: ember demo FILE %[options%] %[%-%- rest%.%.%.%]\nA demo command%.\n", help)
    assert.matches("\n  %-%-seed S +a seed\n", help)
    assert.matches("%-%-term T +a terminal %(png, dumb%)", help)
    assert.matches("\n  %-h, %-%-help +show this text\nExit status: 0 ok%.$", help)
    local md = args.markdown(spec)
    assert.matches("^## ember demo\n", md)
    assert.matches("| `%-%-set K=V` | an override Repeatable%. |", md)
    local man = args.roff(spec)
    assert.matches("^%.SS ember demo\n", man)
    assert.matches("%.B \\%-\\%-seed S\na seed", man)
  end)
end)
