// Workload identity federation (SPEC §6) end to end over real TLS: a local HTTPS OIDC issuer
// (tests/integration/lib/oidc_issuer.mjs, its own CA) mints GitHub-Actions-, GitLab- and
// Kubernetes-shaped tokens; the server fetches discovery and JWKS through the guarded outbound
// client (allow flag on, the test CA trusted). Trust-policy administration, POST /oidc/token,
// the jwt-bearer grant, every refusal (exact matches, audience, time, replay, unknown keys),
// key rotation at the issuer, and the loopback guard with the allow flag off.

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startServer, makeTempDir } from './lib/harness.mjs';
import { newKey, signJwt, claimsOf, dpopProof, thumbprint } from './lib/jwt.mjs';
import { startIssuer } from './lib/oidc_issuer.mjs';

const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const NO_SLOWDOWN = { AGENTIDP_AUTH_FAILURES_BEFORE_SLOWDOWN: '1000' };
const now = () => Math.floor(Date.now() / 1000);

function assertOAuthError(r, status, error) {
  assert.equal(r.status, status, r.text);
  assert.equal(r.json?.error, error, r.text);
}

const exchange = (srv, token, extra = {}) => srv.api('POST', '/api/v1/oidc/token', { body: { token, ...extra } });
const createPolicy = (srv, admin, body) => srv.api('POST', '/api/v1/oidc/trust-policies', { token: admin, body });

