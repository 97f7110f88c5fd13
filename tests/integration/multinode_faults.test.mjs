// Faults under load on a three-node deployment (one private PostgreSQL, one private Redis):
//
// - PostgreSQL stopped and restarted while tokens are requested from every node: requests
//   that need it answer 503 with Retry-After (never hang), no token is handed out without its
//   durable token.issued event, and the nodes serve again by themselves;
// - Redis stopped and restarted: the nodes keep issuing on local state, report "degraded"
//   (207), revocations still reach every node through PostgreSQL, and they reconnect by
//   themselves.
//
// Afterwards the audit chain verifies and every 200 has its token.issued event in the database.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { basicAuth, decodeJwt, sleep } from './lib/harness.mjs';
import { startCluster } from './lib/cluster.mjs';

// Client-side bound of every request: the configured database timeouts (acquire 2 s,
// connect 2 s, statement 3 s) plus a margin. A request still open after it counts as a hang.
const REQUEST_TIMEOUT_MS = 12_000;

let cluster;
let adminAuth;
let adminToken;
let clients;

before(async () => {
  cluster = await startCluster({
    nodes: 3,
    env: {
      AGENTIDP_SIGNING_ALG: 'ES256',
      AGENTIDP_RATE_LIMIT_PER_MINUTE: '1000000',
      AGENTIDP_API_RATE_LIMIT_PER_MINUTE: '1000000',
      AGENTIDP_DATABASE_ACQUIRE_TIMEOUT_MS: '2000',
      AGENTIDP_DATABASE_CONNECT_TIMEOUT_SECONDS: '2',
      AGENTIDP_DATABASE_STATEMENT_TIMEOUT_MS: '3000',
      AGENTIDP_ACCESS_LOG: 'false',
    },
  });
  const [A] = cluster.nodes;
  adminAuth = { id: cluster.admin.client_id, secret: cluster.admin.client_secret };
  adminToken = await A.accessToken(adminAuth.id, adminAuth.secret);
  clients = [];
  for (let i = 0; i < 4; i++) clients.push(await A.agentWithSecret(adminToken));
});
after(async () => { await cluster?.close(); });

