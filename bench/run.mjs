#!/usr/bin/env node
// Load benchmark of AgentIdP's hot path against peers measured in the same run
// (DESIGN §4): the token endpoint, introspection and the JWKS with wrk; the
// oidc-provider peer under the same token load; OpenSSL's single-core signing
// speed; resident memory with many agents registered.
//
// Run by hand (bench/run.sh wraps it). Numbers are only meaningful as ratios
// against the peers of the same run on the same machine.
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
import { cpuSeconds, rssKiB } from './lib/proc.mjs';
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

function decodeHeader(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[0], 'base64url').toString('utf8'));
}

// One measured wrk run, with a warm-up before it and the CPU time the target
// process tree used during the measured part.
async function measure({ label, url, script, env: wrkEnv, pid, withDescendants = false }) {
  const common = { url, script, env: wrkEnv, threads: cfg.threads, connections: cfg.connections };
  if (cfg.warmup > 0) await runWrk({ ...common, duration: cfg.warmup, label: `${label}/warmup` });
  const cpu0 = cpuSeconds(pid, { withDescendants });
  const r = await runWrk({ ...common, duration: cfg.duration, label });
  const cpu = cpuSeconds(pid, { withDescendants }) - cpu0;
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
  };
  log(`${label}: ${result.rps.toFixed(0)} req/s, p50 ${result.p50_ms.toFixed(2)} ms, p99 ${result.p99_ms.toFixed(2)} ms, `
    + `server ${result.serverCores.toFixed(2)} cores${errors ? `, ${errors} ERRORS ${JSON.stringify(r.errors)}` : ''}`);
  return result;
}

