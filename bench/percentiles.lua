-- wrk's `done` hook: one line of requests/s and latency percentiles in
-- microseconds, for the proxy benchmarks (`wrk -s bench/percentiles.lua`).
done = function(summary, latency, requests)
  local line = string.format("rps=%d", summary.requests / (summary.duration / 1e6))
  for _, p in ipairs({50, 90, 99, 99.9}) do
    line = line .. string.format(" p%s=%d", p, latency:percentile(p))
  end
  io.write(line .. string.format(" max=%d\n", latency.max))
end
