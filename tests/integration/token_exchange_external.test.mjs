// RFC 8693 token exchange with subject tokens of trusted external issuers (federation
// partners), end to end over real TLS: the local HTTPS issuer (lib/oidc_issuer.mjs) mints the
// partner's tokens and serves its JWKS; the server verifies them against the partner record
// (issuer, JWKS, allowedOrganizations, status, expiry) and issues a narrowed token whose sub is
// the external subject and whose act is the calling agent. Every refusal is tested, as is the
// loopback guard on the partner's JWKS URL without the test allow-list. Also: an expired token
// of our own as subject_token (a workload-identity token whose short life comes from the
// external token's, so the test waits about three seconds instead of a token lifetime).

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer, makeTempDir } from './lib/harness.mjs';
import { newKey, signJwt, claimsOf } from './lib/jwt.mjs';
import { startIssuer } from './lib/oidc_issuer.mjs';

const TE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const JWT = 'urn:ietf:params:oauth:token-type:jwt';
const AT = 'urn:ietf:params:oauth:token-type:access_token';
const NO_SLOWDOWN = { AGENTIDP_AUTH_FAILURES_BEFORE_SLOWDOWN: '1000' };
const now = () => Math.floor(Date.now() / 1000);

function assertOAuthError(r, status, error, pattern) {
  assert.equal(r.status, status, r.text);
  assert.equal(r.json?.error, error, r.text);
  if (pattern) assert.match(r.json.error_description, pattern, r.text);
}

const exchange = (srv, who, subjectToken, extra = {}) => srv.form('/api/v1/token',
  { grant_type: TE, subject_token: subjectToken, subject_token_type: JWT, ...extra }, { auth: { id: who.id, secret: who.secret } });

