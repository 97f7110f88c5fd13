-- Shared `done` hook: prints one JSON line that bench/run.mjs parses.
-- Latencies are in microseconds, as wrk measures them.
local M = {}

function M.done(summary, latency, requests)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    '{"bench":"%s","requests":%d,"duration_s":%.3f,"rps":%.1f,"bytes":%d,' ..
    '"latency_us":{"mean":%.1f,"stdev":%.1f,"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d},' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}}\n',
    os.getenv("BENCH_LABEL") or "wrk", summary.requests, secs, summary.requests / secs, summary.bytes,
    latency.mean, latency.stdev, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end

return M
