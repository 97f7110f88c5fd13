// Test harness: starts a real `agentidp serve` on an ephemeral loopback port in a
// fresh temporary data directory, and stops it again.
//
// The binary comes from the AGENTIDP_BIN environment variable. The server
// announces itself by writing <data-dir>/listening.json once it accepts
// connections, and <data-dir>/bootstrap-admin.json on first start.

import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { existsSync, openSync, closeSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const START_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 10_000;
const OUTPUT_TAIL_BYTES = 64 * 1024;

// Children still running when this process goes away are killed, so that a
// crashed test file never leaves a server behind.
const running = new Set();
process.on('exit', () => {
  for (const child of running) {
    try { child.kill('SIGKILL'); } catch { /* already gone */ }
  }
});

function tailBuffer() {
  // Chunks are kept as they come and trimmed in bulk, so that a chatty server
  // under load costs little here.
  let chunks = [];
  let size = 0;
  return {
    push(chunk) {
      chunks.push(chunk);
      size += chunk.length;
      if (size > 2 * OUTPUT_TAIL_BYTES) {
        const joined = Buffer.concat(chunks).subarray(-OUTPUT_TAIL_BYTES);
        chunks = [joined];
        size = joined.length;
      }
    },
    fromFile(file) { this.file = file; },
    get text() {
      if (this.file) {
        try {
          return readFileSync(this.file).subarray(-OUTPUT_TAIL_BYTES).toString('utf8');
        } catch {
          return '';
        }
      }
      return Buffer.concat(chunks).subarray(-OUTPUT_TAIL_BYTES).toString('utf8');
    },
  };
}

// Reads a JSON file the server writes; a missing or half-written file yields
// undefined so that the caller polls again.
async function readJsonIfComplete(file) {
  let raw;
  try {
    raw = await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    return JSON.parse(raw);
  } catch {
    return undefined;
  }
}

export function serverBinary() {
  const bin = process.env.AGENTIDP_BIN;
  if (!bin) {
    throw new Error('AGENTIDP_BIN is not set: point it at the agentidp binary (e.g. build/agentidp)');
  }
  const resolved = path.resolve(bin);
  if (!existsSync(resolved)) {
    throw new Error(`AGENTIDP_BIN=${bin} does not exist`);
  }
  return resolved;
}

/**
 * Starts a server.
 * @param {{alg?: string, env?: Record<string,string>, args?: string[], timeoutMs?: number, logToFile?: boolean}} [options]
 * @returns {Promise<{url: string, port: number, pid: number, issuer: string,
 *   admin: {client_id: string, client_secret: string, organization_id: string},
 *   dataDir: string, output: () => string, stop: () => Promise<void>}>}
 */
export async function startServer({ alg = 'RS256', env = {}, args = [], timeoutMs = START_TIMEOUT_MS, logToFile = false } = {}) {
  const bin = serverBinary();
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'agentidp-test-'));
  const output = tailBuffer();

  // The server refuses unknown AGENTIDP_* variables (SPEC §9), and
  // AGENTIDP_BIN is the harness's, not a server setting.
  const childEnv = { ...process.env, AGENTIDP_SIGNING_ALG: alg, ...env };
  delete childEnv.AGENTIDP_BIN;
  // With logToFile the server writes straight into <dataDir>/server.log, which
  // costs this process nothing however much the server logs (benchmarks).
  const logFile = path.join(dataDir, 'server.log');
  let logFd;
  if (logToFile) logFd = openSync(logFile, 'a');
  const child = spawn(bin, ['serve', '--data-dir', dataDir, '--port', '0', ...args], {
    env: childEnv,
    stdio: logToFile ? ['ignore', logFd, logFd] : ['ignore', 'pipe', 'pipe'],
  });
  if (logToFile) closeSync(logFd);
  running.add(child);
  if (!logToFile) {
    child.stdout.on('data', (c) => output.push(c));
    child.stderr.on('data', (c) => output.push(c));
  } else {
    output.fromFile(logFile);
  }

  let exited = null;
  const exitPromise = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      running.delete(child);
      resolve(exited);
    });
    child.on('error', (err) => {
      exited = { code: null, signal: null, error: err };
      running.delete(child);
      resolve(exited);
    });
  });

  const cleanup = async () => {
    await rm(dataDir, { recursive: true, force: true });
  };

  const deadline = Date.now() + timeoutMs;
  let listening;
  let admin;
  while (true) {
    if (exited) {
      await cleanup();
      const how = exited.error ? `failed to start: ${exited.error.message}`
        : `exited with code ${exited.code} signal ${exited.signal}`;
      throw new Error(`agentidp (${alg}) ${how} before listening. Output:\n${output.text}`);
    }
    listening ??= await readJsonIfComplete(path.join(dataDir, 'listening.json'));
    admin ??= await readJsonIfComplete(path.join(dataDir, 'bootstrap-admin.json'));
    if (listening?.url && admin?.client_id && admin?.client_secret) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      await exitPromise;
      await cleanup();
      const missing = [!listening && 'listening.json', !admin && 'bootstrap-admin.json'].filter(Boolean);
      throw new Error(`agentidp (${alg}) did not write ${missing.join(' and ')} within ${timeoutMs} ms. Output:\n${output.text}`);
    }
    await sleep(25);
  }

  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (!exited) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => { if (!exited) child.kill('SIGKILL'); }, STOP_TIMEOUT_MS);
      await exitPromise;
      clearTimeout(timer);
    }
    await cleanup();
  };

  return {
    url: String(listening.url).replace(/\/+$/, ''),
    port: listening.port,
    pid: listening.pid ?? child.pid,
    issuer: listening.issuer ?? admin.issuer,
    admin: {
      client_id: admin.client_id,
      client_secret: admin.client_secret,
      organization_id: admin.organization_id,
    },
    dataDir,
    output: () => output.text,
    exitStatus: () => exited,
    stop,
  };
}
