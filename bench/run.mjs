#!/usr/bin/env node
// Load benchmark of AgentIdP's hot path against peers measured in the same run
// (DESIGN §4): the token endpoint, introspection and the JWKS with wrk; the
// oidc-provider peer under the same token load; OpenSSL's single-core signing
// speed; resident memory with many agents registered.
//
// Run by hand (bench/run.sh wraps it). Numbers are only meaningful as ratios
// against the peers of the same run on the same machine. The report opens
// with the project's targets, each marked met / not met, and gives for every
// load the CPU of the server (per thread group), of wrk and of anything else
// on the machine, so that a disturbed run shows.
//
// Environment (all optional):
//   AGENTIDP_BIN        agentidp binary (required unless SKIP_AGENTIDP=1)
//   DURATION=15         seconds per measured wrk run
//   WARMUP=5            seconds of unrecorded load before each measured run
//   THREADS=2 CONNECTIONS=64   wrk -t / -c
//   ALGS=RS256,ES256    signing algorithms of our server to measure
//   SEED_ALG=ES256      the server that gets SEED_AGENTS agents registered
//   SEED_AGENTS=100000 SEED_CONCURRENCY=32   (SEED_AGENTS=0 skips the seed)
//   PEER_WORKERS=<cores>  processes of the oidc-provider peer
//   OPENSSL_SECONDS=5   per algorithm and operation
//   ACCESS_LOG_COMPARE=1  also measure the ES256 token endpoint and
//                       introspection on a server with the access log switched
//                       the other way (off, unless AGENTIDP_ACCESS_LOG=false
//                       is set, then on); 0 skips it
//   SKIP_PEER=1 SKIP_OPENSSL=1 SKIP_AGENTIDP=1
//   AGENTIDP_*          passed through to the server (see SERVER_ENV below)
//   RESULTS_DIR         default bench/results

import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';

import { startServer } from '../tests/conformance/lib/server.mjs';
import { adminToken, registerAgent, requestToken, introspect, basicAuth } from '../tests/conformance/lib/api.mjs';
import { runWrk } from './lib/wrk.mjs';
import { opensslSpeed } from './lib/openssl.mjs';
import { startOidcProvider } from './lib/peer.mjs';
import { cpuSeconds, cpuSecondsByPid, memoryKiB, rssKiB, threadTicks, clockTicksPerSecond, machineTicks } from './lib/proc.mjs';
import { seedAgents } from './seed.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const env = process.env;
const num = (v, d) => (v === undefined || v === '' ? d : Number(v));
const flag = (v) => v === '1' || v === 'true' || v === 'yes';

const cfg = {
  duration: num(env.DURATION, 15),
  warmup: num(env.WARMUP, 5),
  threads: num(env.THREADS, 2),
  connections: num(env.CONNECTIONS, 64),
  algs: (env.ALGS ?? 'RS256,ES256').split(',').map((s) => s.trim()).filter(Boolean),
  seedAlg: env.SEED_ALG ?? 'ES256',
  seedAgents: num(env.SEED_AGENTS, 100_000),
  seedConcurrency: num(env.SEED_CONCURRENCY, 32),
  peerWorkers: num(env.PEER_WORKERS, os.availableParallelism()),
  opensslSeconds: num(env.OPENSSL_SECONDS, 5),
  skipPeer: flag(env.SKIP_PEER),
  skipOpenssl: flag(env.SKIP_OPENSSL),
  skipAgentidp: flag(env.SKIP_AGENTIDP),
  accessLogCompare: env.ACCESS_LOG_COMPARE === undefined || env.ACCESS_LOG_COMPARE === '' || flag(env.ACCESS_LOG_COMPARE),
  resultsDir: env.RESULTS_DIR ? path.resolve(env.RESULTS_DIR) : path.join(here, 'results'),
};

const log = (...a) => console.error('[bench]', ...a);

// Rate limits out of the way (the token endpoint's per client, and the other
// routes' per agent, which introspection and the seeding go through). Every
// other AGENTIDP_* variable of this environment reaches the server unchanged,
// e.g. AGENTIDP_ACCESS_LOG=false or AGENTIDP_LOG_LEVEL=warn.
const SERVER_ENV = {
  AGENTIDP_RATE_LIMIT_PER_MINUTE: '100000000',
  AGENTIDP_API_RATE_LIMIT_PER_MINUTE: '100000000',
};

// The server's access log (one JSON line per request on stdout, into
// <data-dir>/server.log here) is on by default; the report says which was used.
const falsy = (v) => ['false', '0', 'no', 'off'].includes(String(v).toLowerCase());
const ACCESS_LOG_ON = !(env.AGENTIDP_ACCESS_LOG !== undefined && falsy(env.AGENTIDP_ACCESS_LOG));

function decodeHeader(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[0], 'base64url').toString('utf8'));
}

