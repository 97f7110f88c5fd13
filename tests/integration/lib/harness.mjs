// Integration test harness: starts the real `agentidp serve` on an ephemeral loopback port
// in a fresh temporary data directory, and gives the tests small HTTP helpers.
//
// The binary comes from AGENTIDP_BIN (run.sh sets it). Every AGENTIDP_* variable of the
// inherited environment is stripped before the server starts (the server refuses unknown
// ones, and a stray AGENTIDP_BIN would stop it), as are PORT, DATABASE_URL and REDIS_URL:
// a test states the whole configuration it runs with.
//
// Opt-in: with AGENTIDP_IT_PG_URL (a superuser URL of a throw-away server, e.g.
// `AGENTIDP_IT_PG_URL=$AGENTIDP_TEST_PG_URL` under scripts/with-services.sh), every server a
// test starts without its own DATABASE_URL runs on PostgreSQL instead of SQLite: a fresh schema
// per data directory (a restart finds its schema again), owned by a role that is neither
// superuser nor BYPASSRLS, so row-level security applies to the server. Files that test
// SQLite itself (crash safety, the data directory) are not meant for this mode.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 10_000;
const OUTPUT_TAIL_BYTES = 256 * 1024;

// Servers still running and data directories we made are cleaned up when the test
// process exits, whatever happened to the test.
const children = new Set();
const tempDirs = new Set();
process.on('exit', () => {
  for (const child of children) {
    try { child.kill('SIGKILL'); } catch { /* gone */ }
  }
  for (const dir of tempDirs) {
    try { rmSync(dir, { recursive: true, force: true }); } catch { /* ignore */ }
  }
});

export function binary() {
  const bin = process.env.AGENTIDP_BIN;
  if (!bin) throw new Error('AGENTIDP_BIN is not set: point it at the agentidp binary');
  const resolved = path.resolve(bin);
  if (!existsSync(resolved)) throw new Error(`AGENTIDP_BIN=${bin} does not exist`);
  return resolved;
}

// The environment a child process gets: ours without AGENTIDP_* (and the unprefixed
// settings the server reads), plus exactly what the test asks for.
export function childEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('AGENTIDP_') || k === 'PORT' || k === 'DATABASE_URL' || k === 'REDIS_URL') continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

