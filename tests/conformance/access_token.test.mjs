// Access tokens as a resource server sees them: JWT profile (RFC 9068),
// verified with jose against the published JWKS.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as jose from 'jose';

import { startServer } from './lib/server.mjs';
import { ALGORITHMS, adminToken, registerAgent, requestToken, getJson } from './lib/api.mjs';

const OTHER_ALGS = ['RS256', 'ES256', 'EdDSA', 'PS256', 'ES384', 'HS256'];

async function rejectsWith(promise, codes, what) {
  await assert.rejects(promise, (err) => {
    assert.ok(codes.includes(err?.code), `${what}: expected one of ${codes.join(', ')}, got ${err?.code}: ${err?.message}`);
    return true;
  }, what);
}

for (const alg of ALGORITHMS) {
  describe(`access token verified with jose [${alg}]`, () => {
    let server;
    let agent;
    let metadata;
    let jwks;
    let audience;

    before(async () => {
      server = await startServer({ alg });
      agent = await registerAgent(server, await adminToken(server));
      metadata = (await getJson(`${server.url}/.well-known/openid-configuration`)).body;
      jwks = jose.createRemoteJWKSet(new URL(metadata.jwks_uri));
      audience = `${server.issuer}/api/v1`;
    });
    after(async () => {
      await server?.stop();
    });

    async function agentToken(method = 'basic') {
      const res = await requestToken(server, { clientId: agent.clientId, clientSecret: agent.clientSecret, method });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res.body;
    }

    function verify(token, overrides = {}) {
      return jose.jwtVerify(token, jwks, {
        issuer: server.issuer, audience, typ: 'at+jwt', algorithms: [alg], ...overrides,
      });
    }

    it('verifies with issuer, default audience, typ at+jwt and the pinned algorithm', async () => {
      const { access_token } = await agentToken();
      const { protectedHeader } = await verify(access_token);
      assert.equal(protectedHeader.alg, alg);
      assert.equal(protectedHeader.typ, 'at+jwt');
      assert.equal(typeof protectedHeader.kid, 'string');
      const published = (await getJson(metadata.jwks_uri)).body.keys.map((k) => k.kid);
      assert.ok(published.includes(protectedHeader.kid), `kid ${protectedHeader.kid} not in JWKS ${published}`);
    });

    it('carries the RFC 9068 / SPEC §3 claim set', async () => {
      const before = Math.floor(Date.now() / 1000);
      const body = await agentToken('post');
      const after = Math.ceil(Date.now() / 1000);
      const { payload } = await verify(body.access_token);

      assert.equal(payload.iss, server.issuer);
      assert.equal(payload.sub, agent.agentId);
      assert.equal(payload.client_id, agent.clientId);
      assert.equal(payload.sub, payload.client_id, 'sub = client_id for a client_credentials token');
      assert.equal(payload.organization_id, server.admin.organization_id,
        'an agent registered by the bootstrap admin belongs to its organization');
      const aud = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
      assert.ok(aud.includes(audience), `aud ${JSON.stringify(payload.aud)} lacks ${audience}`);
      assert.equal(typeof payload.scope, 'string');
      assert.equal(payload.scope, body.scope, 'scope claim equals the token response scope');
      assert.equal(typeof payload.jti, 'string');
      assert.ok(payload.jti.length >= 16, 'jti is long enough to be unique');
      assert.ok(Number.isInteger(payload.iat) && Number.isInteger(payload.exp));
      assert.ok(payload.iat >= before - 5 && payload.iat <= after + 5, `iat ${payload.iat} not now (${before}..${after})`);
      assert.equal(payload.exp - payload.iat, body.expires_in, 'exp - iat = expires_in');
      assert.equal(body.expires_in, 3600, 'default lifetime is 3600 s');
    });

    it('jti differs between two tokens of the same client', async () => {
      const a = await verify((await agentToken()).access_token);
      const b = await verify((await agentToken()).access_token);
      assert.notEqual(a.payload.jti, b.payload.jti);
    });

    it('fails with a wrong audience', async () => {
      const { access_token } = await agentToken();
      await rejectsWith(verify(access_token, { audience: 'https://some-other-api.example' }),
        ['ERR_JWT_CLAIM_VALIDATION_FAILED'], 'wrong audience');
    });

    it('fails with a wrong issuer', async () => {
      const { access_token } = await agentToken();
      await rejectsWith(verify(access_token, { issuer: 'https://not-the-issuer.example' }),
        ['ERR_JWT_CLAIM_VALIDATION_FAILED'], 'wrong issuer');
    });

    it('fails when the resource server expects another typ', async () => {
      const { access_token } = await agentToken();
      await rejectsWith(verify(access_token, { typ: 'JWT' }), ['ERR_JWT_CLAIM_VALIDATION_FAILED'], 'typ JWT');
      await rejectsWith(verify(access_token, { typ: 'dpop+jwt' }), ['ERR_JWT_CLAIM_VALIDATION_FAILED'], 'typ dpop+jwt');
    });

    it('fails when the algorithm is not in the allowed list', async () => {
      const { access_token } = await agentToken();
      const others = OTHER_ALGS.filter((a) => a !== alg);
      await rejectsWith(verify(access_token, { algorithms: others }), ['ERR_JOSE_ALG_NOT_ALLOWED'], 'algorithms list');
    });

    it('fails once a byte of the signature is changed', async () => {
      const { access_token } = await agentToken();
      const [h, p, s] = access_token.split('.');
      const sig = Buffer.from(s, 'base64url');
      sig[sig.length >> 1] ^= 0x01;
      const tampered = `${h}.${p}.${sig.toString('base64url')}`;
      await rejectsWith(verify(tampered), ['ERR_JWS_SIGNATURE_VERIFICATION_FAILED'], 'tampered signature');
    });
  });
}