// One measured wrk run, with a warm-up before it and the CPU time the target
// process tree used during the measured part.
async function measure({ label, url, script, env: wrkEnv, pid, withDescendants = false }) {
  const common = { url, script, env: wrkEnv, threads: cfg.threads, connections: cfg.connections };
  if (cfg.warmup > 0) await runWrk({ ...common, duration: cfg.warmup, label: `${label}/warmup` });
  const cpu0 = cpuSeconds(pid, { withDescendants });
  const threads0 = withDescendants ? undefined : threadTicks(pid);
  const procs0 = withDescendants ? cpuSecondsByPid(pid, { withDescendants }) : undefined;
  const m0 = machineTicks();
  const r = await runWrk({ ...common, duration: cfg.duration, label });
  const m1 = machineTicks();
  const cpu = cpuSeconds(pid, { withDescendants }) - cpu0;
  const threads = threads0 ? threadBreakdown(pid, threads0, threadTicks(pid), r.duration_s) : undefined;
  let processes;
  if (procs0) {
    const procs1 = cpuSecondsByPid(pid, { withDescendants });
    processes = [...procs1].map(([p, s]) => ({ pid: p, primary: p === pid, cores: (s - (procs0.get(p) ?? 0)) / r.duration_s }));
  }
  const errors = Object.values(r.errors).reduce((a, b) => a + b, 0);
  const result = {
    label,
    rps: r.rps,
    requests: r.requests,
    seconds: r.duration_s,
    p50_ms: r.latency_us.p50 / 1000,
    p90_ms: r.latency_us.p90 / 1000,
    p99_ms: r.latency_us.p99 / 1000,
    max_ms: r.latency_us.max / 1000,
    errors: r.errors,
    errorCount: errors,
    serverCpuSeconds: cpu,
    serverCores: cpu / r.duration_s,
    perCpuSecond: cpu > 0 ? r.requests / cpu : undefined,
    threads,
    processes,
    // Whole machine during the measured run, in cores: stolen by the
    // hypervisor, and idle (nothing wanted the CPU).
    stealCores: (m1.steal - m0.steal) / clockTicksPerSecond() / r.duration_s,
    idleCores: (m1.idle - m0.idle) / clockTicksPerSecond() / r.duration_s,
    wrkCores: r.wrkCpuSeconds / r.duration_s,
  };
  // Whatever else used the CPU meanwhile (this script, the kernel's own
  // threads, or other work on the machine, which makes the run suspect).
  const busy = (m1.total - m0.total - (m1.idle - m0.idle) - (m1.steal - m0.steal)) / clockTicksPerSecond() / r.duration_s;
  result.otherCores = Math.max(0, busy - result.serverCores - result.wrkCores);
  log(`${label}: ${result.rps.toFixed(0)} req/s, p50 ${result.p50_ms.toFixed(2)} ms, p99 ${result.p99_ms.toFixed(2)} ms, `
    + `server ${result.serverCores.toFixed(2)} cores, wrk ${result.wrkCores.toFixed(2)}, other ${result.otherCores.toFixed(2)}, idle ${result.idleCores.toFixed(2)}, steal ${result.stealCores.toFixed(2)}${errors ? `, ${errors} ERRORS ${JSON.stringify(r.errors)}` : ''}`
    + (threads ? ` (io ${threads.io.toFixed(2)}, pool ${threads.pool.toFixed(2)}, writer ${threads.writer.toFixed(2)}, rest ${threads.rest.toFixed(2)})` : '')
    + (processes ? ` (per process: ${processes.map((x) => x.cores.toFixed(2)).join(', ')})` : ''));
  return result;
}

// Per-thread CPU of an agentidp server during a measured run, in cores (CPU
// seconds / wall seconds), from /proc/<pid>/task/<tid>/stat. Threads are named
// agentidp-io-N (HTTP I/O) and agentidp-wo-N (worker pool); the main thread
// (tid = pid, it only waits for signals), the upkeep thread and the audit
// writer keep the process name "agentidp". Under token load the busiest of
// those besides the main thread is the audit writer (group commit), so that
// one is reported as "writer".
function threadBreakdown(pid, before, after, seconds) {
  const hz = clockTicksPerSecond();
  const cores = (tid) => ((after.get(tid)?.ticks ?? 0) - (before.get(tid)?.ticks ?? 0)) / hz / seconds;
  const part = (tid, k) => ((after.get(tid)?.[k] ?? 0) - (before.get(tid)?.[k] ?? 0)) / hz / seconds;
  const out = { io: 0, pool: 0, writer: 0, rest: 0, ioThreads: 0, poolThreads: 0, ioSystem: 0, writerSystem: 0 };
  const unnamed = [];
  for (const [tid, t] of after) {
    const c = cores(tid);
    if (t.name.startsWith('agentidp-io-')) { out.io += c; out.ioSystem += part(tid, 'stime'); out.ioThreads += 1; }
    else if (t.name.startsWith('agentidp-wo-')) { out.pool += c; out.poolThreads += 1; }
    else if (tid !== pid && t.name === 'agentidp') unnamed.push({ tid, c });
    else out.rest += c;
  }
  unnamed.sort((a, b) => b.c - a.c);
  out.writer = unnamed[0]?.c ?? 0;
  out.writerSystem = unnamed[0] ? part(unnamed[0].tid, 'stime') : 0;
  for (const u of unnamed.slice(1)) out.rest += u.c;
  out.total = out.io + out.pool + out.writer + out.rest;
  return out;
}

