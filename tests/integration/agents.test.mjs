// Agents and credentials API (SPEC §3, §4): create, validation, list filters and paging,
// get, patch, status transitions and what they do to tokens, decommissioning, credential
// rotation and revocation.

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { startServer } from './lib/harness.mjs';

const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let srv;
let admin; // bearer token of the bootstrap admin
let adminAuth;
before(async () => {
  srv = await startServer();
  admin = await srv.adminToken(srv);
  adminAuth = { id: srv.admin.client_id, secret: srv.admin.client_secret };
});
after(async () => { await srv?.close(); });

function validBody(overrides = {}) {
  return {
    email: `valid-${randomUUID()}@example.com`,
    agentType: 'screener',
    version: '2.1.0-beta.1+build.5',
    capabilities: ['resumes:read', 'resumes:score'],
    owner: 'team-hiring',
    deploymentEnv: 'staging',
    ...overrides,
  };
}

async function introspectActive(token) {
  const r = await srv.introspect(token, adminAuth);
  assert.equal(r.status, 200, r.text);
  return r;
}

describe('POST /agents', () => {
  test('201 with every field, Location, timestamps', async () => {
    const body = validBody({ email: `Mixed.Case-${randomUUID()}@Example.COM`, isPublic: true });
    const r = await srv.api('POST', '/api/v1/agents', { token: admin, body });
    assert.equal(r.status, 201, r.text);
    const a = r.json;
    assert.match(a.agentId, UUID);
    assert.equal(r.headers.get('location'), `/api/v1/agents/${a.agentId}`);
    assert.equal(a.email, body.email.toLowerCase());
    assert.equal(a.agentType, 'screener');
    assert.equal(a.version, body.version);
    assert.deepEqual(a.capabilities, body.capabilities);
    assert.equal(a.owner, 'team-hiring');
    assert.equal(a.deploymentEnv, 'staging');
    assert.equal(a.status, 'active');
    assert.equal(a.organizationId, srv.admin.organization_id);
    assert.equal(a.isPublic, true);
    assert.equal(typeof a.did, 'string');
    assert.ok(a.did.startsWith('did:web:') && a.did.endsWith(`:agents:${a.agentId}`), a.did);
    assert.match(a.createdAt, ISO_MS);
    assert.match(a.updatedAt, ISO_MS);
    assert.ok(!('clientSecret' in a));

    const got = await srv.api('GET', `/api/v1/agents/${a.agentId}`, { token: admin });
    assert.equal(got.status, 200, got.text);
    assert.deepEqual(got.json, a);
  });

  test('isPublic defaults to false', async () => {
    const a = await srv.createAgent(admin);
    assert.equal(a.isPublic, false);
  });

  test('duplicate email, in any letter case, is 409 AGENT_ALREADY_EXISTS', async () => {
    const email = `dup-${randomUUID()}@example.com`;
    const first = await srv.api('POST', '/api/v1/agents', { token: admin, body: validBody({ email }) });
    assert.equal(first.status, 201, first.text);
    for (const again of [email, email.toUpperCase()]) {
      const r = await srv.api('POST', '/api/v1/agents', { token: admin, body: validBody({ email: again }) });
      assert.equal(r.status, 409, r.text);
      assert.equal(r.json.code, 'AGENT_ALREADY_EXISTS');
      assert.equal(typeof r.json.message, 'string');
    }
  });

  const badFields = [
    ['email', 'not-an-email'],
    ['email', `${'a'.repeat(60)}@${'b'.repeat(200)}.com`], // > 255 characters
    ['email', 42],
    ['email', 'two@at@example.com'],
    ['agentType', 'robot'],
    ['agentType', ''],
    ['version', '1.0'],
    ['version', '01.0.0'],
    ['version', `1.0.0-${'a'.repeat(64)}`], // > 64 characters
    ['version', 1],
    ['capabilities', []],
    ['capabilities', 'agents:read'],
    ['capabilities', ['no-colon']],
    ['capabilities', [':action']],
    ['capabilities', [7]],
    ['owner', ''],
    ['owner', 'o'.repeat(129)],
    ['owner', null],
    ['deploymentEnv', 'prod'],
    ['isPublic', 'yes'],
    ['status', 'active'], // not settable at creation
    ['agentId', randomUUID()], // immutable
    ['unexpected', 1],
  ];
  for (const [field, value] of badFields) {
    test(`400 VALIDATION_ERROR details.field=${field} for ${JSON.stringify(value)?.slice(0, 40)}`, async () => {
      const r = await srv.api('POST', '/api/v1/agents', { token: admin, body: validBody({ [field]: value }) });
      assert.equal(r.status, 400, r.text);
      assert.equal(r.json.code, 'VALIDATION_ERROR');
      assert.equal(r.json.details?.field, field, r.text);
    });
  }

  for (const field of ['email', 'agentType', 'version', 'capabilities', 'owner', 'deploymentEnv']) {
    test(`400 VALIDATION_ERROR details.field=${field} when it is missing`, async () => {
      const body = validBody();
      delete body[field];
      const r = await srv.api('POST', '/api/v1/agents', { token: admin, body });
      assert.equal(r.status, 400, r.text);
      assert.equal(r.json.code, 'VALIDATION_ERROR');
      assert.equal(r.json.details?.field, field, r.text);
    });
  }

  test('text round-trips exactly, and limits count characters, not bytes', async () => {
    const unicode = await srv.api('POST', '/api/v1/agents', { token: admin, body: validBody({ owner: 'Zoë 🚀 Ops — 東京' }) });
    assert.equal(unicode.status, 201, unicode.text);
    assert.equal(unicode.json.owner, 'Zoë 🚀 Ops — 東京');
    // 128 characters of two UTF-8 bytes each: within "owner (1-128)".
    const r = await srv.api('POST', '/api/v1/agents', { token: admin, body: validBody({ owner: 'é'.repeat(128) }) });
    assert.equal(r.status, 201, `a 128-character owner (256 UTF-8 bytes) was refused: ${r.text}`);
    const over = await srv.api('POST', '/api/v1/agents', { token: admin, body: validBody({ owner: 'é'.repeat(129) }) });
    assert.equal(over.status, 400, over.text);
  });

  test('concurrent registrations of one email: exactly one 201, the rest 409', async () => {
    const body = validBody();
    const rs = await Promise.all(Array.from({ length: 8 }, () => srv.api('POST', '/api/v1/agents', { token: admin, body })));
    const statuses = rs.map((r) => r.status).sort();
    assert.deepEqual(statuses, [201, 409, 409, 409, 409, 409, 409, 409]);
    assert.ok(rs.filter((r) => r.status === 409).every((r) => r.json.code === 'AGENT_ALREADY_EXISTS'));
  });

  test('limits are inclusive: 128-character owner and 64-character version are fine', async () => {
    const r = await srv.api('POST', '/api/v1/agents', {
      token: admin,
      body: validBody({ owner: 'o'.repeat(128), version: `1.0.0-${'a'.repeat(58)}` }),
    });
    assert.equal(r.status, 201, r.text);
  });
});

