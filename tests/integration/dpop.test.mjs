// DPoP (RFC 9449): sender-constrained tokens at the token endpoint (token_type DPoP,
// cnf.jkt), proofs at protected routes (Authorization: DPoP + ath), refusals with
// WWW-Authenticate: DPoP challenges, single use of proofs, and server nonces.

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, basicAuth } from './lib/harness.mjs';
import { newKey, dpopProof, thumbprint, claimsOf, signJwt } from './lib/jwt.mjs';

const NO_SLOWDOWN = { AGENTIDP_AUTH_FAILURES_BEFORE_SLOWDOWN: '1000' };

function assertOAuthError(r, status, error) {
  assert.equal(r.status, status, r.text);
  assert.equal(r.json?.error, error, r.text);
}

describe('DPoP without nonces', () => {
  let srv, agent, key;
  before(async () => {
    srv = await startServer({ env: NO_SLOWDOWN });
    const admin = await srv.adminToken(srv);
    agent = await srv.agentWithSecret(admin);
    key = newKey('ES256');
  });
  after(async () => { await srv?.close(); });

  const tokenUrl = () => `${srv.issuer}/api/v1/token`;
  const dpopToken = (proof, scope = 'agents:read') =>
    srv.token(agent.id, agent.secret, { scope, headers: { dpop: proof } });
  const getAgents = (token, proof, scheme = 'DPoP') =>
    srv.api('GET', '/api/v1/agents', { headers: { authorization: `${scheme} ${token}`, ...(proof ? { dpop: proof } : {}) } });

  for (const alg of ['ES256', 'EdDSA', 'RS256']) {
    test(`${alg} proof binds the token: token_type DPoP, cnf.jkt, introspection`, async () => {
      const k = newKey(alg);
      const r = await dpopToken(dpopProof(k, 'POST', tokenUrl()));
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.token_type, 'DPoP');
      assert.equal(claimsOf(r.json.access_token).cnf.jkt, thumbprint(k.jwk));
      const i = await srv.introspect(r.json.access_token, { id: agent.id, secret: agent.secret });
      assert.equal(i.json.active, true);
      assert.equal(i.json.token_type, 'DPoP');
      assert.equal(i.json.cnf.jkt, thumbprint(k.jwk));
    });
  }

  test('the alias endpoint and an htu with default port / upper-case host normalize', async () => {
    const r = await srv.form('/api/v1/oauth2/token', { grant_type: 'client_credentials', scope: 'agents:read' },
      { auth: { id: agent.id, secret: agent.secret }, headers: { dpop: dpopProof(key, 'POST', `${srv.issuer}/api/v1/oauth2/token`) } });
    assert.equal(r.status, 200, r.text);
    const upper = srv.issuer.replace('127.0.0.1', '127.0.0.1').replace('http://', 'HTTP://');
    assert.equal((await dpopToken(dpopProof(key, 'POST', `${upper}/api/v1/token`))).status, 200);
  });

  test('a bound token works with the DPoP scheme and its proof only', async () => {
    const t = (await dpopToken(dpopProof(key, 'POST', tokenUrl()))).json.access_token;
    const url = `${srv.issuer}/api/v1/agents`;
    const ok = await getAgents(t, dpopProof(key, 'GET', url, { accessToken: t }));
    assert.equal(ok.status, 200, ok.text);

    const asBearer = await getAgents(t, undefined, 'Bearer');
    assert.equal(asBearer.status, 401);
    assert.match(asBearer.headers.get('www-authenticate'), /^DPoP error="invalid_token"/);

    const noProof = await getAgents(t, undefined);
    assert.equal(noProof.status, 401);
    assert.match(noProof.headers.get('www-authenticate'), /error="invalid_dpop_proof"/);

    const cases = {
      'no ath': dpopProof(key, 'GET', url),
      'ath of another token': dpopProof(key, 'GET', url, { accessToken: t + 'x' }),
      'wrong method': dpopProof(key, 'POST', url, { accessToken: t }),
      'wrong URL': dpopProof(key, 'GET', `${srv.issuer}/api/v1/agents/other`, { accessToken: t }),
      'another key': dpopProof(newKey('ES256'), 'GET', url, { accessToken: t }),
    };
    for (const [name, proof] of Object.entries(cases)) {
      const r = await getAgents(t, proof);
      assert.equal(r.status, 401, `${name}: ${r.text}`);
      assert.match(r.headers.get('www-authenticate'), /^DPoP error="(invalid_dpop_proof|invalid_token)"/, name);
      assert.match(r.headers.get('www-authenticate'), /algs="ES256 EdDSA Ed25519 RS256"/, name);
    }
    const proof = dpopProof(key, 'GET', url, { accessToken: t });
    assert.equal((await getAgents(t, proof)).status, 200);
    const replay = await getAgents(t, proof);
    assert.equal(replay.status, 401, 'a proof is used once');
    // A query string is not part of htu.
    const q = await srv.api('GET', '/api/v1/agents?limit=5', { headers: { authorization: `DPoP ${t}`, dpop: dpopProof(key, 'GET', url, { accessToken: t }) } });
    assert.equal(q.status, 200, q.text);
  });

  test('a bearer token with the DPoP scheme is refused', async () => {
    const plain = await srv.accessToken(agent.id, agent.secret, { scope: 'agents:read' });
    const r = await getAgents(plain, dpopProof(key, 'GET', `${srv.issuer}/api/v1/agents`, { accessToken: plain }));
    assert.equal(r.status, 401, r.text);
    assert.match(r.headers.get('www-authenticate'), /^DPoP error="invalid_token"/);
  });

  test('token endpoint refusals: invalid_dpop_proof, never 5xx', async () => {
    const now = Math.floor(Date.now() / 1000);
    const privJwk = { ...key.privateKey.export({ format: 'jwk' }) };
    const cases = {
      'wrong htm': dpopProof(key, 'GET', tokenUrl()),
      'wrong htu': dpopProof(key, 'POST', `${srv.issuer}/api/v1/token/introspect`),
      'htu of another host': dpopProof(key, 'POST', 'https://evil.example/api/v1/token'),
      'old iat': dpopProof(key, 'POST', tokenUrl(), { claims: { iat: now - 600 } }),
      'future iat': dpopProof(key, 'POST', tokenUrl(), { claims: { iat: now + 600 } }),
      'missing jti': dpopProof(key, 'POST', tokenUrl(), { claims: { jti: undefined } }),
      'typ JWT': dpopProof(key, 'POST', tokenUrl(), { header: { typ: 'JWT' } }),
      'no jwk': dpopProof(key, 'POST', tokenUrl(), { header: { jwk: undefined, kid: key.kid } }),
      'private jwk': dpopProof(key, 'POST', tokenUrl(), { header: { jwk: privJwk } }),
      'jwk of another key': dpopProof(key, 'POST', tokenUrl(), { header: { jwk: newKey('ES256').jwk } }),
      'ath at the token endpoint': dpopProof(key, 'POST', tokenUrl(), { accessToken: 'x' }),
      'not a JWT': 'abc.def',
      'an access token': null,
    };
    cases['an access token'] = await srv.accessToken(agent.id, agent.secret, { scope: 'agents:read' });
    for (const [name, proof] of Object.entries(cases)) {
      const r = await dpopToken(proof);
      assertOAuthError(r, 400, 'invalid_dpop_proof');
      assert.ok(r.status < 500, name);
    }
    const proof = dpopProof(key, 'POST', tokenUrl());
    assert.equal((await dpopToken(proof)).status, 200);
    assertOAuthError(await dpopToken(proof), 400, 'invalid_dpop_proof');
    const two = await srv.form('/api/v1/token', 'grant_type=client_credentials', { auth: { id: agent.id, secret: agent.secret } });
    assert.ok(two.status === 400 || two.status === 200);
    const res = await fetch(tokenUrl(), {
      method: 'POST',
      headers: [['content-type', 'application/x-www-form-urlencoded'], ['authorization', basicAuth(agent.id, agent.secret)],
        ['dpop', dpopProof(key, 'POST', tokenUrl())], ['dpop', dpopProof(key, 'POST', tokenUrl())]],
      body: 'grant_type=client_credentials',
    });
    assert.equal(res.status, 400);
    assert.equal((await res.json()).error, 'invalid_dpop_proof');
  });

  test('discovery names exactly the proof algorithms', async () => {
    const d = (await srv.api('GET', '/.well-known/openid-configuration')).json;
    assert.deepEqual(d.dpop_signing_alg_values_supported, ['ES256', 'EdDSA', 'Ed25519', 'RS256']);
  });
});

