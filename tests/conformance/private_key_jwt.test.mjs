// private_key_jwt client authentication (RFC 7523) and DPoP (RFC 9449) driven by
// openid-client v6, unmodified: client_credentials with PrivateKeyJwt for a key
// of each algorithm, sender-constrained tokens through getDPoPHandle (including
// the use_dpop_nonce retry against a server that requires nonces), and the bound
// token used at GET /agent-info with fetchProtectedResource.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as client from 'openid-client';
import * as jose from 'jose';

import { startServer } from './lib/server.mjs';
import { ALGORITHMS, adminToken, getJson } from './lib/api.mjs';
import {
  CLIENT_ALGS, newKey, registerKeyAgent, thumbprint, b64uJson, postCredential,
} from './lib/pkjwt.mjs';

const INSECURE = { execute: [client.allowInsecureRequests] };

// oauth4webapi (under openid-client) labels Ed25519 signatures with the fully
// specified "Ed25519" of RFC 9864; AgentIdP accepts both that and "EdDSA". The
// default label is what the clients send; EDDSA_LABEL (the library's own
// modifyAssertion option) exercises the classic "EdDSA" name as well.
const EDDSA_LABEL = {
  [client.modifyAssertion]: (header) => {
    if (header.alg === 'Ed25519') header.alg = 'EdDSA';
  },
};
const labelFor = (alg) => (alg === 'EdDSA' ? EDDSA_LABEL : undefined);

function discover(server, agent, key, options = labelFor(key.alg)) {
  return client.discovery(
    new URL(server.issuer), agent.clientId, undefined,
    client.PrivateKeyJwt({ key: key.privateKey, kid: key.kid }, options), INSECURE,
  );
}

function dpopHandle(config, key, options = labelFor(key.alg)) {
  return client.getDPoPHandle(config, { privateKey: key.privateKey, publicKey: key.publicKey }, options);
}

// The status and OAuth error code of a rejected openid-client call (a 401 comes
// as a WWW-Authenticate challenge error with the response attached).
async function expectOAuthError(promise, status, code) {
  let err;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  assert.ok(err, `expected HTTP ${status} ${code}, the call succeeded`);
  assert.equal(err.status, status, `${err.name}: ${err.message}`);
  const error = err.error ?? (await err.response?.clone().json().catch(() => undefined))?.error;
  assert.equal(error, code, `${err.name}: ${err.message}`);
}

// Records every request a Configuration makes and the status it got.
function recordExchanges(config) {
  const log = [];
  config[client.customFetch] = async (url, options) => {
    const res = await fetch(url, options);
    const form = typeof options.body === 'string' || options.body instanceof URLSearchParams
      ? new URLSearchParams(options.body) : undefined;
    log.push({
      url: String(url),
      method: options.method,
      status: res.status,
      dpop: new Headers(options.headers).get('dpop'),
      assertion: form?.get('client_assertion') ?? undefined,
      nonce: res.headers.get('dpop-nonce'),
      error: res.status >= 400 ? await res.clone().text() : undefined,
    });
    return res;
  };
  return log;
}

async function agentInfo(config, server, token, dpop) {
  const res = await client.fetchProtectedResource(
    config, token, new URL(`${server.issuer}/agent-info`), 'GET', null, undefined, dpop ? { DPoP: dpop } : undefined,
  );
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  return body;
}

