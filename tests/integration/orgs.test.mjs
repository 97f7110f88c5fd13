// Organizations (SPEC §3, §4 "orgs"): validation (slug rules, unique slug), plan tiers and
// agent limits, members moving between organizations, soft delete refused while agents are
// live, admin:orgs required, tenant confinement, org.* audit events.

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, makeTempDir, decodeJwt } from './lib/harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

let srv;
let admin;
before(async () => {
  srv = await startServer();
  admin = await srv.adminToken(srv);
});
after(async () => { await srv?.close(); });

const slug = (prefix = 'org') => `${prefix}-${randomBytes(4).toString('hex')}`;

async function createOrg(body = {}) {
  const r = await srv.api('POST', '/api/v1/organizations', { token: admin, body: { name: 'Acme Corp', slug: slug(), ...body } });
  assert.equal(r.status, 201, r.text);
  return r.json;
}

async function auditActions(orgId) {
  const r = await srv.api('GET', `/api/v1/audit?limit=100`, { token: admin });
  assert.equal(r.status, 200, r.text);
  return r.json.data.filter((e) => e.organizationId === orgId).map((e) => e.action);
}

describe('create, read, list', () => {
  test('201 with the SPEC fields, tier defaults and Location', async () => {
    const s = slug('acme');
    const r = await srv.api('POST', '/api/v1/organizations', { token: admin, body: { name: 'Acme Corp', slug: s } });
    assert.equal(r.status, 201, r.text);
    assert.match(r.json.organizationId, /^[0-9a-f-]{36}$/);
    assert.equal(r.json.name, 'Acme Corp');
    assert.equal(r.json.slug, s);
    assert.equal(r.json.planTier, 'free');
    assert.equal(r.json.maxAgents, 10);
    assert.equal(r.json.status, 'active');
    assert.match(r.json.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(r.headers.get('location'), `/api/v1/organizations/${r.json.organizationId}`);
    const got = await srv.api('GET', `/api/v1/organizations/${r.json.organizationId}`, { token: admin });
    assert.equal(got.status, 200, got.text);
    assert.deepEqual(got.json, r.json);
    assert.deepEqual(await auditActions(r.json.organizationId), ['org.created']);
  });

  test('tiers: pro starts at 100 agents, enterprise is unlimited (null), an explicit limit wins', async () => {
    assert.equal((await createOrg({ planTier: 'pro' })).maxAgents, 100);
    assert.equal((await createOrg({ planTier: 'enterprise' })).maxAgents, null);
    assert.equal((await createOrg({ planTier: 'enterprise', maxAgents: 3 })).maxAgents, 3);
  });

  const bad = [
    ['slug', 'Acme'], ['slug', 'acme_corp'], ['slug', 'acme corp'], ['slug', 'a'], ['slug', 'x'.repeat(51)],
    ['slug', 'acmé'], ['slug', ''], ['slug', 42], ['name', 'A'], ['name', 'n'.repeat(101)], ['name', '   '],
    ['planTier', 'gold'], ['maxAgents', 0], ['maxAgents', -1], ['maxAgents', '10'], ['maxAgents', 2.5],
    ['status', 'active'], ['organizationId', randomUUID()], ['unexpected', true],
  ];
  for (const [field, value] of bad) {
    test(`400 VALIDATION_ERROR details.field=${field} for ${JSON.stringify(value).slice(0, 30)}`, async () => {
      const r = await srv.api('POST', '/api/v1/organizations', { token: admin, body: { name: 'Acme', slug: slug(), [field]: value } });
      assert.equal(r.status, 400, r.text);
      assert.equal(r.json.code, 'VALIDATION_ERROR');
      assert.equal(r.json.details?.field, field);
    });
  }
  for (const field of ['name', 'slug']) {
    test(`400 when ${field} is missing`, async () => {
      const body = { name: 'Acme', slug: slug() };
      delete body[field];
      const r = await srv.api('POST', '/api/v1/organizations', { token: admin, body });
      assert.equal(r.status, 400, r.text);
      assert.equal(r.json.details?.field, field);
    });
  }

  test('a duplicate slug is 409 ORG_ALREADY_EXISTS, on create and on rename', async () => {
    const a = await createOrg();
    const dup = await srv.api('POST', '/api/v1/organizations', { token: admin, body: { name: 'Other', slug: a.slug } });
    assert.equal(dup.status, 409, dup.text);
    assert.equal(dup.json.code, 'ORG_ALREADY_EXISTS');
    const b = await createOrg();
    const rename = await srv.api('PATCH', `/api/v1/organizations/${b.organizationId}`, { token: admin, body: { slug: a.slug } });
    assert.equal(rename.status, 409, rename.text);
    // The system organization's slug is taken from the first start.
    const sys = await srv.api('POST', '/api/v1/organizations', { token: admin, body: { name: 'Sys', slug: 'system' } });
    assert.equal(sys.status, 409, sys.text);
  });

  test('list: page envelope, newest first, deleted only on request', async () => {
    const a = await createOrg();
    const b = await createOrg();
    const r = await srv.api('GET', '/api/v1/organizations?limit=2', { token: admin });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.page, 1);
    assert.equal(r.json.limit, 2);
    assert.ok(r.json.total >= 3);
    assert.deepEqual(r.json.data.map((o) => o.organizationId), [b.organizationId, a.organizationId]);
    assert.equal((await srv.api('GET', '/api/v1/organizations?status=gone', { token: admin })).status, 400);
    assert.equal((await srv.api('GET', '/api/v1/organizations?limit=101', { token: admin })).status, 400);
    assert.equal((await srv.api('GET', '/api/v1/organizations?x=1', { token: admin })).status, 400);
  });

  test('unknown, malformed and repeated-slash ids are 404 ORG_NOT_FOUND', async () => {
    for (const id of [randomUUID(), 'not-a-uuid']) {
      const r = await srv.api('GET', `/api/v1/organizations/${id}`, { token: admin });
      assert.equal(r.status, 404, r.text);
      assert.equal(r.json.code, 'ORG_NOT_FOUND');
    }
  });
});

