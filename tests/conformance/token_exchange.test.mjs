// RFC 8693 token exchange driven by openid-client's genericGrantRequest, each issued token
// verified with jose (createRemoteJWKSet on the discovered jwks_uri + jwtVerify with pinned
// issuer, audience, typ at+jwt and algorithm), for each signing algorithm:
// - without actor_token: a client narrows its own token (no act);
// - with actor_token: an organization admin acts for another agent (act {sub: admin}), and a
//   second admin exchanges that token again (act nested: {sub: admin2, act: {sub: admin}});
// - a delegation token (A2A delegation) exchanged by its holder keeps the delegation chain;
// - refusals: widened scope or audience, a missing subject_token, an actor_token that is not
//   the caller's, come back as the RFC error codes through openid-client's ResponseBodyError.
// The server runs with a policy whose crossClientExchangeRoles is ["admin"] (config/policy.json
// otherwise), since exchanging another client's token is off by default.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as client from 'openid-client';
import { createRemoteJWKSet, jwtVerify, decodeJwt } from 'jose';

import { startServer } from './lib/server.mjs';
import { ALGORITHMS, adminToken, registerAgent, introspect } from './lib/api.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const AT = 'urn:ietf:params:oauth:token-type:access_token';

async function policyAllowingAdminsToAct() {
  const doc = JSON.parse(await readFile(path.join(here, '../../config/policy.json'), 'utf8'));
  doc.crossClientExchangeRoles = ['admin'];
  const dir = await mkdtemp(path.join(os.tmpdir(), 'agentidp-policy-'));
  const file = path.join(dir, 'policy.json');
  await writeFile(file, JSON.stringify(doc));
  return { dir, file };
}

const scopeSet = (s) => new Set(String(s ?? '').split(' ').filter(Boolean));