async function benchAgentidp(alg, problems, { extraEnv = {}, suffix = '', jwks = true, seed = alg === cfg.seedAlg } = {}) {
  log(`starting agentidp (${alg}${suffix})`);
  const server = await startServer({ alg, env: { ...SERVER_ENV, ...extraEnv }, logToFile: true });
  const out = { alg, env: extraEnv };
  try {
    let agent;
    try {
      agent = await registerAgent(server, await adminToken(server));
    } catch (err) {
      // Still measure something, with the bootstrap admin as the client, and
      // say so: the run then exits non-zero.
      const msg = `could not register the bench agent, measured with the bootstrap admin client instead: ${err.message}`;
      log(`agentidp ${alg}: ${msg}`);
      problems.push(`agentidp ${alg}: ${msg}`);
      agent = { clientId: server.admin.client_id, clientSecret: server.admin.client_secret };
    }
    out.client = agent.agentId ? 'registered agent' : 'bootstrap admin';
    const auth = basicAuth(agent.clientId, agent.clientSecret);

    const first = await requestToken(server, { clientId: agent.clientId, clientSecret: agent.clientSecret });
    if (first.status !== 200) throw new Error(`token request -> ${first.status} ${JSON.stringify(first.body)}`);
    const header = decodeHeader(first.body.access_token);
    if (header.alg !== alg) throw new Error(`server signs with ${header.alg}, expected ${alg}`);

    // The RS256 target compares with `openssl speed rsa2048`, and this machine's speed drifts
    // by 10-20 % within minutes: measure it again right before and right after the load.
    const nearby = alg === 'RS256' && !cfg.skipOpenssl;
    if (nearby) out.opensslBefore = await opensslSpeed({ seconds: 3, algorithms: ['rsa2048'] });
    out.token = await measure({
      label: `agentidp ${alg} token${suffix}`,
      url: `${server.url}/api/v1/token`,
      script: 'token.lua',
      env: { BENCH_AUTH: auth },
      pid: server.pid,
    });
    if (nearby) {
      out.opensslAfter = await opensslSpeed({ seconds: 3, algorithms: ['rsa2048'] });
      log(`openssl rsa2048 sign/s next to the load: ${out.opensslBefore.rsa2048.sign} before, ${out.opensslAfter.rsa2048.sign} after`);
    }

    const fresh = await requestToken(server, { clientId: agent.clientId, clientSecret: agent.clientSecret });
    const check = await introspect(server, fresh.body.access_token, agent);
    if (check.status !== 200 || check.body?.active !== true) {
      throw new Error(`introspection sanity check -> ${check.status} ${JSON.stringify(check.body)}`);
    }
    out.introspect = await measure({
      label: `agentidp ${alg} introspect${suffix}`,
      url: `${server.url}/api/v1/token/introspect`,
      script: 'introspect.lua',
      env: { BENCH_AUTH: auth, BENCH_TOKEN: fresh.body.access_token },
      pid: server.pid,
    });

    if (jwks) {
      out.jwks = await measure({
        label: `agentidp ${alg} jwks${suffix}`,
        url: `${server.url}/.well-known/jwks.json`,
        script: 'get.lua',
        pid: server.pid,
      });
    }

    if (seed && cfg.seedAgents > 0) {
      const bearer = await adminToken(server);
      const memBefore = memoryKiB(server.pid);
      const rssBefore = memBefore?.VmRSS;
      log(`seeding ${cfg.seedAgents} agents (concurrency ${cfg.seedConcurrency}); RSS before ${rssBefore} KiB`);
      const seed = await seedAgents({
        url: server.url,
        bearer,
        count: cfg.seedAgents,
        concurrency: cfg.seedConcurrency,
        onProgress: (n) => log(`  ${n} agents`),
      });
      const memAfter = memoryKiB(server.pid);
      const rssAfter = memAfter?.VmRSS;
      log(`seeded ${seed.created} in ${seed.seconds.toFixed(1)} s (${seed.perSecond.toFixed(0)}/s); RSS after ${rssAfter} KiB`);
      if (seed.failures.length) {
        log('seed failures (first):', JSON.stringify(seed.failures.slice(0, 3)));
        problems.push(`seeding stopped after ${seed.created} of ${seed.requested} agents: `
          + `HTTP ${seed.failures[0].status} ${seed.failures[0].body}`);
      }
      out.seed = {
        ...seed, failures: seed.failures.slice(0, 5), rssBeforeKiB: rssBefore, rssAfterKiB: rssAfter, memBefore, memAfter,
      };
      out.tokenAfterSeed = await measure({
        label: `agentidp ${alg} token (${seed.created} agents)`,
        url: `${server.url}/api/v1/token`,
        script: 'token.lua',
        env: { BENCH_AUTH: auth },
        pid: server.pid,
      });
      out.seed.memAfterLoad = memoryKiB(server.pid);
      out.seed.rssAfterLoadKiB = out.seed.memAfterLoad?.VmRSS;
    }
    out.rssEndKiB = rssKiB(server.pid);
  } catch (err) {
    err.message += `\n--- server output (tail) ---\n${server.output().slice(-4000)}`;
    throw err;
  } finally {
    await server.stop();
  }
  return out;
}

