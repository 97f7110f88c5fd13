#!/usr/bin/env node
// Starts one agentidp server the way bench/run.mjs does (temporary data directory,
// rate limits raised, access log into <data-dir>/server.log), registers one agent,
// prints what a hand-driven load or profiler needs as shell variables, and keeps the
// server up until this process gets SIGINT/SIGTERM. For profiling by hand:
//
//   AGENTIDP_BIN=build/agentidp node bench/serve.mjs ES256 > /tmp/srv.env &
//   . /tmp/srv.env   # URL, PID, BENCH_AUTH, BENCH_TOKEN, BENCH_WRK_DIR
//   perf record -g -p $PID -- sleep 10 &
//   wrk -t2 -c64 -d10s -s bench/wrk/token.lua $URL/api/v1/token
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from '../tests/conformance/lib/server.mjs';
import { adminToken, registerAgent, requestToken, basicAuth } from '../tests/conformance/lib/api.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const alg = process.argv[2] ?? 'ES256';
const server = await startServer({
  alg,
  env: { AGENTIDP_RATE_LIMIT_PER_MINUTE: '100000000', AGENTIDP_API_RATE_LIMIT_PER_MINUTE: '100000000' },
  logToFile: true,
});
const agent = await registerAgent(server, await adminToken(server));
const auth = basicAuth(agent.clientId, agent.clientSecret);
const token = await requestToken(server, { clientId: agent.clientId, clientSecret: agent.clientSecret });
if (token.status !== 200) throw new Error(`token request -> ${token.status}`);
const q = (s) => `'${String(s).replace(/'/g, `'\\''`)}'`;
console.log(`export URL=${q(server.url)} PID=${server.pid} DATA_DIR=${q(server.dataDir)}`);
console.log(`export BENCH_AUTH=${q(auth)} BENCH_TOKEN=${q(token.body.access_token)} BENCH_WRK_DIR=${q(path.join(here, 'wrk'))}`);
const stop = async () => { await server.stop(); process.exit(0); };
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
setInterval(() => {}, 1 << 30);
