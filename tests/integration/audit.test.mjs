// Audit log (SPEC §3 AuditEvent, §4 audit): lifecycle actions are recorded with the
// documented fields, the hash chain recomputes from the API output, filters work,
// chain verification answers its documented shape and is limited to 30 per minute.

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { startServer, decodeJwt, sleep } from './lib/harness.mjs';

const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let srv;
let admin;
let subject; // the agent whose life is audited
let issuedJti;
before(async () => {
  srv = await startServer();
  admin = await srv.adminToken(srv);
  const a = await srv.agentWithSecret(admin);
  const tok = await srv.accessToken(a.id, a.secret);
  issuedJti = decodeJwt(tok).payload.jti;
  assert.equal((await srv.revoke(tok, { id: a.id, secret: a.secret })).status, 200);
  assert.equal((await srv.api('PATCH', `/api/v1/agents/${a.id}`, { token: admin, body: { status: 'suspended' } })).status, 200);
  assert.equal((await srv.api('PATCH', `/api/v1/agents/${a.id}`, { token: admin, body: { status: 'active', owner: 'audited' } })).status, 200);
  assert.equal((await srv.api('POST', `/api/v1/agents/${a.id}/credentials/${a.credential.credentialId}/rotate`, { token: admin })).status, 200);
  assert.equal((await srv.api('DELETE', `/api/v1/agents/${a.id}/credentials/${a.credential.credentialId}`, { token: admin })).status, 204);
  assert.equal((await srv.api('DELETE', `/api/v1/agents/${a.id}`, { token: admin })).status, 204);
  assert.equal((await srv.token(a.id, a.secret)).status, 401); // auth.failed
  subject = a;
  // auth.failed is recorded off the request path (it must not slow refusals down): wait
  // for it to land.
  for (let i = 0; i < 60; i++) {
    const r = await srv.api('GET', `/api/v1/audit?action=auth.failed&agentId=${a.id}`, { token: admin });
    if (r.json.total > 0) break;
    await sleep(50);
  }
});
after(async () => { await srv?.close(); });

async function allEvents(query = '') {
  const out = [];
  for (let page = 1; ; page++) {
    const r = await srv.api('GET', `/api/v1/audit?limit=100&page=${page}${query}`, { token: admin });
    assert.equal(r.status, 200, r.text);
    out.push(...r.json.data);
    if (out.length >= r.json.total || r.json.data.length === 0) return { events: out, total: r.json.total };
  }
}

describe('events', () => {
  test('every lifecycle step of an agent is recorded, with the documented fields', async () => {
    const { events, total } = await allEvents(`&agentId=${subject.id}`);
    assert.equal(events.length, total);
    const actions = events.map((e) => e.action);
    for (const a of ['agent.created', 'credential.generated', 'token.issued', 'token.revoked', 'agent.suspended',
      'agent.reactivated', 'credential.rotated', 'credential.revoked', 'agent.decommissioned', 'auth.failed']) {
      assert.ok(actions.includes(a), `${a} recorded; got ${actions.join(', ')}`);
    }
    for (const e of events) {
      assert.deepEqual(Object.keys(e).sort(), ['action', 'agentId', 'eventId', 'hash', 'ipAddress', 'metadata',
        'organizationId', 'outcome', 'previousHash', 'timestamp', 'userAgent']);
      assert.match(e.eventId, UUID);
      assert.equal(e.agentId, subject.id);
      // auth.failed is written before the client is known to exist (no lookup, no timing
      // oracle), so its organization may be absent; every other event names it.
      if (e.action !== 'auth.failed' || e.organizationId !== null) {
        assert.equal(e.organizationId, srv.admin.organization_id, `${e.action} organizationId`);
      }
      assert.ok(['success', 'failure'].includes(e.outcome));
      assert.match(e.timestamp, ISO_MS);
      assert.equal(typeof e.metadata, 'object');
      assert.match(e.hash, /^[0-9a-f]{64}$/);
    }
    assert.equal(events.find((e) => e.action === 'auth.failed').outcome, 'failure');
    assert.equal(events.find((e) => e.action === 'agent.created').outcome, 'success');
    assert.equal(events.find((e) => e.action === 'token.issued').metadata.jti, issuedJti);
    assert.equal(events.find((e) => e.action === 'token.revoked').metadata.jti, issuedJti);
    // Newest first.
    for (let i = 1; i < events.length; i++) assert.ok(events[i - 1].timestamp >= events[i].timestamp);
  });

  test('GET /audit/{eventId}; unknown ids are 404 AUDIT_EVENT_NOT_FOUND', async () => {
    const { events } = await allEvents(`&agentId=${subject.id}`);
    const one = await srv.api('GET', `/api/v1/audit/${events[0].eventId}`, { token: admin });
    assert.equal(one.status, 200, one.text);
    assert.deepEqual(one.json, events[0]);
    for (const id of [randomUUID(), 'nope']) {
      const r = await srv.api('GET', `/api/v1/audit/${id}`, { token: admin });
      assert.equal(r.status, 404, r.text);
      assert.equal(r.json.code, 'AUDIT_EVENT_NOT_FOUND');
    }
  });

  test('the hash chain recomputes from the API output (SPEC §3 formula)', async () => {
    const { events } = await allEvents();
    const chain = [...events].reverse(); // oldest first
    assert.ok(chain.length >= 10);
    for (let i = 0; i < chain.length; i++) {
      const e = chain[i];
      const input = [e.eventId, e.timestamp, e.action, e.outcome, e.agentId ?? '', e.organizationId ?? '', e.previousHash].join('|');
      assert.equal(createHash('sha256').update(input).digest('hex'), e.hash, `hash of event ${i} (${e.action})`);
      if (i > 0) assert.equal(e.previousHash, chain[i - 1].hash, `event ${i} links to its predecessor`);
    }
  });

  test('ipAddress is the peer address; X-Forwarded-For is not trusted by default', async () => {
    const a = await srv.agentWithSecret(admin);
    const r = await srv.token(a.id, a.secret, { headers: { 'x-forwarded-for': '203.0.113.66', 'user-agent': 'audit-probe/1.0' } });
    assert.equal(r.status, 200);
    const ev = await srv.api('GET', `/api/v1/audit?action=token.issued&agentId=${a.id}`, { token: admin });
    assert.equal(ev.json.data.length, 1);
    assert.equal(ev.json.data[0].ipAddress, '127.0.0.1');
    assert.equal(ev.json.data[0].userAgent, 'audit-probe/1.0');
  });

  test('no secret or token in any audit event', async () => {
    const { events } = await allEvents();
    const text = JSON.stringify(events);
    assert.ok(!text.includes('sk_live_'));
    assert.ok(!text.includes(subject.secret));
    assert.ok(!/eyJ[A-Za-z0-9_-]{10,}\./.test(text), 'no JWT in the audit log');
  });
});