describe('update', () => {
  test('rename, tier change brings its limit, suspension stops new agents', async () => {
    const org = await createOrg();
    const r = await srv.api('PATCH', `/api/v1/organizations/${org.organizationId}`, { token: admin, body: { name: 'Renamed', planTier: 'pro' } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.name, 'Renamed');
    assert.equal(r.json.planTier, 'pro');
    assert.equal(r.json.maxAgents, 100);
    const unlimited = await srv.api('PATCH', `/api/v1/organizations/${org.organizationId}`, { token: admin, body: { maxAgents: null } });
    assert.equal(unlimited.json.maxAgents, null);
    const s = await srv.api('PATCH', `/api/v1/organizations/${org.organizationId}`, { token: admin, body: { status: 'suspended' } });
    assert.equal(s.status, 200, s.text);
    assert.equal(s.json.status, 'suspended');
    const agent = await srv.api('POST', '/api/v1/agents', {
      token: admin,
      body: { email: `s-${randomBytes(4).toString('hex')}@example.com`, agentType: 'custom', version: '1.0.0', capabilities: ['a:b'], owner: 'o', deploymentEnv: 'development', organizationId: org.organizationId },
    });
    assert.equal(agent.status, 409, agent.text);
    assert.equal(agent.json.code, 'ORG_SUSPENDED');
    assert.deepEqual(await auditActions(org.organizationId), ['org.updated', 'org.updated', 'org.updated', 'org.created']);
  });

  test('status deleted, empty bodies and unknown fields are refused', async () => {
    const org = await createOrg();
    for (const body of [{ status: 'deleted' }, {}, { createdAt: '2020-01-01T00:00:00.000Z' }]) {
      const r = await srv.api('PATCH', `/api/v1/organizations/${org.organizationId}`, { token: admin, body });
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
    }
  });

  test('the system organization cannot be suspended or deleted', async () => {
    const sysId = srv.admin.organization_id;
    const s = await srv.api('PATCH', `/api/v1/organizations/${sysId}`, { token: admin, body: { status: 'suspended' } });
    assert.equal(s.status, 403, s.text);
    const d = await srv.api('DELETE', `/api/v1/organizations/${sysId}`, { token: admin });
    assert.equal(d.status, 403, d.text);
  });
});

describe('agent limits', () => {
  test('maxAgents is enforced at creation and when adding members; decommissioned agents free a seat', async () => {
    const org = await createOrg({ maxAgents: 1 });
    const first = await srv.createAgent(admin, { organizationId: org.organizationId });
    const over = await srv.api('POST', '/api/v1/agents', {
      token: admin,
      body: { email: `o-${randomBytes(4).toString('hex')}@example.com`, agentType: 'custom', version: '1.0.0', capabilities: ['a:b'], owner: 'o', deploymentEnv: 'development', organizationId: org.organizationId },
    });
    assert.equal(over.status, 403, over.text);
    assert.equal(over.json.code, 'FREE_TIER_LIMIT_EXCEEDED');
    assert.equal(over.json.details.limit, 1);
    const outsider = await srv.createAgent(admin);
    const add = await srv.api('POST', `/api/v1/organizations/${org.organizationId}/members`, { token: admin, body: { agentId: outsider.agentId } });
    assert.equal(add.status, 403, add.text);
    assert.equal(add.json.code, 'FREE_TIER_LIMIT_EXCEEDED');
    assert.equal((await srv.api('DELETE', `/api/v1/agents/${first.agentId}`, { token: admin })).status, 204);
    const now = await srv.api('POST', `/api/v1/organizations/${org.organizationId}/members`, { token: admin, body: { agentId: outsider.agentId } });
    assert.equal(now.status, 201, now.text);
  });
});

describe('members', () => {
  test('adding a member moves the agent with its role; its old token dies; audited', async () => {
    const org = await createOrg();
    const m = await srv.agentWithSecret(admin);
    const oldToken = await srv.accessToken(m.id, m.secret);
    assert.equal((await srv.api('GET', '/agent-info', { token: oldToken })).status, 200);
    const r = await srv.api('POST', `/api/v1/organizations/${org.organizationId}/members`, { token: admin, body: { agentId: m.id, role: 'admin' } });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.organizationId, org.organizationId);
    assert.equal(r.json.agentId, m.id);
    assert.equal(r.json.role, 'admin');
    assert.equal(r.json.previousOrganizationId, srv.admin.organization_id);
    assert.equal(r.json.previousRole, 'member');
    const agent = await srv.api('GET', `/api/v1/agents/${m.id}`, { token: admin });
    assert.equal(agent.json.organizationId, org.organizationId);
    assert.equal(agent.json.role, 'admin');
    // Tokens minted for the previous organization carry no authority any more.
    const stale = await srv.api('GET', '/agent-info', { token: oldToken });
    assert.equal(stale.status, 401, stale.text);
    const introspected = await srv.introspect(oldToken, { id: srv.admin.client_id, secret: srv.admin.client_secret });
    assert.equal(introspected.status, 200, introspected.text);
    assert.deepEqual(introspected.json, { active: false });
    const fresh = await srv.accessToken(m.id, m.secret);
    const claims = decodeJwt(fresh).payload;
    assert.equal(claims.organization_id, org.organizationId);
    assert.ok(claims.scope.split(' ').includes('agents:write'), 'the admin role of the new organization');
    assert.ok(!claims.scope.split(' ').includes('admin:orgs'));
    const events = (await auditActions(org.organizationId)).filter((x) => x.startsWith('org.'));
    assert.deepEqual(events, ['org.member_added', 'org.created']);
    const again = await srv.api('POST', `/api/v1/organizations/${org.organizationId}/members`, { token: admin, body: { agentId: m.id, role: 'member' } });
    assert.equal(again.status, 409, again.text);
    assert.equal(again.json.code, 'ALREADY_MEMBER');
  });

  test('refusals: unknown agent 404, unknown org 404, decommissioned 409, bad bodies 400', async () => {
    const org = await createOrg();
    const unknown = await srv.api('POST', `/api/v1/organizations/${org.organizationId}/members`, { token: admin, body: { agentId: randomUUID() } });
    assert.equal(unknown.status, 404, unknown.text);
    assert.equal(unknown.json.code, 'AGENT_NOT_FOUND');
    const a = await srv.createAgent(admin);
    const noOrg = await srv.api('POST', `/api/v1/organizations/${randomUUID()}/members`, { token: admin, body: { agentId: a.agentId } });
    assert.equal(noOrg.status, 404, noOrg.text);
    assert.equal(noOrg.json.code, 'ORG_NOT_FOUND');
    for (const body of [{}, { agentId: 'x' }, { agentId: a.agentId, role: 'owner' }, { agentId: a.agentId, extra: 1 }]) {
      const r = await srv.api('POST', `/api/v1/organizations/${org.organizationId}/members`, { token: admin, body });
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
    }
    assert.equal((await srv.api('DELETE', `/api/v1/agents/${a.agentId}`, { token: admin })).status, 204);
    const dead = await srv.api('POST', `/api/v1/organizations/${org.organizationId}/members`, { token: admin, body: { agentId: a.agentId } });
    assert.equal(dead.status, 409, dead.text);
    assert.equal(dead.json.code, 'AGENT_ALREADY_DECOMMISSIONED');
    const self = await srv.api('POST', `/api/v1/organizations/${org.organizationId}/members`, { token: admin, body: { agentId: srv.admin.client_id } });
    assert.equal(self.status, 400, self.text);
  });
});

