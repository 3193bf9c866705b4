-- wrk script for benches/e2e.rs: counts every response that is not a 200 (a flood of
-- redirects or 401s must not pass for throughput) and every response that carries a
-- Set-Cookie header, and prints one machine-readable line at the end:
--
--   WRK_RESULT requests=N duration_us=N non200=N set_cookie=N sessions=N errors_connect=N ...
--
-- (`sessions`: the values rotate.lua takes turns with; 0 here.) rotate.lua loads this file
-- for `response` and `done`.
--
-- Usage: wrk -t1 -c16 -d5s -s bench/wrk/check.lua -H 'Cookie: ...' http://127.0.0.1:PORT/whoami

threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  non200 = 0
  set_cookie = 0
  first_bad = ""
end

function response(status, headers, body)
  if status ~= 200 then
    non200 = non200 + 1
    if first_bad == "" then
      first_bad = tostring(status) .. " " .. tostring(headers["Location"] or headers["location"] or "")
    end
  end
  for name, _ in pairs(headers) do
    if string.lower(name) == "set-cookie" then
      set_cookie = set_cookie + 1
      break
    end
  end
end

function done(summary, latency, requests)
  local bad, cookies, used, example = 0, 0, 0, ""
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("non200")
    cookies = cookies + thread:get("set_cookie")
    used = used + (thread:get("sessions") or 0)
    if example == "" then example = thread:get("first_bad") end
  end
  local e = summary.errors
  io.write(string.format(
    "WRK_RESULT requests=%d duration_us=%d bytes=%d non200=%d set_cookie=%d sessions=%d "
      .. "errors_connect=%d errors_read=%d errors_write=%d errors_timeout=%d "
      .. "p50_us=%d p90_us=%d p99_us=%d first_non200=%q\n",
    summary.requests, summary.duration, summary.bytes, bad, cookies, used,
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), example))
end
