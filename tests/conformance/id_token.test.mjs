// The id_token issued when the scope includes `openid` (SPEC §2, §5), checked
// with jose and with openid-client's own ID Token validation. This server
// runs with a non-default token lifetime to check that it is honoured.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as jose from 'jose';
import * as client from 'openid-client';

import { startServer } from './lib/server.mjs';
import { ALGORITHMS, adminToken, registerAgent, requestToken, getJson } from './lib/api.mjs';

const TTL_SECONDS = 900;

for (const alg of ALGORITHMS) {
  describe(`id_token [${alg}]`, () => {
    let server;
    let agent;
    let jwks;

    before(async () => {
      server = await startServer({ alg, env: { AGENTIDP_TOKEN_TTL_SECONDS: String(TTL_SECONDS) } });
      agent = await registerAgent(server, await adminToken(server));
      const md = (await getJson(`${server.url}/.well-known/openid-configuration`)).body;
      jwks = jose.createRemoteJWKSet(new URL(md.jwks_uri));
    });
    after(async () => {
      await server?.stop();
    });

    async function verifyIdToken(idToken, clientId) {
      const { payload, protectedHeader } = await jose.jwtVerify(idToken, jwks, {
        issuer: server.issuer, audience: clientId, algorithms: [alg],
      });
      assert.equal(protectedHeader.alg, alg);
      assert.ok(protectedHeader.typ === undefined || protectedHeader.typ === 'JWT',
        `id_token typ must be JWT or absent, got ${protectedHeader.typ}`);
      assert.equal(payload.sub, clientId);
      const aud = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
      assert.ok(aud.includes(clientId));
      if (Array.isArray(payload.aud) && payload.aud.length > 1) {
        assert.equal(payload.azp, clientId, 'azp is required with several audiences (OIDC Core §2)');
      }
      assert.ok(Number.isInteger(payload.iat) && Number.isInteger(payload.exp) && payload.exp > payload.iat);
      return { payload, protectedHeader };
    }

    for (const who of ['agent', 'admin']) {
      it(`scope "openid" yields an id_token for the ${who}, verifiable with jose`, async () => {
        const id = who === 'agent' ? agent.clientId : server.admin.client_id;
        const secret = who === 'agent' ? agent.clientSecret : server.admin.client_secret;
        const res = await requestToken(server, { clientId: id, clientSecret: secret, scope: 'openid' });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.equal(typeof res.body.id_token, 'string', `no id_token in ${JSON.stringify(res.body)}`);
        assert.ok(res.body.scope.split(' ').includes('openid'));
        await verifyIdToken(res.body.id_token, id);
      });
    }

    it('openid-client accepts the id_token in a client_credentials response', async () => {
      const config = await client.discovery(
        new URL(server.issuer), agent.clientId, agent.clientSecret,
        client.ClientSecretBasic(agent.clientSecret), { execute: [client.allowInsecureRequests] },
      );
      const tokens = await client.clientCredentialsGrant(config, { scope: 'openid' });
      assert.equal(typeof tokens.id_token, 'string');
      const claims = tokens.claims();
      assert.equal(claims.sub, agent.clientId);
      assert.equal(claims.iss, server.issuer);
    });

    it('without openid there is no id_token', async () => {
      const all = await requestToken(server, { clientId: agent.clientId, clientSecret: agent.clientSecret });
      assert.equal(all.status, 200);
      const nonOpenid = all.body.scope.split(' ').filter((s) => s !== 'openid');
      assert.ok(nonOpenid.length > 0, `agent holds no scope besides openid: ${all.body.scope}`);
      const res = await requestToken(server, {
        clientId: agent.clientId, clientSecret: agent.clientSecret, scope: nonOpenid[0],
      });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.id_token, undefined);
    });

    it('id_token and access token cannot be confused', async () => {
      const res = await requestToken(server, {
        clientId: agent.clientId, clientSecret: agent.clientSecret, scope: 'openid',
      });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      await assert.rejects(jose.jwtVerify(res.body.id_token, jwks, {
        issuer: server.issuer, typ: 'at+jwt', algorithms: [alg],
      }), /typ/, 'an id_token must not pass as an at+jwt access token');
      await assert.rejects(jose.jwtVerify(res.body.access_token, jwks, {
        issuer: server.issuer, audience: agent.clientId, algorithms: [alg],
      }), 'an access token must not pass as an id_token for the client');
    });

    it(`the configured lifetime (${TTL_SECONDS} s) is honoured`, async () => {
      const res = await requestToken(server, {
        clientId: agent.clientId, clientSecret: agent.clientSecret, scope: 'openid',
      });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.expires_in, TTL_SECONDS);
      const at = jose.decodeJwt(res.body.access_token);
      assert.equal(at.exp - at.iat, TTL_SECONDS);
      const idt = jose.decodeJwt(res.body.id_token);
      assert.ok(idt.exp - idt.iat <= TTL_SECONDS, 'id_token does not outlive the configured lifetime');
    });
  });
}