describe('delete', () => {
  test('409 ORG_HAS_ACTIVE_AGENTS while agents are live (suspended too); then soft delete', async () => {
    const org = await createOrg();
    const a = await srv.createAgent(admin, { organizationId: org.organizationId });
    const b = await srv.createAgent(admin, { organizationId: org.organizationId });
    await srv.api('PATCH', `/api/v1/agents/${b.agentId}`, { token: admin, body: { status: 'suspended' } });
    const refused = await srv.api('DELETE', `/api/v1/organizations/${org.organizationId}`, { token: admin });
    assert.equal(refused.status, 409, refused.text);
    assert.equal(refused.json.code, 'ORG_HAS_ACTIVE_AGENTS');
    assert.equal(refused.json.details.activeAgents, 2);
    assert.equal((await srv.api('DELETE', `/api/v1/agents/${a.agentId}`, { token: admin })).status, 204);
    assert.equal((await srv.api('DELETE', `/api/v1/organizations/${org.organizationId}`, { token: admin })).status, 409);
    assert.equal((await srv.api('DELETE', `/api/v1/agents/${b.agentId}`, { token: admin })).status, 204);
    const ok = await srv.api('DELETE', `/api/v1/organizations/${org.organizationId}`, { token: admin });
    assert.equal(ok.status, 204, ok.text);
    // Soft delete: gone from reads and the default list, listed with status=deleted.
    assert.equal((await srv.api('GET', `/api/v1/organizations/${org.organizationId}`, { token: admin })).status, 404);
    assert.equal((await srv.api('DELETE', `/api/v1/organizations/${org.organizationId}`, { token: admin })).status, 404);
    const list = await srv.api('GET', '/api/v1/organizations?limit=100', { token: admin });
    assert.ok(!list.json.data.some((o) => o.organizationId === org.organizationId));
    const deleted = await srv.api('GET', '/api/v1/organizations?status=deleted&limit=100', { token: admin });
    const row = deleted.json.data.find((o) => o.organizationId === org.organizationId);
    assert.equal(row?.status, 'deleted');
    // No agent can be created into it, its slug stays reserved.
    const agent = await srv.api('POST', '/api/v1/agents', {
      token: admin,
      body: { email: `d-${randomBytes(4).toString('hex')}@example.com`, agentType: 'custom', version: '1.0.0', capabilities: ['a:b'], owner: 'o', deploymentEnv: 'development', organizationId: org.organizationId },
    });
    assert.equal(agent.status, 404, agent.text);
    const reuse = await srv.api('POST', '/api/v1/organizations', { token: admin, body: { name: 'Again', slug: org.slug } });
    assert.equal(reuse.status, 409, reuse.text);
    assert.deepEqual((await auditActions(org.organizationId)).filter((x) => x.startsWith('org.')), ['org.deleted', 'org.created']);
  });
});

