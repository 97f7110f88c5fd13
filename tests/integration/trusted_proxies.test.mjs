// Client addresses behind load balancers (config `trusted_proxies`, docs/operations.md):
// X-Forwarded-For is believed only from trusted peers, walked from the right past trusted
// hops; the result is what audit events, the access log and the failed-authentication
// slow-down see. Without trusted proxies the header changes nothing.

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, decodeJwt } from './lib/harness.mjs';

async function issuedFrom(srv, admin, agent, headers) {
  const r = await srv.token(agent.id, agent.secret, { headers });
  assert.equal(r.status, 200, r.text);
  const jti = decodeJwt(r.json.access_token).payload.jti;
  const events = await srv.api('GET', `/api/v1/audit?action=token.issued&agentId=${agent.id}&limit=100`, { token: admin });
  assert.equal(events.status, 200, events.text);
  const e = events.json.data.find((x) => x.metadata?.jti === jti);
  assert.ok(e, `token.issued for ${jti}`);
  return e.ipAddress;
}

describe('with the loopback proxy trusted', () => {
  let srv, admin, agent;
  before(async () => {
    srv = await startServer({ env: { AGENTIDP_TRUSTED_PROXIES: '127.0.0.1, ::1' } });
    admin = await srv.adminToken(srv);
    agent = await srv.agentWithSecret(admin);
  });
  after(async () => { await srv?.close(); });

  test('the client address comes from X-Forwarded-For', async () => {
    assert.equal(await issuedFrom(srv, admin, agent, { 'X-Forwarded-For': '198.51.100.7' }), '198.51.100.7');
  });

  test('a forged left part is ignored: the right-most untrusted hop is the client', async () => {
    assert.equal(await issuedFrom(srv, admin, agent, { 'X-Forwarded-For': '6.6.6.6, 198.51.100.8, 127.0.0.1' }), '198.51.100.8');
  });

  test('garbage ends the walk at the last address a trusted hop vouched for', async () => {
    assert.equal(await issuedFrom(srv, admin, agent, { 'X-Forwarded-For': '198.51.100.9, unknown' }), '127.0.0.1');
    assert.equal(await issuedFrom(srv, admin, agent, {}), '127.0.0.1');
  });

  test('the failed-authentication slow-down is per client address', async () => {
    const victim = await srv.agentWithSecret(admin);
    const wrong = 'sk_live_' + 'd'.repeat(64);
    const attacker = { 'X-Forwarded-For': '203.0.113.66' };
    for (let i = 1; i <= 5; i++) assert.equal((await srv.token(victim.id, wrong, { headers: attacker })).status, 401);
    const blocked = await srv.token(victim.id, victim.secret, { headers: attacker });
    assert.equal(blocked.status, 429, blocked.text);
    // The agent itself, behind the same proxy but from its own address, is not locked out.
    const own = await srv.token(victim.id, victim.secret, { headers: { 'X-Forwarded-For': '198.51.100.10' } });
    assert.equal(own.status, 200, own.text);
  });
});

describe('without trusted proxies', () => {
  let srv, admin, agent;
  before(async () => {
    srv = await startServer();
    admin = await srv.adminToken(srv);
    agent = await srv.agentWithSecret(admin);
  });
  after(async () => { await srv?.close(); });

  test('X-Forwarded-For is ignored', async () => {
    assert.equal(await issuedFrom(srv, admin, agent, { 'X-Forwarded-For': '198.51.100.7' }), '127.0.0.1');
  });

  test('nor can it dodge the slow-down', async () => {
    const victim = await srv.agentWithSecret(admin);
    const wrong = 'sk_live_' + 'e'.repeat(64);
    for (let i = 1; i <= 5; i++) {
      const r = await srv.token(victim.id, wrong, { headers: { 'X-Forwarded-For': `203.0.113.${i}` } });
      assert.equal(r.status, 401);
    }
    const r = await srv.token(victim.id, victim.secret, { headers: { 'X-Forwarded-For': '203.0.113.99' } });
    assert.equal(r.status, 429, r.text);
  });
});

test('a bad trusted_proxies value stops start-up with a clear message', async () => {
  await assert.rejects(startServer({ env: { AGENTIDP_TRUSTED_PROXIES: '10.0.0.1/8' } }), /TRUSTED_PROXIES "10.0.0.1\/8" has host bits set/);
});
