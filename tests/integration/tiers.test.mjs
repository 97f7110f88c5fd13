// Usage tiers (SPEC §8): per-organization daily limits on token issuances and API calls,
// enforced on the token endpoint and on authenticated routes, 429 with Retry-After until the
// next 00:00 UTC, GET /tiers/status, the system organization never throttled, and the day's
// counts surviving a restart of the embedded server.

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startServer } from './lib/harness.mjs';

const slug = (prefix = 'tier') => `${prefix}-${randomBytes(4).toString('hex')}`;

function secondsToUtcMidnight() {
  const now = Date.now();
  const next = new Date(now);
  next.setUTCHours(24, 0, 0, 0);
  return Math.ceil((next.getTime() - now) / 1000);
}

// A free organization and an agent of it with a client secret.
async function freeOrgAgent(srv, adminToken, body = {}) {
  const org = await srv.api('POST', '/api/v1/organizations', {
    token: adminToken, body: { name: 'Tier Test', slug: slug(), ...body },
  });
  assert.equal(org.status, 201, org.text);
  const agent = await srv.agentWithSecret(adminToken, { organizationId: org.json.organizationId });
  return { org: org.json, ...agent };
}

async function status(srv, token, query = '') {
  const r = await srv.api('GET', `/api/v1/tiers/status${query}`, { token });
  assert.equal(r.status, 200, r.text);
  return r.json;
}

function assertRetryAfterIsMidnight(r) {
  const retry = Number(r.headers.get('retry-after'));
  assert.ok(Number.isInteger(retry) && retry >= 1 && retry <= 86400, `Retry-After ${retry}`);
  assert.ok(Math.abs(retry - secondsToUtcMidnight()) <= 5, `Retry-After ${retry} is the time to 00:00 UTC`);
}

describe('SPEC limits (free: 1,000 tokens a day)', () => {
  let srv;
  let admin;
  before(async () => {
    srv = await startServer({
      env: {
        AGENTIDP_SIGNING_ALG: 'ES256',
        // The per-client minute limit (100) would stop the run long before the daily one.
        AGENTIDP_RATE_LIMIT_PER_MINUTE: '100000',
      },
    });
    admin = await srv.adminToken(srv);
  });
  after(async () => { await srv?.close(); });

  test("a free organization's 1,001st token of the day gets 429 with Retry-After to 00:00 UTC", async () => {
    const { org, id, secret } = await freeOrgAgent(srv, admin);
    const first = await srv.accessToken(id, secret);
    let issued = 1;
    // 999 more, a few at a time.
    while (issued < 1000) {
      const batch = Math.min(10, 1000 - issued);
      const rs = await Promise.all(Array.from({ length: batch }, () => srv.token(id, secret)));
      for (const r of rs) assert.equal(r.status, 200, r.text);
      issued += batch;
    }
    const refused = await srv.token(id, secret);
    assert.equal(refused.status, 429, refused.text);
    assert.equal(refused.json.error, 'rate_limit_exceeded');
    assert.match(refused.json.error_description, /daily limit of 1000 token issuances/);
    assertRetryAfterIsMidnight(refused);
    assert.equal(refused.headers.get('x-ratelimit-limit'), '100000');
    assert.equal(refused.headers.get('x-ratelimit-remaining'), String(100000 - 1000),
      'the refused request did not consume the per-client window');

    const s = await status(srv, first);
    assert.equal(s.organizationId, org.organizationId);
    assert.equal(s.tier, 'free');
    assert.deepEqual(s.limits, { agents: 10, apiCallsPerDay: 1000, tokensPerDay: 1000 });
    assert.deepEqual(s.usage, { agents: 1, apiCallsToday: 1, tokensToday: 1000 });

    // The system organization (the bootstrap admin's) is never throttled.
    const adminAgain = await srv.token(srv.admin.client_id, srv.admin.client_secret);
    assert.equal(adminAgain.status, 200, adminAgain.text);
    const sys = await status(srv, admin);
    assert.equal(sys.tier, 'enterprise');
    assert.deepEqual(sys.limits, { agents: null, apiCallsPerDay: null, tokensPerDay: null });
    assert.ok(sys.usage.tokensToday >= 2, 'counted though unlimited');
  });
});