describe('filters', () => {
  test('action, outcome, date range; bad filters are 400', async () => {
    const failures = await srv.api('GET', '/api/v1/audit?outcome=failure', { token: admin });
    assert.equal(failures.status, 200, failures.text);
    assert.ok(failures.json.total >= 1);
    assert.ok(failures.json.data.every((e) => e.outcome === 'failure'));

    const created = await srv.api('GET', '/api/v1/audit?action=agent.created', { token: admin });
    assert.ok(created.json.data.length >= 2 && created.json.data.every((e) => e.action === 'agent.created'));

    const future = new Date(Date.now() + 3600_000).toISOString();
    const none = await srv.api('GET', `/api/v1/audit?fromDate=${future}`, { token: admin });
    assert.equal(none.status, 200, none.text);
    assert.equal(none.json.total, 0);
    const past = new Date(Date.now() - 3600_000).toISOString();
    const range = await srv.api('GET', `/api/v1/audit?fromDate=${past}&toDate=${future}`, { token: admin });
    assert.ok(range.json.total >= 10);

    for (const q of [`fromDate=${future}&toDate=${past}`, 'fromDate=yesterday', 'outcome=maybe', 'bogus=1', 'limit=101']) {
      const r = await srv.api('GET', `/api/v1/audit?${q}`, { token: admin });
      assert.equal(r.status, 400, `${q}: ${r.text}`);
      assert.equal(r.json.code, 'VALIDATION_ERROR');
    }
  });
});

describe('verification', () => {
  test('GET /audit/verify answers the documented shape', async () => {
    const r = await srv.api('GET', '/api/v1/audit/verify', { token: admin });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(Object.keys(r.json).sort(), ['brokenAtEventId', 'checkedCount', 'fromDate', 'toDate', 'verified']);
    assert.equal(r.json.verified, true);
    assert.equal(r.json.brokenAtEventId, null);
    assert.ok(r.json.checkedCount >= 10);
    const from = new Date(Date.now() - 3600_000).toISOString();
    const ranged = await srv.api('GET', `/api/v1/audit/verify?fromDate=${from}`, { token: admin });
    assert.equal(ranged.status, 200, ranged.text);
    assert.equal(ranged.json.verified, true);
    assert.equal(ranged.json.fromDate, from);
  });

  test('chain verification is limited to 30 per minute per caller: 429 + Retry-After', async () => {
    // A separate admin-role agent, so earlier calls do not count; not at a minute's end.
    const auditor = await srv.agentWithSecret(admin, { role: 'admin' });
    const tok = await srv.accessToken(auditor.id, auditor.secret, { scope: 'audit:read' });
    const left = 60 - (Math.floor(Date.now() / 1000) % 60);
    if (left < 4) await sleep(left * 1000 + 200);
    const windowStart = Math.floor(Date.now() / 60000);
    for (let i = 1; i <= 30; i++) {
      const r = await srv.api('GET', '/api/v1/audit/verify', { token: tok });
      assert.equal(r.status, 200, `verify ${i}: ${r.text}`);
    }
    const r = await srv.api('GET', '/api/v1/audit/verify', { token: tok });
    assert.equal(Math.floor(Date.now() / 60000), windowStart, 'all 31 calls fell in one minute');
    assert.equal(r.status, 429, r.text);
    assert.equal(r.json.code, 'RATE_LIMIT_EXCEEDED');
    assert.ok(Number(r.headers.get('retry-after')) >= 1);
  });
});
