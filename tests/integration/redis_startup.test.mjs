// A node whose Redis is unreachable when it starts: it serves anyway on local state,
// reports degraded, and connects by itself once Redis is there (embedded store).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sleep, startServer } from './lib/harness.mjs';
import { freePort, startRedis } from './lib/cluster.mjs';

async function waitFor(what, fn, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

test('Redis unreachable at start-up: the node serves degraded and connects when Redis comes', async () => {
  const port = await freePort();
  const srv = await startServer({ env: { REDIS_URL: `redis://127.0.0.1:${port}/0` } });
  let redis;
  try {
    const h = await srv.api('GET', '/health/detailed');
    assert.equal(h.status, 207, h.text);
    assert.equal(h.json.status, 'degraded');
    assert.equal(h.json.dependencies.redis.status, 'down');
    assert.equal(h.json.dependencies.database.status, 'up');
    // Tokens, introspection and the API work on local state meanwhile.
    const admin = await srv.adminToken(srv);
    const agent = await srv.agentWithSecret(admin);
    const token = await srv.accessToken(agent.id, agent.secret);
    const r = await srv.token(agent.id, agent.secret);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('x-ratelimit-limit'), '100');
    assert.equal((await srv.introspect(token, { id: agent.id, secret: agent.secret })).json.active, true);
    assert.match(srv.stderr(), /unreachable/);

    redis = await startRedis({ port });
    await waitFor('the node to connect', async () => (await srv.api('GET', '/health/detailed')).status === 200);
    assert.match(srv.stderr(), /reachable again/);
    const after = await srv.token(agent.id, agent.secret);
    assert.equal(after.status, 200, after.text);
    assert.equal(after.headers.get('x-ratelimit-remaining'), '99', 'counted in Redis now, from zero');
  } finally {
    await srv.close();
    await redis?.close();
  }
});