describe('GET /agents', () => {
  const owner = `owner-${randomUUID()}`;
  const created = [];
  before(async () => {
    const specs = [
      { agentType: 'router' }, { agentType: 'monitor' }, { agentType: 'router' },
      { agentType: 'extractor' }, { agentType: 'router' },
    ];
    for (const s of specs) {
      created.push(await srv.createAgent(admin, { owner, ...s }));
      await new Promise((r) => setTimeout(r, 5)); // distinct createdAt values
    }
    const susp = await srv.api('PATCH', `/api/v1/agents/${created[1].agentId}`, { token: admin, body: { status: 'suspended' } });
    assert.equal(susp.status, 200, susp.text);
  });

  test('owner filter, newest first, list envelope', async () => {
    const r = await srv.api('GET', `/api/v1/agents?owner=${encodeURIComponent(owner)}`, { token: admin });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(Object.keys(r.json).sort(), ['data', 'limit', 'page', 'total']);
    assert.equal(r.json.total, 5);
    assert.equal(r.json.page, 1);
    assert.equal(r.json.limit, 20);
    assert.deepEqual(r.json.data.map((a) => a.agentId), created.map((a) => a.agentId).reverse());
    for (let i = 1; i < r.json.data.length; i++) {
      assert.ok(r.json.data[i - 1].createdAt >= r.json.data[i].createdAt, 'newest first');
    }
  });

  test('agentType and status filters', async () => {
    const routers = await srv.api('GET', `/api/v1/agents?owner=${owner}&agentType=router`, { token: admin });
    assert.equal(routers.status, 200, routers.text);
    assert.equal(routers.json.total, 3);
    assert.ok(routers.json.data.every((a) => a.agentType === 'router' && a.owner === owner));

    const suspended = await srv.api('GET', `/api/v1/agents?owner=${owner}&status=suspended`, { token: admin });
    assert.equal(suspended.status, 200, suspended.text);
    assert.deepEqual(suspended.json.data.map((a) => a.agentId), [created[1].agentId]);

    const active = await srv.api('GET', `/api/v1/agents?owner=${owner}&status=active&agentType=monitor`, { token: admin });
    assert.equal(active.json.total, 0);
    assert.deepEqual(active.json.data, []);

    const badStatus = await srv.api('GET', '/api/v1/agents?status=sleeping', { token: admin });
    assert.equal(badStatus.status, 400, badStatus.text);
    assert.equal(badStatus.json.code, 'VALIDATION_ERROR');
  });

  test('pagination: pages partition the result, total is stable', async () => {
    const seen = [];
    for (const page of [1, 2, 3]) {
      const r = await srv.api('GET', `/api/v1/agents?owner=${owner}&limit=2&page=${page}`, { token: admin });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.total, 5);
      assert.equal(r.json.page, page);
      assert.equal(r.json.limit, 2);
      assert.equal(r.json.data.length, page === 3 ? 1 : 2);
      seen.push(...r.json.data.map((a) => a.agentId));
    }
    assert.deepEqual(seen, created.map((a) => a.agentId).reverse());
    const beyond = await srv.api('GET', `/api/v1/agents?owner=${owner}&limit=2&page=4`, { token: admin });
    assert.equal(beyond.status, 200);
    assert.deepEqual(beyond.json.data, []);
    assert.equal(beyond.json.total, 5);
  });

  test('limit 100 is accepted; limit > 100, 0, or non-numbers are 400', async () => {
    const ok = await srv.api('GET', '/api/v1/agents?limit=100', { token: admin });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.json.limit, 100);
    for (const q of ['limit=101', 'limit=0', 'limit=-1', 'limit=ten', 'page=0', 'page=x']) {
      const r = await srv.api('GET', `/api/v1/agents?${q}`, { token: admin });
      assert.equal(r.status, 400, `${q}: ${r.text}`);
      assert.equal(r.json.code, 'VALIDATION_ERROR');
    }
  });
});

