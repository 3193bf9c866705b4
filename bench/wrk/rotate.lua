-- wrk script for benches/e2e.rs (--stores, --bearer): many users. Every request carries
-- the NEXT value of a file (one header value per line) in one header, Cookie unless
-- WRK_HEADER names another, in rotation, so that N logged-in sessions (or N bearer tokens,
-- with WRK_HEADER=Authorization and lines `Bearer <token>`) take turns instead of one
-- answering every request. Counts, as check.lua does, every response that is not a 200 and
-- every response with a Set-Cookie header, and prints one machine-readable line at the end
-- (`sessions`: the values in rotation):
--
--   WRK_RESULT requests=N duration_us=N non200=N set_cookie=N sessions=N ...
--
-- Usage (the file, the header and wrk's thread count come by environment, not by wrk's
-- arguments):
--
--   WRK_VALUES=cookies.txt WRK_THREADS=2 \
--     wrk -t2 -c32 -d5s -s bench/wrk/rotate.lua -H 'Accept: text/html' http://127.0.0.1:PORT/whoami
--   WRK_VALUES=tokens.txt WRK_HEADER=Authorization \
--     wrk -t1 -c16 -d5s -s bench/wrk/rotate.lua http://127.0.0.1:PORT/api/me
--
-- With T threads, thread k takes the lines k, k+T, k+2T, ... (each value belongs to one
-- thread; the connections of a thread take its values in turn). The requests are built
-- once, in init, so a request costs wrk one table lookup.

-- response() and done() are check.lua's (it sums the threads' `sessions`).
dofile((debug.getinfo(1, "S").source:sub(2):match("(.*/)") or "") .. "check.lua")

local started = 0

function setup(thread)
  thread:set("id", started)
  started = started + 1
  table.insert(threads, thread)
end

function init(args)
  non200 = 0
  set_cookie = 0
  first_bad = ""
  local path = os.getenv("WRK_VALUES")
  if path == nil or path == "" then
    error("rotate.lua: set WRK_VALUES to a file of header values, one a line")
  end
  local header = os.getenv("WRK_HEADER")
  if header == nil or header == "" then
    header = "Cookie"
  end
  local nthreads = tonumber(os.getenv("WRK_THREADS") or "1") or 1
  local headers = {}
  for name, value in pairs(wrk.headers) do
    headers[name] = value
  end
  prepared = {}
  local line_no = 0
  for line in io.lines(path) do
    if line ~= "" then
      if line_no % nthreads == id then
        headers[header] = line
        prepared[#prepared + 1] = wrk.format(nil, nil, headers)
      end
      line_no = line_no + 1
    end
  end
  if #prepared == 0 then
    error("rotate.lua: no value for thread " .. tostring(id) .. " in " .. path)
  end
  sessions = #prepared
  next_one = 1
end

function request()
  local r = prepared[next_one]
  next_one = next_one % sessions + 1
  return r
end
