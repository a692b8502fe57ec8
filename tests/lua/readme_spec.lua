-- readme_spec.lua - the manual stays true: README.md and docs/*.md run as printed, link only to what
-- exists, and the repository names no file outside itself.
-- A Lua block counts as a complete script when it starts with `local ember = require "ember"`; the
-- others are fragments of the reference, which must still compile.
local util = require "ember.util"
local lfs = require "lfs"

local ROOT = lfs.currentdir()

local function manual_files()
  local files = {"README.md"}
  local docs = {}
  for f in lfs.dir("docs") do
    if f:match("%.md$") then docs[#docs + 1] = "docs/" .. f end
  end
  table.sort(docs)
  for _, f in ipairs(docs) do files[#files + 1] = f end
  return files
end

-- every ```lua block of every manual file: {file, code, complete}
local function lua_blocks()
  local blocks = {}
  for _, file in ipairs(manual_files()) do
    local text = assert(util.read_file(file))
    for code in text:gmatch("```lua\n(.-)```") do
      blocks[#blocks + 1] = {file = file, code = code,
                             complete = code:find('^local ember = require "ember"') ~= nil}
    end
  end
  return blocks
end

local function complete_blocks()
  local list = {}
  for _, b in ipairs(lua_blocks()) do
    if b.complete then list[#list + 1] = b end
  end
  return list
end

-- the one complete script of file whose code contains marker
local function block_with(file, marker)
  local found
  for _, b in ipairs(complete_blocks()) do
    if b.file == file and b.code:find(marker, 1, true) then
      assert(found == nil, file .. " has two complete scripts holding " .. marker)
      found = b
    end
  end
  return assert(found, file .. " has no complete script holding " .. marker)
end

-- runs code with build/ember in a scratch folder that sees the repository's experiments/ (the
-- examples read experiments/data/...), so their runs/ folders do not land in the repository
local function run_script(code)
  local dir = os.tmpname(); os.remove(dir)
  assert(util.mkdir_p(dir))
  assert(lfs.link(ROOT .. "/experiments", dir .. "/experiments", true))
  assert(util.write_atomic(dir .. "/example.lua", code))
  local bin = os.getenv("EMBER_BIN") or (ROOT .. "/build/ember")
  if bin:sub(1, 1) ~= "/" then bin = ROOT .. "/" .. bin end
  local p = io.popen(("cd %s && timeout 60 %s example.lua 2>&1; echo \"exit=$?\""):format(util.shell_quote(dir), util.shell_quote(bin)))
  local out = p:read("a")
  p:close()
  os.execute("rm -rf " .. util.shell_quote(dir))
  return out
end

-- GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens
local function anchor(heading)
  return (heading:lower():gsub("[^%w%s_-]", ""):gsub("%s", "-"))
end

-- the anchors of a Markdown file's headings (outside code blocks)
local function anchors(text)
  local set = {}
  text = text:gsub("\n```.-\n```", "\n")
  for h in ("\n" .. text):gmatch("\n#+%s+([^\n]+)") do set[anchor(h)] = true end
  return set
end

-- the link targets of a Markdown text, code blocks and code spans left out
local function links(text)
  text = text:gsub("\n```.-\n```", "\n"):gsub("``.-``", ""):gsub("`[^`\n]*`", "")
  local list = {}
  for target in text:gmatch("%]%(([^)%s]+)%)") do list[#list + 1] = target end
  return list
end

local function dirname(path) return path:match("^(.*)/[^/]*$") or "." end

local function normalize(path)
  local parts = {}
  for p in path:gmatch("[^/]+") do
    if p == ".." then
      if #parts == 0 then return nil end   -- above the repository
      parts[#parts] = nil
    elseif p ~= "." then
      parts[#parts + 1] = p
    end
  end
  return table.concat(parts, "/")
end

-- the repository's tracked files (nil outside a git work tree)
local function tracked_files()
  local p = io.popen("git -C " .. util.shell_quote(ROOT) .. " ls-files --cached --others --exclude-standard 2>/dev/null")
  local files = {}
  for line in p:lines() do files[#files + 1] = line end
  p:close()
  return #files > 0 and files or nil
end

describe("the manual", function()
  it("has the README's training loop and the API's ember.fit example as complete scripts", function()
    block_with("README.md", "stop:update")
    block_with("docs/api.md", "ember.fit{")
  end)

  it("runs every complete script as printed", function()
    for _, b in ipairs(complete_blocks()) do
      local out = run_script(b.code)
      assert.matches("exit=0\n$", out, b.file .. ": script failed:\n" .. b.code .. "\n" .. out)
    end
  end)

  it("prints what it says the examples print", function()
    local out = run_script(block_with("README.md", "stop:update").code)
    assert.matches("stopped %(patience%); best epoch 5", out)
    assert.matches("epoch  15 ", out)
    out = run_script(block_with("docs/api.md", "ember.fit{").code)
    assert.matches("best valid_loss 0%.05%d+ at epoch 26 %(finished%)", out)
    assert.matches("valid_accuracy 0%.994", out)
  end)

  it("has Lua fragments that compile", function()
    for _, b in ipairs(lua_blocks()) do
      local ok, err = load(b.code, "=" .. b.file)
      assert(ok, b.file .. ": a Lua block does not compile: " .. tostring(err) .. "\n" .. b.code)
    end
  end)

  it("shows the version ember prints wherever it quotes ember's banner or --version", function()
    local ember = require "ember"
    local stale = {}
    for _, file in ipairs(manual_files()) do
      local n = 0
      for line in assert(util.read_file(file)):gmatch("[^\n]*") do
        n = n + 1
        local v = line:match("^ember (%d+%.%d+%.%d+) %(Lua")
        if v and v ~= ember.version then stale[#stale + 1] = ("%s:%d: %s"):format(file, n, v) end
      end
    end
    assert(#stale == 0, "ember is " .. ember.version .. "; the manual shows:\n" .. table.concat(stale, "\n"))
  end)

  it("links only to files and headings that exist (every Markdown file of the repository)", function()
    local bad = {}
    local md = {}
    for _, f in ipairs(tracked_files() or manual_files()) do
      if f:match("%.md$") and lfs.attributes(f, "mode") == "file" then md[#md + 1] = f end
    end
    for _, file in ipairs(md) do
      for _, target in ipairs(links(assert(util.read_file(file)))) do
        if not target:find("^%a[%w+.-]*:") then   -- http:, https:, mailto: are not checked
          local path, frag = target:match("^([^#]*)#?(.*)$")
          local resolved = path == "" and file or normalize(dirname(file) .. "/" .. path)
          if not resolved or not lfs.attributes(resolved) then
            bad[#bad + 1] = ("%s: %s (no such file)"):format(file, target)
          elseif frag ~= "" and resolved:match("%.md$") and not anchors(util.read_file(resolved))[frag] then
            bad[#bad + 1] = ("%s: %s (no such heading)"):format(file, target)
          end
        end
      end
    end
    assert(#bad == 0, "broken links:\n" .. table.concat(bad, "\n"))
  end)
end)

describe("the repository", function()
  local files = tracked_files()

  it("has the command reference of docs/cli.md and the man page as the commands declare them", function()
    local bin = os.getenv("EMBER_BIN") or (ROOT .. "/build/ember")
    local p = io.popen(("cd %s && %s tools/gen-cli-docs.lua --check 2>&1; echo \"exit=$?\""):format(
      util.shell_quote(ROOT), util.shell_quote(bin)))
    local out = p:read("a")
    p:close()
    assert.matches("exit=0\n$", out, out)
  end)

  it("names no path outside itself", function()
    if not files then pending("not a git work tree"); return end
    -- the patterns are spelled so that this file does not match them
    local p = io.popen(("git -C %s grep --untracked -n -I -E -e %s -e %s 2>&1"):format(util.shell_quote(ROOT),
      util.shell_quote("[.][.]/shared"), util.shell_quote("DESIGN[.]md")))
    local out = p:read("a")
    p:close()
    assert(out == "", "files naming paths outside the repository:\n" .. out)
  end)

  it("names only Markdown files it holds", function()
    if not files then pending("not a git work tree"); return end
    local have = {}
    for _, f in ipairs(files) do have[f:match("[^/]+$")] = true end
    local p = io.popen(("git -C %s grep --untracked -o -h -I -E %s 2>&1"):format(util.shell_quote(ROOT),
      util.shell_quote("[A-Za-z0-9_-]+[.]md\\b")))
    local missing, seen = {}, {}
    for name in p:lines() do
      if not have[name] and not seen[name] then seen[name] = true; missing[#missing + 1] = name end
    end
    p:close()
    table.sort(missing)
    assert(#missing == 0, "files named but not in the repository: " .. table.concat(missing, ", "))
  end)
end)