describe('token exchange with a federation partner\'s subject token', () => {
  let issuer, srv, admin, org, caller, partner;
  const partnerBody = (name, extra = {}) => ({
    name: `Partner ${name}`, issuer: issuer.url(name), jwksUri: `${issuer.url(name)}/jwks`, allowedOrganizations: [org], ...extra,
  });
  const addPartner = async (name, extra) => {
    const r = await srv.api('POST', '/api/v1/federation/trust', { token: admin, body: partnerBody(name, extra) });
    assert.equal(r.status, 201, r.text);
    return r.json;
  };
  const patchPartner = async (id, body) => {
    const r = await srv.api('PATCH', `/api/v1/federation/partners/${id}`, { token: admin, body });
    assert.equal(r.status, 200, r.text);
    return r.json;
  };
  // A partner token for user-42 that names us and grants two scopes a member may hold.
  const ext = (claims = {}, opts = {}, name = 'acme') =>
    issuer.mint(name, { sub: 'user-42', aud: srv.issuer, scope: 'agents:read tokens:read', ...claims }, opts);
  const introspect = (token) => srv.introspect(token, { id: caller.id, secret: caller.secret });

  before(async () => {
    issuer = await startIssuer(makeTempDir());
    srv = await startServer({ env: { ...NO_SLOWDOWN, AGENTIDP_OUTBOUND_ALLOW_PRIVATE: 'true', AGENTIDP_OUTBOUND_CA_FILE: issuer.caFile } });
    admin = await srv.adminToken(srv);
    org = srv.admin.organization_id;
    caller = await srv.agentWithSecret(admin);  // role member: agents:read tokens:read webhooks:read openid
    partner = await addPartner('acme');
  });
  after(async () => { await srv?.close(); await issuer?.close(); });

  test('issues a token for the external subject, acted for by the caller, narrowed and audited', async () => {
    const subjectToken = ext();
    const r = await exchange(srv, caller, subjectToken);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('cache-control'), 'no-store');
    assert.equal(r.json.issued_token_type, AT);
    assert.equal(r.json.token_type, 'Bearer');
    assert.equal(r.json.scope, 'agents:read tokens:read');
    assert.ok(r.json.expires_in > 0 && r.json.expires_in <= 300, `at most the external token's remaining life: ${r.json.expires_in}`);
    const c = claimsOf(r.json.access_token);
    assert.equal(c.iss, srv.issuer);
    assert.equal(c.sub, 'user-42');
    assert.equal(c.subject_issuer, issuer.url('acme'));
    assert.equal(c.federation_partner, partner.id);
    assert.deepEqual(c.act, { sub: caller.id });
    assert.equal(c.client_id, caller.id);
    assert.equal(c.organization_id, org);
    assert.equal(c.aud, `${srv.issuer}/api/v1`);
    assert.ok(c.exp <= claimsOf(subjectToken).exp);

    const info = await introspect(r.json.access_token);
    assert.equal(info.status, 200, info.text);
    assert.equal(info.json.active, true, info.text);
    assert.equal(info.json.sub, 'user-42');
    assert.deepEqual(info.json.act, { sub: caller.id });

    // On this API it authenticates its holder, with the narrowed scopes.
    const list = await srv.api('GET', '/api/v1/agents', { token: r.json.access_token });
    assert.equal(list.status, 200, list.text);

    const audit = await srv.api('GET', '/api/v1/audit?action=token.exchanged&limit=100', { token: admin });
    assert.equal(audit.status, 200, audit.text);
    const ev = audit.json.data.find((e) => e.metadata.jti === c.jti);
    assert.ok(ev, 'token.exchanged is audited');
    assert.equal(ev.agentId, caller.id);
    assert.equal(ev.organizationId, org);
    assert.equal(ev.metadata.subject, 'user-42');
    assert.equal(ev.metadata.subjectIssuer, issuer.url('acme'));
    assert.equal(ev.metadata.partnerId, partner.id);
    assert.equal(ev.metadata.subjectJti, claimsOf(subjectToken).jti);
    assert.deepEqual(ev.metadata.act, { sub: caller.id });
  });

  test('accepted token types and audiences; scopes only narrow', async () => {
    // The access_token type, our token endpoint as audience, typ at+jwt, scp as an array.
    const viaEndpoint = await exchange(srv, caller, ext({ aud: [`${srv.issuer}/api/v1/token`], scope: undefined, scp: ['agents:read'] }, { header: { typ: 'at+jwt' } }),
      { subject_token_type: AT });
    assert.equal(viaEndpoint.status, 200, viaEndpoint.text);
    assert.equal(viaEndpoint.json.scope, 'agents:read');
    // A requested subset.
    const narrowed = await exchange(srv, caller, ext(), { scope: 'tokens:read' });
    assert.equal(narrowed.status, 200, narrowed.text);
    assert.equal(narrowed.json.scope, 'tokens:read');
    // Omitted scope: what both the external token and the caller allow (admin:orgs is dropped).
    const both = await exchange(srv, caller, ext({ scope: 'agents:read admin:orgs' }));
    assert.equal(both.status, 200, both.text);
    assert.equal(both.json.scope, 'agents:read');
    // Widening beyond the external token, or beyond the caller.
    assertOAuthError(await exchange(srv, caller, ext(), { scope: 'agents:read webhooks:read' }), 400, 'invalid_scope', /subject token/);
    assertOAuthError(await exchange(srv, caller, ext({ scope: 'agents:read agents:write' }), { scope: 'agents:write' }), 400, 'invalid_scope', /not allowed/);
    // An external token that grants nothing the caller may hold, or nothing at all.
    assertOAuthError(await exchange(srv, caller, ext({ scope: 'admin:orgs' })), 400, 'invalid_scope');
    assertOAuthError(await exchange(srv, caller, ext({ scope: undefined })), 400, 'invalid_scope');
    // This API's audience may be named; another audience would widen the external token's.
    const api = await exchange(srv, caller, ext(), { audience: `${srv.issuer}/api/v1` });
    assert.equal(api.status, 200, api.text);
    assert.equal(claimsOf(api.json.access_token).aud, `${srv.issuer}/api/v1`);
    assertOAuthError(await exchange(srv, caller, ext(), { audience: srv.issuer }), 400, 'invalid_target');
    assertOAuthError(await exchange(srv, caller, ext(), { audience: 'https://rs.example' }), 400, 'invalid_target');
    assertOAuthError(await exchange(srv, caller, ext(), { resource: 'https://rs.example' }), 400, 'invalid_target');
    // No actor_token: the authenticated caller is the actor.
    const own = await srv.accessToken(caller.id, caller.secret);
    assertOAuthError(await exchange(srv, caller, ext(), { actor_token: own, actor_token_type: AT }), 400, 'invalid_request');
    assertOAuthError(await exchange(srv, caller, ext(), { subject_token_type: 'urn:ietf:params:oauth:token-type:id_token' }), 400, 'invalid_request');
  });

  test('refusals: unknown issuer, bad signature, audience, time, typ, subject', async () => {
    const cases = [
      ['unknown issuer', issuer.mint('stranger', { sub: 'u', aud: srv.issuer, scope: 'agents:read' }), /not a federation partner/],
      ['bad signature', ext({}, { key: newKey('RS256') }), /key the partner does not publish/],
      ['forged signature', ext().replace(/\.[^.]+$/, '.' + Buffer.alloc(256, 1).toString('base64url')), /signature/i],
      ['wrong audience', ext({ aud: 'https://rs.example' }), /audience/],
      ['API audience is not ours as an authorization server', ext({ aud: `${srv.issuer}/api/v1` }), /audience/],
      ['no audience', ext({ aud: undefined }), /audience/],
      ['expired', ext({ exp: now() - 100, iat: now() - 400, nbf: now() - 400 }), /expired/i],
      ['not yet valid', ext({ nbf: now() + 600 }), /./],
      ['no exp', ext({ exp: undefined }), /./],
      ['wrong issuer claim for the key', ext({ iss: issuer.url('stranger') }), /not a federation partner/],
      ['typ dpop+jwt', ext({}, { header: { typ: 'dpop+jwt' } }), /typ/i],
      ['no sub', ext({ sub: undefined }), /sub/],
      ['not a JWT', 'garbage', /well-formed/],
    ];
    for (const [name, token, pattern] of cases) {
      const r = await exchange(srv, caller, token);
      assertOAuthError(r, 400, 'invalid_request');
      assert.match(r.json.error_description, pattern, `${name}: ${r.text}`);
    }
    // alg none and HS256 with the partner's public key are refused too.
    const none = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${Buffer.from(JSON.stringify({ iss: issuer.url('acme'), sub: 'u', aud: srv.issuer, exp: now() + 60, scope: 'agents:read' })).toString('base64url')}.`;
    assertOAuthError(await exchange(srv, caller, none), 400, 'invalid_request');
    // A missing subject_token is never a fallback to the caller.
    assertOAuthError(await exchange(srv, caller, ''), 400, 'invalid_request');
  });

  test('partner inactive, expired, not allowing the organization, deleted: refused, and its tokens go inactive', async () => {
    const p = await addPartner('life');
    const mint = () => ext({}, {}, 'life');
    const ok = await exchange(srv, caller, mint());
    assert.equal(ok.status, 200, ok.text);
    const token = ok.json.access_token;
    assert.equal((await introspect(token)).json.active, true);

    await patchPartner(p.id, { status: 'inactive' });
    assertOAuthError(await exchange(srv, caller, mint()), 400, 'invalid_request', /inactive/);
    assert.deepEqual((await introspect(token)).json, { active: false });
    assert.equal((await srv.api('GET', '/api/v1/agents', { token })).status, 401);

    await patchPartner(p.id, { status: 'active', expiresAt: new Date(Date.now() - 60_000).toISOString() });
    assertOAuthError(await exchange(srv, caller, mint()), 400, 'invalid_request', /expired/);
    assert.deepEqual((await introspect(token)).json, { active: false });

    await patchPartner(p.id, { expiresAt: new Date(Date.now() + 3_600_000).toISOString(), allowedOrganizations: ['some-other-org'] });
    assertOAuthError(await exchange(srv, caller, mint()), 400, 'invalid_request', /organization/);
    assert.deepEqual((await introspect(token)).json, { active: false });

    // Trusted again: the token it issued is active again (it has not expired).
    await patchPartner(p.id, { allowedOrganizations: [org] });
    assert.equal((await introspect(token)).json.active, true);

    // A partner that expires by the clock (no change message) stops its tokens too.
    await patchPartner(p.id, { expiresAt: new Date(Date.now() + 2_000).toISOString() });
    assert.equal((await introspect(token)).json.active, true);
    await sleep(2_500);
    assert.deepEqual((await introspect(token)).json, { active: false });
    await patchPartner(p.id, { expiresAt: null });
    assert.equal((await introspect(token)).json.active, true);

    assert.equal((await srv.api('DELETE', `/api/v1/federation/partners/${p.id}`, { token: admin })).status, 204);
    assertOAuthError(await exchange(srv, caller, mint()), 400, 'invalid_request', /not a federation partner/);
    assert.deepEqual((await introspect(token)).json, { active: false });
  });

  test('the result cannot be exchanged or delegated again; it dies with its holder', async () => {
    const r = await exchange(srv, caller, ext());
    assert.equal(r.status, 200, r.text);
    const token = r.json.access_token;
    assertOAuthError(await srv.form('/api/v1/token', { grant_type: TE, subject_token: token, subject_token_type: AT }, { auth: { id: caller.id, secret: caller.secret } }),
      400, 'invalid_request', /external subject/);
    const other = await srv.createAgent(admin);
    const d = await srv.api('POST', '/api/v1/oauth2/token/delegate', { token, body: { delegateeAgentId: other.agentId, scopes: ['agents:read'], ttlSeconds: 60 } });
    assert.ok(d.status >= 400 && d.status < 500, d.text);
    // Revocation works like for any token of ours.
    assert.equal((await srv.revoke(token, { id: caller.id, secret: caller.secret })).status, 200);
    assert.deepEqual((await introspect(token)).json, { active: false });
    // A suspended holder's exchanged tokens are inactive.
    const holder = await srv.agentWithSecret(admin);
    const h = await exchange(srv, holder, ext());
    assert.equal(h.status, 200, h.text);
    assert.equal((await srv.api('PATCH', `/api/v1/agents/${holder.id}`, { token: admin, body: { status: 'suspended' } })).status, 200);
    assert.deepEqual((await introspect(h.json.access_token)).json, { active: false });
  });

  test('an agent of an organization the partner does not allow is refused', async () => {
    const o = await srv.api('POST', '/api/v1/organizations', { token: admin, body: { name: 'Other Org', slug: `other-${Date.now()}` } });
    assert.equal(o.status, 201, o.text);
    const outsider = await srv.agentWithSecret(admin);
    const m = await srv.api('POST', `/api/v1/organizations/${o.json.organizationId}/members`, { token: admin, body: { agentId: outsider.id, role: 'member' } });
    assert.equal(m.status, 201, m.text);
    assertOAuthError(await exchange(srv, outsider, ext()), 400, 'invalid_request', /organization/);
  });
});

describe('a partner whose JWKS is on a private address, without the test allow-list', () => {
  let srv, trap, connections = 0;
  before(async () => {
    trap = net.createServer((s) => { connections++; s.destroy(); });
    await new Promise((resolve) => trap.listen(0, '127.0.0.1', resolve));
    srv = await startServer({ env: NO_SLOWDOWN });
  });
  after(async () => { await srv?.close(); await new Promise((r) => trap.close(r)); });

  test('is refused without any connection attempt', async () => {
    const admin = await srv.adminToken(srv);
    const caller = await srv.agentWithSecret(admin);
    const port = trap.address().port;
    for (const [i, host] of ['127.0.0.1', 'localhost', '[::1]', '10.0.0.1', '169.254.169.254'].entries()) {
      const iss = `https://partner-${i}.example`;
      const p = await srv.api('POST', '/api/v1/federation/trust', { token: admin, body: {
        name: `Private ${i}`, issuer: iss, jwksUri: `https://${host}:${port}/jwks`, allowedOrganizations: [srv.admin.organization_id] } });
      assert.equal(p.status, 201, p.text);
      const t = signJwt(newKey('RS256'), { iss, sub: 'u', aud: srv.issuer, iat: now(), exp: now() + 300, scope: 'agents:read' }, { typ: 'JWT' });
      const r = await exchange(srv, caller, t);
      assertOAuthError(r, 400, 'invalid_request', /outbound guard/);
    }
    assert.equal(connections, 0, 'the guard refused before connecting');
  });
});