describe('workload identity federation', () => {
  let issuer, srv, admin, agent;
  let ghPolicy;
  before(async () => {
    issuer = await startIssuer(makeTempDir());
    srv = await startServer({
      env: {
        ...NO_SLOWDOWN,
        AGENTIDP_OUTBOUND_ALLOW_PRIVATE: 'true',
        AGENTIDP_OUTBOUND_CA_FILE: issuer.caFile,
        AGENTIDP_FEDERATION_GITHUB_ISSUER: issuer.url('github'),
        AGENTIDP_FEDERATION_GITLAB_ISSUER: issuer.url('gitlab'),
      },
    });
    admin = await srv.adminToken(srv);
    agent = await srv.createAgent(admin);
    const r = await createPolicy(srv, admin, { provider: 'github', repository: 'acme/app', branch: 'main', agentId: agent.agentId });
    assert.equal(r.status, 201, r.text);
    ghPolicy = r.json;
  });
  after(async () => { await srv?.close(); await issuer?.close(); });

  test('discovery lists the jwt-bearer grant', async () => {
    const r = await srv.api('GET', '/.well-known/openid-configuration');
    assert.ok(r.json.grant_types_supported.includes(JWT_BEARER));
    assert.ok(r.json.grant_types_supported.includes('client_credentials'));
  });

  test('trust policy administration: shape, defaults, validation, scope', async () => {
    assert.equal(ghPolicy.provider, 'github');
    assert.equal(ghPolicy.issuer, issuer.url('github'));
    assert.equal(ghPolicy.repository, 'acme/app');
    assert.equal(ghPolicy.branch, 'main');
    assert.equal(ghPolicy.agentId, agent.agentId);
    assert.equal(ghPolicy.bootstrap, false);
    assert.equal(ghPolicy.audience, srv.issuer, 'the audience defaults to our issuer identifier');
    assert.equal(ghPolicy.organizationId, srv.admin.organization_id);
    const list = await srv.api('GET', '/api/v1/oidc/trust-policies', { token: admin });
    assert.equal(list.status, 200, list.text);
    assert.ok(list.json.data.some((p) => p.id === ghPolicy.id));

    const bad = [
      {},
      { provider: 'bitbucket', repository: 'acme/app' },
      { provider: 'github' },
      { provider: 'github', repository: 'acme' },
      { provider: 'github', repository: 'acme/app/extra' },
      { provider: 'github', repository: 'acme/app', branch: 'refs/heads/main' },
      { provider: 'github', repository: 'acme/app', agentId: 'not-a-uuid' },
      { provider: 'github', repository: 'acme/app', issuer: 'https://evil.example' },
      { provider: 'github', repository: 'acme/app', colour: 'red' },
      { provider: 'github', repository: 'acme/app', conditions: { actor: 1 } },
      { provider: 'http://plain.example', conditions: { sub: 'x' } },
      { provider: 'https://issuer.example' },
      { provider: 'kubernetes', namespace: 'ci', serviceAccount: 'builder' },
      { provider: 'kubernetes', issuer: 'https://k8s.example', namespace: 'CI!', serviceAccount: 'builder' },
    ];
    for (const body of bad) {
      const r = await createPolicy(srv, admin, body);
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
    }
    const unknownAgent = await createPolicy(srv, admin, { provider: 'github', repository: 'acme/app', agentId: '00000000-0000-4000-8000-000000000000' });
    assert.equal(unknownAgent.status, 404, unknownAgent.text);

    // A member (no agents:write) may neither create nor list policies.
    const member = await srv.agentWithSecret(admin);
    const memberToken = await srv.accessToken(member.id, member.secret);
    assert.equal((await createPolicy(srv, memberToken, { provider: 'github', repository: 'acme/app' })).status, 403);
    assert.equal((await srv.api('GET', '/api/v1/oidc/trust-policies', { token: memberToken })).status, 403);
    assert.equal((await srv.api('GET', '/api/v1/oidc/trust-policies')).status, 401);

    // Delete: 204, then 404; audited.
    const tmp = await createPolicy(srv, admin, { provider: 'github', repository: 'acme/tmp' });
    assert.equal(tmp.status, 201, tmp.text);
    assert.equal((await srv.api('DELETE', `/api/v1/oidc/trust-policies/${tmp.json.id}`, { token: admin })).status, 204);
    assert.equal((await srv.api('DELETE', `/api/v1/oidc/trust-policies/${tmp.json.id}`, { token: admin })).status, 404);
    const audit = await srv.api('GET', '/api/v1/audit?action=oidc.trust_policy.created', { token: admin });
    assert.ok(audit.json.data.some((e) => e.metadata.policyId === tmp.json.id));
  });

  test('a GitHub Actions token for the policy gets a token with the agent\'s identity', async () => {
    const ext = issuer.github('github', { repository: 'acme/app', branch: 'main', aud: srv.issuer });
    const r = await exchange(srv, ext);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('cache-control'), 'no-store');
    assert.equal(r.json.token_type, 'Bearer');
    assert.ok(r.json.expires_in > 0 && r.json.expires_in <= 300, `lives at most the external token's remaining life: ${r.json.expires_in}`);
    const at = claimsOf(r.json.access_token);
    assert.equal(at.sub, agent.agentId);
    assert.equal(at.client_id, agent.agentId);
    assert.equal(at.federated.policy_id, ghPolicy.id);
    assert.equal(at.federated.iss, issuer.url('github'));
    assert.ok(at.exp - at.iat <= 3600);
    const info = await srv.api('GET', '/agent-info', { token: r.json.access_token });
    assert.equal(info.status, 200, info.text);
    assert.equal(info.json.agentId, agent.agentId);
    const audit = await srv.api('GET', `/api/v1/audit?agentId=${agent.agentId}&action=token.issued&limit=1`, { token: admin });
    assert.equal(audit.json.data[0].metadata.policyId, ghPolicy.id);
    assert.equal(audit.json.data[0].metadata.jti, at.jti);
    assert.equal(audit.json.data[0].metadata.grantType, 'urn:agentidp:oidc-federation');
  });

  test('exact matches only: -evil repositories and branches, other refs', async () => {
    const cases = [
      { repository: 'acme/app-evil', branch: 'main' },
      { repository: 'acme/ap', branch: 'main' },
      { repository: 'ACME/app', branch: 'main' },
      { repository: 'acme/app', branch: 'main-evil' },
      { repository: 'acme/app', branch: 'main/evil' },
      { repository: 'acme/app', branch: 'mai' },
      { repository: 'acme/app', branch: 'main', claims: { ref: 'refs/tags/main' } },
      { repository: 'acme/app', branch: 'main', claims: { ref: 'refs/heads/main ' } },
      { repository: 'acme/app', branch: 'main', claims: { repository: ['acme/app'] } },
    ];
    for (const c of cases) {
      const r = await exchange(srv, issuer.github('github', { ...c, aud: srv.issuer }));
      assertOAuthError(r, 400, 'invalid_grant');
    }
  });

  test('audience, time and signature rules', async () => {
    const gh = (o = {}) => issuer.github('github', { repository: 'acme/app', aud: srv.issuer, ...o });
    const refused = [
      ['wrong audience', gh({ aud: 'https://someone-else.example' })],
      ['audience missing', gh({ aud: undefined })],
      ['expired', gh({ claims: { exp: now() - 120, iat: now() - 400 } })],
      ['not yet valid', gh({ claims: { nbf: now() + 300 } })],
      ['iat in the future', gh({ claims: { iat: now() + 300 } })],
      ['no exp', gh({ claims: { exp: undefined } })],
      ['no iat', gh({ claims: { iat: undefined } })],
      ['typ at+jwt', gh({ header: { typ: 'at+jwt' } })],
      ['signed by a stranger', gh({ key: newKey('RS256') })],
      ['embedded jwk', gh({ header: { jwk: newKey('RS256').jwk } })],
      ['crit', gh({ header: { crit: ['exp'] } })],
    ];
    for (const [name, jwt] of refused) {
      const r = await exchange(srv, jwt);
      assert.equal(r.status, 400, `${name}: ${r.text}`);
      assert.equal(r.json.error, 'invalid_grant', `${name}: ${r.text}`);
    }
    const tampered = gh().split('.');
    tampered[1] = Buffer.from(JSON.stringify({ ...claimsOf(gh()), repository: 'acme/app' })).toString('base64url');
    assertOAuthError(await exchange(srv, tampered.join('.')), 400, 'invalid_grant');
    assertOAuthError(await exchange(srv, 'not.a.jwt'), 400, 'invalid_grant');
    assertOAuthError(await exchange(srv, ''), 400, 'invalid_request');
    assertOAuthError(await srv.api('POST', '/api/v1/oidc/token', { body: {} }), 400, 'invalid_request');
  });

  test('a token is accepted once, with or without jti', async () => {
    const once = issuer.github('github', { repository: 'acme/app', aud: srv.issuer });
    assert.equal((await exchange(srv, once)).status, 200);
    assertOAuthError(await exchange(srv, once), 400, 'invalid_grant');
    const noJti = issuer.github('github', { repository: 'acme/app', aud: srv.issuer, claims: { jti: undefined } });
    assert.equal((await exchange(srv, noJti)).status, 200);
    assertOAuthError(await exchange(srv, noJti), 400, 'invalid_grant');
    // In parallel: exactly one wins.
    const par = issuer.github('github', { repository: 'acme/app', aud: srv.issuer });
    const results = await Promise.all(Array.from({ length: 8 }, () => exchange(srv, par)));
    assert.equal(results.filter((r) => r.status === 200).length, 1, results.map((r) => r.status).join(','));
  });

  test('an issuer no policy names is never contacted', async () => {
    const before = issuer.discoveryHits('nobody') + issuer.jwksHits('nobody');
    const r = await exchange(srv, issuer.mint('nobody', { sub: 'x', aud: srv.issuer }));
    assertOAuthError(r, 400, 'invalid_grant');
    assert.equal(issuer.discoveryHits('nobody') + issuer.jwksHits('nobody'), before);
  });

  test('bootstrap policy: an agents:write token (plus the member role) that can register an agent', async () => {
    const p = await createPolicy(srv, admin, { provider: 'github', repository: 'acme/infra', branch: 'release' });
    assert.equal(p.status, 201, p.text);
    assert.equal(p.json.bootstrap, true);
    assert.equal(p.json.agentId, null);
    const r = await exchange(srv, issuer.github('github', { repository: 'acme/infra', branch: 'release', aud: srv.issuer }));
    assert.equal(r.status, 200, r.text);
    const scopes = r.json.scope.split(' ');
    assert.ok(scopes.includes('agents:write'), r.json.scope);
    assert.ok(!scopes.includes('audit:read') && !scopes.includes('admin:orgs') && !scopes.includes('openid'), r.json.scope);
    const at = claimsOf(r.json.access_token);
    assert.equal(at.federated.bootstrap, true);
    assert.equal(at.organization_id, srv.admin.organization_id);
    const created = await srv.createAgent(r.json.access_token);
    assert.equal(created.organizationId ?? srv.admin.organization_id, srv.admin.organization_id);
    // agents:write only: no audit reading.
    assert.equal((await srv.api('GET', '/api/v1/audit', { token: r.json.access_token })).status, 403);
    // A wider scope than the policy grants is refused.
    const wide = await exchange(srv, issuer.github('github', { repository: 'acme/infra', branch: 'release', aud: srv.issuer }), { scope: 'agents:write audit:read' });
    assertOAuthError(wide, 400, 'invalid_scope');
  });

  test('the policy\'s agent must be active; a narrower scope may be asked for', async () => {
    const a = await srv.createAgent(admin);
    const p = await createPolicy(srv, admin, { provider: 'github', repository: 'acme/worker', agentId: a.agentId, audience: 'sts.agentidp.test' });
    assert.equal(p.status, 201, p.text);
    const mint = () => issuer.github('github', { repository: 'acme/worker', branch: 'any-branch', aud: 'sts.agentidp.test' });
    const narrow = await exchange(srv, mint(), { scope: 'agents:read' });
    assert.equal(narrow.status, 200, narrow.text);
    assert.equal(narrow.json.scope, 'agents:read');
    assert.equal((await srv.api('PATCH', `/api/v1/agents/${a.agentId}`, { token: admin, body: { status: 'suspended' } })).status, 200);
    assertOAuthError(await exchange(srv, mint()), 400, 'invalid_grant');
  });

  test('two policies matching one token: ambiguous unless policyId names one', async () => {
    const a1 = await srv.createAgent(admin);
    const a2 = await srv.createAgent(admin);
    const p1 = await createPolicy(srv, admin, { provider: 'github', repository: 'acme/twin', agentId: a1.agentId });
    const p2 = await createPolicy(srv, admin, { provider: 'github', repository: 'acme/twin', agentId: a2.agentId });
    const mint = () => issuer.github('github', { repository: 'acme/twin', aud: srv.issuer });
    assertOAuthError(await exchange(srv, mint()), 400, 'invalid_request');
    const r = await exchange(srv, mint(), { policyId: p2.json.id });
    assert.equal(r.status, 200, r.text);
    assert.equal(claimsOf(r.json.access_token).sub, a2.agentId);
    assert.ok(p1.json.id);
  });

  test('GitLab CI: project_path and ref', async () => {
    const a = await srv.createAgent(admin);
    const p = await createPolicy(srv, admin, { provider: 'gitlab', repository: 'group/sub/project', branch: 'main', agentId: a.agentId });
    assert.equal(p.status, 201, p.text);
    const ok = await exchange(srv, issuer.gitlab('gitlab', { repository: 'group/sub/project', aud: srv.issuer }));
    assert.equal(ok.status, 200, ok.text);
    assert.equal(claimsOf(ok.json.access_token).sub, a.agentId);
    for (const o of [{ repository: 'group/sub/project-evil' }, { repository: 'group/sub/project', branch: 'main-evil' },
      { repository: 'group/sub/project', claims: { ref_type: 'tag' } }]) {
      assertOAuthError(await exchange(srv, issuer.gitlab('gitlab', { aud: srv.issuer, ...o })), 400, 'invalid_grant');
    }
  });

  test('Kubernetes service-account tokens', async () => {
    const a = await srv.createAgent(admin);
    const p = await createPolicy(srv, admin, { provider: 'kubernetes', issuer: issuer.url('k8s'), namespace: 'ci', serviceAccount: 'builder', agentId: a.agentId });
    assert.equal(p.status, 201, p.text);
    assert.equal(p.json.namespace, 'ci');
    assert.equal(p.json.serviceAccount, 'builder');
    const k = (o = {}) => issuer.kubernetes('k8s', { namespace: 'ci', serviceAccount: 'builder', aud: srv.issuer, ...o });
    const ok = await exchange(srv, k());
    assert.equal(ok.status, 200, ok.text);
    assert.equal(claimsOf(ok.json.access_token).sub, a.agentId);
    const refused = [
      k({ serviceAccount: 'builder-evil' }),
      k({ namespace: 'ci-evil' }),
      k({ claims: { sub: 'system:serviceaccount:ci:other' } }),
      k({ claims: { 'kubernetes.io': { namespace: 'other', serviceaccount: { name: 'builder' } } } }),
      k({ claims: { 'kubernetes.io': undefined } }),
      k({ aud: 'https://kubernetes.default.svc' }),
    ];
    for (const jwt of refused) assertOAuthError(await exchange(srv, jwt), 400, 'invalid_grant');
  });

  test('a generic issuer with exact claim conditions', async () => {
    const a = await srv.createAgent(admin);
    const p = await createPolicy(srv, admin, { provider: issuer.url('generic'), conditions: { sub: 'svc-42', env: 'prod' }, agentId: a.agentId });
    assert.equal(p.status, 201, p.text);
    assert.equal(p.json.provider, issuer.url('generic'));
    const ok = await exchange(srv, issuer.mint('generic', { sub: 'svc-42', env: 'prod', aud: srv.issuer }));
    assert.equal(ok.status, 200, ok.text);
    for (const claims of [{ sub: 'svc-42', env: 'prod-evil' }, { sub: 'svc-420', env: 'prod' }, { sub: 'svc-42' }, { sub: 'svc-42', env: ['prod'] }]) {
      assertOAuthError(await exchange(srv, issuer.mint('generic', { ...claims, aud: srv.issuer })), 400, 'invalid_grant');
    }
  });

  test('discovery naming another issuer is refused', async () => {
    const p = await createPolicy(srv, admin, { provider: issuer.url('liar'), conditions: { sub: 'x' } });
    assert.equal(p.status, 201, p.text);
    issuer.lieAboutIssuer('liar', 'https://accounts.example.com');
    const r = await exchange(srv, issuer.mint('liar', { sub: 'x', aud: srv.issuer }));
    assert.ok(r.status === 503 || r.status === 400, r.text);
    assert.equal(issuer.jwksHits('liar'), 0, 'the JWKS of a lying issuer is not fetched');
  });

  test('the jwt-bearer grant (RFC 7523 §2.1) at the token endpoint', async () => {
    const form = (params, opts) => srv.form('/api/v1/token', params, opts);
    const ext = issuer.github('github', { repository: 'acme/app', aud: srv.issuer });
    const r = await form({ grant_type: JWT_BEARER, assertion: ext });
    assert.equal(r.status, 200, r.text);
    assert.equal(claimsOf(r.json.access_token).sub, agent.agentId);
    assert.equal(r.headers.get('cache-control'), 'no-store');
    assertOAuthError(await form({ grant_type: JWT_BEARER, assertion: ext }), 400, 'invalid_grant');
    assertOAuthError(await form({ grant_type: JWT_BEARER }), 400, 'invalid_request');
    const evil = issuer.github('github', { repository: 'acme/app-evil', aud: srv.issuer });
    assertOAuthError(await form({ grant_type: JWT_BEARER, assertion: evil }), 400, 'invalid_grant');
    const withAuth = await form({ grant_type: JWT_BEARER, assertion: issuer.github('github', { repository: 'acme/app', aud: srv.issuer }) },
      { auth: { id: srv.admin.client_id, secret: srv.admin.client_secret } });
    assertOAuthError(withAuth, 400, 'invalid_request');
    const audit = await srv.api('GET', `/api/v1/audit?agentId=${agent.agentId}&action=token.issued&limit=1`, { token: admin });
    assert.equal(audit.json.data[0].metadata.grantType, JWT_BEARER);
    // With a DPoP proof the token is bound to the proof's key.
    const key = newKey('ES256');
    const bound = await form({ grant_type: JWT_BEARER, assertion: issuer.github('github', { repository: 'acme/app', aud: srv.issuer }) },
      { headers: { dpop: dpopProof(key, 'POST', `${srv.issuer}/api/v1/token`) } });
    assert.equal(bound.status, 200, bound.text);
    assert.equal(bound.json.token_type, 'DPoP');
    assert.equal(claimsOf(bound.json.access_token).cnf.jkt, thumbprint(key.jwk));
  });

  // Last: waits out the 10 s refresh floor.
  test('an unknown kid refreshes the JWKS once; rotation at the issuer is picked up', async () => {
    const gh = (key) => issuer.github('github', { repository: 'acme/app', aud: srv.issuer, key });
    assert.equal((await exchange(srv, gh())).status, 200);
    const hits = issuer.jwksHits('github');
    await new Promise((r) => setTimeout(r, 10_500));
    const rotated = issuer.rotate('github');
    const r = await exchange(srv, gh(rotated));
    assert.equal(r.status, 200, r.text);
    assert.equal(issuer.jwksHits('github'), hits + 1, 'exactly one refresh for the new kid');
    // Unpublished keys: refused, and they do not make the server hammer the JWKS URL.
    for (let i = 0; i < 4; i++) assertOAuthError(await exchange(srv, gh(newKey('RS256'))), 400, 'invalid_grant');
    assert.equal(issuer.jwksHits('github'), hits + 1);
  });
});