async function waitFor(what, fn, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

async function request(url, init = {}) {
  const t0 = Date.now();
  try {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    const text = await res.text();
    let json;
    try { json = JSON.parse(text); } catch { json = undefined; }
    return { status: res.status, headers: res.headers, text, json, ms: Date.now() - t0 };
  } catch (e) {
    return { status: 0, error: `${e.name}: ${e.message}`, ms: Date.now() - t0 };
  }
}

// Token requests from `concurrency` loops, round robin over nodes and clients, until stop().
function startLoad({ concurrency = 6 } = {}) {
  const results = [];
  let stopped = false;
  let next = 0;
  const loops = Array.from({ length: concurrency }, async () => {
    while (!stopped) {
      const k = next++;
      const node = k % cluster.nodes.length;
      const c = clients[k % clients.length];
      const r = await request(`${cluster.nodes[node].url}/api/v1/token`, {
        method: 'POST',
        headers: { authorization: basicAuth(c.id, c.secret), 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials',
      });
      const entry = { node, started: Date.now() - r.ms, at: Date.now(), status: r.status, ms: r.ms, error: r.error };
      if (r.status === 200) entry.jti = decodeJwt(r.json.access_token).payload.jti;
      else if (r.status) {
        entry.retryAfter = r.headers.get('retry-after');
        entry.body = r.text;
      }
      results.push(entry);
      if (r.status !== 200) await sleep(20);  // as a client told to retry later would
    }
  });
  return { results, async stop() { stopped = true; await Promise.all(loops); } };
}

function summary(results) {
  const by = {};
  for (const r of results) by[r.status] = (by[r.status] ?? 0) + 1;
  return JSON.stringify(by);
}

// Every token answered 200 has its token.issued event, committed, in the database.
function assertEveryTokenAudited(results) {
  const issued = new Set(cluster.pg.psql(
    "SELECT metadata->>'jti' FROM audit_events WHERE action = 'token.issued'").split('\n').filter(Boolean));
  const ok = results.filter((r) => r.status === 200);
  assert.ok(ok.length > 0);
  const missing = ok.filter((r) => !issued.has(r.jti));
  assert.deepEqual(missing, [], `${missing.length} of ${ok.length} tokens answered 200 have no token.issued event`);
}

async function assertChainVerifies() {
  const node = cluster.nodes[1];
  const token = await node.accessToken(adminAuth.id, adminAuth.secret);
  const r = await node.api('GET', '/api/v1/audit/verify', { token });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.verified, true, r.text);
  assert.equal(r.json.brokenAtEventId, null);
}

function assertSameProcesses(pids) {
  for (const [i, n] of cluster.nodes.entries()) {
    assert.equal(n.exited(), null, `node ${i} is still running`);
    assert.equal(n.pid, pids[i]);
  }
}

async function health(node) {
  return request(`${node.url}/health/detailed`);
}

test('PostgreSQL stopped and restarted during a token load', async () => {
  const pids = cluster.nodes.map((n) => n.pid);
  const load = startLoad();
  try {
    await waitFor('tokens under load', async () => load.results.filter((r) => r.status === 200).length >= 30);

    let restartedAt;
    try {
      await cluster.pg.stop();
      const stoppedAt = Date.now();  // PostgreSQL is down from here on
      await waitFor('answers to requests sent during the outage', async () =>
        load.results.filter((r) => r.started > stoppedAt).length >= 20);
      // Requests that need the database answer 503 + Retry-After within the configured
      // timeouts (a request still open after REQUEST_TIMEOUT_MS counts as a hang).
      for (const n of cluster.nodes) {
        const list = await request(`${n.url}/api/v1/agents`, { headers: { authorization: `Bearer ${adminToken}` } });
        assert.equal(list.status, 503, `GET /agents on ${n.url} while PostgreSQL is down: ${list.error ?? list.text}`);
        assert.ok(Number(list.headers.get('retry-after')) >= 1);
        assert.equal(list.json.code, 'SERVICE_UNAVAILABLE');
        const h = await health(n);
        assert.equal(h.status, 503, h.error ?? h.text);
        assert.equal(h.json.dependencies.database.status, 'down');
      }
      // Token issuance does not continue without PostgreSQL: its audit record must be durable.
      const duringOutage = load.results.filter((r) => r.started > stoppedAt);
      assert.ok(duringOutage.every((r) => r.status === 503), `answers during the outage: ${summary(duringOutage)}`);
      await sleep(1000);
    } finally {
      restartedAt = Date.now();
      await cluster.pg.start();  // also when an assertion failed: the next test needs it
    }
    // Every node serves again by itself, no restart.
    await waitFor('200s from every node after the restart', async () =>
      cluster.nodes.every((_, i) => load.results.some((r) => r.node === i && r.started > restartedAt && r.status === 200)), 20_000);
    await sleep(500);
  } finally {
    await load.stop();
  }

  const hangs = load.results.filter((r) => r.status === 0);
  assert.deepEqual(hangs, [], 'no request hung or failed at the connection level');
  for (const r of load.results) {
    assert.ok(r.status === 200 || r.status === 503, `unexpected ${r.status}: ${r.body}`);
    if (r.status === 503) {
      assert.ok(Number(r.retryAfter) >= 1, `503 without Retry-After: ${r.body}`);
      assert.equal(JSON.parse(r.body).error, 'temporarily_unavailable');
    }
  }
  for (const n of cluster.nodes) {
    const h = await health(n);
    assert.equal(h.status, 200, h.text);
  }
  assertSameProcesses(pids);
  assertEveryTokenAudited(load.results);
  await assertChainVerifies();
});

test('Redis stopped and restarted during a token load', async () => {
  const pids = cluster.nodes.map((n) => n.pid);
  const [A, B, C] = cluster.nodes;
  for (const n of cluster.nodes) {
    const h = await health(n);
    assert.equal(h.status, 200, h.text);
    assert.equal(h.json.dependencies.redis.status, 'up');
  }
  const agent = await A.agentWithSecret(adminToken);
  const active = async (n, token) => (await n.introspect(token, adminAuth)).json.active;
  const load = startLoad();
  try {
    await waitFor('tokens under load', async () => load.results.filter((r) => r.status === 200).length >= 30);

    try {
      await cluster.redis.stop();
      // Each node notices, degrades to local state and says so.
      for (const n of cluster.nodes) {
        const h = await waitFor(`${n.url} to report degraded`, async () => {
          const r = await health(n);
          return r.status === 207 ? r : null;
        });
        assert.equal(h.json.status, 'degraded');
        assert.equal(h.json.dependencies.redis.status, 'down');
        assert.equal(h.json.dependencies.database.status, 'up');
      }
      // Revocations still take effect everywhere, through PostgreSQL.
      const token = await A.accessToken(agent.id, agent.secret);
      assert.equal(await active(A, token), true);
      assert.equal(await active(B, token), true);
      assert.equal((await C.revoke(token, { id: agent.id, secret: agent.secret })).status, 200);
      for (const n of [A, B]) {
        await waitFor(`the revocation to reach ${n.url} without Redis`, async () => !(await active(n, token)), 5000);
      }
    } finally {
      await cluster.redis.start();  // also when an assertion failed
    }
    for (const n of cluster.nodes) {
      // The node's last word on Redis must be that it is back. (A connection the restart cut
      // can report its failure after another path already saw Redis again: one more short
      // back-off of local counting, ended by the next successful call.)
      await waitFor(`${n.url} to reconnect by itself`, async () => {
        const r = await health(n);
        const log = n.stderr();
        return r.status === 200 && r.json.dependencies.redis.status === 'up' &&
          log.lastIndexOf('reachable again') > log.lastIndexOf('unreachable');
      });
      assert.match(n.stderr(), /unreachable/);
    }
    // Back on Redis: a revocation is visible everywhere within a second again.
    const token2 = await A.accessToken(agent.id, agent.secret);
    assert.equal(await active(B, token2), true);
    assert.equal((await C.revoke(token2, { id: agent.id, secret: agent.secret })).status, 200);
    const t0 = Date.now();
    await waitFor('the revocation through Redis', async () => !(await active(B, token2)), 1000);
    assert.ok(Date.now() - t0 <= 1000);
  } finally {
    await load.stop();
  }

  // Tokens were issued all along: Redis is not needed for that.
  const failed = load.results.filter((r) => r.status !== 200);
  assert.deepEqual(failed, [], `answers: ${summary(load.results)}`);
  assertSameProcesses(pids);
  assertEveryTokenAudited(load.results);
  await assertChainVerifies();
});