describe('authorization', () => {
  test('without admin:orgs every organization route is 403 (a member, and an admin of another organization)', async () => {
    const org = await createOrg();
    const member = await srv.agentWithSecret(admin);
    const memberToken = await srv.accessToken(member.id, member.secret);
    const orgAdmin = await srv.agentWithSecret(admin, { organizationId: org.organizationId, role: 'admin' });
    const orgAdminToken = await srv.accessToken(orgAdmin.id, orgAdmin.secret);
    for (const token of [memberToken, orgAdminToken]) {
      const cases = [
        ['POST', '/api/v1/organizations', { name: 'X', slug: slug() }],
        ['GET', '/api/v1/organizations'],
        ['GET', `/api/v1/organizations/${org.organizationId}`],
        ['PATCH', `/api/v1/organizations/${org.organizationId}`, { maxAgents: 1000 }],
        ['DELETE', `/api/v1/organizations/${org.organizationId}`],
        ['POST', `/api/v1/organizations/${org.organizationId}/members`, { agentId: member.id }],
      ];
      for (const [method, p, body] of cases) {
        const r = await srv.api(method, p, { token, body });
        assert.equal(r.status, 403, `${method} ${p}: ${r.text}`);
        assert.equal(r.json.reason, 'insufficient_scope');
        assert.deepEqual(r.json.details.requiredScopes, ['admin:orgs']);
      }
    }
    const none = await srv.api('GET', '/api/v1/organizations');
    assert.equal(none.status, 401);
    const still = await srv.api('GET', `/api/v1/organizations/${org.organizationId}`, { token: admin });
    assert.equal(still.json.maxAgents, 10);
  });
});

