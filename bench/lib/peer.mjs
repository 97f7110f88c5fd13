// Starts and stops the oidc-provider peer (bench/peers/oidc-provider).

import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

const PEER_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'peers', 'oidc-provider');

export async function startOidcProvider({ workers = os.availableParallelism(), timeoutMs = 30_000 } = {}) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'agentidp-bench-peer-'));
  const file = path.join(dir, 'listening.json');
  const child = spawn(process.execPath, ['server.mjs', '--listening-file', file, '--workers', String(workers)], {
    cwd: PEER_DIR,
    env: { ...process.env, NODE_ENV: 'production' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (c) => { stderr = (stderr + c).slice(-16384); });
  let exited = false;
  const exit = new Promise((resolve) => child.on('exit', () => { exited = true; resolve(); }));

  const deadline = Date.now() + timeoutMs;
  let info;
  while (!info) {
    if (exited) throw new Error(`oidc-provider peer exited before listening:\n${stderr}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`oidc-provider peer did not start within ${timeoutMs} ms:\n${stderr}`);
    }
    try {
      info = JSON.parse(await readFile(file, 'utf8'));
    } catch {
      await sleep(50);
    }
  }
  return {
    ...info,
    pid: child.pid,
    stderr: () => stderr,
    async stop() {
      if (!exited) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exit;
        clearTimeout(t);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