describe('GET /agents/{id}', () => {
  test('unknown or malformed id is 404 AGENT_NOT_FOUND', async () => {
    for (const id of [randomUUID(), 'not-a-uuid']) {
      const r = await srv.api('GET', `/api/v1/agents/${id}`, { token: admin });
      assert.equal(r.status, 404, r.text);
      assert.equal(r.json.code, 'AGENT_NOT_FOUND');
    }
  });
});

describe('PATCH /agents/{id} and status transitions', () => {
  test('mutable fields change, updatedAt moves, immutable fields are refused', async () => {
    const a = await srv.createAgent(admin);
    await new Promise((r) => setTimeout(r, 5));
    const r = await srv.api('PATCH', `/api/v1/agents/${a.agentId}`, {
      token: admin,
      body: { version: '1.1.0', capabilities: ['reports:write'], owner: 'new-owner', deploymentEnv: 'production', agentType: 'summarizer' },
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.version, '1.1.0');
    assert.deepEqual(r.json.capabilities, ['reports:write']);
    assert.equal(r.json.owner, 'new-owner');
    assert.equal(r.json.deploymentEnv, 'production');
    assert.equal(r.json.agentType, 'summarizer');
    assert.equal(r.json.createdAt, a.createdAt);
    assert.ok(r.json.updatedAt > a.updatedAt, `${r.json.updatedAt} > ${a.updatedAt}`);
    const got = await srv.api('GET', `/api/v1/agents/${a.agentId}`, { token: admin });
    assert.deepEqual(got.json, r.json);

    for (const [field, value] of [['agentId', randomUUID()], ['createdAt', '2020-01-01T00:00:00.000Z'], ['version', 'one'], ['status', 'paused']]) {
      const bad = await srv.api('PATCH', `/api/v1/agents/${a.agentId}`, { token: admin, body: { [field]: value } });
      assert.equal(bad.status, 400, `${field}: ${bad.text}`);
      assert.equal(bad.json.code, 'VALIDATION_ERROR');
      assert.equal(bad.json.details?.field, field);
    }
    const empty = await srv.api('PATCH', `/api/v1/agents/${a.agentId}`, { token: admin, body: {} });
    assert.equal(empty.status, 400, empty.text);
    const missing = await srv.api('PATCH', `/api/v1/agents/${randomUUID()}`, { token: admin, body: { owner: 'x' } });
    assert.equal(missing.status, 404, missing.text);
    assert.equal(missing.json.code, 'AGENT_NOT_FOUND');
  });

  test('PATCH to an email another agent holds is 409', async () => {
    const a = await srv.createAgent(admin);
    const b = await srv.createAgent(admin);
    const r = await srv.api('PATCH', `/api/v1/agents/${b.agentId}`, { token: admin, body: { email: a.email.toUpperCase() } });
    assert.equal(r.status, 409, r.text);
    assert.equal(r.json.code, 'AGENT_ALREADY_EXISTS');
  });

  test('active -> suspended -> active: no tokens and inactive tokens while suspended', async () => {
    const { id, secret } = await srv.agentWithSecret(admin);
    const tok = await srv.accessToken(id, secret);
    assert.equal((await introspectActive(tok)).json.active, true);

    const s = await srv.api('PATCH', `/api/v1/agents/${id}`, { token: admin, body: { status: 'suspended' } });
    assert.equal(s.status, 200, s.text);
    assert.equal(s.json.status, 'suspended');

    const refused = await srv.token(id, secret);
    assert.equal(refused.status, 401, refused.text);
    assert.equal(refused.json.error, 'invalid_client');
    // Indistinguishable from a wrong secret: a suspended agent is not revealed.
    const wrong = await srv.token(id, 'sk_live_' + 'f'.repeat(64));
    assert.equal(wrong.status, 401);
    assert.equal(refused.text, wrong.text);

    const inactive = await introspectActive(tok);
    assert.equal(inactive.text, '{"active":false}');
    const api = await srv.api('GET', `/api/v1/agents/${id}`, { token: tok });
    assert.equal(api.status, 401, api.text);

    const back = await srv.api('PATCH', `/api/v1/agents/${id}`, { token: admin, body: { status: 'active' } });
    assert.equal(back.status, 200, back.text);
    assert.equal(back.json.status, 'active');
    assert.equal((await introspectActive(tok)).json.active, true, 'the old token lives again');
    const again = await srv.token(id, secret);
    assert.equal(again.status, 200, again.text);
  });

  test('DELETE decommissions: 204, credentials revoked, tokens dead, terminal', async () => {
    const { id, secret, credential } = await srv.agentWithSecret(admin);
    const second = await srv.createCredential(admin, id);
    const tok = await srv.accessToken(id, secret);

    const del = await srv.api('DELETE', `/api/v1/agents/${id}`, { token: admin });
    assert.equal(del.status, 204, del.text);
    assert.equal(del.text, '');

    const got = await srv.api('GET', `/api/v1/agents/${id}`, { token: admin });
    assert.equal(got.status, 200, got.text);
    assert.equal(got.json.status, 'decommissioned');

    const creds = await srv.api('GET', `/api/v1/agents/${id}/credentials`, { token: admin });
    assert.equal(creds.status, 200, creds.text);
    assert.equal(creds.json.data.length, 2);
    const ids = creds.json.data.map((c) => c.credentialId).sort();
    assert.deepEqual(ids, [credential.credentialId, second.credentialId].sort());
    for (const c of creds.json.data) {
      assert.equal(c.status, 'revoked');
      assert.match(c.revokedAt, ISO_MS);
    }

    assert.equal((await introspectActive(tok)).text, '{"active":false}');
    for (const s of [secret, second.clientSecret]) {
      const t = await srv.token(id, s);
      assert.equal(t.status, 401, t.text);
    }

    for (const body of [{ owner: 'x' }, { status: 'active' }]) {
      const p = await srv.api('PATCH', `/api/v1/agents/${id}`, { token: admin, body });
      assert.equal(p.status, 409, p.text);
      assert.equal(p.json.code, 'AGENT_ALREADY_DECOMMISSIONED');
    }
    const again = await srv.api('DELETE', `/api/v1/agents/${id}`, { token: admin });
    assert.equal(again.status, 409, again.text);
    assert.equal(again.json.code, 'AGENT_ALREADY_DECOMMISSIONED');
    const newCred = await srv.api('POST', `/api/v1/agents/${id}/credentials`, { token: admin, body: {} });
    assert.equal(newCred.status, 409, newCred.text);
    assert.equal(newCred.json.code, 'AGENT_ALREADY_DECOMMISSIONED');

    const listed = await srv.api('GET', `/api/v1/agents?status=decommissioned&owner=integration-tests`, { token: admin });
    assert.ok(listed.json.data.some((a) => a.agentId === id));

    const unknown = await srv.api('DELETE', `/api/v1/agents/${randomUUID()}`, { token: admin });
    assert.equal(unknown.status, 404, unknown.text);
    assert.equal(unknown.json.code, 'AGENT_NOT_FOUND');
  });

  test('PATCH status=decommissioned is the same terminal transition', async () => {
    const { id, secret } = await srv.agentWithSecret(admin);
    const r = await srv.api('PATCH', `/api/v1/agents/${id}`, { token: admin, body: { status: 'decommissioned' } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.status, 'decommissioned');
    assert.equal((await srv.token(id, secret)).status, 401);
    const creds = await srv.api('GET', `/api/v1/agents/${id}/credentials`, { token: admin });
    assert.ok(creds.json.data.every((c) => c.status === 'revoked'));
  });
});

describe('credentials', () => {
  test('several active secrets work side by side; list never shows secrets', async () => {
    const { id, secret } = await srv.agentWithSecret(admin);
    const c2 = await srv.createCredential(admin, id, { expiresAt: new Date(Date.now() + 86400_000).toISOString() });
    assert.match(c2.clientSecret, /^sk_live_[0-9a-f]{64}$/);
    assert.notEqual(c2.clientSecret, secret);
    assert.match(c2.expiresAt, ISO_MS);
    assert.equal((await srv.token(id, secret)).status, 200);
    assert.equal((await srv.token(id, c2.clientSecret)).status, 200);
    const list = await srv.api('GET', `/api/v1/agents/${id}/credentials`, { token: admin });
    assert.equal(list.status, 200, list.text);
    assert.equal(list.json.total, 2);
    assert.ok(!list.text.includes('sk_live_'));
    for (const c of list.json.data) {
      assert.deepEqual(Object.keys(c).filter((k) => /secret|hash/i.test(k)), []);
      assert.equal(c.clientId, id);
      assert.equal(c.status, 'active');
    }
  });

  test('a credential stops working at its expiresAt', async () => {
    const a = await srv.createAgent(admin);
    const expiresAt = new Date(Date.now() + 1500).toISOString();
    const c = await srv.createCredential(admin, a.agentId, { expiresAt });
    assert.equal(c.expiresAt, expiresAt);
    assert.equal((await srv.token(a.agentId, c.clientSecret)).status, 200);
    await new Promise((r) => setTimeout(r, Date.parse(expiresAt) - Date.now() + 300));
    const late = await srv.token(a.agentId, c.clientSecret);
    assert.equal(late.status, 401, late.text);
    assert.equal(late.json.error, 'invalid_client');
  });

  test('concurrent rotations of one credential: exactly one returned secret works', async () => {
    const { id, secret, credential } = await srv.agentWithSecret(admin);
    const rots = await Promise.all(Array.from({ length: 5 }, () =>
      srv.api('POST', `/api/v1/agents/${id}/credentials/${credential.credentialId}/rotate`, { token: admin })));
    for (const r of rots) assert.equal(r.status, 200, r.text);
    const secrets = rots.map((r) => r.json.clientSecret);
    assert.equal(new Set(secrets).size, 5);
    // At most 4 wrong secrets precede the right one, below the failed-auth slow-down (5);
    // the old secret is tried last, after the success has reset that count.
    const working = [];
    for (const s of secrets) if ((await srv.token(id, s)).status === 200) working.push(s);
    assert.equal(working.length, 1, `${working.length} secrets work after concurrent rotations`);
    assert.equal((await srv.token(id, secret)).status, 401, 'the pre-rotation secret is dead');
  });

  test('credential validation: past expiresAt, bad date, unknown field', async () => {
    const a = await srv.createAgent(admin);
    for (const body of [{ expiresAt: '2000-01-01T00:00:00.000Z' }, { expiresAt: 'tomorrow' }, { secret: 'mine' }]) {
      const r = await srv.api('POST', `/api/v1/agents/${a.agentId}/credentials`, { token: admin, body });
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
      assert.equal(r.json.code, 'VALIDATION_ERROR');
    }
    const unknown = await srv.api('POST', `/api/v1/agents/${randomUUID()}/credentials`, { token: admin, body: {} });
    assert.equal(unknown.status, 404, unknown.text);
    assert.equal(unknown.json.code, 'AGENT_NOT_FOUND');
  });

  test('rotate: new secret returned once, old secret dead at once, new one works', async () => {
    const { id, secret, credential } = await srv.agentWithSecret(admin);
    assert.equal((await srv.token(id, secret)).status, 200);
    const rot = await srv.api('POST', `/api/v1/agents/${id}/credentials/${credential.credentialId}/rotate`, { token: admin });
    assert.equal(rot.status, 200, rot.text);
    assert.equal(rot.json.credentialId, credential.credentialId);
    assert.match(rot.json.clientSecret, /^sk_live_[0-9a-f]{64}$/);
    assert.notEqual(rot.json.clientSecret, secret);
    assert.equal(rot.headers.get('cache-control'), 'no-store');

    const old = await srv.token(id, secret);
    assert.equal(old.status, 401, old.text);
    assert.equal(old.json.error, 'invalid_client');
    const fresh = await srv.token(id, rot.json.clientSecret);
    assert.equal(fresh.status, 200, fresh.text);

    const list = await srv.api('GET', `/api/v1/agents/${id}/credentials`, { token: admin });
    assert.ok(!list.text.includes(rot.json.clientSecret));

    const unknown = await srv.api('POST', `/api/v1/agents/${id}/credentials/${randomUUID()}/rotate`, { token: admin });
    assert.equal(unknown.status, 404, unknown.text);
    assert.equal(unknown.json.code, 'CREDENTIAL_NOT_FOUND');
  });

  test('revoke: 204, the secret stops working, second revoke 409, rotate of revoked 409', async () => {
    const { id, secret, credential } = await srv.agentWithSecret(admin);
    const path = `/api/v1/agents/${id}/credentials/${credential.credentialId}`;
    const r1 = await srv.api('DELETE', path, { token: admin });
    assert.equal(r1.status, 204, r1.text);
    const t = await srv.token(id, secret);
    assert.equal(t.status, 401, t.text);
    const r2 = await srv.api('DELETE', path, { token: admin });
    assert.equal(r2.status, 409, r2.text);
    assert.equal(r2.json.code, 'CREDENTIAL_ALREADY_REVOKED');
    const rot = await srv.api('POST', `${path}/rotate`, { token: admin });
    assert.equal(rot.status, 409, rot.text);
    assert.equal(rot.json.code, 'CREDENTIAL_ALREADY_REVOKED');
    const list = await srv.api('GET', `/api/v1/agents/${id}/credentials`, { token: admin });
    assert.equal(list.json.data[0].status, 'revoked');
    assert.match(list.json.data[0].revokedAt, ISO_MS);

    // A credential of another agent is not reachable through this agent's path.
    const other = await srv.agentWithSecret(admin);
    const cross = await srv.api('DELETE', `/api/v1/agents/${id}/credentials/${other.credential.credentialId}`, { token: admin });
    assert.equal(cross.status, 404, cross.text);
    assert.equal(cross.json.code, 'CREDENTIAL_NOT_FOUND');
    assert.equal((await srv.token(other.id, other.secret)).status, 200);
  });
});
