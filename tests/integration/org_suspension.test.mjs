// Suspending an organization (PATCH /organizations/{id} status=suspended) stops its agents at
// once: no new tokens by any grant (client_credentials, token exchange, delegation,
// POST /oidc/token, jwt-bearer), their existing tokens introspect {"active":false} and are
// refused by protected routes; reactivation restores all of it. A deleted organization's
// agents are stopped the same way. (The multi-node case is in multinode.test.mjs.)

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { startServer, makeTempDir } from './lib/harness.mjs';
import { startIssuer } from './lib/oidc_issuer.mjs';

const TE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const AT = 'urn:ietf:params:oauth:token-type:access_token';
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const NO_SLOWDOWN = { AGENTIDP_AUTH_FAILURES_BEFORE_SLOWDOWN: '1000' };

describe('organization suspension', () => {
  let issuer, srv, admin, adminAuth, org, a, b, tokenA, delegated;
  const slug = () => `susp-${randomBytes(4).toString('hex')}`;
  const active = async (token) => {
    const r = await srv.introspect(token, adminAuth);
    assert.equal(r.status, 200, r.text);
    return r.json;
  };
  const setStatus = async (status) => {
    const r = await srv.api('PATCH', `/api/v1/organizations/${org}`, { token: admin, body: { status } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.status, status);
  };
  const exchangeOwn = () => srv.form('/api/v1/token', { grant_type: TE, subject_token: tokenA, subject_token_type: AT },
    { auth: { id: a.id, secret: a.secret } });
  const delegate = () => srv.api('POST', '/api/v1/oauth2/token/delegate',
    { token: tokenA, body: { delegateeAgentId: b.id, scopes: ['agents:read'], ttlSeconds: 600 } });
  const workload = () => srv.api('POST', '/api/v1/oidc/token', { body: { token: issuer.mint('ci', { sub: 'deploy-job', aud: srv.issuer }) } });
  const jwtBearer = () => srv.form('/api/v1/token', { grant_type: JWT_BEARER, assertion: issuer.mint('ci', { sub: 'deploy-job', aud: srv.issuer }) });

  before(async () => {
    issuer = await startIssuer(makeTempDir());
    srv = await startServer({ env: { ...NO_SLOWDOWN, AGENTIDP_OUTBOUND_ALLOW_PRIVATE: 'true', AGENTIDP_OUTBOUND_CA_FILE: issuer.caFile } });
    admin = await srv.adminToken(srv);
    adminAuth = { id: srv.admin.client_id, secret: srv.admin.client_secret };
    const o = await srv.api('POST', '/api/v1/organizations', { token: admin, body: { name: 'Suspended Co', slug: slug() } });
    assert.equal(o.status, 201, o.text);
    org = o.json.organizationId;
    a = await srv.agentWithSecret(admin);
    b = await srv.agentWithSecret(admin);
    for (const [agent, role] of [[a, 'admin'], [b, 'member']]) {
      const m = await srv.api('POST', `/api/v1/organizations/${org}/members`, { token: admin, body: { agentId: agent.id, role } });
      assert.equal(m.status, 201, m.text);
    }
    tokenA = await srv.accessToken(a.id, a.secret);
    // A workload-identity trust policy of the organization, for A.
    const p = await srv.api('POST', '/api/v1/oidc/trust-policies', { token: tokenA,
      body: { provider: issuer.url('ci'), conditions: { sub: 'deploy-job' }, agentId: a.id } });
    assert.equal(p.status, 201, p.text);
  });
  after(async () => { await srv?.close(); await issuer?.close(); });

  test('while active, every grant works', async () => {
    assert.equal((await active(tokenA)).active, true);
    assert.equal((await srv.api('GET', '/api/v1/agents', { token: tokenA })).status, 200);
    assert.equal((await exchangeOwn()).status, 200);
    const d = await delegate();
    assert.equal(d.status, 201, d.text);
    delegated = d.json.delegationToken;
    assert.ok(delegated, d.text);
    assert.equal((await active(delegated)).active, true);
    const w = await workload();
    assert.equal(w.status, 200, w.text);
    const j = await jwtBearer();
    assert.equal(j.status, 200, j.text);
  });

  test('suspended: no new tokens, existing ones inactive and refused', async () => {
    await setStatus('suspended');
    const cc = await srv.token(a.id, a.secret);
    assert.equal(cc.status, 401, cc.text);
    assert.equal(cc.json.error, 'invalid_client');
    assert.equal((await srv.token(b.id, b.secret)).status, 401);
    const x = await exchangeOwn();
    assert.equal(x.status, 401, x.text);
    assert.deepEqual(await active(tokenA), { active: false });
    assert.deepEqual(await active(delegated), { active: false });
    const api = await srv.api('GET', '/api/v1/agents', { token: tokenA });
    assert.equal(api.status, 401, api.text);
    assert.equal((await srv.api('GET', '/agent-info', { token: tokenA })).status, 401);
    assert.equal((await delegate()).status, 401);
    const w = await workload();
    assert.equal(w.status, 400, w.text);
    assert.equal(w.json.error, 'invalid_grant');
    const j = await jwtBearer();
    assert.equal(j.status, 400, j.text);
    assert.equal(j.json.error, 'invalid_grant');
    // The suspension is audited with the previous status.
    const audit = await srv.api('GET', '/api/v1/audit?action=org.updated&limit=100', { token: admin });
    assert.ok(audit.json.data.some((e) => e.organizationId === org && e.metadata.previousStatus === 'active'), audit.text);
  });

  test('reactivated: tokens are active again and every grant works', async () => {
    await setStatus('active');
    assert.equal((await active(tokenA)).active, true);
    assert.equal((await active(delegated)).active, true);
    assert.equal((await srv.api('GET', '/api/v1/agents', { token: tokenA })).status, 200);
    assert.equal((await srv.token(a.id, a.secret)).status, 200);
    assert.equal((await exchangeOwn()).status, 200);
    assert.equal((await delegate()).status, 201);
    assert.equal((await workload()).status, 200);
    assert.equal((await jwtBearer()).status, 200);
  });
});

describe('organization deletion', () => {
  let srv, admin;
  before(async () => {
    srv = await startServer({ env: NO_SLOWDOWN });
    admin = await srv.adminToken(srv);
  });
  after(async () => { await srv?.close(); });

  test('a deleted organization\'s former agents get nothing, and it cannot take new members', async () => {
    const o = await srv.api('POST', '/api/v1/organizations', { token: admin, body: { name: 'Gone Co', slug: `gone-${randomBytes(4).toString('hex')}` } });
    assert.equal(o.status, 201, o.text);
    const org = o.json.organizationId;
    const c = await srv.agentWithSecret(admin);
    assert.equal((await srv.api('POST', `/api/v1/organizations/${org}/members`, { token: admin, body: { agentId: c.id, role: 'member' } })).status, 201);
    const token = await srv.accessToken(c.id, c.secret);
    // Refused while the agent is live; allowed once it is decommissioned.
    assert.equal((await srv.api('DELETE', `/api/v1/organizations/${org}`, { token: admin })).status, 409);
    assert.equal((await srv.api('DELETE', `/api/v1/agents/${c.id}`, { token: admin })).status, 204);
    assert.equal((await srv.api('DELETE', `/api/v1/organizations/${org}`, { token: admin })).status, 204);
    assert.equal((await srv.token(c.id, c.secret)).status, 401);
    assert.deepEqual((await srv.introspect(token, { id: srv.admin.client_id, secret: srv.admin.client_secret })).json, { active: false });
    const d = await srv.agentWithSecret(admin);
    const m = await srv.api('POST', `/api/v1/organizations/${org}/members`, { token: admin, body: { agentId: d.id, role: 'member' } });
    assert.ok(m.status === 404 || m.status === 409, m.text);
  });
});