describe('a policy that lets organization admins read and rename their own organization', () => {
  let srv2;
  let admin2;
  before(async () => {
    const policy = JSON.parse(readFileSync(path.join(here, '..', '..', 'config', 'policy.json'), 'utf8'));
    policy.routes['orgs.get'] = ['agents:read'];
    policy.routes['orgs.list'] = ['agents:read'];
    policy.routes['orgs.update'] = ['agents:write'];
    policy.routes['orgs.delete'] = ['agents:write'];
    const file = path.join(makeTempDir('agentidp-policy-'), 'policy.json');
    writeFileSync(file, JSON.stringify(policy));
    srv2 = await startServer({ env: { AGENTIDP_POLICY_FILE: file } });
    admin2 = await srv2.adminToken(srv2);
  });
  after(async () => { await srv2?.close(); });

  test('confined to its own organization: others are 404, limits and status stay the operator\'s', async () => {
    const mk = async () => (await srv2.api('POST', '/api/v1/organizations', { token: admin2, body: { name: 'Tenant', slug: slug() } })).json;
    const mine = await mk();
    const theirs = await mk();
    const a = await srv2.agentWithSecret(admin2, { organizationId: mine.organizationId, role: 'admin' });
    const token = await srv2.accessToken(a.id, a.secret);
    const own = await srv2.api('GET', `/api/v1/organizations/${mine.organizationId}`, { token });
    assert.equal(own.status, 200, own.text);
    const other = await srv2.api('GET', `/api/v1/organizations/${theirs.organizationId}`, { token });
    assert.equal(other.status, 404, other.text);
    assert.equal(other.json.code, 'ORG_NOT_FOUND');
    const sys = await srv2.api('GET', `/api/v1/organizations/${srv2.admin.organization_id}`, { token });
    assert.equal(sys.status, 404, sys.text);
    const list = await srv2.api('GET', '/api/v1/organizations', { token });
    assert.deepEqual(list.json.data.map((o) => o.organizationId), [mine.organizationId]);
    assert.equal((await srv2.api('PATCH', `/api/v1/organizations/${theirs.organizationId}`, { token, body: { name: 'Mine now' } })).status, 404);
    const rename = await srv2.api('PATCH', `/api/v1/organizations/${mine.organizationId}`, { token, body: { name: 'Our name' } });
    assert.equal(rename.status, 200, rename.text);
    for (const body of [{ maxAgents: 1000 }, { planTier: 'enterprise' }, { status: 'active' }, { slug: slug() }]) {
      const r = await srv2.api('PATCH', `/api/v1/organizations/${mine.organizationId}`, { token, body });
      assert.equal(r.status, 403, `${JSON.stringify(body)}: ${r.text}`);
    }
    const del = await srv2.api('DELETE', `/api/v1/organizations/${mine.organizationId}`, { token });
    assert.equal(del.status, 403, del.text);
  });
});