async function benchPeer() {
  log(`starting oidc-provider peer (${cfg.peerWorkers} worker processes)`);
  const peer = await startOidcProvider({ workers: cfg.peerWorkers });
  try {
    const auth = basicAuth(peer.client_id, peer.client_secret);
    const res = await fetch(`${peer.url}/token`, {
      method: 'POST',
      headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    });
    const body = await res.json();
    if (res.status !== 200 || typeof body.access_token !== 'string') {
      throw new Error(`peer token request -> ${res.status} ${JSON.stringify(body)}`);
    }
    const header = decodeHeader(body.access_token);
    if (header.alg !== 'ES256' || header.typ !== 'at+jwt') {
      throw new Error(`peer issued ${JSON.stringify(header)}, expected an ES256 at+jwt`);
    }
    const token = await measure({
      label: 'oidc-provider ES256 token',
      url: `${peer.url}/token`,
      script: 'token.lua',
      env: { BENCH_AUTH: auth },
      pid: peer.pid,
      withDescendants: true,
    });
    return { workers: peer.workers, token, version: peerVersion() };
  } catch (err) {
    err.message += `\n--- peer stderr ---\n${peer.stderr()}`;
    throw err;
  } finally {
    await peer.stop();
  }
}

function peerVersion() {
  try {
    return JSON.parse(execFileSync(process.execPath, ['-p',
      'JSON.stringify(require("oidc-provider/package.json").version)'],
    { cwd: path.join(here, 'peers', 'oidc-provider'), encoding: 'utf8' }));
  } catch {
    return 'unknown';
  }
}

