// oauth4webapi (unmodified, the low-level library under openid-client, used
// directly here): discovery, client_credentials with ClientSecretBasic and
// ClientSecretPost, introspection, revocation, and validateJwtAccessToken
// (RFC 9068) on the issued access tokens, for each signing algorithm.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as oauth from 'oauth4webapi';

import { startServer } from './lib/server.mjs';
import { ALGORITHMS, adminToken, registerAgent, introspect, requestToken } from './lib/api.mjs';

const AUTH_METHODS = {
  client_secret_basic: (secret) => oauth.ClientSecretBasic(secret),
  client_secret_post: (secret) => oauth.ClientSecretPost(secret),
};
const OTHER_ALGS = ['RS256', 'ES256', 'EdDSA', 'PS256', 'ES384'];
// http://127.0.0.1 is what the test server listens on; without TLS every
// request needs this opt-in.
const INSECURE = { [oauth.allowInsecureRequests]: true };

function scopeSet(scope) {
  return new Set(String(scope ?? '').split(' ').filter(Boolean));
}

function b64uJson(part) {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
}

function withClaims(token, changes) {
  const [h, p, s] = token.split('.');
  const payload = Buffer.from(JSON.stringify({ ...b64uJson(p), ...changes })).toString('base64url');
  return `${h}.${payload}.${s}`;
}

function flipSignatureBit(token) {
  const [h, p, s] = token.split('.');
  const sig = Buffer.from(s, 'base64url');
  sig[sig.length >> 1] ^= 0x01;
  return `${h}.${p}.${sig.toString('base64url')}`;
}

async function rejectsWithCode(promise, codes, what) {
  await assert.rejects(promise, (err) => {
    assert.ok(codes.includes(err?.code), `${what}: expected one of ${codes.join(', ')}, got ${err?.name} ${err?.code}: ${err?.message}`);
    return true;
  }, what);
}

