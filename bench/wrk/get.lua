-- Plain GET of the URL given to wrk (used for the JWKS); only adds the report.
wrk.headers["Accept"] = "application/json"
done = dofile((os.getenv("BENCH_WRK_DIR") or ".") .. "/report.lua").done
