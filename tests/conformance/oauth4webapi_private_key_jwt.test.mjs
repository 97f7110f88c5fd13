// private_key_jwt (RFC 7523) and DPoP (RFC 9449) driven by oauth4webapi v3,
// unmodified: client_credentials with PrivateKeyJwt, a DPoP(...) handle with the
// use_dpop_nonce retry the library documents (isDPoPNonceError), the bound token
// at GET /agent-info through protectedResourceRequest, and the library's
// resource-server side, validateJwtAccessToken, on the very requests the server
// accepted (signature, RFC 9068 claims, and for DPoP the proof, ath and cnf.jkt).

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as oauth from 'oauth4webapi';
import * as jose from 'jose';

import { startServer } from './lib/server.mjs';
import { ALGORITHMS, adminToken } from './lib/api.mjs';
import { CLIENT_ALGS, newKey, registerKeyAgent, thumbprint } from './lib/pkjwt.mjs';

// http://127.0.0.1 is what the test server listens on: every request opts in.
const INSECURE = { [oauth.allowInsecureRequests]: true };
// oauth4webapi labels Ed25519 signatures "Ed25519" (RFC 9864); the server takes
// "EdDSA" (see private_key_jwt.test.mjs): the library's modifyAssertion relabels.
const EDDSA_LABEL = {
  [oauth.modifyAssertion]: (header) => {
    if (header.alg === 'Ed25519') header.alg = 'EdDSA';
  },
};
const labelFor = (alg) => (alg === 'EdDSA' ? EDDSA_LABEL : undefined);

function keyPair(key) {
  return { privateKey: key.privateKey, publicKey: key.publicKey };
}

for (const alg of ALGORITHMS) {
  describe(`private_key_jwt and DPoP with oauth4webapi [server ${alg}]`, () => {
    let server;
    let agent;
    let as;
    let client;
    let audience;
    const keys = {};

    before(async () => {
      server = await startServer({ alg });
      for (const a of CLIENT_ALGS) keys[a] = await newKey(a);
      agent = await registerKeyAgent(server, await adminToken(server), { keys: Object.values(keys) });
      const issuer = new URL(server.issuer);
      as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, INSECURE));
      client = { client_id: agent.clientId };
      audience = `${server.issuer}/api/v1`;
    });
    after(async () => {
      await server?.stop();
    });

    function auth(keyAlg) {
      const key = keys[keyAlg];
      return oauth.PrivateKeyJwt({ key: key.privateKey, kid: key.kid }, labelFor(keyAlg));
    }

    async function grant(keyAlg, DPoP) {
      const res = await oauth.clientCredentialsGrantRequest(as, client, auth(keyAlg), {}, { ...INSECURE, DPoP });
      return oauth.processClientCredentialsResponse(as, client, res);
    }

    // protectedResourceRequest, keeping the exact Request it sent.
    async function resource(token, path, DPoP) {
      let sent;
      const res = await oauth.protectedResourceRequest(token, 'GET', new URL(`${server.issuer}${path}`), undefined, null, {
        ...INSECURE,
        DPoP,
        [oauth.customFetch]: (url, init) => {
          sent = new Request(url, init);
          return fetch(url, init);
        },
      });
      return { res, sent };
    }

    function validate(request, options = {}) {
      return oauth.validateJwtAccessToken(as, request, audience, { ...INSECURE, signingAlgorithms: [alg], ...options });
    }

    for (const keyAlg of CLIENT_ALGS) {
      it(`PrivateKeyJwt (${keyAlg} client key): token, validateJwtAccessToken, /agent-info`, async () => {
        const tokens = await grant(keyAlg);
        assert.equal(tokens.token_type, 'bearer');
        const { res, sent } = await resource(tokens.access_token, '/agent-info');
        assert.equal(res.status, 200, await res.clone().text());
        assert.equal((await res.json()).sub, agent.agentId);

        const claims = await validate(sent);
        assert.equal(claims.sub, agent.agentId);
        assert.equal(claims.client_id, agent.clientId);
        assert.equal(claims.iss, server.issuer);
        assert.equal(claims.cnf, undefined);
      });
    }

    it('the assertion oauth4webapi sends has aud = issuer (a string), iss = sub = client_id, a jti, and no typ', async () => {
      let assertion;
      const res = await oauth.clientCredentialsGrantRequest(as, client, auth('ES256'), {}, {
        ...INSECURE,
        [oauth.customFetch]: (url, init) => {
          assertion = new URLSearchParams(init.body).get('client_assertion');
          return fetch(url, init);
        },
      });
      await oauth.processClientCredentialsResponse(as, client, res);
      const header = jose.decodeProtectedHeader(assertion);
      const claims = jose.decodeJwt(assertion);
      assert.deepEqual({ alg: header.alg, kid: header.kid, typ: header.typ }, { alg: 'ES256', kid: keys.ES256.kid, typ: undefined });
      assert.equal(claims.aud, server.issuer);
      assert.equal(claims.iss, agent.clientId);
      assert.equal(claims.sub, agent.clientId);
      assert.equal(typeof claims.jti, 'string');
    });

    for (const dpopAlg of ['ES256', 'EdDSA', 'RS256']) {
      it(`DPoP (${dpopAlg} proof key): bound token, protectedResourceRequest, validateJwtAccessToken with the proof`, async () => {
        const dpopKey = await newKey(dpopAlg);
        const DPoP = oauth.DPoP(client, keyPair(dpopKey), labelFor(dpopAlg));
        const tokens = await grant('EdDSA', DPoP);
        assert.equal(tokens.token_type, 'dpop');

        for (const path of ['/agent-info', '/api/v1/agents']) {
          const { res, sent } = await resource(tokens.access_token, path, DPoP);
          assert.equal(res.status, 200, `${path}: ${await res.clone().text()}`);
          assert.match(sent.headers.get('authorization'), /^DPoP /);
          // oauth4webapi's resource-server checks on the request the server took.
          const claims = await validate(sent, { requireDPoP: true, signingAlgorithms: [alg, dpopAlg] });
          assert.equal(claims.cnf.jkt, await thumbprint(dpopKey));
          assert.equal(claims.sub, agent.agentId);
        }
      });
    }

    it('a bound token sent as Bearer: oauth4webapi and the server both refuse it', async () => {
      const DPoP = oauth.DPoP(client, keyPair(await newKey('ES256')));
      const tokens = await grant('RS256', DPoP);
      const request = new Request(`${server.issuer}/agent-info`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
      await assert.rejects(validate(request), (err) => {
        assert.match(err.message, /DPoP/);
        return true;
      });
      const res = await fetch(request);
      assert.equal(res.status, 401);
      assert.match(res.headers.get('www-authenticate') ?? '', /^DPoP error="invalid_token"/);
    });
  });
}