describe('overridden limits (tier_limits)', () => {
  let srv;
  let admin;
  const env = {
    AGENTIDP_SIGNING_ALG: 'ES256',
    AGENTIDP_TIER_LIMITS: 'free.tokensPerDay=3,free.apiCallsPerDay=6',
  };
  before(async () => {
    srv = await startServer({ env });
    admin = await srv.adminToken(srv);
  });
  after(async () => { await srv?.close(); });

  test('GET /tiers/status: tier, limits, usage, resetsAt; counts this very call', async () => {
    const { org, id, secret } = await freeOrgAgent(srv, admin);
    const token = await srv.accessToken(id, secret);
    const r = await srv.api('GET', '/api/v1/tiers/status', { token });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('cache-control'), 'no-store');
    assert.ok(r.headers.get('x-ratelimit-limit'), 'X-RateLimit-* as on every authenticated route');
    const next = new Date();
    next.setUTCHours(24, 0, 0, 0);
    assert.deepEqual(r.json, {
      organizationId: org.organizationId,
      tier: 'free',
      limits: { agents: 10, apiCallsPerDay: 6, tokensPerDay: 3 },
      usage: { agents: 1, apiCallsToday: 1, tokensToday: 1 },
      resetsAt: next.toISOString(),
    });
    assert.equal((await status(srv, token)).usage.apiCallsToday, 2);
  });

  test('API calls over the daily limit: 429 RATE_LIMIT_EXCEEDED; an upgrade lifts it at once', async () => {
    const { org, id, secret } = await freeOrgAgent(srv, admin);
    const token = await srv.accessToken(id, secret);
    for (let i = 1; i <= 6; i++) {
      const r = await srv.api('GET', `/api/v1/agents/${id}`, { token });
      // agents:read is a member scope; the call counts whatever it answers.
      assert.equal(r.status, 200, r.text);
    }
    const refused = await srv.api('GET', `/api/v1/agents/${id}`, { token });
    assert.equal(refused.status, 429, refused.text);
    assert.equal(refused.json.code, 'RATE_LIMIT_EXCEEDED');
    assert.equal(refused.json.details.limit, 6);
    assert.equal(refused.json.details.period, 'day');
    assertRetryAfterIsMidnight(refused);
    assert.ok(refused.headers.get('x-ratelimit-remaining'), 'X-RateLimit-* stay as they are');
    // Introspection is an authenticated API call of the organization too.
    const introspect = await srv.introspect(token, { id, secret });
    assert.equal(introspect.status, 429, introspect.text);
    assert.equal(introspect.json.error, 'rate_limit_exceeded');
    // Other organizations and the system organization are not affected.
    const other = await freeOrgAgent(srv, admin);
    const otherToken = await srv.accessToken(other.id, other.secret);
    assert.equal((await srv.api('GET', `/api/v1/agents/${other.id}`, { token: otherToken })).status, 200);
    assert.equal((await srv.api('GET', '/api/v1/agents', { token: admin })).status, 200);

    const up = await srv.api('PATCH', `/api/v1/organizations/${org.organizationId}`, {
      token: admin, body: { planTier: 'pro' },
    });
    assert.equal(up.status, 200, up.text);
    const s = await status(srv, token);
    assert.equal(s.tier, 'pro');
    assert.equal(s.limits.apiCallsPerDay, 50000);
    assert.equal(s.usage.apiCallsToday, 7, 'refused calls are not counted');
  });

  test('token issuances over the daily limit; refused requests are not counted', async () => {
    const { id, secret } = await freeOrgAgent(srv, admin);
    const tokens = [];
    for (let i = 0; i < 3; i++) tokens.push(await srv.accessToken(id, secret));
    for (let i = 0; i < 2; i++) {
      const r = await srv.token(id, secret);
      assert.equal(r.status, 429, r.text);
      assertRetryAfterIsMidnight(r);
    }
    assert.equal((await status(srv, tokens[0])).usage.tokensToday, 3);
  });

  test('tenant confinement, bad input, authentication', async () => {
    const { org, id, secret } = await freeOrgAgent(srv, admin);
    const token = await srv.accessToken(id, secret);
    const sys = await status(srv, admin);
    const foreign = await srv.api('GET', `/api/v1/tiers/status?organizationId=${sys.organizationId}`, { token });
    assert.equal(foreign.status, 404, foreign.text);
    assert.equal(foreign.json.code, 'ORG_NOT_FOUND');
    const cross = await status(srv, admin, `?organizationId=${org.organizationId}`);
    assert.equal(cross.organizationId, org.organizationId, 'cross-tenant administrators may look');
    assert.equal(cross.tier, 'free');
    const bad = await srv.api('GET', '/api/v1/tiers/status?tier=pro', { token });
    assert.equal(bad.status, 400, bad.text);
    assert.equal(bad.json.code, 'VALIDATION_ERROR');
    const none = await srv.api('GET', '/api/v1/tiers/status');
    assert.equal(none.status, 401, none.text);
  });
});

describe('the day counts survive a restart of the embedded server', () => {
  test('tokens from the audit log (also after SIGKILL), API calls from their persisted count', async () => {
    const env = {
      AGENTIDP_SIGNING_ALG: 'ES256',
      AGENTIDP_TIER_LIMITS: 'free.tokensPerDay=3,free.apiCallsPerDay=100',
    };
    let srv = await startServer({ env });
    const dataDir = srv.dataDir;
    try {
      let admin = await srv.adminToken(srv);
      const { org, id, secret } = await freeOrgAgent(srv, admin);
      const token = await srv.accessToken(id, secret);
      await srv.accessToken(id, secret);
      for (let i = 0; i < 4; i++) await status(srv, token);
      assert.deepEqual((await status(srv, token)).usage, { agents: 1, apiCallsToday: 5, tokensToday: 2 });
      // After a restart the issuer (its port) changes: the organization is looked at by the
      // administrator, whose calls count for the system organization.
      const usage = async () => (await status(srv, admin, `?organizationId=${org.organizationId}`)).usage;

      await srv.stop();  // graceful: the API-call counts are saved on the way out
      srv = await startServer({ env, dataDir });
      admin = await srv.adminToken(srv);
      assert.deepEqual(await usage(), { agents: 1, apiCallsToday: 5, tokensToday: 2 },
        'tokens seeded from the audit log, API calls from their persisted count');
      assert.equal((await srv.token(id, secret)).status, 200, 'the 3rd of the day');
      assert.equal((await srv.token(id, secret)).status, 429, 'the 4th, across the restart');

      await srv.kill9();  // a crash: every issued token has its durable audit event
      srv = await startServer({ env, dataDir });
      admin = await srv.adminToken(srv);
      const refused = await srv.token(id, secret);
      assert.equal(refused.status, 429, refused.text);
      assert.equal((await usage()).tokensToday, 3);
    } finally {
      await srv.stop();
    }
  });
});
