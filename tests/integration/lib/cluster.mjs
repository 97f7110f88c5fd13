// Multi-node test support: a private throw-away PostgreSQL and Redis per test file (so a test
// may stop and restart them without disturbing other files running in parallel), and N
// `agentidp serve` nodes on them.
//
// PostgreSQL: initdb in a temporary directory, pg_ctl on a free loopback port, trust
// authentication on loopback only (as scripts/with-services.sh does). initdb refuses to run as
// root, so as root the server runs as the `postgres` system user (runuser). Redis:
// redis-server on a free loopback port, no persistence. Both are stopped when the test process
// exits, whatever happened.

import { spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { makeTempDir, runCli, sleep, startServer } from './harness.mjs';

const asRoot = process.getuid?.() === 0;
// Our own temporary directories: the harness removes its own at exit, possibly before a server
// running in one of them is stopped; these are removed after their server stops.
function serviceDir(prefix) {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}
const cleanups = new Set();
process.on('exit', () => {
  for (const fn of cleanups) {
    try { fn(); } catch { /* best effort */ }
  }
});

function pgBinDir() {
  if (process.env.PG_BINDIR) return process.env.PG_BINDIR;
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base) ? readdirSync(base).filter((v) => /^\d+$/.test(v)).sort((a, b) => a - b) : [];
  if (!versions.length) throw new Error('PostgreSQL server binaries not found (install postgresql-15 or set PG_BINDIR)');
  return path.join(base, versions.at(-1), 'bin');
}

function redisServerBin() {
  if (process.env.REDIS_SERVER) return process.env.REDIS_SERVER;
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const candidate = path.join(dir, 'redis-server');
    if (dir && existsSync(candidate)) return candidate;
  }
  throw new Error('redis-server not found (install redis-server or set REDIS_SERVER)');
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// Runs a PostgreSQL server binary as the cluster owner; throws with its output on failure.
function pgRun(bin, args, { allowFail = false } = {}) {
  const cmd = asRoot ? 'runuser' : bin;
  const full = asRoot ? ['-u', 'postgres', '--', bin, ...args] : args;
  const r = spawnSync(cmd, full, { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0 && !allowFail) {
    throw new Error(`${path.basename(bin)} ${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  }
  return r;
}

// The same, without blocking the event loop (a load keeps running meanwhile).
function pgRunAsync(bin, args) {
  const cmd = asRoot ? 'runuser' : bin;
  const full = asRoot ? ['-u', 'postgres', '--', bin, ...args] : args;
  return new Promise((resolve, reject) => {
    // Output to a file, not a pipe: the postmaster pg_ctl starts must not hold our pipe open.
    const child = spawn(cmd, full, { stdio: 'ignore' });
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`${path.basename(bin)} ${args.join(' ')} failed (${code ?? signal})`));
    });
  });
}

/** A private PostgreSQL server: {url, port, stop(), start(), close(), psql(sql)}. */
export async function startPostgres() {
  const bin = pgBinDir();
  const dir = serviceDir('agentidp-pg-');
  const data = path.join(dir, 'data');
  const sock = path.join(dir, 'sock');
  spawnSync('mkdir', ['-p', sock]);
  if (asRoot) {
    for (const p of [dir, sock]) chownSync(p, uidOf('postgres'), gidOf('postgres'));
  }
  pgRun(path.join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '-E', 'UTF8', '--locale=C',
    '--auth-local=trust', '--auth-host=trust']);
  writeFileSync(path.join(data, 'pg_hba.conf'), 'local all all trust\nhost all all 127.0.0.1/32 trust\n');
  const port = await freePort();
  writeFileSync(path.join(data, 'postgresql.auto.conf'),
    `listen_addresses = '127.0.0.1'\nport = ${port}\nunix_socket_directories = '${sock}'\nmax_connections = 200\n`);
  if (asRoot) {
    for (const f of ['pg_hba.conf', 'postgresql.auto.conf']) chownSync(path.join(data, f), uidOf('postgres'), gidOf('postgres'));
  }
  const pgCtl = path.join(bin, 'pg_ctl');
  let running = false;
  const pg = {
    port,
    url: `postgres://agentidp_app@127.0.0.1:${port}/agentidp`,
    /** Fast shutdown (as an operator or a failover would): sessions are terminated. */
    async stop() {
      if (!running) return;
      await pgRunAsync(pgCtl, ['-D', data, '-m', 'fast', '-w', '-t', '60', 'stop']);
      running = false;
    },
    async start() {
      if (running) return;
      running = true;  // from here on the exit cleanup must stop it
      await pgRunAsync(pgCtl, ['-D', data, '-l', path.join(dir, 'server.log'), '-w', '-t', '60', 'start']);
    },
    /** The postmaster's pid (its sessions are its children), or undefined when stopped. */
    pid() {
      try { return Number(readFileSync(path.join(data, 'postmaster.pid'), 'utf8').split('\n')[0]); } catch { return undefined; }
    },
    /** Runs SQL with psql; resolves to the unaligned, tuples-only output. */
    psql(sql) {
      const r = spawnSync(path.join(bin, 'psql'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres',
        '-d', 'agentidp', '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-c', sql], { encoding: 'utf8', timeout: 60_000 });
      if (r.status !== 0) throw new Error(`psql failed: ${r.stderr}`);
      return r.stdout;
    },
    close() {
      cleanups.delete(cleanup);
      cleanup();
    },
  };
  const cleanup = () => {
    if (running) pgRun(pgCtl, ['-D', data, '-m', 'immediate', '-w', 'stop'], { allowFail: true });
    running = false;
    rmSync(dir, { recursive: true, force: true });
  };
  cleanups.add(cleanup);
  await pg.start();
  pgRun(path.join(bin, 'createdb'), ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', 'agentidp']);
  // The nodes connect as the database's owner, a role that is neither superuser nor
  // BYPASSRLS, as in production: row-level security applies to them (docs/operations.md).
  // psql() stays the superuser, who sees every row.
  pg.psql('CREATE ROLE agentidp_app LOGIN NOSUPERUSER NOBYPASSRLS; ALTER DATABASE agentidp OWNER TO agentidp_app');
  return pg;
}

function idOf(flag, name) {
  const r = spawnSync('id', [flag, name], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`no system user ${name}`);
  return Number(r.stdout.trim());
}
const uidOf = (n) => idOf('-u', n);
const gidOf = (n) => idOf('-g', n);

function redisPing(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port }, () => sock.write('PING\r\n'));
    let buf = '';
    const done = (ok) => { sock.destroy(); resolve(ok); };
    sock.setTimeout(1000, () => done(false));
    sock.on('data', (c) => { buf += c; if (buf.includes('\r\n')) done(buf.startsWith('+PONG')); });
    sock.on('error', () => done(false));
  });
}

