#!/usr/bin/env node
// Where does a PostgreSQL (+ Redis) node's token latency go? A diagnostic companion of
// bench/scaleout.mjs (issue 3): the same throw-away PostgreSQL and Redis, the same
// non-superuser role under row-level security, the same cold node and wrk load, plus
//   - a probe client beside wrk: one token request at a time on its own connection, each
//     latency recorded with its time, so slow requests can be lined up with server events;
//   - PostgreSQL's view of the load: pg_stat_activity wait events sampled every 100 ms,
//     pg_stat_statements (per statement calls, mean/max time, WAL bytes), pg_stat_wal,
//     checkpoints, autovacuum of audit_events, and the server log's checkpoint/autovacuum lines;
//   - Redis's: INFO commandstats and LATENCY LATEST.
// Run by hand:  AGENTIDP_BIN=build-rel/agentidp node bench/pgprobe.mjs
// Environment (optional): REDIS=1 (default) or 0, DURATION=10 WARMUP=3 CONNECTIONS=64
// THREADS=2, NODES=1 (2: a second node on the same PostgreSQL and Redis, one wrk -t1 per
// node with half the connections each, summed; the probe goes to the first), PRELOAD=<seconds of token load on a PostgreSQL-only node first, as scaleout.mjs
// does before its Redis rows> (default 0), PG_SETTINGS="name=value;name=value" (ALTER SYSTEM,
// applied with a restart before the node starts).

import { readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

import { adminToken, registerAgent, basicAuth } from '../tests/conformance/lib/api.mjs';
import { startPostgres, startRedis } from '../tests/integration/lib/cluster.mjs';
import { runWrk } from './lib/wrk.mjs';
import { cpuSeconds, machineTicks, clockTicksPerSecond } from './lib/proc.mjs';
import { startNode } from './lib/node.mjs';

const env = process.env;
const num = (v, d) => (v === undefined || v === '' ? d : Number(v));
const cfg = {
  redis: (env.REDIS ?? '1') !== '0',
  nodes: num(env.NODES, 1),
  // HOLD_SNAPSHOT=1: a REPEATABLE READ transaction (as pg_dump holds) stays open through the
  // load, so nothing that the load deletes or updates can be pruned meanwhile.
  holdSnapshot: env.HOLD_SNAPSHOT === '1',
  duration: num(env.DURATION, 10),
  warmup: num(env.WARMUP, 3),
  connections: num(env.CONNECTIONS, 64),
  threads: num(env.THREADS, 2),
  preload: num(env.PRELOAD, 0),
  // WAITS=0: no pg_stat_activity sampling (each sample is a new psql session, whose start
  // shows in a profile of the PostgreSQL processes).
  waits: (env.WAITS ?? '1') !== '0',
  pgSettings: (env.PG_SETTINGS ?? '').split(';').map((s) => s.trim()).filter(Boolean),
};
const log = (...a) => console.error('[pgprobe]', ...a);

function redisCommand(port, ...args) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port }, () => {
      sock.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`);
    });
    let buf = '';
    sock.setTimeout(2000, () => { sock.destroy(); resolve(buf); });
    sock.on('data', (c) => { buf += c; });
    sock.on('end', () => resolve(buf));
    sock.on('error', reject);
    setTimeout(() => { sock.end(); }, 200);
  });
}

// One token request at a time, on its own keep-alive connection, every `everyMs`.
function startProbe(url, auth, everyMs = 5) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const samples = [];
  let stop = false;
  const target = new URL('/api/v1/token', url);
  const body = 'grant_type=client_credentials';
  const one = () => new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const req = http.request(target, {
      method: 'POST', agent,
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: auth, 'content-length': body.length },
    }, (res) => {
      res.resume();
      res.on('end', () => {
        samples.push({ at: Date.now(), ms: Number(process.hrtime.bigint() - t0) / 1e6, status: res.statusCode });
        resolve();
      });
    });
    req.on('error', () => resolve());
    req.end(body);
  });
  const done = (async () => {
    while (!stop) {
      await one();
      await sleep(everyMs);
    }
  })();
  return { samples, async stop() { stop = true; await done; agent.destroy(); } };
}

// pg_stat_activity of the node's sessions, every 100 ms: what the backends wait on.
function startWaitSampler(pg) {
  const counts = new Map();
  let samples = 0;
  let stop = false;
  const sql = `SELECT coalesce(wait_event_type, 'CPU') || ':' || coalesce(wait_event, state) || ' | '
    || left(regexp_replace(query, '\\s+', ' ', 'g'), 40) FROM pg_stat_activity
    WHERE usename = 'agentidp_app' AND state <> 'idle'`;
  const done = (async () => {
    while (!stop) {
      try {
        for (const line of pg.psql(sql).split('\n').filter(Boolean)) counts.set(line, (counts.get(line) ?? 0) + 1);
        samples += 1;
      } catch { /* server busy */ }
      await sleep(100);
    }
  })();
  return { async stop() { stop = true; await done; return { samples, counts: [...counts].sort((a, b) => b[1] - a[1]) }; } };
}

function pctl(sorted, p) {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : NaN;
}

async function main() {
  if (!env.AGENTIDP_BIN) throw new Error('AGENTIDP_BIN is not set');
  const pg = await startPostgres();
  const redis = cfg.redis ? await startRedis() : null;
  try {
    pg.psql(`ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'`);
    pg.psql(`ALTER SYSTEM SET log_checkpoints = on`);
    pg.psql(`ALTER SYSTEM SET log_autovacuum_min_duration = 0`);
    pg.psql(`ALTER SYSTEM SET log_lock_waits = on`);
    pg.psql(`ALTER SYSTEM SET deadlock_timeout = '20ms'`);
    pg.psql(`ALTER SYSTEM SET log_min_duration_statement = '50ms'`);
    for (const s of cfg.pgSettings) {
      const [k, v] = s.split('=');
      pg.psql(`ALTER SYSTEM SET ${k.trim()} = '${v.trim()}'`);
    }
    await pg.stop();
    await pg.start();
    pg.psql('CREATE EXTENSION pg_stat_statements');
    // Statements inside functions too (the audit triggers' queries), once the library is loaded.
    pg.psql(`ALTER SYSTEM SET pg_stat_statements.track = 'all'`);
    pg.psql('SELECT pg_reload_conf()');
    const shared = {
      DATABASE_URL: pg.url,
      AGENTIDP_MASTER_KEY: randomBytes(32).toString('hex'),
      AGENTIDP_ISSUER: 'http://idp.bench.test',
      REDIS_URL: '', AGENTIDP_REDIS_URL: '',
    };
    let admin;
    if (cfg.preload > 0) {
      const solo = await startNode(shared);
      admin = solo.admin;
      const a = await registerAgent(solo, await adminToken(solo));
      log(`preload: ${cfg.preload} s of token load on a PostgreSQL-only node`);
      await runWrk({ url: `${solo.url}/api/v1/token`, script: 'token.lua', env: { BENCH_AUTH: basicAuth(a.clientId, a.clientSecret) },
        threads: cfg.threads, connections: cfg.connections, duration: cfg.preload, label: 'preload' });
      await solo.stop();
    }
    const nodeEnv = { ...shared, ...(redis ? { REDIS_URL: redis.url, AGENTIDP_REDIS_URL: redis.url } : {}) };
    const node = await startNode(nodeEnv, admin);
    const nodes = [node];
    while (nodes.length < cfg.nodes) nodes.push(await startNode(nodeEnv, node.admin));
    const agent = await registerAgent(node, await adminToken(node));
    const auth = basicAuth(agent.clientId, agent.clientSecret);
    const extra = { postgres: pg.pid(), ...(redis ? { redis: redis.pid() } : {}) };
    const load = (duration, label) => Promise.all(nodes.map((n) => runWrk({
      url: `${n.url}/api/v1/token`, script: 'token.lua', env: { BENCH_AUTH: auth }, threads: nodes.length === 1 ? cfg.threads : 1,
      connections: Math.floor(cfg.connections / nodes.length), duration, label })));
    if (cfg.warmup > 0) await load(cfg.warmup, 'warmup');
    pg.psql('SELECT pg_stat_statements_reset(); SELECT pg_stat_reset_shared(\'wal\'); SELECT pg_stat_reset_shared(\'bgwriter\')');
    if (redis) await redisCommand(redis.port, 'CONFIG', 'RESETSTAT');
    if (redis) await redisCommand(redis.port, 'CONFIG', 'SET', 'latency-monitor-threshold', '5');
    const started = Date.now();
    const nodeCpu = () => nodes.reduce((a, n) => a + cpuSeconds(n.pid), 0);
    const cpu0 = { node: nodeCpu(), ...Object.fromEntries(Object.entries(extra).map(([k, p]) => [k, cpuSeconds(p, { withDescendants: true })])) };
    const m0 = machineTicks();
    const probe = startProbe(node.url, auth);
    const holder = cfg.holdSnapshot
      ? spawn('psql', ['-h', '127.0.0.1', '-p', String(pg.port), '-U', 'postgres', '-d', 'agentidp', '-X', '-q', '-c',
        `BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM audit_head; SELECT pg_sleep(${cfg.duration + 1}); COMMIT`], { stdio: 'ignore' })
      : null;
    const waits = cfg.waits ? startWaitSampler(pg) : { async stop() { return { samples: 0, counts: [] }; } };
    const runs = await load(cfg.duration, 'token');
    const r = {
      requests: runs.reduce((a, x) => a + x.requests, 0),
      duration_s: Math.max(...runs.map((x) => x.duration_s)),
      latency_us: Object.fromEntries(Object.keys(runs[0].latency_us).map((k) => [k, Math.max(...runs.map((x) => x.latency_us[k]))])),
      errors: runs.reduce((a, x) => { for (const [k, v] of Object.entries(x.errors)) a[k] = (a[k] ?? 0) + v; return a; }, {}),
    };
    const m1 = machineTicks();
    const secs = r.duration_s;
    const cores = { node: (nodeCpu() - cpu0.node) / secs, ...Object.fromEntries(Object.entries(extra).map(([k, p]) => [k, (cpuSeconds(p, { withDescendants: true }) - cpu0[k]) / secs])) };
    await probe.stop();
    holder?.kill();
    const w = await waits.stop();
    const rps = r.requests / secs;
    console.log(`# pgprobe (${cfg.redis ? 'PostgreSQL + Redis' : 'PostgreSQL only'}, ${nodes.length} node(s)), ${new Date(started).toISOString()}`);
    console.log(`wrk: ${rps.toFixed(0)} req/s, p50 ${(r.latency_us.p50 / 1000).toFixed(2)} ms, p90 ${(r.latency_us.p90 / 1000).toFixed(2)}, p99 ${(r.latency_us.p99 / 1000).toFixed(2)}, p99.9 ${(r.latency_us.p999 / 1000).toFixed(2)}, max ${(r.latency_us.max / 1000).toFixed(2)}; errors ${JSON.stringify(r.errors)}`);
    console.log(`cores: ${Object.entries(cores).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}, idle ${((m1.idle - m0.idle) / clockTicksPerSecond() / secs).toFixed(2)}; µs per token: `
      + Object.entries(cores).map(([k, v]) => `${k} ${(v / rps * 1e6).toFixed(1)}`).join(', '));
    // Probe latencies per second of the load, and the slowest ones with their times.
    const bySecond = new Map();
    for (const s of probe.samples) {
      const k = Math.floor((s.at - started) / 1000);
      if (!bySecond.has(k)) bySecond.set(k, []);
      bySecond.get(k).push(s.ms);
    }
    console.log('\nprobe (one request at a time beside wrk): second | n | p50 | p99 | max (ms)');
    for (const [k, v] of [...bySecond].sort((a, b) => a[0] - b[0])) {
      v.sort((a, b) => a - b);
      console.log(`  ${k} | ${v.length} | ${pctl(v, 50).toFixed(2)} | ${pctl(v, 99).toFixed(2)} | ${v.at(-1).toFixed(2)}`);
    }
    const slow = [...probe.samples].sort((a, b) => b.ms - a.ms).slice(0, 10);
    console.log('slowest probes: ' + slow.map((s) => `+${((s.at - started) / 1000).toFixed(2)}s ${s.ms.toFixed(1)}ms`).join(', '));
    console.log(`\npg_stat_activity of the node's sessions (${w.samples} samples, 100 ms apart): count | wait | query`);
    for (const [k, v] of w.counts.slice(0, 15)) console.log(`  ${v} | ${k}`);
    console.log('\npg_stat_statements (calls, mean ms, max ms, stddev ms, rows, wal bytes per row):');
    console.log(pg.psql(`SELECT calls, round(mean_exec_time::numeric, 3), round(max_exec_time::numeric, 2), round(stddev_exec_time::numeric, 2), rows,
      CASE WHEN rows > 0 THEN round(wal_bytes / rows) END, left(regexp_replace(query, '\\s+', ' ', 'g'), 70)
      FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 16`));
    console.log('pg_stat_wal (records, fpi, bytes, buffers_full, writes, syncs, sync ms):');
    console.log(pg.psql('SELECT wal_records, wal_fpi, wal_bytes, wal_buffers_full, wal_write, wal_sync, round(wal_sync_time::numeric, 1) FROM pg_stat_wal'));
    console.log('checkpoints (timed, requested, write ms, sync ms), buffers_backend, buffers_backend_fsync:');
    console.log(pg.psql('SELECT checkpoints_timed, checkpoints_req, checkpoint_write_time, checkpoint_sync_time, buffers_backend, buffers_backend_fsync FROM pg_stat_bgwriter'));
    console.log('audit_events: rows, autovacuum count, autoanalyze count, size:');
    console.log(pg.psql(`SELECT n_live_tup, autovacuum_count, autoanalyze_count, pg_size_pretty(pg_total_relation_size('audit_events')) FROM pg_stat_user_tables WHERE relname = 'audit_events'`));
    const pgLog = path.join(path.dirname(pg.psql('SHOW data_directory').trim()), 'server.log');
    try {
      const lines = readFileSync(pgLog, 'utf8').split('\n').filter((l) => /checkpoint|automatic|duration|still waiting/.test(l));
      console.log('PostgreSQL log (checkpoints, autovacuum, slow statements, lock waits):');
      for (const l of lines.slice(-40)) console.log('  ' + l.slice(0, 220));
    } catch { /* no log */ }
    console.log('The retention purge\'s prefix search (under the chain lock), horizon 90 days ago:');
    console.log(pg.psql(`EXPLAIN (ANALYZE, COSTS OFF) SELECT seq, hash FROM audit_events WHERE seq < COALESCE(
      (SELECT seq FROM audit_events WHERE timestamp >= ${Date.now() - 90 * 86400000} ORDER BY seq LIMIT 1), 9223372036854775807)
      ORDER BY seq DESC LIMIT 1`));
    if (redis) {
      console.log('\nRedis INFO commandstats:');
      console.log((await redisCommand(redis.port, 'INFO', 'commandstats')).split('\r\n').filter((l) => l.startsWith('cmdstat')).join('\n'));
      console.log('Redis LATENCY LATEST:', JSON.stringify(await redisCommand(redis.port, 'LATENCY', 'LATEST')));
    }
    const nodeLog = readFileSync(path.join(node.dataDir, 'server.log'), 'utf8').split('\n').filter((l) => /warn|error/i.test(l));
    console.log(`\nnode log: ${nodeLog.length} warning/error lines; last: ${nodeLog.slice(-5).join('\n')}`);
    for (const n of nodes) await n.stop();
  } finally {
    if (redis) await redis.close();
    pg.close();
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