describe('DPoP with server nonces', () => {
  let srv, agent, key;
  before(async () => {
    srv = await startServer({ env: { ...NO_SLOWDOWN, AGENTIDP_DPOP_NONCE: 'true' } });
    const admin = await srv.adminToken(srv);
    agent = await srv.agentWithSecret(admin);
    key = newKey('EdDSA');
  });
  after(async () => { await srv?.close(); });

  test('use_dpop_nonce, then success with the nonce; resources ask for it too', async () => {
    const tokenUrl = `${srv.issuer}/api/v1/token`;
    const first = await srv.token(agent.id, agent.secret, { scope: 'agents:read', headers: { dpop: dpopProof(key, 'POST', tokenUrl) } });
    assertOAuthError(first, 400, 'use_dpop_nonce');
    const nonce = first.headers.get('dpop-nonce');
    assert.ok(nonce && nonce.length > 10, 'DPoP-Nonce header');
    const stale = await srv.token(agent.id, agent.secret, { scope: 'agents:read', headers: { dpop: dpopProof(key, 'POST', tokenUrl, { nonce: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }) } });
    assertOAuthError(stale, 400, 'use_dpop_nonce');
    const ok = await srv.token(agent.id, agent.secret, { scope: 'agents:read', headers: { dpop: dpopProof(key, 'POST', tokenUrl, { nonce }) } });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.json.token_type, 'DPoP');
    assert.ok(ok.headers.get('dpop-nonce'));
    const t = ok.json.access_token;
    const url = `${srv.issuer}/api/v1/agents`;
    const noNonce = await srv.api('GET', '/api/v1/agents', { headers: { authorization: `DPoP ${t}`, dpop: dpopProof(key, 'GET', url, { accessToken: t }) } });
    assert.equal(noNonce.status, 401);
    assert.match(noNonce.headers.get('www-authenticate'), /^DPoP error="use_dpop_nonce"/);
    const n2 = noNonce.headers.get('dpop-nonce');
    assert.ok(n2);
    const good = await srv.api('GET', '/api/v1/agents', { headers: { authorization: `DPoP ${t}`, dpop: dpopProof(key, 'GET', url, { accessToken: t, nonce: n2 }) } });
    assert.equal(good.status, 200, good.text);
  });
});
