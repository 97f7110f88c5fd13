// The client_credentials grant, introspection (RFC 7662) and revocation
// (RFC 7009) driven by openid-client v6, with a freshly registered agent as
// the OAuth client.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as client from 'openid-client';

import { startServer } from './lib/server.mjs';
import { ALGORITHMS, adminToken, registerAgent, introspect, basicAuth } from './lib/api.mjs';

const AUTH_METHODS = {
  client_secret_basic: (secret) => client.ClientSecretBasic(secret),
  client_secret_post: (secret) => client.ClientSecretPost(secret),
};

function scopeSet(scope) {
  return new Set(String(scope ?? '').split(' ').filter(Boolean));
}

for (const alg of ALGORITHMS) {
  describe(`client_credentials with openid-client [${alg}]`, () => {
    let server;
    let agent;
    const configs = {};

    before(async () => {
      server = await startServer({ alg });
      agent = await registerAgent(server, await adminToken(server));
      for (const [name, auth] of Object.entries(AUTH_METHODS)) {
        configs[name] = await client.discovery(
          new URL(server.issuer), agent.clientId, agent.clientSecret, auth(agent.clientSecret),
          { execute: [client.allowInsecureRequests] },
        );
      }
    });
    after(async () => {
      await server?.stop();
    });

    for (const name of Object.keys(AUTH_METHODS)) {
      it(`grant with ${name}, then introspection shows it active`, async () => {
        const config = configs[name];
        const tokens = await client.clientCredentialsGrant(config);
        assert.equal(typeof tokens.access_token, 'string');
        assert.equal(tokens.token_type, 'bearer'); // openid-client lower-cases it
        assert.equal(typeof tokens.expires_in, 'number');
        assert.ok(tokens.expires_in > 0);
        assert.equal(typeof tokens.scope, 'string', 'token response carries scope');
        assert.ok(tokens.scope.length > 0, 'scope is not empty');

        const info = await client.tokenIntrospection(config, tokens.access_token);
        assert.equal(info.active, true, JSON.stringify(info));
        assert.equal(info.sub, agent.agentId);
        assert.equal(info.client_id, agent.clientId);
        assert.deepEqual(scopeSet(info.scope), scopeSet(tokens.scope));
        assert.equal(info.iss, server.issuer);
        assert.equal(typeof info.exp, 'number');
        assert.ok(info.exp > Date.now() / 1000);
      });
    }

    it('token response is not cacheable (Cache-Control: no-store)', async () => {
      const res = await fetch(`${server.url}/api/v1/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'client_credentials', client_id: agent.clientId, client_secret: agent.clientSecret,
        }),
      });
      assert.equal(res.status, 200, await res.clone().text());
      assert.match(res.headers.get('cache-control') ?? '', /no-store/);
    });

    it('a narrower scope request is honoured', async () => {
      const all = await client.clientCredentialsGrant(configs.client_secret_basic);
      const one = [...scopeSet(all.scope)][0];
      const tokens = await client.clientCredentialsGrant(configs.client_secret_basic, { scope: one });
      assert.deepEqual(scopeSet(tokens.scope), new Set([one]));
      const info = await client.tokenIntrospection(configs.client_secret_post, tokens.access_token);
      assert.equal(info.active, true);
      assert.deepEqual(scopeSet(info.scope), new Set([one]));
    });

    it('the admin can introspect the agent\'s token', async () => {
      const tokens = await client.clientCredentialsGrant(configs.client_secret_basic);
      const adminConfig = await client.discovery(
        new URL(server.issuer), server.admin.client_id, server.admin.client_secret,
        client.ClientSecretBasic(server.admin.client_secret),
        { execute: [client.allowInsecureRequests] },
      );
      const info = await client.tokenIntrospection(adminConfig, tokens.access_token);
      assert.equal(info.active, true, JSON.stringify(info));
      assert.equal(info.sub, agent.agentId);
      assert.equal(info.client_id, agent.clientId);
    });

    for (const name of Object.keys(AUTH_METHODS)) {
      it(`tokenRevocation with ${name} makes the token inactive: exactly {"active":false}`, async () => {
        const config = configs[name];
        const tokens = await client.clientCredentialsGrant(config);
        assert.equal((await client.tokenIntrospection(config, tokens.access_token)).active, true);

        await client.tokenRevocation(config, tokens.access_token);

        const info = await client.tokenIntrospection(config, tokens.access_token);
        assert.equal(info.active, false);
        // RFC 7662 §2.2 / SPEC §5: nothing else may be disclosed.
        const raw = await introspect(server, tokens.access_token, agent);
        assert.equal(raw.status, 200);
        assert.deepEqual(raw.body, { active: false });
      });
    }

    it('the /api/v1/oauth2/* aliases behave like the primary endpoints', async () => {
      const headers = {
        authorization: basicAuth(agent.clientId, agent.clientSecret),
        'content-type': 'application/x-www-form-urlencoded',
      };
      const post = (p, form) => fetch(`${server.url}/api/v1/oauth2/${p}`, {
        method: 'POST', headers, body: new URLSearchParams(form),
      });
      let res = await post('token', { grant_type: 'client_credentials' });
      const tok = await res.json();
      assert.equal(res.status, 200, JSON.stringify(tok));
      res = await post('introspect', { token: tok.access_token });
      assert.equal(res.status, 200);
      assert.equal((await res.json()).active, true);
      res = await post('revoke', { token: tok.access_token });
      assert.equal(res.status, 200);
      res = await post('introspect', { token: tok.access_token });
      assert.deepEqual(await res.json(), { active: false });
    });

    it('introspection also accepts a Bearer token holding tokens:read', async () => {
      const tokens = await client.clientCredentialsGrant(configs.client_secret_basic);
      const bearer = await adminToken(server, 'tokens:read');
      const res = await fetch(`${server.url}/api/v1/token/introspect`, {
        method: 'POST',
        headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: tokens.access_token }),
      });
      const body = await res.json();
      assert.equal(res.status, 200, JSON.stringify(body));
      assert.equal(body.active, true);
      assert.equal(body.sub, agent.agentId);
    });

    for (const endpoint of ['introspect', 'revoke']) {
      it(`${endpoint} without any client authentication is 401`, async () => {
        const tokens = await client.clientCredentialsGrant(configs.client_secret_basic);
        const res = await fetch(`${server.url}/api/v1/token/${endpoint}`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ token: tokens.access_token }),
        });
        assert.equal(res.status, 401, await res.text());
        // The token is untouched by the refused call.
        const info = await client.tokenIntrospection(configs.client_secret_basic, tokens.access_token);
        assert.equal(info.active, true);
      });
    }

    it('revoking an unknown token succeeds (RFC 7009 §2.2)', async () => {
      await client.tokenRevocation(configs.client_secret_basic, 'not-a-token-we-ever-issued');
    });

    it('introspecting garbage answers exactly {"active":false}', async () => {
      const info = await client.tokenIntrospection(configs.client_secret_basic, 'garbage.garbage.garbage');
      assert.equal(info.active, false);
      const raw = await introspect(server, 'garbage.garbage.garbage', agent);
      assert.deepEqual(raw.body, { active: false });
    });

    it('a wrong client secret is refused with invalid_client', async () => {
      const wrong = 'sk_live_' + '0'.repeat(64);
      const config = await client.discovery(
        new URL(server.issuer), agent.clientId, wrong, client.ClientSecretBasic(wrong),
        { execute: [client.allowInsecureRequests] },
      );
      let caught;
      await assert.rejects(client.clientCredentialsGrant(config), (err) => {
        caught = err;
        return true;
      });
      // RFC 6749 §5.2: 401 with a WWW-Authenticate challenge for the scheme the
      // client used. openid-client reports that as a challenge error (body
      // unread) rather than as a ResponseBodyError.
      if (caught instanceof client.WWWAuthenticateChallengeError) {
        assert.equal(caught.status, 401);
        assert.ok(caught.cause.some((c) => c.scheme === 'basic'),
          `challenge for Basic expected: ${JSON.stringify(caught.cause)}`);
        const body = await caught.response.json();
        assert.equal(body.error, 'invalid_client');
      } else {
        assert.ok(caught instanceof client.ResponseBodyError, `${caught?.name}: ${caught?.message}`);
        assert.equal(caught.error, 'invalid_client');
        assert.equal(caught.status, 401);
      }
    });
  });
}
