// Starts `agentidp serve` for the load scripts (bench/scaleout.mjs, bench/pgprobe.mjs): port 0,
// its own temporary data directory, output in <data-dir>/server.log (nothing flows through
// this process), ES256 unless ALG says otherwise, rate limits raised out of the way.
import { openSync, closeSync, readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const running = new Set();
process.on('exit', () => { for (const c of running) { try { c.kill('SIGKILL'); } catch { /* gone */ } } });

/** Resolves to {url, pid, admin, dataDir, stop()} once the node listens. */
export async function startNode(extraEnv, admin, { alg = process.env.ALG ?? 'ES256' } = {}) {
  const env = process.env;
  const bin = path.resolve(env.AGENTIDP_BIN ?? '');
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'agentidp-bench-'));
  const childEnv = {
    ...Object.fromEntries(Object.entries(env).filter(([k]) => !k.startsWith('AGENTIDP_') || k === 'AGENTIDP_ACCESS_LOG' || k === 'AGENTIDP_LOG_LEVEL')),
    AGENTIDP_SIGNING_ALG: alg,
    AGENTIDP_RATE_LIMIT_PER_MINUTE: '100000000',
    AGENTIDP_API_RATE_LIMIT_PER_MINUTE: '100000000',
    ...extraEnv,
  };
  delete childEnv.DATABASE_URL;
  delete childEnv.REDIS_URL;
  Object.assign(childEnv, extraEnv);
  const fd = openSync(path.join(dataDir, 'server.log'), 'a');
  const child = spawn(bin, ['serve', '--data-dir', dataDir, '--port', '0'], { env: childEnv, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  running.add(child);
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`agentidp exited: ${readFileSync(path.join(dataDir, 'server.log'), 'utf8').slice(-3000)}`);
    try {
      const l = JSON.parse(readFileSync(path.join(dataDir, 'listening.json'), 'utf8'));
      const a = admin ?? JSON.parse(readFileSync(path.join(dataDir, 'bootstrap-admin.json'), 'utf8'));
      if (l.pid === child.pid) {
        return {
          url: l.url, pid: child.pid, admin: a, dataDir,
          async stop() {
            const exited = new Promise((r) => child.once('exit', r));
            child.kill('SIGTERM');
            await exited;
            running.delete(child);
            rmSync(dataDir, { recursive: true, force: true });
          },
        };
      }
    } catch { /* not yet */ }
    if (Date.now() > deadline) throw new Error('agentidp did not start');
    await sleep(25);
  }
}
