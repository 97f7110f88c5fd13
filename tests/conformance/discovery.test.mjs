// Discovery documents (OIDC Discovery 1.0, RFC 8414) and the JWKS, as seen by
// openid-client v6 and by a plain HTTP client.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as client from 'openid-client';

import { startServer } from './lib/server.mjs';
import { ALGORITHMS, adminToken, registerAgent, getJson } from './lib/api.mjs';

const ALL_SCOPES = [
  'agents:read', 'agents:write', 'tokens:read', 'audit:read', 'admin:orgs',
  'webhooks:read', 'webhooks:write', 'openid',
];

const EXPECTED_KTY = { RS256: 'RSA', ES256: 'EC', EdDSA: 'OKP' };
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

for (const alg of ALGORITHMS) {
  describe(`discovery [${alg}]`, () => {
    let server;
    let agent;

    before(async () => {
      server = await startServer({ alg });
      agent = await registerAgent(server, await adminToken(server));
    });
    after(async () => {
      await server?.stop();
    });

    function checkMetadata(md) {
      const iss = server.issuer;
      assert.equal(md.issuer, iss);
      assert.equal(md.token_endpoint, `${iss}/api/v1/token`);
      assert.equal(md.introspection_endpoint, `${iss}/api/v1/token/introspect`);
      assert.equal(md.revocation_endpoint, `${iss}/api/v1/token/revoke`);
      assert.equal(md.jwks_uri, `${iss}/.well-known/jwks.json`);
      for (const m of ['client_secret_basic', 'client_secret_post']) {
        assert.ok(md.token_endpoint_auth_methods_supported?.includes(m),
          `token_endpoint_auth_methods_supported lacks ${m}: ${JSON.stringify(md.token_endpoint_auth_methods_supported)}`);
      }
      assert.ok(md.grant_types_supported?.includes('client_credentials'),
        `grant_types_supported lacks client_credentials: ${JSON.stringify(md.grant_types_supported)}`);
      for (const s of ALL_SCOPES) {
        assert.ok(md.scopes_supported?.includes(s), `scopes_supported lacks ${s}: ${JSON.stringify(md.scopes_supported)}`);
      }
      assert.ok(md.id_token_signing_alg_values_supported?.includes(alg),
        `id_token_signing_alg_values_supported lacks ${alg}: ${JSON.stringify(md.id_token_signing_alg_values_supported)}`);
    }

    for (const wellKnown of ['openid-configuration', 'oauth-authorization-server']) {
      it(`GET /.well-known/${wellKnown} is complete and names this issuer`, async () => {
        const res = await getJson(`${server.url}/.well-known/${wellKnown}`);
        assert.equal(res.status, 200);
        assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
        checkMetadata(res.body);
      });
    }

    it('both well-known documents agree on the endpoints', async () => {
      const a = (await getJson(`${server.url}/.well-known/openid-configuration`)).body;
      const b = (await getJson(`${server.url}/.well-known/oauth-authorization-server`)).body;
      for (const k of ['issuer', 'token_endpoint', 'introspection_endpoint', 'revocation_endpoint', 'jwks_uri']) {
        assert.equal(a[k], b[k], `${k} differs`);
      }
    });

    for (const algorithm of ['oidc', 'oauth2']) {
      it(`openid-client discovery() with algorithm '${algorithm}'`, async () => {
        const config = await client.discovery(
          new URL(server.issuer),
          agent.clientId,
          agent.clientSecret,
          client.ClientSecretBasic(agent.clientSecret),
          { execute: [client.allowInsecureRequests], algorithm },
        );
        const md = config.serverMetadata();
        checkMetadata(md);
        assert.equal(config.clientMetadata().client_id, agent.clientId);
      });
    }

    it('JWKS publishes public keys only, with kid, usable for this algorithm', async () => {
      const res = await getJson(`${server.url}/.well-known/jwks.json`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^application\/(jwk-set\+)?json/);
      const cc = res.headers.get('cache-control');
      if (cc) assert.doesNotMatch(cc, /no-store/, 'JWKS must be cacheable');
      assert.ok(Array.isArray(res.body?.keys) && res.body.keys.length > 0, `no keys: ${JSON.stringify(res.body)}`);
      const kids = new Set();
      for (const jwk of res.body.keys) {
        assert.equal(typeof jwk.kid, 'string', `key without kid: ${JSON.stringify(jwk)}`);
        assert.ok(!kids.has(jwk.kid), `duplicate kid ${jwk.kid}`);
        kids.add(jwk.kid);
        for (const m of PRIVATE_JWK_MEMBERS) {
          assert.ok(!(m in jwk), `JWK ${jwk.kid} exposes private member "${m}"`);
        }
      }
      const usable = res.body.keys.filter((k) => k.kty === EXPECTED_KTY[alg] && (k.alg === undefined || k.alg === alg));
      assert.ok(usable.length > 0, `no ${EXPECTED_KTY[alg]} key for ${alg}: ${JSON.stringify(res.body.keys)}`);
      if (alg === 'ES256') assert.ok(usable.some((k) => k.crv === 'P-256'));
      if (alg === 'EdDSA') assert.ok(usable.some((k) => k.crv === 'Ed25519'));
    });
  });
}
