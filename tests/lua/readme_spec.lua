-- readme_spec.lua - the README's complete example scripts run as printed, so the manual stays true.
-- A block counts as complete when it starts with `local ember = require "ember"`; the others are
-- fragments of the API reference.
local util = require "ember.util"
local lfs = require "lfs"

-- runs code with build/ember in a scratch folder that sees the repository's experiments/ (the
-- examples read experiments/data/...), so their runs/ folders do not land in the repository
local function run_script(code)
  local root = lfs.currentdir()
  local dir = os.tmpname(); os.remove(dir)
  assert(util.mkdir_p(dir))
  assert(lfs.link(root .. "/experiments", dir .. "/experiments", true))
  assert(util.write_atomic(dir .. "/example.lua", code))
  local bin = os.getenv("EMBER_BIN") or (root .. "/build/ember")
  if bin:sub(1, 1) ~= "/" then bin = root .. "/" .. bin end
  local p = io.popen(("cd %s && timeout 60 %s example.lua 2>&1; echo \"exit=$?\""):format(util.shell_quote(dir), util.shell_quote(bin)))
  local out = p:read("a")
  p:close()
  os.execute("rm -rf " .. util.shell_quote(dir))
  return out
end

local function complete_blocks()
  local text = assert(util.read_file("README.md"))
  local blocks = {}
  for code in text:gmatch("```lua\n(.-)```") do
    if code:find('^local ember = require "ember"') then blocks[#blocks + 1] = code end
  end
  return blocks
end

describe("README", function()
  it("has the tour's training loop as a complete script", function()
    assert.is_true(#complete_blocks() >= 1)
  end)
  it("runs every complete script as printed", function()
    for i, code in ipairs(complete_blocks()) do
      local out = run_script(code)
      assert.matches("exit=0\n$", out, "README script " .. i .. " failed:\n" .. out)
    end
  end)
  it("prints what the README says the examples print", function()
    local blocks = complete_blocks()
    local out = run_script(blocks[1])
    assert.matches("stopped %(patience%); best epoch 5", out)
    assert.matches("epoch  15 ", out)
    out = run_script(blocks[2])
    assert.matches("best valid_loss 0%.05%d+ at epoch 26 %(finished%)", out)
    assert.matches("valid_accuracy 0%.994", out)
  end)
end)