describe('issuer on loopback without the allow flag', () => {
  let srv, trap, connections = 0;
  before(async () => {
    trap = net.createServer((s) => { connections++; s.destroy(); });
    await new Promise((resolve) => trap.listen(0, '127.0.0.1', resolve));
    srv = await startServer({ env: { ...NO_SLOWDOWN, AGENTIDP_FEDERATION_GITHUB_ISSUER: `https://127.0.0.1:${trap.address().port}` } });
  });
  after(async () => { await srv?.close(); await new Promise((r) => trap.close(r)); });

  test('is refused without any connection attempt', async () => {
    const admin = await srv.adminToken(srv);
    const p = await srv.api('POST', '/api/v1/oidc/trust-policies', { token: admin, body: { provider: 'github', repository: 'acme/app' } });
    assert.equal(p.status, 201, p.text);
    const port = trap.address().port;
    const k = newKey('RS256');
    const ext = signJwt(k, { iss: `https://127.0.0.1:${port}`, sub: 'repo:acme/app:ref:refs/heads/main', repository: 'acme/app',
      ref: 'refs/heads/main', aud: srv.issuer, iat: now(), exp: now() + 300, jti: 'j1' }, { typ: 'JWT' });
    const r = await exchange(srv, ext);
    assertOAuthError(r, 400, 'invalid_grant');
    // A generic issuer on other loopback spellings: refused the same way.
    for (const host of ['localhost', '[::1]', '127.1']) {
      const url = `https://${host}:${port}`;
      assert.equal((await srv.api('POST', '/api/v1/oidc/trust-policies', { token: admin, body: { provider: url, conditions: { sub: 'x' } } })).status, 201);
      const t = signJwt(k, { iss: url, sub: 'x', aud: srv.issuer, iat: now(), exp: now() + 300 }, { typ: 'JWT' });
      assertOAuthError(await exchange(srv, t), 400, 'invalid_grant');
    }
    // A partner whose JWKS URL is on loopback: the token is not valid, nothing connects.
    const partner = await srv.api('POST', '/api/v1/federation/trust', { token: admin, body: {
      name: 'Loopback', issuer: 'https://partner.example', jwksUri: `https://127.0.0.1:${port}/jwks`,
      allowedOrganizations: [srv.admin.organization_id] } });
    assert.equal(partner.status, 201, partner.text);
    const pt = signJwt(k, { iss: 'https://partner.example', sub: 'x', aud: srv.issuer, iat: now(), exp: now() + 300 }, { typ: 'JWT' });
    const v = await srv.api('POST', '/api/v1/federation/verify', { token: admin, body: { token: pt } });
    assert.equal(v.status, 200, v.text);
    assert.equal(v.json.valid, false);
    assert.match(v.json.reason, /outbound guard/);
    assert.equal(connections, 0, 'the guard refused before connecting');
  });
});

