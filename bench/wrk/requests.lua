-- Sends the complete requests of a file, one per line, split across wrk's threads.
--
-- wrk -s requests.lua URL -- FILE once|cycle THREADS
--
-- A line is tab-separated: method, path, body (may be empty), then one "Name: value" per header.
-- "once": thread n of THREADS takes lines n, n+THREADS, n+2*THREADS, ... (each line belongs to exactly one
-- thread), sends each once, in order, and then asks for /__essc_bench_exhausted__ (a 404, counted as
-- exhausted). "cycle" (requests that may repeat): every thread takes every line, starting at its own offset,
-- and starts again from the first when it reaches the end.
-- With ESSC_WRK_PAUSE_MS set above 0, each connection waits that long after an answer before its next
-- request, so a run can hold the server below saturation (a connection sends one request per latency + pause).
-- done() prints, on lines starting with "ESSC ", the totals, p50/p99 in microseconds and the status counts.

local threads = {}
local thread_count = 0

function setup(thread)
   thread:set("thread_index", thread_count)
   thread_count = thread_count + 1
   table.insert(threads, thread)
end

local function split(line)
   local fields = {}
   local start = 1
   while true do
      local tab = string.find(line, "\t", start, true)
      if not tab then
         table.insert(fields, string.sub(line, start))
         return fields
      end
      table.insert(fields, string.sub(line, start, tab - 1))
      start = tab + 1
   end
end

-- wrk asks whether the script has a delay() before init() runs, so the pause comes from the environment;
-- without one there is no delay() and wrk sends as it always does.
local pause_ms = tonumber(os.getenv("ESSC_WRK_PAUSE_MS") or "0")
if pause_ms > 0 then
   function delay()
      return pause_ms
   end
end

function init(args)
   local path, threads_in_run = args[1], tonumber(args[3])
   mode = args[2]
   pending = {}
   next_request = 1
   statuses = {}
   exhausted = 0
   local line_number = 0
   for line in io.lines(path) do
      if line ~= "" and (mode == "cycle" or line_number % threads_in_run == thread_index) then
         local fields = split(line)
         local headers = {}
         for field = 4, #fields do
            local colon = string.find(fields[field], ": ", 1, true)
            headers[string.sub(fields[field], 1, colon - 1)] = string.sub(fields[field], colon + 2)
         end
         local body = fields[3]
         if body == "" then
            body = nil
         end
         table.insert(pending, wrk.format(fields[1], fields[2], headers, body))
      end
      line_number = line_number + 1
   end
   if mode == "cycle" then
      next_request = 1 + math.floor(thread_index * #pending / threads_in_run)
   end
   exhausted_request = wrk.format("GET", "/__essc_bench_exhausted__")
end

function request()
   if next_request > #pending then
      if mode ~= "cycle" or #pending == 0 then
         exhausted = exhausted + 1
         return exhausted_request
      end
      next_request = 1
   end
   local prepared = pending[next_request]
   next_request = next_request + 1
   return prepared
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
   local counts = {}
   local exhausted_total = 0
   for _, thread in ipairs(threads) do
      for status, count in pairs(thread:get("statuses")) do
         counts[status] = (counts[status] or 0) + count
      end
      exhausted_total = exhausted_total + thread:get("exhausted")
   end
   local errors = summary.errors
   io.write(string.format(
      "ESSC requests %d duration_us %d p50_us %d p99_us %d exhausted %d connect %d read %d write %d timeout %d\n",
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), exhausted_total,
      errors.connect, errors.read, errors.write, errors.timeout))
   for status, count in pairs(counts) do
      io.write(string.format("ESSC status %d %d\n", status, count))
   end
end