describe('an expired subject token of our own', () => {
  let issuer, srv;
  before(async () => {
    issuer = await startIssuer(makeTempDir());
    // No leeway, so that a token expires exactly at its exp.
    srv = await startServer({ env: { ...NO_SLOWDOWN, AGENTIDP_JWT_LEEWAY_SECONDS: '0', AGENTIDP_OUTBOUND_ALLOW_PRIVATE: 'true', AGENTIDP_OUTBOUND_CA_FILE: issuer.caFile } });
  });
  after(async () => { await srv?.close(); await issuer?.close(); });

  test('is refused (invalid_request, RFC 8693 §2.2.2) and introspects inactive', async () => {
    const admin = await srv.adminToken(srv);
    const caller = await srv.agentWithSecret(admin);
    // A workload-identity token for the caller (sub = the agent, like any of its tokens) lives
    // no longer than the external token it came from: about two seconds. (token_ttl_seconds
    // is at least 60, so client_credentials cannot make one that short.)
    const policy = await srv.api('POST', '/api/v1/oidc/trust-policies', { token: admin,
      body: { provider: issuer.url('short'), conditions: { sub: 'ci-job' }, agentId: caller.id } });
    assert.equal(policy.status, 201, policy.text);
    const w = await srv.api('POST', '/api/v1/oidc/token', { body: { token: issuer.mint('short', { sub: 'ci-job', aud: srv.issuer, exp: now() + 2 }) } });
    assert.equal(w.status, 200, w.text);
    const own = w.json.access_token;
    assert.equal(claimsOf(own).sub, caller.id);
    assert.ok(w.json.expires_in <= 2, w.text);
    const exchangeOwn = () => srv.form('/api/v1/token', { grant_type: TE, subject_token: own, subject_token_type: AT },
      { auth: { id: caller.id, secret: caller.secret } });
    // While it lives, the caller may exchange its own token.
    const live = await exchangeOwn();
    assert.equal(live.status, 200, live.text);
    assert.ok(claimsOf(live.json.access_token).exp <= claimsOf(own).exp, 'never outlives its subject token');
    await sleep((claimsOf(own).exp - now() + 1) * 1000);
    assert.deepEqual((await srv.introspect(own, { id: caller.id, secret: caller.secret })).json, { active: false });
    assertOAuthError(await exchangeOwn(), 400, 'invalid_request', /invalid, expired or revoked/);
    // The token derived from it expired with it.
    assert.deepEqual((await srv.introspect(live.json.access_token, { id: caller.id, secret: caller.secret })).json, { active: false });
  });
});