function machine() {
  let cpu = 'unknown';
  try {
    cpu = os.cpus()[0]?.model ?? cpu;
  } catch { /* ignore */ }
  let wrkVersion = 'unknown';
  try {
    wrkVersion = execFileSync('wrk', ['-v'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).split('\n')[0].split(' Copyright')[0];
  } catch (e) {
    wrkVersion = String(e.stdout ?? '').split('\n')[0].split(' Copyright')[0] || wrkVersion;
  }
  return {
    cores: os.availableParallelism(),
    cpu,
    memoryGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
    node: process.version,
    wrk: wrkVersion,
    kernel: os.release(),
    // Other work on the machine (a compile, say) skews every number: record it.
    loadavgAtStart: os.loadavg().map((x) => +x.toFixed(2)),
  };
}

// ---- report -------------------------------------------------------------

const f0 = (x) => (x === undefined || Number.isNaN(x) ? 'n/a' : Math.round(x).toLocaleString('en-US'));
const f2 = (x) => (x === undefined || Number.isNaN(x) ? 'n/a' : x.toFixed(2));
const pct = (x) => (x === undefined || Number.isNaN(x) ? 'n/a' : `${Math.round(x * 100)}%`);
const ratio = (a, b) => (a === undefined || b === undefined || !b ? 'n/a' : `${(a / b).toFixed(2)}x`);
const mib = (kib) => (kib === undefined ? 'n/a' : `${(kib / 1024).toFixed(1)} MiB`);
const mb = (kib) => (kib === undefined ? 'n/a' : `${((kib * 1024) / 1e6).toFixed(1)} MB`);
const verdict = (ok) => (ok === undefined ? 'not measured' : ok ? '**met**' : '**not met**');

// The project's performance targets, each checked against this run's numbers.
// Returns rows {target, value, how, ok} (ok undefined when not measured).
function targets(results) {
  const { cfg: c, machine: m, openssl: ssl, agentidp: ours = {}, peer } = results;
  const rows = [];
  const es = ours.ES256?.token;
  const rs = ours.RS256?.token;

  {
    // Ours before and after the peer when both were measured: the mean of the two.
    const after = results.es256AfterPeer?.token;
    const oursRps = es && after ? (es.rps + after.rps) / 2 : es?.rps;
    const r = oursRps !== undefined && peer ? oursRps / peer.token.rps : undefined;
    rows.push({
      target: 'ES256 token issuance >= 5x oidc-provider (req/s, same run)',
      value: r === undefined ? 'n/a' : `${r.toFixed(2)}x`,
      how: es && peer ? `${after ? `mean of ${f0(es.rps)} (before the peer) and ${f0(after.rps)} (after it) = ${f0(oursRps)}` : f0(es.rps)} / ${f0(peer.token.rps)} req/s (peer: ${peer.workers} processes); `
        + `per server CPU-second ${ratio(es.perCpuSecond, peer.token.perCpuSecond)} (${f0(es.perCpuSecond)} / ${f0(peer.token.perCpuSecond)})` : '',
      ok: r === undefined ? undefined : r >= 5,
    });
  }
  {
    // The reference measured next to the load (mean of just before and just after), else the
    // one at the start of the run.
    const before = ours.RS256?.opensslBefore?.rsa2048?.sign;
    const afterLoad = ours.RS256?.opensslAfter?.rsa2048?.sign;
    const nearby = before && afterLoad ? (before + afterLoad) / 2 : undefined;
    const sign = nearby ?? ssl?.rsa2048?.sign;
    const perCpu = rs && sign ? rs.perCpuSecond / sign : undefined;
    rows.push({
      target: 'RS256 issuance >= 70% of single-core `openssl speed rsa2048` sign/s, per server core (server CPU-seconds)',
      value: pct(perCpu),
      how: rs && sign ? `${f0(rs.perCpuSecond)} tokens per server CPU-second (${f0(rs.requests)} tokens / ${f2(rs.serverCpuSeconds)} CPU-s from /proc) / ${f0(sign)} sign/s`
        + (nearby ? ` (openssl speed right before and after the load: ${f0(before)} and ${f0(afterLoad)}; at the start of the run: ${ssl?.rsa2048 ? `${f0(ssl.rsa2048.sign)}, ${pct(rs.perCpuSecond / ssl.rsa2048.sign)}` : 'n/a'})` : '') : '',
      ok: perCpu === undefined ? undefined : perCpu >= 0.7,
    });
    const naive = rs && sign ? rs.rps / m.cores / sign : undefined;
    rows.push({
      target: `same, naive: req/s / ${m.cores} cores (wrk shares the cores)`,
      value: pct(naive),
      how: rs && sign ? `${f0(rs.rps)} / ${m.cores} = ${f0(rs.rps / m.cores)} / ${f0(sign)} sign/s` : '',
      ok: naive === undefined ? undefined : naive >= 0.7,
    });
  }
  for (const alg of Object.keys(ours)) {
    const i = ours[alg].introspect;
    if (!i) continue;
    rows.push({
      target: `introspection of a JWT >= 20,000/s (${alg} token)`,
      value: `${f0(i.rps)}/s`,
      how: `p50 ${f2(i.p50_ms)} ms, p99 ${f2(i.p99_ms)} ms, server ${f2(i.serverCores)} cores`,
      ok: i.rps >= 20_000,
    });
  }
  rows.push({
    target: `ES256 token p99 < 10 ms at 64 connections${c.connections !== 64 ? ` (this run: ${c.connections} connections)` : ''}`,
    value: es ? `${f2(es.p99_ms)} ms` : 'n/a',
    how: es ? `p50 ${f2(es.p50_ms)} ms, p90 ${f2(es.p90_ms)} ms, at ${f0(es.rps)} req/s` : '',
    ok: es && c.connections === 64 ? es.p99_ms < 10 : undefined,
  });
  const seeded = Object.values(ours).find((o) => o.seed);
  if (seeded) {
    const s = seeded.seed;
    const peak = Math.max(s.rssAfterKiB ?? 0, s.rssAfterLoadKiB ?? 0);
    rows.push({
      target: 'RSS < 150 MB with 100,000 registered agents',
      value: `${mb(peak)} (${mib(peak)})`,
      how: `${f0(s.created)} agents registered; after seeding ${mib(s.rssAfterKiB)}, after the token load that followed ${mib(s.rssAfterLoadKiB)}`,
      ok: s.created >= 100_000 ? (peak * 1024) < 150e6 : undefined,
    });
  } else {
    rows.push({ target: 'RSS < 150 MB with 100,000 registered agents', value: 'n/a', how: 'SEED_AGENTS=0', ok: undefined });
  }
  return rows;
}

function render(results) {
  const L = [];
  const { cfg: c, machine: m, openssl: ssl, agentidp: ours = {}, peer, accessLogVariant: variant } = results;
  L.push('# AgentIdP benchmark results');
  L.push('');
  L.push(`Run ${results.date}. Machine: ${m.cores} cores (${m.cpu}), ${m.memoryGiB} GiB, kernel ${m.kernel}, Node ${m.node}, ${m.wrk}, ${ssl?.version ?? 'openssl not measured'}.`);
  L.push(`Load average (1/5/15 min) at start ${m.loadavgAtStart.join(' / ')}, at end ${m.loadavgAtEnd.join(' / ')} `
    + '(the run itself, server threads plus wrk, keeps it at 2-4 on its own; the "other" CPU column of the load table says '
    + 'whether anything else competed for the cores).');
  L.push(`Server environment: ${Object.entries(results.serverEnv).map(([k, v]) => `\`${k}=${v}\``).join(', ') || 'defaults'}.`);
  L.push(`Access log: **${results.accessLog ? 'on' : 'off'}**${results.accessLog ? ' (server default; one JSON line per request into the data directory\'s server.log)' : ' (`AGENTIDP_ACCESS_LOG=false`)'}`
    + (variant ? `; the ES256 token and introspection loads are repeated with it ${results.accessLog ? 'off' : 'on'} at the end.` : '.'));
  L.push(`Load: \`wrk -t${c.threads} -c${c.connections} -d${c.duration}s\` after ${c.warmup} s warm-up, on the same machine: `
    + `wrk shares the ${m.cores} cores with the server, so absolute numbers are lower than on a dedicated box; `
    + 'compare the ratios, which are between peers measured in this same run.');
  L.push('');

  L.push('## Targets');
  L.push('');
  L.push('| target | this run | | how |');
  L.push('|---|---:|---|---|');
  for (const t of targets(results)) L.push(`| ${t.target} | ${t.value} | ${verdict(t.ok)} | ${t.how} |`);
  L.push('');

  L.push('## Load results');
  L.push('');
  L.push('CPU columns are in cores (CPU-seconds per second of the measured run) from /proc: the server\'s (all its threads; '
    + 'the peer: all its processes), wrk\'s, everything else\'s ("other": the kernel\'s own threads, this script, and any '
    + 'other work on the machine, which makes the run suspect when it is large), the machine\'s idle time, and steal '
    + '(CPU the hypervisor gave to another guest).');
  L.push('');
  L.push('| load | req/s | p50 ms | p99 ms | server CPU | req per server CPU-s | wrk / other / idle / steal | errors |');
  L.push('|---|---:|---:|---:|---:|---:|---:|---:|');
  const all = [];
  for (const alg of Object.keys(ours)) all.push(ours[alg].token, ours[alg].introspect, ours[alg].jwks, ours[alg].tokenAfterSeed);
  if (variant) all.push(variant.token, variant.introspect);
  if (peer) all.push(peer.token);
  if (results.es256AfterPeer) all.push(results.es256AfterPeer.token, results.es256AfterPeer.introspect);
  for (const r of all.filter(Boolean)) {
    L.push(`| ${r.label} | ${f0(r.rps)} | ${f2(r.p50_ms)} | ${f2(r.p99_ms)} | ${f2(r.serverCores)} | ${f0(r.perCpuSecond)} | ${f2(r.wrkCores)} / ${f2(r.otherCores)} / ${f2(r.idleCores)} / ${f2(r.stealCores)} | ${r.errorCount ? `**${r.errorCount}** ${JSON.stringify(r.errors)}` : 0} |`);
  }
  L.push('');

  const withThreads = all.filter((r) => r?.threads);
  if (withThreads.length) {
    L.push('## Where the server CPU goes (cores, per thread group, from /proc/<pid>/task/*/stat)');
    L.push('');
    L.push('"writer" is the busiest thread named `agentidp` other than the main thread: the audit writer '
      + '(group commit) under token load. "rest" is the main thread, the upkeep thread and anything unnamed.');
    L.push('');
    L.push('Cells are user+system CPU in cores, the system (kernel: syscalls, loopback TCP, fsync) part in parentheses, the number of threads in brackets.');
    L.push('');
    L.push('| load | total | I/O threads (system) | worker pool | writer (system) | rest | writer share |');
    L.push('|---|---:|---:|---:|---:|---:|---:|');
    for (const r of withThreads) {
      const t = r.threads;
      L.push(`| ${r.label} | ${f2(t.total)} | ${f2(t.io)} (${f2(t.ioSystem)}) [${t.ioThreads}] | ${f2(t.pool)} [${t.poolThreads}] | ${f2(t.writer)} (${f2(t.writerSystem)}) | ${f2(t.rest)} | ${t.total > 0 ? pct(t.writer / t.total) : 'n/a'} |`);
    }
    L.push('');
  }
  if (peer?.token?.processes) {
    L.push(`Peer CPU per process during its token load (cores; the first is the cluster primary, which only hands out connections): ${peer.token.processes.map((x) => f2(x.cores)).join(', ')}.`);
    L.push('');
  }

  if (ssl) {
    const multi = results.opensslMulti;
    L.push('## OpenSSL single-core signing speed (`openssl speed -seconds ' + c.opensslSeconds + '`)');
    L.push('');
    if (multi) {
      L.push(`The last column is \`openssl speed -multi ${multi.processes}\` (all cores signing at once) divided by ${multi.processes}: `
        + 'the speed of one core while the others are busy, as under load.');
      L.push('');
    }
    L.push(`| algorithm | sign/s | verify/s |${multi ? ' sign/s per core, all cores busy |' : ''}`);
    L.push(`|---|---:|---:|${multi ? '---:|' : ''}`);
    for (const [k, name] of [['rsa2048', 'RSA-2048 (RS256)'], ['ecdsap256', 'ECDSA P-256 (ES256)'], ['ed25519', 'Ed25519 (EdDSA)']]) {
      if (ssl[k]) L.push(`| ${name} | ${f0(ssl[k].sign)} | ${f0(ssl[k].verify)} |${multi ? ` ${multi[k] ? f0(multi[k].sign / multi.processes) : 'n/a'} |` : ''}`);
    }
    L.push('');
  }

  L.push('## Ratios');
  L.push('');
  L.push('| ratio | value | how |');
  L.push('|---|---:|---|');
  const es = ours.ES256?.token;
  const rs = ours.RS256?.token;
  if (es && peer) {
    L.push(`| ES256 token req/s, AgentIdP / oidc-provider | ${ratio(es.rps, peer.token.rps)} | ${f0(es.rps)} / ${f0(peer.token.rps)} (peer: ${peer.workers} processes) |`);
    L.push(`| ES256 token per server CPU-second, AgentIdP / oidc-provider | ${ratio(es.perCpuSecond, peer.token.perCpuSecond)} | ${f0(es.perCpuSecond)} / ${f0(peer.token.perCpuSecond)} |`);
  }
  if (rs && ssl?.rsa2048) {
    L.push(`| RS256 token req/s per core (req/s / ${m.cores}), / openssl RSA-2048 sign/s | ${f2(rs.rps / m.cores / ssl.rsa2048.sign)} | ${f0(rs.rps / m.cores)} / ${f0(ssl.rsa2048.sign)}; wrk shares the cores |`);
    L.push(`| RS256 tokens per server CPU-second / openssl RSA-2048 sign/s | ${f2(rs.perCpuSecond / ssl.rsa2048.sign)} | ${f0(rs.perCpuSecond)} / ${f0(ssl.rsa2048.sign)} |`);
    const multi = results.opensslMulti;
    if (multi?.rsa2048) {
      const perCore = multi.rsa2048.sign / multi.processes;
      L.push(`| RS256 tokens per server CPU-second / openssl RSA-2048 sign/s per core with all cores busy | ${f2(rs.perCpuSecond / perCore)} | ${f0(rs.perCpuSecond)} / ${f0(perCore)} |`);
    }
    if (rs.threads?.io > 0) {
      L.push(`| RS256 tokens per I/O-thread CPU-second / openssl RSA-2048 sign/s (the I/O threads sign; leaves out the audit writer) | ${f2(rs.rps / rs.threads.io / ssl.rsa2048.sign)} | ${f0(rs.rps / rs.threads.io)} / ${f0(ssl.rsa2048.sign)} |`);
    }
  }
  if (es && ssl?.ecdsap256) {
    L.push(`| ES256 tokens per server CPU-second / openssl P-256 sign/s | ${f2(es.perCpuSecond / ssl.ecdsap256.sign)} | ${f0(es.perCpuSecond)} / ${f0(ssl.ecdsap256.sign)} |`);
  }
  if (ours.EdDSA?.token && ssl?.ed25519) {
    const ed = ours.EdDSA.token;
    L.push(`| EdDSA tokens per server CPU-second / openssl Ed25519 sign/s | ${f2(ed.perCpuSecond / ssl.ed25519.sign)} | ${f0(ed.perCpuSecond)} / ${f0(ssl.ed25519.sign)} |`);
  }
  for (const alg of Object.keys(ours)) {
    const o = ours[alg];
    if (o.introspect && o.token) L.push(`| ${alg} introspection req/s / token req/s | ${ratio(o.introspect.rps, o.token.rps)} | ${f0(o.introspect.rps)} / ${f0(o.token.rps)} |`);
    if (o.tokenAfterSeed && o.token) L.push(`| ${alg} token req/s with ${f0(o.seed.created)} agents / with 1 agent | ${ratio(o.tokenAfterSeed.rps, o.token.rps)} | ${f0(o.tokenAfterSeed.rps)} / ${f0(o.token.rps)} |`);
  }
  if (variant && ours.ES256) {
    const on = results.accessLog ? ours.ES256 : variant;
    const off = results.accessLog ? variant : ours.ES256;
    for (const k of ['token', 'introspect']) {
      if (on[k] && off[k]) {
        L.push(`| ES256 ${k} req/s, access log off / on (separate servers) | ${ratio(off[k].rps, on[k].rps)} | ${f0(off[k].rps)} / ${f0(on[k].rps)}; `
          + `per server CPU-second ${f0(off[k].perCpuSecond)} / ${f0(on[k].perCpuSecond)}; p99 ${f2(off[k].p99_ms)} / ${f2(on[k].p99_ms)} ms |`);
      }
    }
  }
  L.push('');

  const seeded = Object.values(ours).find((o) => o.seed);
  if (seeded) {
    const s = seeded.seed;
    const split = (mem) => (mem ? `${mib(mem.VmRSS)} (anon ${mib(mem.RssAnon)}, file ${mib(mem.RssFile)})` : 'n/a');
    L.push(`## Memory with ${f0(s.created)} agents (${seeded.alg} server)`);
    L.push('');
    L.push('RSS is VmRSS from /proc/<pid>/status; "file" includes the memory-mapped SQLite database.');
    L.push('');
    L.push('| measure | value |');
    L.push('|---|---:|');
    L.push(`| RSS before seeding | ${split(s.memBefore)} |`);
    L.push(`| RSS after seeding ${f0(s.created)} agents | ${split(s.memAfter)} |`);
    L.push(`| RSS after the token load that followed | ${split(s.memAfterLoad)} |`);
    if (s.memAfterLoad?.VmHWM) L.push(`| peak RSS (VmHWM) at the end | ${mib(s.memAfterLoad.VmHWM)} |`);
    if (s.created > 0) L.push(`| growth per agent | ${f0(((s.rssAfterKiB - s.rssBeforeKiB) * 1024) / s.created)} bytes |`);
    L.push(`| registration rate (REST, concurrency ${c.seedConcurrency}) | ${f0(s.perSecond)} agents/s |`);
    if (s.retries429) L.push(`| 429 answers retried | ${s.retries429} |`);
    if (s.failures.length) L.push(`| failures (first) | ${s.failures.map((x) => `${x.status}`).join(', ')} |`);
    L.push('');
  }

  if (results.problems.length) {
    L.push('## Problems in this run');
    L.push('');
    for (const p of results.problems) L.push(`- ${p}`);
    L.push('');
  }
  return L.join('\n');
}