export function makeTempDir(prefix = 'agentidp-integ-') {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

function tail() {
  let chunks = [];
  let size = 0;
  return {
    push(c) {
      chunks.push(c);
      size += c.length;
      if (size > 2 * OUTPUT_TAIL_BYTES) {
        const joined = Buffer.concat(chunks).subarray(-OUTPUT_TAIL_BYTES);
        chunks = [joined];
        size = joined.length;
      }
    },
    text() { return Buffer.concat(chunks).toString('utf8'); },
  };
}

function readJson(file) {
  try { return JSON.parse(readFileSync(file, 'utf8')); } catch { return undefined; }
}

function alive(pid) {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

/** Runs an agentidp command to completion: {code, signal, stdout, stderr}. */
export function runCli(args, { env = {}, timeoutMs = 20_000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(binary(), args, { env: childEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    const out = [];
    const err = [];
    child.stdout.on('data', (c) => out.push(c));
    child.stderr.on('data', (c) => err.push(c));
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`agentidp ${args.join(' ')} timed out`)); }, timeoutMs);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

const IT_PG_ROLE = 'agentidp_app_it';
const pgUrls = new Map();  // data directory -> {DATABASE_URL, AGENTIDP_MASTER_KEY} (AGENTIDP_IT_PG_URL mode)

function psqlBinary() {
  if (process.env.PG_BINDIR) return path.join(process.env.PG_BINDIR, 'psql');
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base) ? readdirSync(base).filter((v) => /^\d+$/.test(v)).sort((a, b) => a - b) : [];
  return versions.length ? path.join(base, versions.at(-1), 'bin', 'psql') : 'psql';
}

function itPostgresUrl(dir) {
  if (pgUrls.has(dir)) return pgUrls.get(dir);
  const admin = process.env.AGENTIDP_IT_PG_URL;
  const schema = `it_${randomBytes(6).toString('hex')}`;
  const sql = `DO $$ BEGIN CREATE ROLE ${IT_PG_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS; ` +
    'EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$; ' +
    `CREATE SCHEMA ${schema} AUTHORIZATION ${IT_PG_ROLE}`;
  const r = spawnSync(psqlBinary(), [admin, '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c', sql], { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`AGENTIDP_IT_PG_URL: could not create a schema: ${r.stderr}`);
  const url = new URL(admin);
  url.username = IT_PG_ROLE;
  url.password = '';
  url.searchParams.set('options', `-csearch_path=${schema}`);
  // An external database needs the master key from the environment (the same on restart).
  const store = { DATABASE_URL: url.toString(), AGENTIDP_MASTER_KEY: randomBytes(32).toString('hex') };
  pgUrls.set(dir, store);
  return store;
}

/**
 * Starts a server. `dataDir` reuses a directory (restart); otherwise a fresh one is made.
 * Resolves once <dataDir>/listening.json names this very process and it is alive.
 * `admin` ({client_id, client_secret}) is for a node joining a store that another node
 * bootstrapped (it writes no bootstrap-admin.json); otherwise that file is required.
 */
export async function startServer({ env = {}, args = [], dataDir, timeoutMs = START_TIMEOUT_MS, admin: givenAdmin } = {}) {
  const dir = dataDir ?? makeTempDir();
  const out = tail();
  const err = tail();
  const storeEnv = process.env.AGENTIDP_IT_PG_URL && env.DATABASE_URL === undefined
    ? itPostgresUrl(dir) : {};
  const proc = spawn(binary(), ['serve', '--data-dir', dir, '--port', '0', ...args], {
    env: childEnv({ ...storeEnv, ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(proc);
  proc.stdout.on('data', (c) => out.push(c));
  proc.stderr.on('data', (c) => err.push(c));
  let exited = null;
  const exitPromise = new Promise((resolve) => {
    proc.on('exit', (code, signal) => { exited = { code, signal }; children.delete(proc); resolve(exited); });
    proc.on('error', (e) => { exited = { code: null, signal: null, error: e }; children.delete(proc); resolve(exited); });
  });

  const deadline = Date.now() + timeoutMs;
  let listening;
  for (;;) {
    if (exited) {
      throw new Error(`agentidp serve exited before listening (code ${exited.code}, signal ${exited.signal})\n` +
        `stderr:\n${err.text()}`);
    }
    const l = readJson(path.join(dir, 'listening.json'));
    if (l && l.pid === proc.pid && alive(l.pid)) { listening = l; break; }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`agentidp serve did not write listening.json within ${timeoutMs} ms\nstderr:\n${err.text()}`);
    }
    await sleep(25);
  }
  const admin = givenAdmin ?? readJson(path.join(dir, 'bootstrap-admin.json'));
  if (!admin) throw new Error(`no bootstrap-admin.json in ${dir}\nstderr:\n${err.text()}`);

  const server = {
    url: listening.url,
    port: listening.port,
    pid: listening.pid,
    issuer: listening.issuer,
    admin,
    dataDir: dir,
    env,
    proc,
    exited: () => exited,
    stdout: () => out.text(),
    stderr: () => err.text(),
    /** Sends `signal` and waits for the exit (SIGKILL after 10 s): {code, signal}. */
    async stop(signal = 'SIGTERM') {
      if (exited) return exited;
      proc.kill(signal);
      const timer = setTimeout(() => { try { proc.kill('SIGKILL'); } catch { /* gone */ } }, STOP_TIMEOUT_MS);
      const r = await exitPromise;
      clearTimeout(timer);
      return r;
    },
    kill9() { return server.stop('SIGKILL'); },
    /** Stops the server and removes its data directory (when the harness made it). */
    async close() {
      await server.stop();
      if (!dataDir) { rmSync(dir, { recursive: true, force: true }); tempDirs.delete(dir); }
    },
  };
  Object.assign(server, clientFor(listening.url));
  return server;
}

// ---------------------------------------------------------------------------------------
// HTTP helpers bound to one base URL.

let agentCounter = 0;

export function basicAuth(id, secret) {
  return 'Basic ' + Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64');
}

async function toResult(res) {
  const text = await res.text();
  let json;
  try { json = text.length ? JSON.parse(text) : undefined; } catch { json = undefined; }
  return { status: res.status, headers: res.headers, text, json };
}

export function clientFor(url) {
  const c = {
    /**
     * JSON API call. `body` (object) is sent as JSON unless `raw` is set, in which case
     * `body` (string or Buffer) goes out as is with the headers given.
     */
    async api(method, p, { token, body, headers = {}, raw = false } = {}) {
      const h = { ...headers };
      if (token) h.authorization = `Bearer ${token}`;
      let payload;
      if (body !== undefined) {
        if (raw) payload = body;
        else {
          payload = JSON.stringify(body);
          if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['content-type'] = 'application/json';
        }
      }
      const res = await fetch(url + p, { method, headers: h, body: payload });
      return toResult(res);
    },
    /**
     * Form POST to an OAuth endpoint. `params` is an object or an array of [name, value]
     * pairs (to repeat a parameter). `auth` = {id, secret, method: 'basic'|'post'}.
     */
    async form(p, params, { auth, headers = {}, contentType = 'application/x-www-form-urlencoded' } = {}) {
      const pairs = Array.isArray(params) ? [...params] : Object.entries(params).filter(([, v]) => v !== undefined);
      const h = { ...headers };
      if (contentType) h['content-type'] = contentType;
      if (auth) {
        if ((auth.method ?? 'basic') === 'basic') h.authorization = basicAuth(auth.id, auth.secret);
        else pairs.push(['client_id', auth.id], ['client_secret', auth.secret]);
      }
      const res = await fetch(url + p, { method: 'POST', headers: h, body: new URLSearchParams(pairs).toString() });
      return toResult(res);
    },
    /** Client-credentials token request; resolves to the whole response. */
    token(clientId, secret, { scope, method = 'basic', extra = [], headers } = {}) {
      const params = [['grant_type', 'client_credentials']];
      if (scope !== undefined) params.push(['scope', scope]);
      params.push(...extra);
      return c.form('/api/v1/token', params, { auth: { id: clientId, secret, method }, headers });
    },
    /** Like token() but insists on 200 and returns the access token. */
    async accessToken(clientId, secret, opts) {
      const r = await c.token(clientId, secret, opts);
      if (r.status !== 200) throw new Error(`token request for ${clientId} answered ${r.status}: ${r.text}`);
      return r.json.access_token;
    },
    async adminToken(server, scope) {
      return c.accessToken(server.admin.client_id, server.admin.client_secret, { scope });
    },
    introspect(token, auth) {
      return c.form('/api/v1/token/introspect', { token }, { auth });
    },
    revoke(token, auth) {
      return c.form('/api/v1/token/revoke', { token }, { auth });
    },
    /** Registers an agent (201 required) and returns its JSON. */
    async createAgent(adminToken, overrides = {}) {
      const n = ++agentCounter;
      const body = {
        email: `agent-${process.pid}-${n}-${randomBytes(4).toString('hex')}@example.com`,
        agentType: 'custom',
        version: '1.0.0',
        capabilities: ['data:read'],
        owner: 'integration-tests',
        deploymentEnv: 'development',
        ...overrides,
      };
      const r = await c.api('POST', '/api/v1/agents', { token: adminToken, body });
      if (r.status !== 201) throw new Error(`createAgent answered ${r.status}: ${r.text}`);
      return r.json;
    },
    /** Creates a client secret for an agent (201 required) and returns its JSON. */
    async createCredential(adminToken, agentId, body = {}) {
      const r = await c.api('POST', `/api/v1/agents/${agentId}/credentials`, { token: adminToken, body });
      if (r.status !== 201) throw new Error(`createCredential answered ${r.status}: ${r.text}`);
      return r.json;
    },
    /** Agent plus one secret: {agent, credential, id, secret}. */
    async agentWithSecret(adminToken, overrides = {}) {
      const agent = await c.createAgent(adminToken, overrides);
      const credential = await c.createCredential(adminToken, agent.agentId);
      return { agent, credential, id: agent.agentId, secret: credential.clientSecret };
    },
  };
  return c;
}

// ---------------------------------------------------------------------------------------
// JWT and raw-socket helpers.

export function b64url(bufOrString) {
  return Buffer.from(bufOrString).toString('base64url');
}

export function decodeJwt(token) {
  const [h, p] = token.split('.');
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString('utf8')),
    payload: JSON.parse(Buffer.from(p, 'base64url').toString('utf8')),
  };
}

/**
 * Sends exact bytes to host:port and resolves to the raw response text: once the server
 * closes the connection, or after `idleMs` without new data once something arrived, or
 * after `timeoutMs` in any case.
 */
export function raw(host, port, bytes, { timeoutMs = 5000, idleMs = 300 } = {}) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let idleTimer;
    const sock = net.connect({ host, port }, () => sock.write(bytes));
    const finish = () => {
      clearTimeout(overall);
      clearTimeout(idleTimer);
      sock.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    };
    const overall = setTimeout(finish, timeoutMs);
    sock.on('data', (c) => {
      chunks.push(c);
      clearTimeout(idleTimer);
      idleTimer = setTimeout(finish, idleMs);
    });
    sock.on('end', finish);
    sock.on('close', finish);
    sock.on('error', (e) => {
      if (chunks.length) finish();
      else if (e.code === 'ECONNRESET' || e.code === 'EPIPE') finish();
      else { clearTimeout(overall); reject(e); }
    });
  });
}

/** Status code of the first response in a raw HTTP/1.x answer (NaN if none). */
export function rawStatus(text) {
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
  return m ? Number(m[1]) : NaN;
}

export function hostPort(url) {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port) };
}

export { sleep };
