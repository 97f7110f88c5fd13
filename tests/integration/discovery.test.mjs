// Discovery documents and the JWKS, for RS256 (default), ES256 and EdDSA: issuer from the
// configuration, public key members only, and the published key really verifies tokens.

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, verify as cryptoVerify } from 'node:crypto';
import { startServer, decodeJwt, raw, rawStatus, hostPort } from './lib/harness.mjs';

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth'];

function verifySignature(token, jwk) {
  const [h, p, s] = token.split('.');
  const key = createPublicKey({ key: jwk, format: 'jwk' });
  const data = Buffer.from(`${h}.${p}`);
  const sig = Buffer.from(s, 'base64url');
  switch (jwk.alg) {
    case 'RS256': return cryptoVerify('sha256', data, key, sig);
    case 'ES256': return cryptoVerify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, sig);
    case 'EdDSA': return cryptoVerify(null, data, key, sig);
    default: throw new Error(`unexpected alg ${jwk.alg}`);
  }
}

async function checkJwks(srv) {
  const r = await srv.api('GET', '/.well-known/jwks.json');
  assert.equal(r.status, 200, r.text);
  assert.match(r.headers.get('content-type') ?? '', /^application\/(jwk-set\+)?json/);
  assert.match(r.headers.get('cache-control') ?? '', /max-age=\d+/);
  assert.ok(Array.isArray(r.json.keys) && r.json.keys.length >= 1);
  for (const k of r.json.keys) {
    for (const m of PRIVATE_MEMBERS) assert.ok(!(m in k), `JWKS key ${k.kid} exposes "${m}"`);
    assert.equal(typeof k.kid, 'string');
    assert.ok(k.kid.length > 0);
    assert.equal(typeof k.alg, 'string');
    assert.equal(k.use, 'sig');
    assert.equal(typeof k.kty, 'string');
  }
  const kids = r.json.keys.map((k) => k.kid);
  assert.equal(new Set(kids).size, kids.length, 'kids are unique');
  return r.json;
}

async function checkDiscovery(srv, expectedIssuer) {
  for (const p of ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server']) {
    const r = await srv.api('GET', p);
    assert.equal(r.status, 200, `${p}: ${r.text}`);
    const d = r.json;
    assert.equal(d.issuer, expectedIssuer, p);
    for (const [field, suffix] of [['token_endpoint', '/api/v1/token'], ['jwks_uri', '/.well-known/jwks.json'],
      ['introspection_endpoint', '/api/v1/token/introspect'], ['revocation_endpoint', '/api/v1/token/revoke']]) {
      assert.equal(d[field], expectedIssuer + suffix, `${p} ${field}`);
    }
    for (const [k, v] of Object.entries(d)) {
      if (k.endsWith('_endpoint') || k.endsWith('_uri')) assert.ok(v.startsWith(expectedIssuer + '/'), `${k}=${v} is under the issuer`);
    }
    assert.ok(d.grant_types_supported.includes('client_credentials'));
    assert.ok(d.token_endpoint_auth_methods_supported.includes('client_secret_basic'));
    assert.ok(d.token_endpoint_auth_methods_supported.includes('client_secret_post'));
    assert.ok(d.scopes_supported.includes('agents:read'));
  }
}

describe('RS256 (default)', () => {
  let srv;
  before(async () => { srv = await startServer(); });
  after(async () => { await srv?.close(); });

  test('both discovery documents name the listening issuer', async () => {
    assert.equal(srv.issuer, srv.url, 'without configuration the issuer is the listening URL');
    await checkDiscovery(srv, srv.issuer);
  });

  test('the issuer never comes from request headers', async () => {
    const r = await srv.api('GET', '/.well-known/openid-configuration', {
      headers: { 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https', forwarded: 'host=evil.example;proto=https' },
    });
    assert.equal(r.json.issuer, srv.issuer);
    assert.ok(!r.text.includes('evil.example'));
  });

  test('JWKS: public RSA members only, and the key verifies a token', async () => {
    const jwks = await checkJwks(srv);
    const tok = await srv.adminToken(srv);
    const { header } = decodeJwt(tok);
    assert.equal(header.alg, 'RS256');
    const jwk = jwks.keys.find((k) => k.kid === header.kid);
    assert.ok(jwk, `token kid ${header.kid} is in the JWKS`);
    assert.equal(jwk.kty, 'RSA');
    assert.equal(jwk.alg, 'RS256');
    assert.equal(jwk.e, 'AQAB');
    assert.ok(Buffer.from(jwk.n, 'base64url').length >= 256, 'RSA-2048 or more');
    assert.ok(verifySignature(tok, jwk), 'the published key verifies the token');
    const disc = await srv.api('GET', '/.well-known/openid-configuration');
    assert.ok(disc.json.id_token_signing_alg_values_supported.includes('RS256'));
  });
});

describe('ES256 with a configured issuer', () => {
  const ISSUER = 'https://idp.integration.example';
  let srv;
  before(async () => { srv = await startServer({ env: { AGENTIDP_SIGNING_ALG: 'ES256', AGENTIDP_ISSUER: ISSUER } }); });
  after(async () => { await srv?.close(); });

  test('discovery carries the configured issuer, listening.json too', async () => {
    assert.equal(srv.issuer, ISSUER);
    await checkDiscovery(srv, ISSUER);
    const { host, port } = hostPort(srv.url);
    const text = await raw(host, port, 'GET /.well-known/openid-configuration HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n');
    assert.equal(rawStatus(text), 200, text);
    const body = JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4));
    assert.equal(body.issuer, ISSUER);
    assert.ok(!text.includes('evil.example'));
  });

  test('tokens are ES256, JWKS key is EC P-256 and verifies them', async () => {
    const jwks = await checkJwks(srv);
    const tok = await srv.adminToken(srv);
    const { header, payload } = decodeJwt(tok);
    assert.equal(header.alg, 'ES256');
    assert.equal(payload.iss, ISSUER);
    assert.equal(payload.aud, `${ISSUER}/api/v1`);
    const jwk = jwks.keys.find((k) => k.kid === header.kid);
    assert.ok(jwk);
    assert.equal(jwk.kty, 'EC');
    assert.equal(jwk.crv, 'P-256');
    assert.equal(jwk.alg, 'ES256');
    assert.ok(jwk.x && jwk.y);
    assert.ok(verifySignature(tok, jwk));
    // The token works against the API even though the issuer is not the listening URL.
    const me = await srv.api('GET', '/api/v1/agents', { token: tok });
    assert.equal(me.status, 200, me.text);
  });
});

describe('EdDSA', () => {
  let srv;
  before(async () => { srv = await startServer({ env: { AGENTIDP_SIGNING_ALG: 'EdDSA' } }); });
  after(async () => { await srv?.close(); });

  test('tokens are EdDSA, JWKS key is OKP Ed25519 and verifies them', async () => {
    const jwks = await checkJwks(srv);
    await checkDiscovery(srv, srv.issuer);
    const tok = await srv.adminToken(srv);
    const { header } = decodeJwt(tok);
    assert.equal(header.alg, 'EdDSA');
    const jwk = jwks.keys.find((k) => k.kid === header.kid);
    assert.ok(jwk);
    assert.equal(jwk.kty, 'OKP');
    assert.equal(jwk.crv, 'Ed25519');
    assert.equal(jwk.alg, 'EdDSA');
    assert.ok(verifySignature(tok, jwk));
    const i = await srv.introspect(tok, { id: srv.admin.client_id, secret: srv.admin.client_secret });
    assert.equal(i.json.active, true);
  });
});
