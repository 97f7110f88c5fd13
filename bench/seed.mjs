#!/usr/bin/env node
// Registers many agents through the REST API with the bootstrap admin's token,
// and reports the server's resident memory (VmRSS) before and after.
//
// Standalone, against a running server:
//   node bench/seed.mjs --data-dir DIR [--count 100000] [--concurrency 32]
// DIR is the server's --data-dir (listening.json and bootstrap-admin.json are
// read from it). bench/run.mjs imports seedAgents() instead.

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

import { rssKiB } from './lib/proc.mjs';
import { adminToken } from '../tests/conformance/lib/api.mjs';

const MAX_FAILURES = 50;

/**
 * Registers `count` agents with `concurrency` requests in flight.
 * Answers 429 are retried after Retry-After (capped); other failures are
 * collected, and the run stops after MAX_FAILURES of them.
 */
export async function seedAgents({ url, bearer, count, concurrency = 32, onProgress }) {
  const runId = randomUUID().slice(0, 8);
  let next = 0;
  let created = 0;
  let retries = 0;
  const failures = [];
  const started = process.hrtime.bigint();

  async function one(i) {
    const body = JSON.stringify({
      email: `seed-${runId}-${i}@bench.example.test`,
      agentType: 'custom',
      version: '1.0.0',
      capabilities: ['bench:seed'],
      owner: 'bench',
      deploymentEnv: 'development',
    });
    for (;;) {
      const res = await fetch(`${url}/api/v1/agents`, {
        method: 'POST',
        headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
        body,
      });
      const text = await res.text();
      if (res.status === 201) return true;
      if (res.status === 429) {
        retries += 1;
        const after = Number(res.headers.get('retry-after')) || 1;
        await sleep(Math.min(after, 5) * 1000);
        continue;
      }
      failures.push({ i, status: res.status, body: text.slice(0, 300) });
      return false;
    }
  }

  async function worker() {
    while (next < count && failures.length < MAX_FAILURES) {
      const i = next;
      next += 1;
      if (await one(i)) {
        created += 1;
        if (onProgress && created % 10_000 === 0) onProgress(created);
      }
    }
  }

  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { requested: count, created, seconds, perSecond: created / seconds, retries429: retries, failures };
}

async function main() {
  const { values } = parseArgs({
    options: {
      'data-dir': { type: 'string' },
      count: { type: 'string', default: '100000' },
      concurrency: { type: 'string', default: '32' },
    },
  });
  if (!values['data-dir']) {
    console.error('usage: node bench/seed.mjs --data-dir DIR [--count N] [--concurrency C]');
    process.exit(2);
  }
  const dir = values['data-dir'];
  const listening = JSON.parse(await readFile(path.join(dir, 'listening.json'), 'utf8'));
  const admin = JSON.parse(await readFile(path.join(dir, 'bootstrap-admin.json'), 'utf8'));
  const server = { url: listening.url.replace(/\/+$/, ''), admin };
  const bearer = await adminToken(server);

  const rssBefore = rssKiB(listening.pid);
  const result = await seedAgents({
    url: server.url,
    bearer,
    count: Number(values.count),
    concurrency: Number(values.concurrency),
    onProgress: (n) => console.error(`seed: ${n} agents`),
  });
  const rssAfter = rssKiB(listening.pid);
  console.log(JSON.stringify({ ...result, pid: listening.pid, rssBeforeKiB: rssBefore, rssAfterKiB: rssAfter }));
  if (result.failures.length) process.exit(1);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main();
}