describe('DPoP nonces with oauth4webapi (AGENTIDP_DPOP_NONCE=true)', () => {
  let server;
  let agent;
  let key;
  let as;
  let client;

  before(async () => {
    server = await startServer({ alg: ALGORITHMS[0], env: { AGENTIDP_DPOP_NONCE: 'true' } });
    key = await newKey('ES256');
    agent = await registerKeyAgent(server, await adminToken(server), { keys: [key] });
    const issuer = new URL(server.issuer);
    as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, INSECURE));
    client = { client_id: agent.clientId };
  });
  after(async () => {
    await server?.stop();
  });

  const auth = () => oauth.PrivateKeyJwt({ key: key.privateKey, kid: key.kid });

  it('token request: use_dpop_nonce, isDPoPNonceError, retry with the nonce, bound token', async () => {
    const dpopKey = await newKey('ES256');
    const DPoP = oauth.DPoP(client, keyPair(dpopKey));
    const attempt = async () => oauth.processClientCredentialsResponse(
      as, client, await oauth.clientCredentialsGrantRequest(as, client, auth(), {}, { ...INSECURE, DPoP }),
    );
    let first;
    try {
      await attempt();
    } catch (err) {
      first = err;
    }
    assert.ok(first, 'the first DPoP token request without a nonce must fail');
    assert.equal(oauth.isDPoPNonceError(first), true, `${first.name}: ${first.message}`);
    assert.equal(first.status, 400);
    assert.equal(first.error, 'use_dpop_nonce');
    assert.ok(first.response.headers.get('dpop-nonce'));

    const tokens = await attempt(); // the handle cached the nonce from the error response
    assert.equal(tokens.token_type, 'dpop');
    assert.equal(jose.decodeJwt(tokens.access_token).cnf.jkt, await thumbprint(dpopKey));
  });

  it('protected resource: 401 use_dpop_nonce, isDPoPNonceError, retry; validateJwtAccessToken on the retry', async () => {
    const dpopKey = await newKey('ES256');
    const tokens = await (async () => {
      const DPoP = oauth.DPoP(client, keyPair(dpopKey));
      for (let i = 0; ; i++) {
        try {
          return await oauth.processClientCredentialsResponse(
            as, client, await oauth.clientCredentialsGrantRequest(as, client, auth(), {}, { ...INSECURE, DPoP }),
          );
        } catch (err) {
          if (i > 0 || !oauth.isDPoPNonceError(err)) throw err;
        }
      }
    })();

    const DPoP = oauth.DPoP(client, keyPair(dpopKey)); // knows no nonce yet
    let sent;
    const call = () => oauth.protectedResourceRequest(
      tokens.access_token, 'GET', new URL(`${server.issuer}/agent-info`), undefined, null, {
        ...INSECURE,
        DPoP,
        [oauth.customFetch]: (url, init) => {
          sent = new Request(url, init);
          return fetch(url, init);
        },
      },
    );
    let first;
    try {
      await call();
    } catch (err) {
      first = err;
    }
    assert.ok(first, 'the first resource request without a nonce must fail');
    assert.equal(oauth.isDPoPNonceError(first), true, `${first.name}: ${first.message}`);
    assert.equal(first.status, 401);
    assert.ok(first.response.headers.get('dpop-nonce'));

    const res = await call();
    assert.equal(res.status, 200);
    assert.equal((await res.json()).sub, agent.agentId);
    assert.equal(jose.decodeJwt(sent.headers.get('dpop')).nonce, first.response.headers.get('dpop-nonce'));
    const claims = await oauth.validateJwtAccessToken(as, sent, `${server.issuer}/api/v1`, { ...INSECURE, requireDPoP: true });
    assert.equal(claims.sub, agent.agentId);
  });
});