for (const alg of ALGORITHMS) {
  describe(`oauth4webapi [${alg}]`, () => {
    let server;
    let agent;
    let as;
    let client;
    let audience;

    before(async () => {
      server = await startServer({ alg });
      agent = await registerAgent(server, await adminToken(server));
      const issuer = new URL(server.issuer);
      as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, INSECURE));
      client = { client_id: agent.clientId };
      audience = `${server.issuer}/api/v1`;
    });
    after(async () => {
      await server?.stop();
    });

    async function grant(method, parameters = {}, cl = client, secret = agent.clientSecret) {
      const res = await oauth.clientCredentialsGrantRequest(as, cl, AUTH_METHODS[method](secret), parameters, INSECURE);
      return oauth.processClientCredentialsResponse(as, cl, res);
    }

    async function introspection(method, token, cl = client, secret = agent.clientSecret) {
      const res = await oauth.introspectionRequest(as, cl, AUTH_METHODS[method](secret), token, INSECURE);
      return oauth.processIntrospectionResponse(as, cl, res);
    }

    function validate(token, options = {}, asOverride = as, expectedAudience = audience) {
      const request = new Request(`${server.url}/api/v1/agents`, { headers: { authorization: `Bearer ${token}` } });
      return oauth.validateJwtAccessToken(asOverride, request, expectedAudience, { ...INSECURE, ...options });
    }

    for (const algorithm of ['oidc', 'oauth2']) {
      it(`discoveryRequest/processDiscoveryResponse with algorithm '${algorithm}'`, async () => {
        const issuer = new URL(server.issuer);
        const res = await oauth.discoveryRequest(issuer, { ...INSECURE, algorithm });
        assert.equal(res.status, 200);
        const md = await oauth.processDiscoveryResponse(issuer, res);
        assert.equal(md.issuer, server.issuer);
        assert.equal(md.token_endpoint, `${server.issuer}/api/v1/token`);
        assert.equal(md.introspection_endpoint, `${server.issuer}/api/v1/token/introspect`);
        assert.equal(md.revocation_endpoint, `${server.issuer}/api/v1/token/revoke`);
        assert.equal(md.jwks_uri, `${server.issuer}/.well-known/jwks.json`);
        for (const m of Object.keys(AUTH_METHODS)) {
          assert.ok(md.token_endpoint_auth_methods_supported?.includes(m), `${m} not advertised`);
        }
        assert.ok(md.grant_types_supported?.includes('client_credentials'));
      });
    }

    it('processDiscoveryResponse refuses the metadata for another expected issuer', async () => {
      const issuer = new URL(server.issuer);
      const res = await oauth.discoveryRequest(issuer, INSECURE);
      await rejectsWithCode(oauth.processDiscoveryResponse(new URL('https://other-issuer.example'), res),
        [oauth.JSON_ATTRIBUTE_COMPARISON], 'issuer mismatch');
    });

    for (const method of Object.keys(AUTH_METHODS)) {
      it(`client_credentials with ${method}, introspection, validateJwtAccessToken`, async () => {
        const tokens = await grant(method);
        assert.equal(typeof tokens.access_token, 'string');
        assert.equal(tokens.token_type.toLowerCase(), 'bearer');
        assert.equal(typeof tokens.expires_in, 'number');
        assert.ok(tokens.expires_in > 0);
        assert.ok(scopeSet(tokens.scope).size > 0, 'scope is not empty');

        const info = await introspection(method, tokens.access_token);
        assert.equal(info.active, true, JSON.stringify(info));
        assert.equal(info.sub, agent.agentId);
        assert.equal(info.client_id, agent.clientId);
        assert.equal(info.iss, server.issuer);
        assert.deepEqual(scopeSet(info.scope), scopeSet(tokens.scope));

        const claims = await validate(tokens.access_token);
        assert.equal(claims.iss, server.issuer);
        assert.equal(claims.sub, agent.agentId);
        assert.equal(claims.client_id, agent.clientId);
        assert.equal(claims.scope, tokens.scope);
        const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
        assert.ok(aud.includes(audience), `aud ${JSON.stringify(claims.aud)}`);
        assert.equal(claims.exp - claims.iat, tokens.expires_in);
        assert.equal(info.exp, claims.exp, 'introspection and the token agree on exp');
      });
    }

    it('validateJwtAccessToken with signingAlgorithms pinned to this algorithm', async () => {
      const { access_token } = await grant('client_secret_basic');
      const claims = await validate(access_token, { signingAlgorithms: [alg] });
      assert.equal(claims.sub, agent.agentId);
    });

    it('a narrower scope request is honoured', async () => {
      const all = scopeSet((await grant('client_secret_basic')).scope);
      const one = [...all].sort()[0];
      const tokens = await grant('client_secret_post', { scope: one });
      assert.deepEqual(scopeSet(tokens.scope), new Set([one]));
      assert.equal((await validate(tokens.access_token)).scope, one);
    });

    for (const method of Object.keys(AUTH_METHODS)) {
      it(`revocationRequest with ${method} makes the token inactive: exactly {"active":false}`, async () => {
        const { access_token } = await grant(method);
        assert.equal((await introspection(method, access_token)).active, true);
        const res = await oauth.revocationRequest(as, client, AUTH_METHODS[method](agent.clientSecret), access_token, INSECURE);
        assert.equal(res.status, 200);
        assert.equal(await oauth.processRevocationResponse(res), undefined);
        const info = await introspection(method, access_token);
        assert.equal(info.active, false);
        const raw = await introspect(server, access_token, agent);
        assert.deepEqual(raw.body, { active: false });
      });
    }

    it('revoking an unknown token succeeds (RFC 7009 §2.2)', async () => {
      const res = await oauth.revocationRequest(as, client, oauth.ClientSecretPost(agent.clientSecret),
        'not-a-token-we-ever-issued', INSECURE);
      assert.equal(await oauth.processRevocationResponse(res), undefined);
    });

    it('introspecting garbage is inactive', async () => {
      const info = await introspection('client_secret_basic', 'garbage.garbage.garbage');
      assert.deepEqual(info, { active: false });
    });

    it('a wrong client secret is refused with invalid_client', async () => {
      for (const method of Object.keys(AUTH_METHODS)) {
        const wrong = 'sk_live_' + '0'.repeat(64);
        await assert.rejects(grant(method, {}, client, wrong), (err) => {
          if (err instanceof oauth.WWWAuthenticateChallengeError) {
            assert.equal(err.status, 401);
            assert.ok(err.cause.some((c) => c.scheme === 'basic'), JSON.stringify(err.cause));
          } else {
            assert.ok(err instanceof oauth.ResponseBodyError, `${method}: ${err?.name}: ${err?.message}`);
            assert.equal(err.error, 'invalid_client');
            assert.equal(err.status, 401);
          }
          return true;
        }, method);
      }
    });

    it('validateJwtAccessToken refuses a wrong audience', async () => {
      const { access_token } = await grant('client_secret_basic');
      await rejectsWithCode(validate(access_token, {}, as, 'https://some-other-api.example'),
        [oauth.JWT_CLAIM_COMPARISON], 'wrong audience');
    });

    it('validateJwtAccessToken refuses a token from another issuer', async () => {
      const { access_token } = await grant('client_secret_basic');
      await rejectsWithCode(validate(access_token, {}, { ...as, issuer: 'https://not-the-issuer.example' }),
        [oauth.JWT_CLAIM_COMPARISON], 'wrong issuer');
    });

    it('validateJwtAccessToken refuses an algorithm outside signingAlgorithms', async () => {
      const { access_token } = await grant('client_secret_basic');
      await rejectsWithCode(validate(access_token, { signingAlgorithms: OTHER_ALGS.filter((a) => a !== alg) }),
        [oauth.INVALID_RESPONSE], 'algorithm not allowed');
    });

    it('validateJwtAccessToken refuses an expired token (clock moved past exp)', async () => {
      const { access_token } = await grant('client_secret_basic');
      await rejectsWithCode(validate(access_token, { [oauth.clockSkew]: 2 * 3600 }),
        [oauth.JWT_TIMESTAMP_CHECK], 'expired');
    });

    it('validateJwtAccessToken refuses an altered signature', async () => {
      const { access_token } = await grant('client_secret_basic');
      await assert.rejects(validate(flipSignatureBit(access_token)), (err) => {
        assert.equal(err.code, oauth.INVALID_RESPONSE, `${err?.code}: ${err?.message}`);
        assert.match(err.message, /signature verification failed/);
        return true;
      });
    });

    it('validateJwtAccessToken refuses altered claims', async () => {
      const { access_token } = await grant('client_secret_basic');
      for (const change of [{ scope: 'admin:orgs' }, { sub: '00000000-0000-4000-8000-000000000000' },
        { exp: Math.floor(Date.now() / 1000) + 86400 * 365 }]) {
        await assert.rejects(validate(withClaims(access_token, change)), (err) => {
          assert.match(err.message, /signature verification failed/, `${JSON.stringify(change)}: ${err.message}`);
          return true;
        }, JSON.stringify(change));
      }
    });

    it('validateJwtAccessToken refuses an id_token (typ is not at+jwt)', async () => {
      const res = await requestToken(server, { clientId: agent.clientId, clientSecret: agent.clientSecret, scope: 'openid' });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(typeof res.body.id_token, 'string');
      await assert.rejects(validate(res.body.id_token, {}, as, agent.clientId), (err) => {
        assert.equal(err.code, oauth.INVALID_RESPONSE, `${err?.code}: ${err?.message}`);
        assert.match(err.message, /"typ"/);
        return true;
      });
    });
  });
}
