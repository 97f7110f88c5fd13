#!/usr/bin/env node
// Scale-out benchmark (issue 3): token issuance and introspection throughput of
//   1. one node on the embedded store (SQLite, shared state in process),
//   2. one node on PostgreSQL with the shared state in process (the store's share),
//   3. one node on PostgreSQL + Redis,
//   4. two nodes on the same PostgreSQL + Redis (one wrk per node, summed),
// measured in the same run on the same machine, with wrk. Run by hand:
//
//   AGENTIDP_BIN=build/agentidp node bench/scaleout.mjs     (make bench-scaleout)
//
// PostgreSQL and Redis are private throw-away servers (tests/integration/lib/cluster.mjs).
// On a 2-core machine the nodes, PostgreSQL, Redis and wrk share the same cores: the 2-node
// row shows the cost of the deployment's coordination, not a speed-up. The report gives the
// CPU of each party so the numbers can be read per core.
//
// Environment (optional): DURATION=10 WARMUP=3 CONNECTIONS=64 THREADS=2 ALG=ES256,
// RESULTS_DIR (default bench/results). AGENTIDP_* variables reach the servers (rate limits
// are raised here).

import { mkdir, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { adminToken, registerAgent, requestToken, basicAuth } from '../tests/conformance/lib/api.mjs';
import { startPostgres, startRedis } from '../tests/integration/lib/cluster.mjs';
import { runWrk } from './lib/wrk.mjs';
import { cpuSeconds, machineTicks, clockTicksPerSecond } from './lib/proc.mjs';
import { startNode } from './lib/node.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const env = process.env;
const num = (v, d) => (v === undefined || v === '' ? d : Number(v));
const cfg = {
  duration: num(env.DURATION, 10),
  warmup: num(env.WARMUP, 3),
  connections: num(env.CONNECTIONS, 64),
  threads: num(env.THREADS, 2),
  alg: env.ALG ?? 'ES256',
  resultsDir: env.RESULTS_DIR ? path.resolve(env.RESULTS_DIR) : path.join(here, 'results'),
};
const log = (...a) => console.error('[scaleout]', ...a);

// One measured load over `targets` ([{url, pid}]): one wrk per target, run at once, summed.
// `extra` are other processes whose CPU is reported (PostgreSQL, Redis).
async function measure(label, targets, script, wrkEnv, extra = {}) {
  const per = (t) => ({
    url: `${t.url}${script === 'token.lua' ? '/api/v1/token' : '/api/v1/token/introspect'}`,
    script,
    env: wrkEnv,
    threads: targets.length === 1 ? cfg.threads : 1,
    connections: Math.max(1, Math.floor(cfg.connections / targets.length)),
  });
  if (cfg.warmup > 0) await Promise.all(targets.map((t) => runWrk({ ...per(t), duration: cfg.warmup, label: `${label}/warmup` })));
  const nodeCpu0 = targets.map((t) => cpuSeconds(t.pid));
  const extraCpu0 = Object.fromEntries(Object.entries(extra).map(([k, pid]) => [k, cpuSeconds(pid, { withDescendants: true })]));
  const m0 = machineTicks();
  const runs = await Promise.all(targets.map((t) => runWrk({ ...per(t), duration: cfg.duration, label })));
  const m1 = machineTicks();
  const seconds = Math.max(...runs.map((r) => r.duration_s));
  const requests = runs.reduce((a, r) => a + r.requests, 0);
  const errors = runs.reduce((a, r) => a + Object.values(r.errors).reduce((x, y) => x + y, 0), 0);
  const nodeCores = targets.reduce((a, t, i) => a + (cpuSeconds(t.pid) - nodeCpu0[i]), 0) / seconds;
  const extraCores = Object.fromEntries(Object.entries(extra).map(([k, pid]) => [k, (cpuSeconds(pid, { withDescendants: true }) - extraCpu0[k]) / seconds]));
  const hz = clockTicksPerSecond();
  const result = {
    label,
    rps: requests / seconds,
    p50_ms: Math.max(...runs.map((r) => r.latency_us.p50)) / 1000,
    p99_ms: Math.max(...runs.map((r) => r.latency_us.p99)) / 1000,
    errors,
    nodeCores,
    ...Object.fromEntries(Object.entries(extraCores).map(([k, v]) => [`${k}Cores`, v])),
    wrkCores: runs.reduce((a, r) => a + r.wrkCpuSeconds, 0) / seconds,
    // Requests per CPU-second of the deployment (nodes + PostgreSQL + Redis): robust against
    // other work on the machine, which lowers req/s but not this.
    perDeploymentCpuSecond: (requests / seconds) / (nodeCores + Object.values(extraCores).reduce((a, b) => a + b, 0)),
    idleCores: (m1.idle - m0.idle) / hz / seconds,
  };
  log(`${label}: ${result.rps.toFixed(0)} req/s, p50 ${result.p50_ms.toFixed(2)} ms, p99 ${result.p99_ms.toFixed(2)} ms, nodes ${nodeCores.toFixed(2)} cores`
    + Object.entries(extraCores).map(([k, v]) => `, ${k} ${v.toFixed(2)}`).join('') + `, wrk ${result.wrkCores.toFixed(2)}, idle ${result.idleCores.toFixed(2)}`
    + (errors ? `, ${errors} errors (socket or non-2xx)` : ''));
  return result;
}

async function prepare(node) {
  const agent = await registerAgent(node, await adminToken(node));
  const t = await requestToken(node, { clientId: agent.clientId, clientSecret: agent.clientSecret });
  if (t.status !== 200) throw new Error(`token -> ${t.status}`);
  return { auth: basicAuth(agent.clientId, agent.clientSecret), token: t.body.access_token };
}

async function loads(name, nodes, extra) {
  const { auth, token } = await prepare(nodes[0]);
  return {
    token: await measure(`${name} token`, nodes, 'token.lua', { BENCH_AUTH: auth }, extra),
    introspect: await measure(`${name} introspect`, nodes, 'introspect.lua', { BENCH_AUTH: auth, BENCH_TOKEN: token }, extra),
  };
}

async function main() {
  if (!env.AGENTIDP_BIN) throw new Error('AGENTIDP_BIN is not set');
  const started = new Date();
  const results = { started: started.toISOString(), cfg, loadavgAtStart: os.loadavg(), rows: {} };

  log('embedded store (SQLite, shared state in process), 1 node');
  const embedded = await startNode({});
  try {
    results.rows.embedded = await loads('embedded 1 node', [embedded], {});
  } finally {
    await embedded.stop();
  }

  log('PostgreSQL + Redis');
  const pg = await startPostgres();
  const redis = await startRedis();
  const shared = {
    DATABASE_URL: pg.url,
    REDIS_URL: redis.url,
    AGENTIDP_MASTER_KEY: randomBytes(32).toString('hex'),
    AGENTIDP_ISSUER: 'http://idp.bench.test',
  };
  const extra = { postgres: pg.pid(), redis: redis.pid() };
  try {
    // PostgreSQL with the shared state in process: separates the store's cost from Redis's.
    const solo = await startNode({ ...shared, REDIS_URL: '', AGENTIDP_REDIS_URL: '' });
    const { admin } = solo;  // it bootstrapped the database; later nodes join with this admin
    try {
      results.rows.pgOnly = await loads('postgres only 1 node', [solo], extra);
    } finally {
      await solo.stop();
    }
    const a = await startNode(shared, admin);
    try {
      results.rows.pgRedis1 = await loads('postgres+redis 1 node', [a], extra);
      const b = await startNode(shared, admin);
      try {
        results.rows.pgRedis2 = await loads('postgres+redis 2 nodes', [a, b], extra);
      } finally {
        await b.stop();
      }
    } finally {
      await a.stop();
    }
  } finally {
    await redis.close();
    pg.close();
  }

  const r = results.rows;
  const ratio = (x, y) => (y > 0 ? x / y : NaN);
  results.ratios = {
    token1: ratio(r.pgRedis1.token.rps, r.embedded.token.rps),
    tokenPgOnly: ratio(r.pgOnly.token.rps, r.embedded.token.rps),
    token2: ratio(r.pgRedis2.token.rps, r.embedded.token.rps),
    introspect1: ratio(r.pgRedis1.introspect.rps, r.embedded.introspect.rps),
    introspect2: ratio(r.pgRedis2.introspect.rps, r.embedded.introspect.rps),
  };
  const f = (x, d = 0) => (x === undefined || Number.isNaN(x) ? '-' : x.toFixed(d));
  const L = [];
  L.push(`# Scale-out benchmark (${cfg.alg})`, '');
  L.push(`Run ${results.started}; ${os.availableParallelism()} cores; load average at start ${results.loadavgAtStart.map((x) => x.toFixed(2)).join(' ')}; `
    + `wrk -c${cfg.connections} for ${cfg.duration} s after ${cfg.warmup} s of warm-up (2 nodes: one wrk -t1 -c${cfg.connections / 2} per node).`, '');
  results.ratios.token1PerCpu = ratio(r.pgRedis1.token.perDeploymentCpuSecond, r.embedded.token.perDeploymentCpuSecond);
  L.push(`Target: one node on PostgreSQL + Redis issues ${cfg.alg} tokens at >= 70% of the embedded rate: `
    + `${f(results.ratios.token1 * 100)}% of the req/s — ${results.ratios.token1 >= 0.7 ? 'met' : 'not met'}; `
    + `${f(results.ratios.token1PerCpu * 100)}% of the tokens per CPU-second.`, '');
  L.push('"per CPU-s": requests per CPU-second of the deployment (nodes + PostgreSQL + Redis), and its ratio to the embedded store\'s; '
    + 'other work on the machine lowers req/s but hardly this.', '');
  L.push('| deployment | load | req/s | vs embedded | per CPU-s | vs embedded | p50 ms | p99 ms | node cores | PostgreSQL cores | Redis cores | wrk cores | idle cores | errors |');
  L.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const [key, name] of [['embedded', 'embedded, 1 node'], ['pgOnly', 'PostgreSQL, shared state in process, 1 node'], ['pgRedis1', 'PostgreSQL + Redis, 1 node'], ['pgRedis2', 'PostgreSQL + Redis, 2 nodes']]) {
    for (const load of ['token', 'introspect']) {
      const m = r[key][load];
      L.push(`| ${name} | ${load} | ${f(m.rps)} | ${f(ratio(m.rps, r.embedded[load].rps), 2)} | ${f(m.perDeploymentCpuSecond)} | `
        + `${f(ratio(m.perDeploymentCpuSecond, r.embedded[load].perDeploymentCpuSecond), 2)} | ${f(m.p50_ms, 2)} | ${f(m.p99_ms, 2)} | ${f(m.nodeCores, 2)} | `
        + `${f(m.postgresCores, 2)} | ${f(m.redisCores, 2)} | ${f(m.wrkCores, 2)} | ${f(m.idleCores, 2)} | ${m.errors} |`);
    }
  }
  const report = L.join('\n') + '\n';
  await mkdir(cfg.resultsDir, { recursive: true });
  await writeFile(path.join(cfg.resultsDir, 'scaleout-latest.md'), report);
  await writeFile(path.join(cfg.resultsDir, 'scaleout-latest.json'), JSON.stringify(results, null, 2));
  process.stdout.write(report);
}

main().catch((e) => { console.error(e); process.exit(1); });