for (const alg of ALGORITHMS) {
  describe(`private_key_jwt and DPoP with openid-client [server ${alg}]`, () => {
    let server;
    let admin;
    let agent;
    const keys = {};
    const configs = {};

    before(async () => {
      server = await startServer({ alg });
      admin = await adminToken(server);
      for (const a of CLIENT_ALGS) keys[a] = await newKey(a);
      agent = await registerKeyAgent(server, admin, { keys: Object.values(keys) });
      for (const a of CLIENT_ALGS) configs[a] = await discover(server, agent, keys[a]);
    });
    after(async () => {
      await server?.stop();
    });

    it('discovery advertises private_key_jwt and exactly the verifier\'s algorithms', async () => {
      const meta = configs.ES256.serverMetadata();
      assert.ok(meta.token_endpoint_auth_methods_supported.includes('private_key_jwt'));
      assert.deepEqual([...meta.token_endpoint_auth_signing_alg_values_supported].sort(), ['ES256', 'Ed25519', 'EdDSA', 'RS256']);
      assert.deepEqual([...meta.dpop_signing_alg_values_supported].sort(), ['ES256', 'Ed25519', 'EdDSA', 'RS256']);
    });

    it('the credential holds the public set only, and no secret', () => {
      assert.equal(agent.credential.type, 'private_key_jwt');
      assert.equal(agent.credential.clientSecret, undefined);
      assert.equal(agent.credential.jwks.keys.length, CLIENT_ALGS.length);
      for (const k of agent.credential.jwks.keys) {
        for (const priv of ['d', 'p', 'q', 'dp', 'dq', 'qi']) assert.equal(k[priv], undefined, `${k.kid} echoes ${priv}`);
      }
    });

    for (const keyAlg of CLIENT_ALGS) {
      it(`clientCredentialsGrant with PrivateKeyJwt (${keyAlg} client key), then introspection`, async () => {
        const tokens = await client.clientCredentialsGrant(configs[keyAlg]);
        assert.equal(tokens.token_type, 'bearer');
        assert.equal(typeof tokens.access_token, 'string');
        const claims = b64uJson(tokens.access_token.split('.')[1]);
        assert.equal(claims.sub, agent.agentId);
        assert.equal(claims.client_id, agent.clientId);
        assert.equal(claims.cnf, undefined, 'no DPoP, no cnf');

        // Introspection authenticated with private_key_jwt as well.
        const info = await client.tokenIntrospection(configs[keyAlg], tokens.access_token);
        assert.equal(info.active, true, JSON.stringify(info));
        assert.equal(info.client_id, agent.clientId);
        assert.equal(info.token_type, 'Bearer');

        assert.equal((await agentInfo(configs[keyAlg], server, tokens.access_token)).sub, agent.agentId);
      });
    }

    for (const typ of ['JWT', 'client-authentication+jwt']) {
      it(`an assertion typed ${typ} is accepted (modifyAssertion)`, async () => {
        const config = await discover(server, agent, keys.EdDSA, {
          [client.modifyAssertion]: (header) => {
            EDDSA_LABEL[client.modifyAssertion](header);
            header.typ = typ;
          },
        });
        const log = recordExchanges(config);
        const tokens = await client.clientCredentialsGrant(config);
        assert.equal(typeof tokens.access_token, 'string');
        const sent = log.find((e) => e.assertion);
        assert.equal(jose.decodeProtectedHeader(sent.assertion).typ, typ);
      });
    }

    for (const dpopAlg of ['ES256', 'EdDSA', 'RS256']) {
      it(`DPoP (${dpopAlg} proof key): token_type DPoP, cnf.jkt, introspection, fetchProtectedResource`, async () => {
        const config = configs.ES256;
        const dpopKey = await newKey(dpopAlg);
        const dpop = dpopHandle(config, dpopKey);
        const tokens = await client.clientCredentialsGrant(config, {}, { DPoP: dpop });
        assert.equal(tokens.token_type, 'dpop'); // openid-client lower-cases it
        const claims = b64uJson(tokens.access_token.split('.')[1]);
        assert.equal(claims.cnf?.jkt, await thumbprint(dpopKey));

        const info = await client.tokenIntrospection(config, tokens.access_token);
        assert.equal(info.active, true);
        assert.equal(info.token_type, 'DPoP');
        assert.deepEqual(info.cnf, { jkt: claims.cnf.jkt });

        const me = await agentInfo(config, server, tokens.access_token, dpop);
        assert.equal(me.sub, agent.agentId);
        // Each request carries a fresh proof: a second call works too.
        assert.equal((await agentInfo(config, server, tokens.access_token, dpop)).sub, agent.agentId);
      });
    }

    it('fetchProtectedResource without the DPoP handle cannot use a bound token', async () => {
      const config = configs.ES256;
      const dpopKey = await newKey('ES256');
      const dpop = dpopHandle(config, dpopKey);
      const tokens = await client.clientCredentialsGrant(config, {}, { DPoP: dpop });
      await assert.rejects(
        client.fetchProtectedResource(config, tokens.access_token, new URL(`${server.issuer}/agent-info`), 'GET'),
        (err) => {
          assert.equal(err.status, 401, err.message);
          return true;
        },
      );
    });

    it('rotating the credential replaces the key set: the old key stops working at once', async () => {
      const oldKey = await newKey('ES256');
      const own = await registerKeyAgent(server, admin, { keys: [oldKey] });
      const before_ = await discover(server, own, oldKey);
      await client.clientCredentialsGrant(before_);

      const newKey_ = await newKey('EdDSA');
      const res = await fetch(
        `${server.url}/api/v1/agents/${own.agentId}/credentials/${own.credential.credentialId}/rotate`, {
          method: 'POST',
          headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
          body: JSON.stringify({ jwks: { keys: [newKey_.publicJwk] } }),
        });
      const rotated = await res.json();
      assert.equal(res.status, 200, JSON.stringify(rotated));
      assert.equal(rotated.clientSecret, undefined);
      assert.deepEqual(rotated.jwks.keys.map((k) => k.kid), [newKey_.kid]);

      await expectOAuthError(client.clientCredentialsGrant(before_), 401, 'invalid_client');
      const tokens = await client.clientCredentialsGrant(await discover(server, own, newKey_));
      assert.equal(typeof tokens.access_token, 'string');
    });

    // The client side does not depend on the server's algorithm: once.
    if (alg === ALGORITHMS[0]) {
      it('an Ed25519 client key with openid-client\'s default alg label (RFC 9864 "Ed25519")', async () => {
        const config = await discover(server, agent, keys.EdDSA, {});
        const log = recordExchanges(config);
        await client.clientCredentialsGrant(config).catch(() => {});
        const sent = log.find((e) => e.assertion);
        assert.equal(jose.decodeProtectedHeader(sent.assertion).alg, 'Ed25519');
        assert.equal(sent.status, 200, sent.error);
      });

      it('an Ed25519 DPoP key with openid-client\'s default alg label (RFC 9864 "Ed25519")', async () => {
        const config = await discover(server, agent, keys.ES256);
        const log = recordExchanges(config);
        try {
          await client.clientCredentialsGrant(config, {}, { DPoP: dpopHandle(config, await newKey('EdDSA'), {}) });
        } catch { /* looked at below */ }
        const sent = log.find((e) => e.dpop);
        assert.equal(jose.decodeProtectedHeader(sent.dpop).alg, 'Ed25519');
        assert.equal(sent.status, 200, sent.error);
      });
    }

    it('a credential refuses private members, missing kid or alg, unknown algorithms, repeated kids', async () => {
      const agentNoKeys = await registerKeyAgent(server, admin, { keys: [await newKey('ES256')] });
      const k = await newKey('ES256');
      const { kid: _kid, ...noKid } = k.publicJwk;
      const { alg: _alg, ...noAlg } = k.publicJwk;
      const bad = {
        'private key': { keys: [k.privateJwk] },
        'no kid': { keys: [noKid] },
        'no alg': { keys: [noAlg] },
        'alg ES384': { keys: [{ ...k.publicJwk, alg: 'ES384' }] },
        'alg HS256': { keys: [{ ...k.publicJwk, alg: 'HS256' }] },
        'repeated kid': { keys: [k.publicJwk, { ...(await newKey('EdDSA', k.kid)).publicJwk }] },
        'symmetric key': { keys: [{ kty: 'oct', k: 'c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ', kid: 'h', alg: 'HS256' }] },
        'empty set': { keys: [] },
      };
      for (const [what, jwks] of Object.entries(bad)) {
        const res = await postCredential(server, admin, agentNoKeys.agentId, { type: 'private_key_jwt', jwks });
        assert.equal(res.status, 400, `${what}: ${res.text}`);
        assert.equal(res.body.code, 'VALIDATION_ERROR', what);
      }
      for (const jwksUri of ['http://keys.example.test/jwks', 'not a url', 'https://user:pw@keys.example.test/jwks']) {
        const res = await postCredential(server, admin, agentNoKeys.agentId, { type: 'private_key_jwt', jwksUri });
        assert.equal(res.status, 400, `${jwksUri}: ${res.text}`);
        assert.equal(res.body.code, 'VALIDATION_ERROR', jwksUri);
      }
    });
  });
}

