// Load shedding (DESIGN §4): when the worker queue is full the server answers 503 with
// Retry-After at once instead of queueing without bound, keeps serving what needs no
// worker, and recovers as soon as the queue drains.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/harness.mjs';

let srv;
let admin;
before(async () => {
  // One worker and room for one queued request: a burst of store-bound requests overflows.
  srv = await startServer({
    env: {
      AGENTIDP_WORKER_THREADS: '1',
      AGENTIDP_MAX_QUEUE: '1',
      AGENTIDP_API_RATE_LIMIT_PER_MINUTE: '100000',
    },
  });
  admin = await srv.adminToken(srv);
});
after(async () => { await srv?.close(); });

test('a burst beyond the worker queue is shed with 503 + Retry-After, never queued without bound', async () => {
  const burst = await Promise.all(Array.from({ length: 60 }, (_, i) =>
    srv.api('POST', '/api/v1/agents', {
      token: admin,
      body: {
        email: `shed-${i}@example.com`, agentType: 'custom', version: '1.0.0',
        capabilities: ['a:b'], owner: 'load', deploymentEnv: 'development',
      },
    })));
  const statuses = burst.map((r) => r.status);
  const shed = burst.filter((r) => r.status === 503);
  const created = burst.filter((r) => r.status === 201);
  assert.ok(shed.length > 0, `expected some 503s, got ${JSON.stringify(statuses)}`);
  assert.ok(created.length > 0, 'the requests that fit were served');
  assert.equal(shed.length + created.length, burst.length, `only 201 or 503: ${statuses}`);
  for (const r of shed) {
    assert.equal(r.headers.get('retry-after'), '1');
    assert.equal(r.json.code, 'SERVICE_UNAVAILABLE');
  }
  // Shed requests did nothing: exactly the created agents exist.
  const list = await srv.api('GET', '/api/v1/agents?owner=load&limit=100', { token: admin });
  assert.equal(list.status, 200, list.text);
  assert.equal(list.json.total, created.length);
});

test('what needs no worker keeps answering, and the server recovers after the burst', async () => {
  const [health, jwks] = await Promise.all([srv.api('GET', '/health'), srv.api('GET', '/.well-known/jwks.json')]);
  assert.equal(health.status, 200);
  assert.equal(jwks.status, 200);
  const after = await srv.api('GET', '/api/v1/agents?limit=1', { token: admin });
  assert.equal(after.status, 200, after.text);
  const metrics = await srv.api('GET', '/metrics');
  const line = metrics.text.split('\n').find((l) => l.startsWith('agentidp_requests_shed_total'));
  assert.ok(line && Number(line.split(' ').pop()) > 0, line);
});
