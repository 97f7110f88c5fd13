-- POST an RFC 7662 introspection request for one valid access token, with
-- client_secret_basic of the client that owns it.
-- Environment: BENCH_AUTH ("Basic <base64>"), BENCH_TOKEN, BENCH_LABEL, BENCH_WRK_DIR.
local auth = assert(os.getenv("BENCH_AUTH"), "BENCH_AUTH is not set")
local token = assert(os.getenv("BENCH_TOKEN"), "BENCH_TOKEN is not set")

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Accept"] = "application/json"
wrk.headers["Authorization"] = auth
-- A compact JWS is base64url plus dots: nothing to percent-encode.
wrk.body = "token=" .. token

done = dofile((os.getenv("BENCH_WRK_DIR") or ".") .. "/report.lua").done
