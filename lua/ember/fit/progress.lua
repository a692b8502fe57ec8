-- ember.fit.progress: what ember.fit shows while it trains. On a terminal a progress bar redrawn at most
-- ten times a second (epoch, batch k/n, running loss, samples/s, the epoch's ETA and the whole run's),
-- then one line per epoch; elsewhere only the epoch lines. Quiet: nothing on the terminal, the epoch
-- lines still go to the run's stdout.log. Live (`ember run --live`): the monitored curve redrawn in the
-- terminal's text after each epoch.
local ember = require "ember"

local M = {}

local huge = math.huge

--- progress.number(v) -> v in 4 significant digits ("0.1235"), integers as they are
function M.number(v)
  if type(v) ~= "number" then return tostring(v) end
  if math.type(v) == "integer" then return tostring(v) end
  return string.format("%.4g", v)
end

--- progress.duration(seconds) -> "0.52s", "42s", "3m05s", "2h07m"; "?" when unknown
function M.duration(s)
  if s ~= s or s == huge or s < 0 then return "?" end
  if s < 10 then return ("%.2fs"):format(s) end
  s = math.floor(s + 0.5)
  if s < 60 then return ("%ds"):format(s) end
  if s < 3600 then return ("%dm%02ds"):format(s // 60, s % 60) end
  return ("%dh%02dm"):format(s // 3600, (s % 3600) // 60)
end

--- progress.eta(p) -> seconds left in this epoch, seconds left in the whole run. p: {k, n (batches
-- done and in the epoch), epoch, epochs, dt (seconds this epoch has run), ran (batches this process ran
-- in it), epoch_time (mean seconds of the epochs this process completed, validation included, or nil)}.
-- Before any epoch has completed, later epochs are estimated from this one's time per batch.
function M.eta(p)
  local per_batch = p.ran > 0 and p.dt / p.ran or 0 / 0
  local epoch_left = per_batch * (p.n - p.k)
  local whole = p.epoch_time or per_batch * p.n
  return epoch_left, epoch_left + (p.epochs - p.epoch) * whole
end

--- progress.bar_text(p, cols) -> the progress line for p ({epoch, epochs, k, n, loss, rate, eta,
-- run_eta}) at a terminal width of cols: the text, after a bar [===   ] when there is room
function M.bar_text(p, cols)
  local rate = p.rate >= 100 and ("%d"):format(math.floor(p.rate + 0.5)) or M.number(p.rate)
  local text = ("epoch %d/%d %d/%d loss %s %s samples/s ETA %s"):format(p.epoch, p.epochs, p.k, p.n,
    M.number(p.loss), rate, M.duration(p.eta))
  if p.run_eta then text = text .. (" (run %s)"):format(M.duration(p.run_eta)) end
  local width = cols - #text - 4
  if width >= 10 then
    local fill = p.n > 0 and math.floor(width * p.k / p.n) or width
    text = "[" .. string.rep("=", fill) .. string.rep(" ", width - fill) .. "] " .. text
  end
  return text:sub(1, cols - 1)
end

local Out = {}
Out.__index = Out

--- progress.new(quiet, live, run) -> the display of one ember.fit call
function M.new(quiet, live, run)
  local tty = not quiet and ember.isatty(1)
  return setmetatable({quiet = quiet, tty = tty, live = live and not quiet, run = run, last_bar = -huge,
                       bar_shown = false, curve_lines = 0}, Out)
end

--- out:bar(p): redraws the progress bar (see bar_text), at most every 0.1 s but always at an epoch's end
function Out:bar(p)
  if not self.tty then return end
  local now = ember.clock()
  if p.k < p.n and now - self.last_bar < 0.1 then return end
  self.last_bar = now
  io.stdout:write("\r", M.bar_text(p, (ember.terminal_size(1))), "\27[K")
  io.stdout:flush()
  self.bar_shown = true
end

function Out:clear_bar()
  if self.bar_shown then
    io.stdout:write("\r\27[K")
    self.bar_shown = false
  end
end

--- out:line(text): one line per epoch, on the terminal and in stdout.log (quiet: only the log)
function Out:line(text)
  self:clear_bar()
  if self.quiet then
    if self.run and not self.run._closed then self.run:_log_text(text .. "\n") end
    return
  end
  if self.tty and self.curve_lines > 0 then
    io.stdout:write(("\27[%dA\27[J"):format(self.curve_lines))
    self.curve_lines = 0
  end
  print(text)   -- through print, so the run's stdout.log gets it
  io.stdout:flush()
end

--- out:curve(history, monitor): with live, the monitored metric drawn below the epoch lines
function Out:curve(history, monitor)
  if not self.live or #history == 0 then return end
  local cols, rows = ember.terminal_size(1)
  -- one panel, the monitored metric, as tall as the terminal allows below the epoch lines
  local height = math.max(10, math.min(24, rows - 4))
  local metric = history[#history][monitor] ~= nil and monitor or "train_loss"
  local text, why = require("ember.plot").dumb_curve(history, metric, math.min(cols, 100), height)
  if not text then
    if not self.live_warned then
      io.stderr:write("ember: --live: no curve (" .. tostring(why):match("^[^\n]*") .. ")\n")
      self.live_warned = true
    end
    return
  end
  io.stdout:write(text)
  if text:sub(-1) ~= "\n" then io.stdout:write("\n") end
  io.stdout:flush()
  if self.tty then
    local n = 0
    for _ in text:gmatch("\n") do n = n + 1 end
    if text:sub(-1) ~= "\n" then n = n + 1 end
    self.curve_lines = n
  end
end

--- progress.epoch_line(row, epochs, metrics, seconds, star) -> "epoch 3/10  train_loss ...  lr 0.1  0.52s  *"
-- (the star when the monitored value improved, on a run with validation)
function M.epoch_line(row, epochs, metrics, seconds, star)
  local parts = {("epoch %d/%d"):format(row.epoch, epochs)}
  local shown = {"train_loss", "valid_loss"}
  for _, m in ipairs(metrics) do
    shown[#shown + 1] = "train_" .. m.name
    shown[#shown + 1] = "valid_" .. m.name
  end
  for _, c in ipairs(shown) do
    if row[c] ~= nil then parts[#parts + 1] = c .. " " .. M.number(row[c]) end
  end
  parts[#parts + 1] = "lr " .. M.number(row.lr)
  parts[#parts + 1] = M.duration(seconds)
  if star then parts[#parts + 1] = "*" end
  return table.concat(parts, "  ")
end

return M
