-- POST a client_credentials token request with client_secret_basic.
-- Environment: BENCH_AUTH ("Basic <base64>"), optional BENCH_SCOPE, BENCH_LABEL,
-- BENCH_WRK_DIR (the directory of this script, for report.lua).
local auth = assert(os.getenv("BENCH_AUTH"), "BENCH_AUTH is not set")
local scope = os.getenv("BENCH_SCOPE")

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Accept"] = "application/json"
wrk.headers["Authorization"] = auth
wrk.body = "grant_type=client_credentials"
if scope and scope ~= "" then
  wrk.body = wrk.body .. "&scope=" .. scope:gsub(" ", "+")
end

done = dofile((os.getenv("BENCH_WRK_DIR") or ".") .. "/report.lua").done