/** A private Redis server: {url, port, stop(), start(), close()}. No persistence. */
export async function startRedis({ port: givenPort } = {}) {
  const bin = redisServerBin();
  const dir = serviceDir('agentidp-redis-');
  const port = givenPort ?? await freePort();
  let proc = null;
  const redis = {
    port,
    url: `redis://127.0.0.1:${port}/0`,
    async start() {
      if (proc) return;
      proc = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
        '--dir', dir, '--logfile', path.join(dir, 'redis.log')], { stdio: 'ignore' });
      const deadline = Date.now() + 10_000;
      while (!(await redisPing(port))) {
        if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`redis-server did not start on ${port}`);
        await sleep(25);
      }
    },
    pid() { return proc?.pid; },
    /** Stops the server (SIGTERM, as a restart would); its in-memory data is gone. */
    async stop() {
      if (!proc) return;
      const p = proc;
      proc = null;
      if (p.exitCode !== null) return;
      const exited = new Promise((resolve) => p.once('exit', resolve));
      p.kill('SIGTERM');
      await exited;
    },
    async close() {
      cleanups.delete(cleanup);
      await redis.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  const cleanup = () => {
    try { proc?.kill('SIGKILL'); } catch { /* gone */ }
    rmSync(dir, { recursive: true, force: true });
  };
  cleanups.add(cleanup);
  await redis.start();
  return redis;
}

/**
 * A deployment: one private PostgreSQL, one private Redis, `nodes` servers sharing them, the
 * same master key and the same issuer (a token from any node is valid on every node).
 * Node 0 starts first and bootstraps the store; the others join with its admin credentials.
 * Returns {pg, redis, nodes, env, admin, cli(args), close()}.
 */
export async function startCluster({ nodes = 3, env = {} } = {}) {
  const pg = await startPostgres();
  const redis = await startRedis();
  const shared = {
    DATABASE_URL: pg.url,
    REDIS_URL: redis.url,
    AGENTIDP_MASTER_KEY: randomBytes(32).toString('hex'),
    AGENTIDP_ISSUER: 'http://idp.cluster.test',
    // A private Redis, but prove that the prefix is honoured.
    AGENTIDP_REDIS_KEY_PREFIX: `it${randomBytes(3).toString('hex')}:`,
    ...env,
  };
  const first = await startServer({ env: shared });
  const others = await Promise.all(
    Array.from({ length: nodes - 1 }, () => startServer({ env: shared, admin: first.admin })));
  const all = [first, ...others];
  return {
    pg,
    redis,
    nodes: all,
    env: shared,
    admin: first.admin,
    /** Runs an agentidp CLI command against the same store and Redis. */
    cli(args, extraEnv = {}) {
      return runCli([...args, '--data-dir', makeTempDir('agentidp-cli-')], { env: { ...shared, ...extraEnv } });
    },
    async close() {
      await Promise.all(all.map((n) => n.close()));
      await redis.close();
      pg.close();
    },
  };
}