describe('federation partners', () => {
  let issuer, srv, admin, org, memberToken;
  before(async () => {
    issuer = await startIssuer(makeTempDir());
    srv = await startServer({ env: { ...NO_SLOWDOWN, AGENTIDP_OUTBOUND_ALLOW_PRIVATE: 'true', AGENTIDP_OUTBOUND_CA_FILE: issuer.caFile } });
    admin = await srv.adminToken(srv);
    org = srv.admin.organization_id;
    const m = await srv.agentWithSecret(admin);
    memberToken = await srv.accessToken(m.id, m.secret);
  });
  after(async () => { await srv?.close(); await issuer?.close(); });

  const partnerBody = (name, extra = {}) => ({
    name: `Partner ${name}`, issuer: issuer.url(name), jwksUri: `${issuer.url(name)}/jwks`, allowedOrganizations: [org], ...extra,
  });
  const verify = (token, body, as = memberToken) => srv.api('POST', '/api/v1/federation/verify', { token: as, body: { token: body } });

  test('CRUD with admin:orgs; validation; duplicates; members refused', async () => {
    const c = await srv.api('POST', '/api/v1/federation/trust', { token: admin, body: partnerBody('crud') });
    assert.equal(c.status, 201, c.text);
    assert.equal(c.json.status, 'active');
    assert.deepEqual(c.json.allowedOrganizations, [org]);
    assert.equal(c.json.expiresAt, null);
    const id = c.json.id;
    assert.equal((await srv.api('POST', '/api/v1/federation/trust', { token: admin, body: partnerBody('crud') })).status, 409);
    for (const body of [{}, partnerBody('v', { jwksUri: 'http://x.example/jwks' }), partnerBody('v', { issuer: 'not a url' }),
      partnerBody('v', { allowedOrganizations: 'org' }), partnerBody('v', { status: 'expired' }), partnerBody('v', { extra: 1 }),
      partnerBody('v', { expiresAt: 'tomorrow' })]) {
      const r = await srv.api('POST', '/api/v1/federation/trust', { token: admin, body });
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
    }
    const list = await srv.api('GET', '/api/v1/federation/partners', { token: admin });
    assert.equal(list.status, 200);
    assert.ok(list.json.data.some((p) => p.id === id));
    assert.equal((await srv.api('GET', `/api/v1/federation/partners/${id}`, { token: admin })).json.name, 'Partner crud');
    const patched = await srv.api('PATCH', `/api/v1/federation/partners/${id}`, { token: admin, body: { name: 'Renamed', status: 'inactive' } });
    assert.equal(patched.status, 200, patched.text);
    assert.equal(patched.json.name, 'Renamed');
    assert.equal(patched.json.status, 'inactive');
    for (const [m, p] of [['POST', '/api/v1/federation/trust'], ['GET', '/api/v1/federation/partners'], ['GET', `/api/v1/federation/partners/${id}`],
      ['PATCH', `/api/v1/federation/partners/${id}`], ['DELETE', `/api/v1/federation/partners/${id}`]]) {
      const r = await srv.api(m, p, { token: memberToken, body: m === 'POST' || m === 'PATCH' ? { name: 'x' } : undefined });
      assert.equal(r.status, 403, `${m} ${p}: ${r.text}`);
    }
    assert.equal((await srv.api('DELETE', `/api/v1/federation/partners/${id}`, { token: admin })).status, 204);
    assert.equal((await srv.api('GET', `/api/v1/federation/partners/${id}`, { token: admin })).status, 404);
    assert.equal((await srv.api('DELETE', `/api/v1/federation/partners/${id}`, { token: admin })).status, 404);
  });

  test('verify: a partner token is valid with its claims; bad tokens are {valid:false}', async () => {
    assert.equal((await srv.api('POST', '/api/v1/federation/trust', { token: admin, body: partnerBody('acme') })).status, 201);
    const good = issuer.mint('acme', { sub: 'agent-7', aud: srv.issuer, role: 'buyer' });
    const r = await verify(memberToken, good);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.valid, true, r.text);
    assert.equal(r.json.issuer, issuer.url('acme'));
    assert.equal(r.json.claims.sub, 'agent-7');
    assert.equal(r.json.claims.role, 'buyer');
    const bad = [
      issuer.mint('acme', { sub: 'a', aud: 'https://other.example' }),
      issuer.mint('acme', { sub: 'a', aud: srv.issuer, exp: now() - 100, iat: now() - 400 }),
      issuer.mint('acme', { sub: 'a', aud: srv.issuer }, { key: newKey('RS256') }),
      issuer.mint('stranger', { sub: 'a', aud: srv.issuer }),
      'garbage',
    ];
    for (const t of bad) {
      const v = await verify(memberToken, t);
      assert.equal(v.status, 200, v.text);
      assert.equal(v.json.valid, false, v.text);
      assert.ok(v.json.reason, v.text);
      assert.ok(!('claims' in v.json));
    }
    assert.equal((await srv.api('POST', '/api/v1/federation/verify', { body: { token: good } })).status, 401);
  });

  test('inactive and expired partners and foreign organizations verify nothing', async () => {
    const p = await srv.api('POST', '/api/v1/federation/trust', { token: admin, body: partnerBody('life') });
    const id = p.json.id;
    const mint = () => issuer.mint('life', { sub: 'a', aud: srv.issuer });
    assert.equal((await verify(memberToken, mint())).json.valid, true);
    await srv.api('PATCH', `/api/v1/federation/partners/${id}`, { token: admin, body: { status: 'inactive' } });
    const inactive = await verify(memberToken, mint());
    assert.equal(inactive.json.valid, false);
    assert.match(inactive.json.reason, /inactive/);
    const past = new Date(Date.now() - 60_000).toISOString();
    const exp = await srv.api('PATCH', `/api/v1/federation/partners/${id}`, { token: admin, body: { status: 'active', expiresAt: past } });
    assert.equal(exp.json.status, 'expired');
    const expired = await verify(memberToken, mint());
    assert.equal(expired.json.valid, false);
    assert.match(expired.json.reason, /expired/);
    const listed = await srv.api('GET', '/api/v1/federation/partners?status=expired', { token: admin });
    assert.ok(listed.json.data.some((x) => x.id === id));
    const future = new Date(Date.now() + 3_600_000).toISOString();
    await srv.api('PATCH', `/api/v1/federation/partners/${id}`, { token: admin, body: { expiresAt: future, allowedOrganizations: ['some-other-org'] } });
    const foreign = await verify(memberToken, mint());
    assert.equal(foreign.json.valid, false);
    assert.match(foreign.json.reason, /organization/);
    await srv.api('PATCH', `/api/v1/federation/partners/${id}`, { token: admin, body: { allowedOrganizations: [org] } });
    assert.equal((await verify(memberToken, mint())).json.valid, true);
  });
});