describe('DPoP nonces with openid-client (AGENTIDP_DPOP_NONCE=true)', () => {
  let server;
  let agent;
  let key;

  before(async () => {
    server = await startServer({ alg: ALGORITHMS[0], env: { AGENTIDP_DPOP_NONCE: 'true' } });
    key = await newKey('ES256');
    agent = await registerKeyAgent(server, await adminToken(server), { keys: [key] });
  });
  after(async () => {
    await server?.stop();
  });

  it('the token request is retried with the nonce from use_dpop_nonce, and the token is bound', async () => {
    const config = await discover(server, agent, key);
    const log = recordExchanges(config);
    const dpopKey = await newKey('EdDSA');
    const dpop = dpopHandle(config, dpopKey);
    const tokens = await client.clientCredentialsGrant(config, {}, { DPoP: dpop });
    assert.equal(tokens.token_type, 'dpop');

    const tokenCalls = log.filter((e) => e.url.endsWith('/api/v1/token'));
    assert.equal(tokenCalls.length, 2, JSON.stringify(tokenCalls));
    const [first, second] = tokenCalls;
    assert.equal(first.status, 400);
    assert.equal(JSON.parse(first.error).error, 'use_dpop_nonce');
    assert.ok(first.nonce, 'the use_dpop_nonce answer carries DPoP-Nonce');
    assert.equal(jose.decodeJwt(first.dpop).nonce, undefined);
    assert.equal(second.status, 200);
    assert.equal(jose.decodeJwt(second.dpop).nonce, first.nonce);
    assert.ok(second.nonce, 'a successful DPoP token response carries DPoP-Nonce');

    assert.equal(b64uJson(tokens.access_token.split('.')[1]).cnf.jkt, await thumbprint(dpopKey));
    // The handle now holds the nonce: the resource call needs no retry.
    const before_ = log.length;
    assert.equal((await agentInfo(config, server, tokens.access_token, dpop)).sub, agent.agentId);
    assert.deepEqual(log.slice(before_).map((e) => e.status), [200]);
  });

  it('fetchProtectedResource retries after 401 use_dpop_nonce at GET /agent-info', async () => {
    const config = await discover(server, agent, key);
    const dpopKey = await newKey('ES256');
    const tokens = await client.clientCredentialsGrant(config, {}, { DPoP: dpopHandle(config, dpopKey) });

    // A new handle for the same key knows no nonce yet.
    const log = recordExchanges(config);
    const fresh = dpopHandle(config, dpopKey);
    assert.equal((await agentInfo(config, server, tokens.access_token, fresh)).sub, agent.agentId);
    const calls = log.filter((e) => e.url.endsWith('/agent-info'));
    assert.deepEqual(calls.map((e) => e.status), [401, 200], JSON.stringify(calls));
    assert.ok(calls[0].nonce, '401 use_dpop_nonce carries DPoP-Nonce');
    assert.equal(jose.decodeJwt(calls[1].dpop).nonce, calls[0].nonce);
  });
});