for (const alg of ALGORITHMS) {
  describe(`token exchange with openid-client genericGrantRequest, verified by jose [${alg}]`, () => {
    let server;
    let policy;
    let admin;
    let a;
    let boss;
    let boss2;
    let jwks;
    const configs = new Map();

    async function configFor(agent) {
      if (!configs.has(agent.clientId)) {
        configs.set(agent.clientId, await client.discovery(
          new URL(server.issuer), agent.clientId, agent.clientSecret, client.ClientSecretBasic(agent.clientSecret),
          { execute: [client.allowInsecureRequests] },
        ));
      }
      return configs.get(agent.clientId);
    }

    async function tokenOf(agent, scope) {
      return (await client.clientCredentialsGrant(await configFor(agent), scope ? { scope } : {})).access_token;
    }

    function exchange(agent, parameters) {
      return configFor(agent).then((config) => client.genericGrantRequest(config, EXCHANGE, parameters));
    }

    // jose with everything pinned: a token that verifies here verifies at any resource server.
    async function verifyAccessToken(token) {
      const { payload, protectedHeader } = await jwtVerify(token, jwks, {
        issuer: server.issuer,
        audience: `${server.issuer}/api/v1`,
        typ: 'at+jwt',
        algorithms: [alg],
      });
      assert.equal(protectedHeader.alg, alg);
      return payload;
    }

    async function assertRefused(promise, error) {
      await assert.rejects(promise, (err) => {
        assert.ok(err instanceof client.ResponseBodyError, `${err?.name}: ${err?.message}`);
        assert.equal(err.status, 400);
        assert.equal(err.error, error, JSON.stringify(err.cause));
        return true;
      });
    }

    before(async () => {
      policy = await policyAllowingAdminsToAct();
      server = await startServer({ alg, env: { AGENTIDP_POLICY_FILE: policy.file } });
      admin = await adminToken(server);
      a = await registerAgent(server, admin);
      boss = await registerAgent(server, admin, { role: 'admin' });
      boss2 = await registerAgent(server, admin, { role: 'admin' });
      const metadata = (await configFor(a)).serverMetadata();
      assert.ok(metadata.grant_types_supported.includes(EXCHANGE));
      jwks = createRemoteJWKSet(new URL(metadata.jwks_uri));
    });
    after(async () => {
      await server?.stop();
      if (policy) await rm(policy.dir, { recursive: true, force: true });
    });

    it('without actor_token: the client narrows its own token; no act claim', async () => {
      const subject = await tokenOf(a, 'agents:read tokens:read');
      const subjectClaims = await verifyAccessToken(subject);
      const res = await exchange(a, { subject_token: subject, subject_token_type: AT, scope: 'agents:read' });
      assert.equal(res.token_type, 'bearer');
      assert.equal(res.issued_token_type, AT);
      assert.equal(res.scope, 'agents:read');
      assert.ok(res.expires_in > 0);
      const c = await verifyAccessToken(res.access_token);
      assert.equal(c.sub, a.agentId);
      assert.equal(c.client_id, a.clientId);
      assert.equal(c.scope, 'agents:read');
      assert.equal(c.organization_id, subjectClaims.organization_id);
      assert.equal(c.act, undefined);
      assert.notEqual(c.jti, subjectClaims.jti);
      assert.ok(c.exp <= subjectClaims.exp, 'never outlives the subject token');
    });

    it('with actor_token: an admin acts for the agent (act), and a second hop nests act', async () => {
      const subject = await tokenOf(a, 'agents:read tokens:read');
      const actor = await tokenOf(boss, 'agents:read');
      const first = await exchange(boss, {
        subject_token: subject, subject_token_type: AT, actor_token: actor, actor_token_type: AT, scope: 'agents:read tokens:read',
      });
      const c1 = await verifyAccessToken(first.access_token);
      assert.equal(c1.sub, a.agentId, 'the subject stays the principal');
      assert.equal(c1.client_id, boss.clientId);
      assert.deepEqual(c1.act, { sub: boss.agentId });
      assert.deepEqual(scopeSet(c1.scope), scopeSet('agents:read tokens:read'));

      const actor2 = await tokenOf(boss2, 'agents:read');
      const second = await exchange(boss2, {
        subject_token: first.access_token, subject_token_type: AT, actor_token: actor2, actor_token_type: AT, scope: 'tokens:read',
      });
      const c2 = await verifyAccessToken(second.access_token);
      assert.equal(c2.sub, a.agentId);
      assert.equal(c2.client_id, boss2.clientId);
      assert.equal(c2.scope, 'tokens:read');
      assert.deepEqual(c2.act, { sub: boss2.agentId, act: { sub: boss.agentId } }, 'current actor outermost (RFC 8693 §4.1)');
      assert.ok(c2.exp <= c1.exp);

      // Introspection shows the same chain to a resource server that asks.
      const info = await introspect(server, second.access_token, { clientId: a.clientId, clientSecret: a.clientSecret });
      assert.equal(info.body.active, true, JSON.stringify(info.body));
      assert.deepEqual(info.body.act, c2.act);
    });

    it('a delegation token exchanged by its holder keeps sub, act and the delegation chain', async () => {
      const b = await registerAgent(server, admin);
      const res = await fetch(`${server.url}/api/v1/oauth2/token/delegate`, {
        method: 'POST',
        headers: { authorization: `Bearer ${await tokenOf(a, 'agents:read tokens:read')}`, 'content-type': 'application/json' },
        body: JSON.stringify({ delegateeAgentId: b.agentId, scopes: ['agents:read', 'tokens:read'], ttlSeconds: 600 }),
      });
      const delegation = await res.json();
      assert.equal(res.status, 201, JSON.stringify(delegation));
      const d = await verifyAccessToken(delegation.delegationToken);
      assert.deepEqual(d.act, { sub: b.agentId });

      const exchanged = await exchange(b, { subject_token: delegation.delegationToken, subject_token_type: AT, scope: 'agents:read' });
      const c = await verifyAccessToken(exchanged.access_token);
      assert.equal(c.sub, a.agentId);
      assert.equal(c.client_id, b.clientId);
      assert.equal(c.scope, 'agents:read');
      assert.deepEqual(c.act, d.act);
      assert.deepEqual(c.delegation_chain, [delegation.chainId]);
      assert.ok(c.exp <= d.exp);
    });

    it('refusals come back as RFC error codes', async () => {
      const subject = await tokenOf(a, 'agents:read');
      await assertRefused(exchange(a, { subject_token: subject, subject_token_type: AT, scope: 'agents:read agents:write' }), 'invalid_scope');
      await assertRefused(exchange(a, { subject_token: subject, subject_token_type: AT, audience: 'https://elsewhere.example' }), 'invalid_target');
      await assertRefused(exchange(a, { subject_token_type: AT }), 'invalid_request');
      await assertRefused(exchange(a, { subject_token: '', subject_token_type: AT }), 'invalid_request');
      // The actor token must be the caller's own.
      await assertRefused(exchange(boss, { subject_token: subject, subject_token_type: AT, actor_token: subject, actor_token_type: AT }), 'invalid_request');
    });

    it('jose refuses an exchanged token for another audience, issuer or algorithm', async () => {
      const res = await exchange(a, { subject_token: await tokenOf(a, 'agents:read'), subject_token_type: AT });
      const t = res.access_token;
      assert.equal(decodeJwt(t).sub, a.agentId);
      await assert.rejects(jwtVerify(t, jwks, { issuer: server.issuer, audience: 'https://elsewhere.example', typ: 'at+jwt', algorithms: [alg] }), { code: 'ERR_JWT_CLAIM_VALIDATION_FAILED' });
      await assert.rejects(jwtVerify(t, jwks, { issuer: 'https://elsewhere.example', audience: `${server.issuer}/api/v1`, typ: 'at+jwt', algorithms: [alg] }), { code: 'ERR_JWT_CLAIM_VALIDATION_FAILED' });
      const otherAlg = alg === 'ES256' ? 'RS256' : 'ES256';
      await assert.rejects(jwtVerify(t, jwks, { issuer: server.issuer, audience: `${server.issuer}/api/v1`, typ: 'at+jwt', algorithms: [otherAlg] }), { code: 'ERR_JOSE_ALG_NOT_ALLOWED' });
      await assert.rejects(jwtVerify(t, jwks, { issuer: server.issuer, audience: `${server.issuer}/api/v1`, typ: 'JWT', algorithms: [alg] }), { code: 'ERR_JWT_CLAIM_VALIDATION_FAILED' });
    });
  });
}