describe('refused external tokens slow the sender down', () => {
  let issuer, srv;
  before(async () => {
    issuer = await startIssuer(makeTempDir());
    srv = await startServer({
      env: {
        AGENTIDP_AUTH_FAILURES_BEFORE_SLOWDOWN: '3',
        AGENTIDP_OUTBOUND_ALLOW_PRIVATE: 'true',
        AGENTIDP_OUTBOUND_CA_FILE: issuer.caFile,
        AGENTIDP_FEDERATION_GITHUB_ISSUER: issuer.url('github'),
      },
    });
  });
  after(async () => { await srv?.close(); await issuer?.close(); });

  test('after 3 refusals the next exchange is 429 with Retry-After, even with a good token', async () => {
    const admin = await srv.adminToken(srv);
    const a = await srv.createAgent(admin);
    assert.equal((await createPolicy(srv, admin, { provider: 'github', repository: 'acme/app', agentId: a.agentId })).status, 201);
    for (let i = 0; i < 3; i++) {
      const r = await exchange(srv, issuer.github('github', { repository: 'acme/app-evil', aud: srv.issuer }));
      assertOAuthError(r, 400, 'invalid_grant');
    }
    const good = issuer.github('github', { repository: 'acme/app', aud: srv.issuer });
    const r = await exchange(srv, good);
    assert.equal(r.status, 429, r.text);
    assert.ok(Number(r.headers.get('retry-after')) >= 1);
    const viaGrant = await srv.form('/api/v1/token', { grant_type: JWT_BEARER, assertion: good });
    assert.equal(viaGrant.status, 429, viaGrant.text);
    // Failures are audited asynchronously (group commit): poll briefly.
    let refusals = [];
    for (let i = 0; i < 20 && refusals.length < 3; i++) {
      const audit = await srv.api('GET', '/api/v1/audit?action=auth.failed&limit=100', { token: admin });
      refusals = audit.json.data.filter((e) => e.metadata.reason === 'invalid_external_token');
      if (refusals.length < 3) await new Promise((res) => setTimeout(res, 100));
    }
    assert.ok(refusals.length >= 3, JSON.stringify(refusals));
    assert.ok(!JSON.stringify(refusals).includes(good.split('.')[2]), 'no token in the audit log');
  });
});