// ---- main ----------------------------------------------------------------

const results = {
  date: new Date().toISOString(),
  cfg,
  serverEnv: Object.fromEntries(Object.entries({ ...env, ...SERVER_ENV })
    .filter(([k]) => k.startsWith('AGENTIDP_') && k !== 'AGENTIDP_BIN' && k !== 'AGENTIDP_MASTER_KEY')),
  machine: machine(),
  accessLog: ACCESS_LOG_ON,
  agentidp: {},
  problems: [],
};

if (!cfg.skipOpenssl) {
  log(`openssl speed (${cfg.opensslSeconds} s per algorithm and operation, single core)`);
  results.openssl = await opensslSpeed({ seconds: cfg.opensslSeconds });
  log('openssl:', JSON.stringify(results.openssl));
  // The same with every core signing at once: what one core does when the
  // other cores are busy too (shared caches, frequency, the hypervisor), which
  // is the situation of a server under load.
  if (results.machine.cores > 1) {
    log(`openssl speed -multi ${results.machine.cores} (rsa2048, ecdsap256)`);
    results.opensslMulti = {
      processes: results.machine.cores,
      ...await opensslSpeed({ seconds: cfg.opensslSeconds, algorithms: ['rsa2048', 'ecdsap256'], multi: results.machine.cores }),
    };
    log('openssl -multi:', JSON.stringify(results.opensslMulti));
  }
}