async function benchAgentidp(alg, problems) {
  log(`starting agentidp (${alg})`);
  const server = await startServer({ alg, env: SERVER_ENV, logToFile: true });
  const out = { alg };
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

    out.token = await measure({
      label: `agentidp ${alg} token`,
      url: `${server.url}/api/v1/token`,
      script: 'token.lua',
      env: { BENCH_AUTH: auth },
      pid: server.pid,
    });

    const fresh = await requestToken(server, { clientId: agent.clientId, clientSecret: agent.clientSecret });
    const check = await introspect(server, fresh.body.access_token, agent);
    if (check.status !== 200 || check.body?.active !== true) {
      throw new Error(`introspection sanity check -> ${check.status} ${JSON.stringify(check.body)}`);
    }
    out.introspect = await measure({
      label: `agentidp ${alg} introspect`,
      url: `${server.url}/api/v1/token/introspect`,
      script: 'introspect.lua',
      env: { BENCH_AUTH: auth, BENCH_TOKEN: fresh.body.access_token },
      pid: server.pid,
    });

    out.jwks = await measure({
      label: `agentidp ${alg} jwks`,
      url: `${server.url}/.well-known/jwks.json`,
      script: 'get.lua',
      pid: server.pid,
    });

    if (alg === cfg.seedAlg && cfg.seedAgents > 0) {
      const bearer = await adminToken(server);
      const rssBefore = rssKiB(server.pid);
      log(`seeding ${cfg.seedAgents} agents (concurrency ${cfg.seedConcurrency}); RSS before ${rssBefore} KiB`);
      const seed = await seedAgents({
        url: server.url,
        bearer,
        count: cfg.seedAgents,
        concurrency: cfg.seedConcurrency,
        onProgress: (n) => log(`  ${n} agents`),
      });
      const rssAfter = rssKiB(server.pid);
      log(`seeded ${seed.created} in ${seed.seconds.toFixed(1)} s (${seed.perSecond.toFixed(0)}/s); RSS after ${rssAfter} KiB`);
      if (seed.failures.length) {
        log('seed failures (first):', JSON.stringify(seed.failures.slice(0, 3)));
        problems.push(`seeding stopped after ${seed.created} of ${seed.requested} agents: `
          + `HTTP ${seed.failures[0].status} ${seed.failures[0].body}`);
      }
      out.seed = { ...seed, failures: seed.failures.slice(0, 5), rssBeforeKiB: rssBefore, rssAfterKiB: rssAfter };
      out.tokenAfterSeed = await measure({
        label: `agentidp ${alg} token (${seed.created} agents)`,
        url: `${server.url}/api/v1/token`,
        script: 'token.lua',
        env: { BENCH_AUTH: auth },
        pid: server.pid,
      });
      out.seed.rssAfterLoadKiB = rssKiB(server.pid);
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
const ratio = (a, b) => (a === undefined || b === undefined || !b ? 'n/a' : `${(a / b).toFixed(2)}x`);
const mib = (kib) => (kib === undefined ? 'n/a' : `${(kib / 1024).toFixed(1)} MiB`);

function render(results) {
  const L = [];
  const { cfg: c, machine: m, openssl: ssl, agentidp: ours = {}, peer } = results;
  L.push('# AgentIdP benchmark results');
  L.push('');
  L.push(`Run ${results.date}. Machine: ${m.cores} cores (${m.cpu}), ${m.memoryGiB} GiB, Node ${m.node}, ${m.wrk}, ${ssl?.version ?? 'openssl not measured'}.`);
  L.push(`Load average (1/5/15 min) at start ${m.loadavgAtStart.join(' / ')}, at end ${m.loadavgAtEnd.join(' / ')} `
    + '(the run itself adds up to ~2; more means other work was competing for the cores).');
  L.push(`Server environment: ${Object.entries(results.serverEnv).map(([k, v]) => `\`${k}=${v}\``).join(', ') || 'defaults'}.`);
  L.push(`Load: \`wrk -t${c.threads} -c${c.connections} -d${c.duration}s\` after ${c.warmup} s warm-up, on the same machine: `
    + 'wrk shares the cores with the server, so absolute numbers are lower than on a dedicated box; '
    + 'compare the ratios, which are between peers measured in this same run.');
  L.push('');
  L.push('## Load results');
  L.push('');
  L.push('| target | req/s | p50 ms | p99 ms | server CPU (cores) | req per server CPU-s | errors |');
  L.push('|---|---:|---:|---:|---:|---:|---:|');
  const row = (r) => {
    if (!r) return;
    L.push(`| ${r.label} | ${f0(r.rps)} | ${f2(r.p50_ms)} | ${f2(r.p99_ms)} | ${f2(r.serverCores)} | ${f0(r.perCpuSecond)} | ${r.errorCount ? `**${r.errorCount}** ${JSON.stringify(r.errors)}` : 0} |`);
  };
  for (const alg of Object.keys(ours)) {
    row(ours[alg].token);
    row(ours[alg].introspect);
    row(ours[alg].jwks);
    row(ours[alg].tokenAfterSeed);
  }
  if (peer) row(peer.token);
  L.push('');
  if (ssl) {
    L.push('## OpenSSL single-core signing speed (`openssl speed -seconds ' + c.opensslSeconds + '`)');
    L.push('');
    L.push('| algorithm | sign/s | verify/s |');
    L.push('|---|---:|---:|');
    for (const [k, name] of [['rsa2048', 'RSA-2048 (RS256)'], ['ecdsap256', 'ECDSA P-256 (ES256)'], ['ed25519', 'Ed25519 (EdDSA)']]) {
      if (ssl[k]) L.push(`| ${name} | ${f0(ssl[k].sign)} | ${f0(ssl[k].verify)} |`);
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
  L.push('');

  const seeded = Object.values(ours).find((o) => o.seed);
  if (seeded) {
    const s = seeded.seed;
    L.push(`## Memory with ${f0(s.created)} agents (${seeded.alg} server)`);
    L.push('');
    L.push('| measure | value |');
    L.push('|---|---:|');
    L.push(`| RSS before seeding | ${mib(s.rssBeforeKiB)} |`);
    L.push(`| RSS after seeding ${f0(s.created)} agents | ${mib(s.rssAfterKiB)} |`);
    L.push(`| RSS after the token load that followed | ${mib(s.rssAfterLoadKiB)} |`);
    if (s.created > 0) L.push(`| growth per agent | ${f0(((s.rssAfterKiB - s.rssBeforeKiB) * 1024) / s.created)} bytes |`);
    L.push(`| registration rate (REST, concurrency ${c.seedConcurrency}) | ${f0(s.perSecond)} agents/s |`);
    if (s.retries429) L.push(`| 429 answers retried | ${s.retries429} |`);
    if (s.failures.length) L.push(`| failures (first) | ${s.failures.map((x) => `${x.status}`).join(', ')} |`);
    L.push('');
  }

  L.push('## Summary');
  L.push('');
  L.push('| headline | value |');
  L.push('|---|---:|');
  if (es && peer) L.push(`| ES256 token issuance vs oidc-provider | ${ratio(es.rps, peer.token.rps)} (${f0(es.rps)} vs ${f0(peer.token.rps)} req/s) |`);
  if (rs && ssl?.rsa2048) L.push(`| RS256 issuance per server CPU-second vs single-core openssl sign/s | ${f2(rs.perCpuSecond / ssl.rsa2048.sign)} (${f0(rs.perCpuSecond)} vs ${f0(ssl.rsa2048.sign)}) |`);
  for (const alg of Object.keys(ours)) {
    if (ours[alg].introspect) L.push(`| introspection/s (${alg}) | ${f0(ours[alg].introspect.rps)} |`);
  }
  if (es) L.push(`| ES256 token p99 latency (${c.connections} connections) | ${f2(es.p99_ms)} ms |`);
  if (seeded) L.push(`| RSS with ${f0(seeded.seed.created)} agents | ${mib(seeded.seed.rssAfterKiB)} (before: ${mib(seeded.seed.rssBeforeKiB)}) |`);
  L.push('');
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
  agentidp: {},
  problems: [],
};

if (!cfg.skipOpenssl) {
  log(`openssl speed (${cfg.opensslSeconds} s per algorithm and operation, single core)`);
  results.openssl = await opensslSpeed({ seconds: cfg.opensslSeconds });
  log('openssl:', JSON.stringify(results.openssl));
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
}

if (!cfg.skipPeer) {
  try {
    results.peer = await benchPeer();
  } catch (err) {
    log(`oidc-provider peer FAILED: ${err.stack ?? err}`);
    results.problems.push(`oidc-provider: ${String(err.message).split('\n')[0]}`);
  }
}

for (const r of [
  ...Object.values(results.agentidp).flatMap((o) => [o.token, o.introspect, o.jwks, o.tokenAfterSeed]),
  results.peer?.token,
]) {
  if (r?.errorCount) results.problems.push(`${r.label}: ${r.errorCount} failed requests ${JSON.stringify(r.errors)} — its req/s is not valid`);
}

results.machine.loadavgAtEnd = os.loadavg().map((x) => +x.toFixed(2));
const md = render(results);
await mkdir(cfg.resultsDir, { recursive: true });
await writeFile(path.join(cfg.resultsDir, 'latest.md'), md + '\n');
await writeFile(path.join(cfg.resultsDir, 'latest.json'), JSON.stringify(results, null, 2) + '\n');
console.log(md);
log(`written ${path.relative(process.cwd(), path.join(cfg.resultsDir, 'latest.md')) || 'latest.md'} and latest.json`);
process.exit(results.problems.length ? 1 : 0);