if (!cfg.skipAgentidp) {
  for (const alg of cfg.algs) {
    try {
      results.agentidp[alg] = await benchAgentidp(alg, results.problems);
    } catch (err) {
      log(`agentidp ${alg} FAILED: ${err.stack ?? err}`);
      results.problems.push(`agentidp ${alg}: ${String(err.message).split('\n')[0]}`);
    }
  }
  if (cfg.accessLogCompare) {
    const other = ACCESS_LOG_ON ? 'false' : 'true';
    try {
      results.accessLogVariant = await benchAgentidp('ES256', results.problems, {
        extraEnv: { AGENTIDP_ACCESS_LOG: other },
        suffix: ` (access log ${ACCESS_LOG_ON ? 'off' : 'on'})`,
        jwks: false,
        seed: false,
      });
    } catch (err) {
      log(`agentidp ES256 access log ${ACCESS_LOG_ON ? 'off' : 'on'} FAILED: ${err.stack ?? err}`);
      results.problems.push(`agentidp ES256 (AGENTIDP_ACCESS_LOG=${other}): ${String(err.message).split('\n')[0]}`);
    }
  }
}

if (!cfg.skipPeer) {
  try {
    results.peer = await benchPeer();
  } catch (err) {
    log(`oidc-provider peer FAILED: ${err.stack ?? err}`);
    results.problems.push(`oidc-provider: ${String(err.message).split('\n')[0]}`);
  }
  // Our ES256 token load once more, right after the peer's, so that the ratio's two sides
  // are measured on either side of it in time (the machine's speed drifts).
  if (results.peer && !cfg.skipAgentidp && cfg.algs.includes('ES256')) {
    try {
      results.es256AfterPeer = await benchAgentidp('ES256', results.problems, {
        suffix: ' (after the peer)',
        jwks: false,
        seed: false,
      });
    } catch (err) {
      log(`agentidp ES256 after the peer FAILED: ${err.stack ?? err}`);
      results.problems.push(`agentidp ES256 (after the peer): ${String(err.message).split('\n')[0]}`);
    }
  }
}

for (const r of [
  ...Object.values(results.agentidp).flatMap((o) => [o.token, o.introspect, o.jwks, o.tokenAfterSeed]),
  results.accessLogVariant?.token,
  results.accessLogVariant?.introspect,
  results.peer?.token,
  results.es256AfterPeer?.token,
  results.es256AfterPeer?.introspect,
]) {
  if (r?.errorCount) results.problems.push(`${r.label}: ${r.errorCount} failed requests ${JSON.stringify(r.errors)} — its req/s is not valid`);
}

results.machine.loadavgAtEnd = os.loadavg().map((x) => +x.toFixed(2));
const md = render(results);
await mkdir(cfg.resultsDir, { recursive: true });
await writeFile(path.join(cfg.resultsDir, 'latest.md'), md + '\n');
await writeFile(path.join(cfg.resultsDir, 'latest.json'), JSON.stringify(results, null, 2) + '\n');
// A dated copy as well, so that consecutive runs do not overwrite each other.
const stamp = results.date.replace(/[:.]/g, '-');
await writeFile(path.join(cfg.resultsDir, `${stamp}.md`), md + '\n');
await writeFile(path.join(cfg.resultsDir, `${stamp}.json`), JSON.stringify(results, null, 2) + '\n');
console.log(md);
log(`written ${path.relative(process.cwd(), path.join(cfg.resultsDir, 'latest.md')) || 'latest.md'} and latest.json`);
process.exit(results.problems.length ? 1 : 0);
