// Hostile requests: forged, replayed, mistyped, mis-audienced and malformed client
// assertions (RFC 7523), DPoP proofs (RFC 9449) and bearer tokens (RFC 6750),
// built with jose (SignJWT, UnsecuredJWT, generateKeyPair, exportJWK) and, for the
// malformed ones, by string surgery over exact bytes. Each case asserts the HTTP
// status and the RFC error code, and that nothing is answered with a 5xx.
//
// A loopback trap (lib/trap.mjs) is referenced from every place an attacker can
// put a URL: jku / x5u headers of assertions, proofs and tokens, jwk members,
// client ids and issuers that look like URLs, and the jwksUri of registered
// credentials on a server without AGENTIDP_OUTBOUND_ALLOW_PRIVATE. The last case
// asserts that the trap saw no connection at all. A control case shows that the
// trap does see the connection when the server is told to allow private
// destinations.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID, createPublicKey, generateKeyPairSync, sign as nodeSign } from 'node:crypto';
import http from 'node:http';
import * as jose from 'jose';

import { startServer } from './lib/server.mjs';
import { ALGORITHMS, adminToken, basicAuth, requestToken } from './lib/api.mjs';
import { startTrap } from './lib/trap.mjs';
import {
  newKey, registerKeyAgent, postCredential, signAssertion, assertionClaims, assertionForm, tokenRequest,
  dpopProof, resourceRequest, challenge, rawSign, rawSignature, b64u, b64uJson, now, ath, ASSERTION_TYPE,
} from './lib/pkjwt.mjs';

// Many failures for one client in a few seconds: no slow-down or rate limit
// should decide an answer here, the verifiers should.
const QUIET = {
  AGENTIDP_AUTH_FAILURES_BEFORE_SLOWDOWN: '1000',
  AGENTIDP_RATE_LIMIT_PER_MINUTE: '1000000',
  AGENTIDP_API_RATE_LIMIT_PER_MINUTE: '1000000',
};

const B64U = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

// Sets an unused low bit of the last character: decodes to the same bytes in a
// lenient decoder, so only a strict one (RFC 7515 §2, RFC 4648 §3.5) refuses it.
function nonCanonical(segment) {
  const r = segment.length % 4;
  assert.ok(r === 2 || r === 3, `segment length ${segment.length} has no spare bits`);
  const last = B64U.indexOf(segment.at(-1));
  const tweaked = segment.slice(0, -1) + B64U[last | 1];
  assert.notEqual(tweaked, segment);
  assert.deepEqual(Buffer.from(tweaked, 'base64url'), Buffer.from(segment, 'base64url'), 'same bytes to a lenient decoder');
  return tweaked;
}

const parts = (jwt) => jwt.split('.');
const pem = (jwk) => createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'pem' });

// A POST with exact header lines (an array value sends the header repeatedly).
function rawPost(url, body, headers) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers: { 'content-length': Buffer.byteLength(body), ...headers } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let parsed;
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = text;
        }
        resolve({ status: res.statusCode, headers: new Headers(Object.entries(res.headers).map(([k, v]) => [k, String(v)])), text, body: parsed });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

// --- assertions on answers -------------------------------------------------------

let hostileCount = 0;
// One hostile case: a test of its own, counted.
function hostile(name, fn, options = {}) {
  hostileCount += 1;
  it(name, options, fn);
}

function notServerError(res, what) {
  assert.ok(res.status < 500, `${what}: a hostile request must never get a 5xx; got ${res.status} ${res.text}`);
}

// An OAuth endpoint's error: exact status and RFC error code in the body.
function refused(res, status, code, what = '') {
  notServerError(res, what);
  assert.equal(res.status, status, `${what}: ${res.text}`);
  assert.equal(res.body?.error, code, `${what}: ${res.text}`);
  assert.equal(res.body?.access_token, undefined);
}

// A protected resource's 401: the RFC error code in the WWW-Authenticate
// challenge of `scheme` (RFC 6750 §3, RFC 9449 §7.1).
function challenged(res, scheme, code, what = '') {
  notServerError(res, what);
  assert.equal(res.status, 401, `${what}: ${res.text}`);
  const params = challenge(res.headers, scheme);
  assert.ok(params, `${what}: expected a ${scheme} challenge, got WWW-Authenticate: ${res.headers.get('www-authenticate')}`);
  assert.equal(params.error, code, `${what}: WWW-Authenticate: ${res.headers.get('www-authenticate')}`);
}

// --- the suite -------------------------------------------------------------------

let trap;

describe('hostile requests', () => {
  before(async () => {
    trap = await startTrap();
  });
  after(async () => {
    await trap?.close();
  });

  describe('client assertions and DPoP proofs', () => {
    let server;
    let admin;
    let A; // the victim client: one key of each algorithm
    let B; // another client; one key shares its kid string with A's ES256 key
    let tokenUrl;

    before(async () => {
      server = await startServer({ alg: ALGORITHMS[0], env: QUIET });
      admin = await adminToken(server);
      const sharedKid = `shared-${randomUUID()}`;
      const aKeys = { ES256: await newKey('ES256', sharedKid), RS256: await newKey('RS256'), EdDSA: await newKey('EdDSA') };
      A = { ...(await registerKeyAgent(server, admin, { keys: Object.values(aKeys) })), k: aKeys };
      const bKey = await newKey('ES256', sharedKid);
      B = { ...(await registerKeyAgent(server, admin, { keys: [bKey] })), k: { ES256: bKey } };
      tokenUrl = `${server.issuer}/api/v1/token`;
    });
    after(async () => {
      await server?.stop();
    });

    const assertA = (opts, key = A.k.ES256) => signAssertion(server, A.clientId, key, opts);
    const send = (assertion, extra = {}, headers = {}) => tokenRequest(server, assertionForm(assertion, extra), { headers });
    const invalidClient = async (assertion, what, extra) => refused(await send(assertion, extra), 401, 'invalid_client', what);

    it('control: a well-formed assertion of each key is accepted', async () => {
      for (const key of Object.values(A.k)) {
        const res = await send(await assertA({}, key));
        assert.equal(res.status, 200, `${key.alg}: ${res.text}`);
      }
    });

    describe('forged client assertions', () => {
      hostile('alg none (jose UnsecuredJWT) -> 401 invalid_client', async () => {
        const jwt = new jose.UnsecuredJWT(assertionClaims(server, A.clientId)).encode();
        await invalidClient(jwt);
        // ... and with the kid of a registered key in the header.
        const [, p] = parts(jwt);
        await invalidClient(`${b64u(JSON.stringify({ alg: 'none', kid: A.k.ES256.kid }))}.${p}.`);
      });

      hostile('HS256 keyed with the client\'s public key (PEM) -> 401 invalid_client', async () => {
        const secret = Buffer.from(pem(A.k.RS256.publicJwk));
        const jwt = await new jose.SignJWT(assertionClaims(server, A.clientId))
          .setProtectedHeader({ alg: 'HS256', kid: A.k.RS256.kid }).sign(secret);
        await invalidClient(jwt);
      });

      hostile('HS256 keyed with the client\'s public JWK (JSON text) -> 401 invalid_client', async () => {
        const secret = Buffer.from(JSON.stringify(A.k.ES256.publicJwk));
        const jwt = await new jose.SignJWT(assertionClaims(server, A.clientId))
          .setProtectedHeader({ alg: 'HS256', kid: A.k.ES256.kid }).sign(secret);
        await invalidClient(jwt);
      });

      hostile('signed by an unregistered key under a registered kid -> 401 invalid_client', async () => {
        const attacker = await newKey('ES256', A.k.ES256.kid);
        await invalidClient(await signAssertion(server, A.clientId, attacker));
      });

      hostile('one flipped signature bit -> 401 invalid_client', async () => {
        const [h, p, s] = parts(await assertA());
        const sig = Buffer.from(s, 'base64url');
        sig[5] ^= 0x01;
        await invalidClient(`${h}.${p}.${b64u(sig)}`);
      });

      hostile('all-zero ECDSA signature (r = s = 0) -> 401 invalid_client', async () => {
        const [h, p] = parts(await assertA());
        await invalidClient(`${h}.${p}.${b64u(Buffer.alloc(64))}`);
      });

      hostile('ECDSA signature in DER instead of R||S (RFC 7518 §3.4) -> 401 invalid_client', async () => {
        const [h, p] = parts(await assertA());
        const der = nodeSign('sha256', Buffer.from(`${h}.${p}`), A.k.ES256.keyObject);
        await invalidClient(`${h}.${p}.${b64u(der)}`);
      });

      hostile('truncated EdDSA signature (63 bytes) -> 401 invalid_client', async () => {
        const [h, p, s] = parts(await assertA({}, A.k.EdDSA));
        await invalidClient(`${h}.${p}.${b64u(Buffer.from(s, 'base64url').subarray(0, 63))}`);
      });

      hostile('alg/key mismatch: header RS256 with the ES256 key\'s kid -> 401 invalid_client', async () => {
        // Signed with the RSA key, but naming the EC key: the key's alg is pinned.
        const jwt = await new jose.SignJWT(assertionClaims(server, A.clientId))
          .setProtectedHeader({ alg: 'RS256', kid: A.k.ES256.kid }).sign(A.k.RS256.privateKey);
        await invalidClient(jwt);
      });

      hostile('alg/key mismatch: header ES256 over an Ed25519 signature, kid of the EdDSA key -> 401 invalid_client', async () => {
        const header = JSON.stringify({ alg: 'ES256', kid: A.k.EdDSA.kid });
        const input = `${b64u(header)}.${b64u(JSON.stringify(assertionClaims(server, A.clientId)))}`;
        await invalidClient(`${input}.${rawSignature(input, A.k.EdDSA, 'EdDSA')}`);
      });

      hostile('kid of another client\'s key, signed by that client, iss/sub = victim -> 401 invalid_client', async () => {
        const other = await newKey('ES256');
        const C = await registerKeyAgent(server, admin, { keys: [other] });
        assert.notEqual(C.clientId, A.clientId);
        await invalidClient(await signAssertion(server, A.clientId, other));
      });

      hostile('the same kid string registered by another client, signed with its key -> 401 invalid_client', async () => {
        assert.equal(B.k.ES256.kid, A.k.ES256.kid);
        await invalidClient(await signAssertion(server, A.clientId, B.k.ES256));
      });

      hostile('no kid, signed by an unregistered key -> 401 invalid_client', async () => {
        const attacker = await newKey('ES256');
        const jwt = await new jose.SignJWT(assertionClaims(server, A.clientId))
          .setProtectedHeader({ alg: 'ES256' }).sign(attacker.privateKey);
        await invalidClient(jwt);
      });

      hostile('embedded jwk header with the attacker\'s key -> 401 invalid_client', async () => {
        const attacker = await newKey('ES256', A.k.ES256.kid);
        const jwk = await jose.exportJWK(attacker.publicKey);
        await invalidClient(await signAssertion(server, A.clientId, attacker, { header: { jwk } }));
        // The registered key itself, also announced in the header: still refused.
        await invalidClient(await assertA({ header: { jwk: await jose.exportJWK(A.k.ES256.publicKey) } }));
      });

      hostile('jku header pointing at the trap -> 401 invalid_client, no fetch', async () => {
        const attacker = await newKey('ES256', A.k.ES256.kid);
        await invalidClient(await signAssertion(server, A.clientId, attacker, { header: { jku: trap.url() } }));
        await invalidClient(await assertA({ header: { jku: trap.url() } }));
      });

      hostile('x5u header pointing at the trap -> 401 invalid_client, no fetch', async () => {
        const attacker = await newKey('RS256', A.k.RS256.kid);
        await invalidClient(await signAssertion(server, A.clientId, attacker, { header: { x5u: trap.url('/cert.pem') } }));
        await invalidClient(await assertA({ header: { x5u: trap.url('/cert.pem') } }));
      });

      hostile('x5c header with a made-up chain -> 401 invalid_client', async () => {
        await invalidClient(await assertA({ header: { x5c: [Buffer.from('not a certificate').toString('base64')] } }));
      });

      hostile('crit header ["exp"] (understood by nobody) -> 401 invalid_client', async () => {
        const header = JSON.stringify({ alg: 'ES256', kid: A.k.ES256.kid, crit: ['exp'] });
        await invalidClient(rawSign(header, JSON.stringify(assertionClaims(server, A.clientId)), A.k.ES256));
      });

      hostile('an assertion impersonating the admin (a client_secret client) -> 401 invalid_client', async () => {
        const attacker = await newKey('ES256');
        await invalidClient(await signAssertion(server, server.admin.client_id, attacker));
      });

      hostile('unknown client id -> 401 invalid_client', async () => {
        await invalidClient(await signAssertion(server, randomUUID(), A.k.ES256));
      });

      hostile('unknown client, bad signature and wrong key answer byte-identical bodies', async () => {
        const unknown = await send(await signAssertion(server, randomUUID(), A.k.ES256));
        const [h, p, s] = parts(await assertA());
        const bad = await send(`${h}.${p}.${s.startsWith('A') ? 'B' : 'A'}${s.slice(1)}`);
        const wrong = await send(await signAssertion(server, A.clientId, await newKey('ES256', A.k.ES256.kid)));
        for (const res of [unknown, bad, wrong]) refused(res, 401, 'invalid_client');
        assert.equal(bad.text, unknown.text);
        assert.equal(wrong.text, unknown.text);
      });

      hostile('our own access token as a client assertion -> 401 invalid_client', async () => {
        const { body } = await send(await assertA());
        await invalidClient(body.access_token);
        await invalidClient(body.access_token, 'with client_id', { client_id: A.clientId });
      });

      hostile('our own id_token as a client assertion -> 401 invalid_client', async () => {
        const res = await requestToken(server, {
          clientId: server.admin.client_id, clientSecret: server.admin.client_secret, scope: 'openid',
        });
        assert.equal(typeof res.body.id_token, 'string', JSON.stringify(res.body));
        await invalidClient(res.body.id_token);
        await invalidClient(res.body.id_token, 'with client_id', { client_id: server.admin.client_id });
      });

      hostile('a suspended agent\'s correctly signed assertion -> 401 invalid_client', async () => {
        const key = await newKey('ES256');
        const S = await registerKeyAgent(server, admin, { keys: [key] });
        const res = await fetch(`${server.url}/api/v1/agents/${S.agentId}`, {
          method: 'PATCH',
          headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
          body: JSON.stringify({ status: 'suspended' }),
        });
        assert.equal(res.status, 200, await res.text());
        await invalidClient(await signAssertion(server, S.clientId, key));
      });

      hostile('a revoked credential\'s key -> 401 invalid_client', async () => {
        const key = await newKey('EdDSA');
        const R = await registerKeyAgent(server, admin, { keys: [key] });
        assert.equal((await send(await signAssertion(server, R.clientId, key))).status, 200);
        const res = await fetch(`${server.url}/api/v1/agents/${R.agentId}/credentials/${R.credential.credentialId}`, {
          method: 'DELETE', headers: { authorization: `Bearer ${admin}` },
        });
        assert.equal(res.status, 204, await res.text());
        await invalidClient(await signAssertion(server, R.clientId, key));
      });
    });

    describe('hostile key registrations (400 VALIDATION_ERROR)', () => {
      const register = async (jwk) => postCredential(server, admin, B.agentId, { type: 'private_key_jwt', jwks: { keys: [jwk] } });
      const invalid = (res, what) => {
        notServerError(res, what);
        assert.equal(res.status, 400, `${what}: ${res.text}`);
        assert.equal(res.body?.code, 'VALIDATION_ERROR', `${what}: ${res.text}`);
      };
      hostile('an EC point not on P-256 -> 400 VALIDATION_ERROR', async () => {
        invalid(await register({ ...A.k.ES256.publicJwk, kid: 'off-curve', y: b64u(Buffer.alloc(32, 1)) }));
      });
      hostile('a 1024-bit RSA key -> 400 VALIDATION_ERROR', async () => {
        const { n, e } = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' });
        invalid(await register({ kty: 'RSA', n, e, kid: 'weak', alg: 'RS256' }));
      });
      hostile('an X25519 key labelled EdDSA -> 400 VALIDATION_ERROR', async () => {
        const x = generateKeyPairSync('x25519').publicKey.export({ format: 'jwk' });
        invalid(await register({ ...x, kid: 'x25519', alg: 'EdDSA' }));
      });
      hostile('an RSA key labelled ES256 -> 400 VALIDATION_ERROR', async () => {
        invalid(await register({ ...A.k.RS256.publicJwk, kid: 'mislabelled', alg: 'ES256' }));
      });
      hostile('alg none -> 400 VALIDATION_ERROR', async () => {
        invalid(await register({ ...A.k.ES256.publicJwk, kid: 'none', alg: 'none' }));
      });
    });

    describe('mistyped client assertions', () => {
      for (const typ of ['at+jwt', 'application/at+jwt', 'dpop+jwt', 'id_token+jwt', 'secevent+jwt', 'JOSE', 'jwt-bearer']) {
        hostile(`typ ${typ} -> 401 invalid_client`, async () => {
          await invalidClient(await assertA({ header: { typ } }));
        });
      }

      hostile('a DPoP proof (typ dpop+jwt, jwk header) of the client\'s key as assertion -> 401 invalid_client', async () => {
        const proof = await dpopProof(A.k.ES256, { htu: tokenUrl, claims: { iss: A.clientId, sub: A.clientId, aud: server.issuer, exp: now() + 60 } });
        await invalidClient(proof);
      });
    });

    describe('mis-audienced and badly claimed client assertions', () => {
      const cases = {
        'aud as an array holding the issuer': { aud: undefined, __aud: (s) => [s.issuer] },
        'aud = the token endpoint URL': { __aud: (s) => `${s.issuer}/api/v1/token` },
        'aud = the token endpoint alias URL': { __aud: (s) => `${s.issuer}/api/v1/oauth2/token` },
        'aud = issuer with a trailing slash': { __aud: (s) => `${s.issuer}/` },
        'aud = issuer with an upper-case scheme': { __aud: (s) => s.issuer.replace(/^http/, 'HTTP') },
        'aud = the API audience (issuer/api/v1)': { __aud: (s) => `${s.issuer}/api/v1` },
        'aud of another server': { aud: 'https://idp.example.test' },
        'no aud': { aud: undefined },
        'iss != sub': { __sub: () => randomUUID() },
        'sub = another client': { __sub: () => B.clientId },
        'no iss': { iss: undefined },
        'no sub': { sub: undefined },
        'no jti': { jti: undefined },
        'empty jti': { jti: '' },
        'jti of 300 characters': { jti: 'j'.repeat(300) },
        'jti as a number': { jti: 12345 },
        'exp 1 hour ahead (> 300 s + leeway)': { exp: now() + 3600 },
        'exp 400 s ahead': { exp: now() + 400 },
        'no exp': { exp: undefined },
        'exp as a string': { exp: String(now() + 60) },
        'expired 2 minutes ago': { iat: now() - 180, exp: now() - 120 },
        'nbf 5 minutes ahead': { nbf: now() + 300 },
        'iat 5 minutes ahead': { iat: now() + 300 },
      };
      for (const [what, spec] of Object.entries(cases)) {
        hostile(`${what} -> 401 invalid_client`, async () => {
          const claims = {};
          for (const [k, v] of Object.entries(spec)) if (!k.startsWith('__')) claims[k] = v;
          if (spec.__aud) claims.aud = spec.__aud(server);
          if (spec.__sub) claims.sub = spec.__sub();
          await invalidClient(await assertA({ claims }), what);
        });
      }

      hostile('client_id parameter different from iss -> 401 invalid_client', async () => {
        await invalidClient(await assertA(), 'client_id = B', { client_id: B.clientId });
      });

      hostile('iss = sub = a URL at the trap (metadata-document style client id) -> 401 invalid_client, no fetch', async () => {
        const id = trap.url('/client.json');
        await invalidClient(await signAssertion(server, id, A.k.ES256), 'url client id', { client_id: id });
      });
    });

    describe('replayed client assertions', () => {
      hostile('the same assertion twice -> 200, then 401 invalid_client', async () => {
        const jwt = await assertA();
        assert.equal((await send(jwt)).status, 200);
        await invalidClient(jwt, 'replay');
      });

      hostile('a new assertion reusing a spent jti -> 401 invalid_client', async () => {
        const jti = randomUUID();
        assert.equal((await send(await assertA({ claims: { jti } }))).status, 200);
        await invalidClient(await assertA({ claims: { jti, exp: now() + 90 } }, A.k.RS256), 'same jti, other key');
      });

      hostile('one assertion sent 20 times in parallel -> exactly one 200, nineteen 401 invalid_client', async () => {
        const jwt = await assertA();
        const answers = await Promise.all(Array.from({ length: 20 }, () => send(jwt)));
        const ok = answers.filter((r) => r.status === 200);
        assert.equal(ok.length, 1, answers.map((r) => r.status).join(','));
        for (const r of answers.filter((x) => x.status !== 200)) refused(r, 401, 'invalid_client', 'parallel replay');
      });

      hostile('20 assertions with one jti in parallel (different keys) -> exactly one 200', async () => {
        const jti = randomUUID();
        const keys = Object.values(A.k);
        const jwts = await Promise.all(Array.from({ length: 20 }, (_, i) => assertA({ claims: { jti, exp: now() + 60 + i } }, keys[i % keys.length])));
        const answers = await Promise.all(jwts.map((j) => send(j)));
        assert.equal(answers.filter((r) => r.status === 200).length, 1, answers.map((r) => r.status).join(','));
        for (const r of answers.filter((x) => x.status !== 200)) refused(r, 401, 'invalid_client', 'parallel jti');
      });

      hostile('an assertion spent at introspection is refused at the token endpoint -> 401 invalid_client', async () => {
        const jwt = await assertA();
        const res = await tokenRequest(server, { grant_type: undefined, token: 'x', ...assertionForm(jwt) }, { path: '/api/v1/token/introspect' });
        assert.equal(res.status, 200, res.text);
        await invalidClient(jwt, 'replay across endpoints');
      });
    });

    describe('malformed client assertions', () => {
      const payload = () => JSON.stringify(assertionClaims(server, A.clientId));

      hostile('duplicate header member ("alg":"none" then "alg":"ES256") -> 401 invalid_client', async () => {
        const header = `{"alg":"none","kid":${JSON.stringify(A.k.ES256.kid)},"alg":"ES256"}`;
        await invalidClient(rawSign(header, payload(), A.k.ES256));
      });

      hostile('duplicate payload member ("aud" attacker then issuer) -> 401 invalid_client', async () => {
        const c = assertionClaims(server, A.clientId);
        const body = `{"iss":${JSON.stringify(c.iss)},"sub":${JSON.stringify(c.sub)},"aud":"https://attacker.example","aud":${JSON.stringify(c.aud)},"jti":"${c.jti}","exp":${c.exp}}`;
        await invalidClient(rawSign(JSON.stringify({ alg: 'ES256', kid: A.k.ES256.kid }), body, A.k.ES256));
      });

      hostile('duplicate member through a \\u escape ("\\u0073ub") -> 401 invalid_client', async () => {
        const c = assertionClaims(server, A.clientId);
        const body = `{"iss":${JSON.stringify(c.iss)},"sub":${JSON.stringify(B.clientId)},"\\u0073ub":${JSON.stringify(c.sub)},"aud":${JSON.stringify(c.aud)},"jti":"${c.jti}","exp":${c.exp}}`;
        await invalidClient(rawSign(JSON.stringify({ alg: 'ES256', kid: A.k.ES256.kid }), body, A.k.ES256));
      });

      hostile('non-canonical base64url signature (spare bits set) -> 401 invalid_client', async () => {
        const [h, p, s] = parts(await assertA());
        await invalidClient(`${h}.${p}.${nonCanonical(s)}`);
      });

      hostile('base64 padding ("==") on the signature -> 401 invalid_client', async () => {
        const [h, p, s] = parts(await assertA());
        await invalidClient(`${h}.${p}.${s}==`);
      });

      hostile('standard base64 alphabet (+ /) in the signature -> 401 invalid_client', async () => {
        let jwt;
        do jwt = await assertA(); while (!/[-_]/.test(parts(jwt)[2]));
        const [h, p, s] = parts(jwt);
        await invalidClient(`${h}.${p}.${s.replace(/-/g, '+').replace(/_/g, '/')}`);
      });

      hostile('UTF-8 byte order mark before the header JSON -> 401 invalid_client', async () => {
        const header = `\uFEFF${JSON.stringify({ alg: 'ES256', kid: A.k.ES256.kid })}`;
        await invalidClient(rawSign(header, payload(), A.k.ES256));
      });

      hostile('payload is a JSON array -> 401 invalid_client', async () => {
        await invalidClient(rawSign(JSON.stringify({ alg: 'ES256', kid: A.k.ES256.kid }), `[${payload()}]`, A.k.ES256));
      });

      hostile('header is not JSON -> 401 invalid_client', async () => {
        await invalidClient(rawSign(`alg=ES256;kid=${A.k.ES256.kid}`, payload(), A.k.ES256));
      });

      hostile('trailing dot (four segments) -> 401 invalid_client', async () => {
        await invalidClient(`${await assertA()}.`);
      });

      hostile('five segments (JWE-shaped) -> 401 invalid_client', async () => {
        const [h, p, s] = parts(await assertA());
        await invalidClient(`${h}.${p}.${s}.${s}.${s}`);
      });

      hostile('two segments (no signature part) -> 401 invalid_client', async () => {
        const [h, p] = parts(await assertA());
        await invalidClient(`${h}.${p}`);
      });

      hostile('empty signature -> 401 invalid_client', async () => {
        const [h, p] = parts(await assertA());
        await invalidClient(`${h}.${p}.`);
      });

      hostile('a space inside the token -> 401 invalid_client', async () => {
        const [h, p, s] = parts(await assertA());
        await invalidClient(`${h}. ${p}.${s}`);
      });

      hostile('a 20 kB assertion (over the 8 kB limit) -> 401 invalid_client', async () => {
        await invalidClient(await assertA({ claims: { pad: 'x'.repeat(20_000) } }));
      });

      hostile('a 100 kB assertion (over the body limit) -> 413, not 5xx', async () => {
        const res = await send(await assertA({ claims: { pad: 'x'.repeat(100_000) } }));
        notServerError(res, '100 kB');
        assert.equal(res.status, 413, res.text);
        assert.equal(res.body?.access_token, undefined);
      });
    });

    describe('exactly one client authentication method', () => {
      hostile('assertion + HTTP Basic -> 400 invalid_request', async () => {
        refused(await send(await assertA(), {}, { authorization: basicAuth(A.clientId, 'sk_live_x') }), 400, 'invalid_request');
      });

      hostile('assertion + client_secret in the body -> 400 invalid_request', async () => {
        refused(await send(await assertA(), { client_id: A.clientId, client_secret: 'sk_live_x' }), 400, 'invalid_request');
      });

      hostile('client_assertion_type other than jwt-bearer -> 400 invalid_request', async () => {
        refused(await tokenRequest(server, {
          client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:saml2-bearer', client_assertion: await assertA(),
        }), 400, 'invalid_request');
      });

      hostile('client_assertion_type without client_assertion -> 400 invalid_request', async () => {
        refused(await tokenRequest(server, { client_assertion_type: ASSERTION_TYPE, client_id: A.clientId }), 400, 'invalid_request');
      });

      hostile('client_assertion without client_assertion_type -> 400 invalid_request', async () => {
        refused(await tokenRequest(server, { client_assertion: await assertA() }), 400, 'invalid_request');
      });

      hostile('client_assertion repeated -> 400 invalid_request', async () => {
        refused(await tokenRequest(server, {
          client_assertion_type: ASSERTION_TYPE, client_assertion: [await assertA(), await assertA()],
        }), 400, 'invalid_request');
      });
    });

    describe('DPoP proofs at the token endpoint', () => {
      const withProof = async (proof) => send(await assertA(), {}, { dpop: proof });
      const invalidProof = async (proof, what) => refused(await withProof(proof), 400, 'invalid_dpop_proof', what);
      let P; // the proof key
      before(async () => {
        P = await newKey('ES256');
      });

      it('control: a well-formed proof binds the token; the assertion of a refused proof is not spent', async () => {
        const jwt = await assertA();
        refused(await send(jwt, {}, { dpop: await dpopProof(P, { htm: 'GET', htu: tokenUrl }) }), 400, 'invalid_dpop_proof');
        const res = await send(jwt, {}, { dpop: await dpopProof(P, { htu: tokenUrl }) });
        assert.equal(res.status, 200, res.text);
        assert.equal(res.body.token_type, 'DPoP');
      });

      it('RFC 9449 §4.3 (9): htu is compared without query and fragment, so those alone are no grounds to refuse', async () => {
        const res = await withProof(await dpopProof(P, { htu: `${tokenUrl}?a=b#frag` }));
        assert.equal(res.status, 200, res.text);
      });

      hostile('htm GET on a POST -> 400 invalid_dpop_proof', async () => {
        await invalidProof(await dpopProof(P, { htm: 'GET', htu: tokenUrl }));
      });
      hostile('htm "post" (case differs) -> 400 invalid_dpop_proof', async () => {
        await invalidProof(await dpopProof(P, { htm: 'post', htu: tokenUrl }));
      });
      hostile('htu of another endpoint (introspection) -> 400 invalid_dpop_proof', async () => {
        await invalidProof(await dpopProof(P, { htu: `${server.issuer}/api/v1/token/introspect` }));
      });
      hostile('htu of the alias path /api/v1/oauth2/token -> 400 invalid_dpop_proof', async () => {
        await invalidProof(await dpopProof(P, { htu: `${server.issuer}/api/v1/oauth2/token` }));
      });
      hostile('htu of another origin -> 400 invalid_dpop_proof', async () => {
        await invalidProof(await dpopProof(P, { htu: 'https://idp.example.test/api/v1/token' }));
      });
      hostile('htu with another scheme (https) -> 400 invalid_dpop_proof', async () => {
        await invalidProof(await dpopProof(P, { htu: tokenUrl.replace(/^http:/, 'https:') }));
      });
      hostile('htu hiding the real path in its query (/api/v1/agents?/api/v1/token) -> 400 invalid_dpop_proof', async () => {
        await invalidProof(await dpopProof(P, { htu: `${server.issuer}/api/v1/agents?/api/v1/token` }));
      });
      hostile('htu missing -> 400 invalid_dpop_proof', async () => {
        await invalidProof(await dpopProof(P, { htu: undefined }));
      });
      hostile('iat 5 minutes old -> 400 invalid_dpop_proof', async () => {
        await invalidProof(await dpopProof(P, { htu: tokenUrl, claims: { iat: now() - 300 } }));
      });
      hostile('iat 5 minutes ahead -> 400 invalid_dpop_proof', async () => {
        await invalidProof(await dpopProof(P, { htu: tokenUrl, claims: { iat: now() + 300 } }));
      });
      hostile('no iat -> 400 invalid_dpop_proof', async () => {
        await invalidProof(await dpopProof(P, { htu: tokenUrl, claims: { iat: undefined } }));
      });
      hostile('no jti -> 400 invalid_dpop_proof', async () => {
        await invalidProof(await dpopProof(P, { htu: tokenUrl, claims: { jti: undefined } }));
      });
      hostile('the same proof twice -> 200, then 400 invalid_dpop_proof', async () => {
        const proof = await dpopProof(P, { htu: tokenUrl });
        assert.equal((await withProof(proof)).status, 200);
        await invalidProof(proof, 'replayed proof');
      });
      hostile('one proof in 10 parallel token requests -> exactly one 200', async () => {
        const proof = await dpopProof(P, { htu: tokenUrl });
        const answers = await Promise.all(Array.from({ length: 10 }, () => withProof(proof)));
        assert.equal(answers.filter((r) => r.status === 200).length, 1, answers.map((r) => r.status).join(','));
        for (const r of answers.filter((x) => x.status !== 200)) refused(r, 400, 'invalid_dpop_proof', 'parallel proof');
      });
      hostile('a private key (d) in the jwk header -> 400 invalid_dpop_proof', async () => {
        const { kid: _k, alg: _a, ...priv } = P.privateJwk;
        await invalidProof(await dpopProof(P, { htu: tokenUrl, header: { jwk: priv } }));
      });
      hostile('no jwk header -> 400 invalid_dpop_proof', async () => {
        await invalidProof(await dpopProof(P, { htu: tokenUrl, header: { jwk: undefined } }));
      });
      hostile('a symmetric jwk with HS256 -> 400 invalid_dpop_proof', async () => {
        const secret = Buffer.from('0123456789abcdef0123456789abcdef');
        const jwt = await new jose.SignJWT({ jti: randomUUID(), htm: 'POST', htu: tokenUrl, iat: now() })
          .setProtectedHeader({ alg: 'HS256', typ: 'dpop+jwt', jwk: { kty: 'oct', k: b64u(secret) } }).sign(secret);
        await invalidProof(jwt);
      });
      hostile('alg none -> 400 invalid_dpop_proof', async () => {
        const jwt = await dpopProof(P, { htu: tokenUrl });
        const [h, p] = parts(jwt);
        await invalidProof(`${b64u(JSON.stringify({ ...b64uJson(h), alg: 'none' }))}.${p}.`);
      });
      hostile('no typ -> 400 invalid_dpop_proof', async () => {
        await invalidProof(await dpopProof(P, { htu: tokenUrl, header: { typ: undefined } }));
      });
      hostile('typ JWT -> 400 invalid_dpop_proof', async () => {
        await invalidProof(await dpopProof(P, { htu: tokenUrl, header: { typ: 'JWT' } }));
      });
      hostile('typ at+jwt -> 400 invalid_dpop_proof', async () => {
        await invalidProof(await dpopProof(P, { htu: tokenUrl, header: { typ: 'at+jwt' } }));
      });
      hostile('signed by another key than the one in jwk -> 400 invalid_dpop_proof', async () => {
        const other = await newKey('ES256');
        await invalidProof(await dpopProof(other, { htu: tokenUrl, header: { jwk: await jose.exportJWK(P.publicKey) } }));
      });
      hostile('header alg RS256 with an EC jwk -> 400 invalid_dpop_proof', async () => {
        const header = JSON.stringify({ alg: 'RS256', typ: 'dpop+jwt', jwk: await jose.exportJWK(P.publicKey) });
        const rsa = await newKey('RS256');
        await invalidProof(rawSign(header, JSON.stringify({ jti: randomUUID(), htm: 'POST', htu: tokenUrl, iat: now() }), rsa, 'RS256'));
      });
      hostile('alg ES256 over a P-384 key -> 400 invalid_dpop_proof', async () => {
        const p384 = await newKey('ES384');
        const header = JSON.stringify({ alg: 'ES256', typ: 'dpop+jwt', jwk: await jose.exportJWK(p384.publicKey) });
        await invalidProof(rawSign(header, JSON.stringify({ jti: randomUUID(), htm: 'POST', htu: tokenUrl, iat: now() }), p384, 'ES256'));
      });
      const proofWithJwk = (jwk, alg, key) => rawSign(JSON.stringify({ alg, typ: 'dpop+jwt', jwk }),
        JSON.stringify({ jti: randomUUID(), htm: 'POST', htu: tokenUrl, iat: now() }), key, alg);
      hostile('jwk point not on P-256 (invalid-curve) -> 400 invalid_dpop_proof', async () => {
        const jwk = { kty: 'EC', crv: 'P-256', x: P.publicJwk.x, y: b64u(Buffer.alloc(32, 1)) };
        await invalidProof(proofWithJwk(jwk, 'ES256', P));
      });
      hostile('jwk with a short EC coordinate -> 400 invalid_dpop_proof', async () => {
        const jwk = { kty: 'EC', crv: 'P-256', x: P.publicJwk.x.slice(0, 40), y: P.publicJwk.y };
        await invalidProof(proofWithJwk(jwk, 'ES256', P));
      });
      hostile('an X25519 (key agreement) jwk with alg EdDSA -> 400 invalid_dpop_proof', async () => {
        const x25519 = generateKeyPairSync('x25519').publicKey.export({ format: 'jwk' });
        await invalidProof(proofWithJwk(x25519, 'EdDSA', await newKey('EdDSA')));
      });
      hostile('a 1024-bit RSA jwk, correctly signed -> 400 invalid_dpop_proof', async () => {
        const weak = generateKeyPairSync('rsa', { modulusLength: 1024 });
        const { n, e } = weak.publicKey.export({ format: 'jwk' });
        await invalidProof(proofWithJwk({ kty: 'RSA', n, e }, 'RS256', { keyObject: weak.privateKey }));
      });
      hostile('ath at the token endpoint (no access token there) -> 400 invalid_dpop_proof', async () => {
        await invalidProof(await dpopProof(P, { htu: tokenUrl, accessToken: 'some-token' }));
      });
      hostile('crit header -> 400 invalid_dpop_proof', async () => {
        const header = JSON.stringify({ alg: 'ES256', typ: 'dpop+jwt', jwk: await jose.exportJWK(P.publicKey), crit: ['htm'] });
        await invalidProof(rawSign(header, JSON.stringify({ jti: randomUUID(), htm: 'POST', htu: tokenUrl, iat: now() }), P));
      });
      hostile('jku header at the trap -> 400 invalid_dpop_proof, no fetch', async () => {
        await invalidProof(await dpopProof(P, { htu: tokenUrl, header: { jku: trap.url() } }));
      });
      hostile('x5u header at the trap -> 400 invalid_dpop_proof, no fetch', async () => {
        await invalidProof(await dpopProof(P, { htu: tokenUrl, header: { x5u: trap.url('/cert.pem') } }));
      });
      hostile('duplicate payload member (htu wrong, then right) -> 400 invalid_dpop_proof', async () => {
        const header = JSON.stringify({ alg: 'ES256', typ: 'dpop+jwt', jwk: await jose.exportJWK(P.publicKey) });
        const body = `{"jti":"${randomUUID()}","htm":"POST","htu":"https://idp.example.test/x","htu":${JSON.stringify(tokenUrl)},"iat":${now()}}`;
        await invalidProof(rawSign(header, body, P));
      });
      hostile('non-canonical base64url signature -> 400 invalid_dpop_proof', async () => {
        const [h, p, s] = parts(await dpopProof(P, { htu: tokenUrl }));
        await invalidProof(`${h}.${p}.${nonCanonical(s)}`);
      });
      hostile('a proof over 8 kB -> 400 invalid_dpop_proof', async () => {
        await invalidProof(await dpopProof(P, { htu: tokenUrl, claims: { pad: 'x'.repeat(6000) } }));
      });
      hostile('two DPoP header lines -> 400 invalid_dpop_proof', async () => {
        const body = new URLSearchParams({ grant_type: 'client_credentials', ...assertionForm(await assertA()) }).toString();
        const res = await rawPost(tokenUrl, body, {
          'content-type': 'application/x-www-form-urlencoded',
          dpop: [await dpopProof(P, { htu: tokenUrl }), await dpopProof(P, { htu: tokenUrl })],
        });
        refused(res, 400, 'invalid_dpop_proof');
      });
      hostile('garbage in the DPoP header -> 400 invalid_dpop_proof', async () => {
        await invalidProof('this-is-not-a-jwt');
      });
      hostile('a client assertion in the DPoP header -> 400 invalid_dpop_proof', async () => {
        await invalidProof(await assertA());
      });
    });
  });

  describe('DPoP-bound tokens at protected resources', () => {
    let server;
    let A;
    let P; // the key the token is bound to
    let bound; // a DPoP-bound access token
    let bound2; // another one, same key
    let plain; // an unbound token

    before(async () => {
      server = await startServer({ alg: ALGORITHMS[0], env: QUIET });
      const admin = await adminToken(server);
      const key = await newKey('ES256');
      A = { ...(await registerKeyAgent(server, admin, { keys: [key] })), key };
      P = await newKey('EdDSA');
      const get = async (proofKey) => {
        const headers = proofKey ? { dpop: await dpopProof(proofKey, { htu: `${server.issuer}/api/v1/token` }) } : {};
        const res = await tokenRequest(server, assertionForm(await signAssertion(server, A.clientId, key)), { headers });
        assert.equal(res.status, 200, res.text);
        return res.body.access_token;
      };
      bound = await get(P);
      bound2 = await get(P);
      plain = await get();
    });
    after(async () => {
      await server?.stop();
    });

    const url = (path) => `${server.issuer}${path}`;
    const call = (path, token, proof, { scheme = 'DPoP', method = 'GET' } = {}) => resourceRequest(server, path, {
      method,
      headers: { authorization: `${scheme} ${token}`, ...(proof === undefined ? {} : { dpop: proof }) },
    });

    it('control: the bound token with a right proof is accepted at GET /agent-info and GET /api/v1/agents', async () => {
      for (const path of ['/agent-info', '/api/v1/agents']) {
        const res = await call(path, bound, await dpopProof(P, { htm: 'GET', htu: url(path), accessToken: bound }));
        assert.equal(res.status, 200, `${path}: ${res.text}`);
      }
    });

    hostile('wrong ath -> 401 DPoP error="invalid_dpop_proof"', async () => {
      challenged(await call('/agent-info', bound, await dpopProof(P, { htm: 'GET', htu: url('/agent-info'), claims: { ath: ath('another token') } })), 'DPoP', 'invalid_dpop_proof');
    });
    hostile('no ath -> 401 DPoP error="invalid_dpop_proof"', async () => {
      challenged(await call('/agent-info', bound, await dpopProof(P, { htm: 'GET', htu: url('/agent-info') })), 'DPoP', 'invalid_dpop_proof');
    });
    hostile('a proof made for another token of the same key -> 401 DPoP error="invalid_dpop_proof"', async () => {
      challenged(await call('/agent-info', bound, await dpopProof(P, { htm: 'GET', htu: url('/agent-info'), accessToken: bound2 })), 'DPoP', 'invalid_dpop_proof');
    });
    hostile('a proof by another key (right ath) -> 401 DPoP error="invalid_token"', async () => {
      const other = await newKey('EdDSA');
      challenged(await call('/agent-info', bound, await dpopProof(other, { htm: 'GET', htu: url('/agent-info'), accessToken: bound })), 'DPoP', 'invalid_token');
    });
    hostile('the bound token as Bearer -> 401 error="invalid_token"', async () => {
      challenged(await call('/agent-info', bound, undefined, { scheme: 'Bearer' }), 'DPoP', 'invalid_token');
      challenged(await call('/api/v1/agents', bound, undefined, { scheme: 'Bearer' }), 'DPoP', 'invalid_token');
    });
    hostile('the bound token as Bearer, with a right proof attached -> 401 error="invalid_token"', async () => {
      challenged(await call('/agent-info', bound, await dpopProof(P, { htm: 'GET', htu: url('/agent-info'), accessToken: bound }), { scheme: 'Bearer' }), 'DPoP', 'invalid_token');
    });
    hostile('the bound token as Bearer at introspection (Bearer client auth) -> 401 invalid_token', async () => {
      const res = await tokenRequest(server, { grant_type: undefined, token: plain }, {
        path: '/api/v1/token/introspect', headers: { authorization: `Bearer ${bound}` },
      });
      refused(res, 401, 'invalid_token');
    });
    hostile('an unbound token under the DPoP scheme -> 401 DPoP error="invalid_token"', async () => {
      challenged(await call('/agent-info', plain, await dpopProof(P, { htm: 'GET', htu: url('/agent-info'), accessToken: plain })), 'DPoP', 'invalid_token');
    });
    hostile('DPoP scheme without a DPoP header -> 401 DPoP error="invalid_dpop_proof"', async () => {
      challenged(await call('/agent-info', bound), 'DPoP', 'invalid_dpop_proof');
    });
    hostile('htm POST on a GET -> 401 DPoP error="invalid_dpop_proof"', async () => {
      challenged(await call('/agent-info', bound, await dpopProof(P, { htm: 'POST', htu: url('/agent-info'), accessToken: bound })), 'DPoP', 'invalid_dpop_proof');
    });
    hostile('htu of another resource -> 401 DPoP error="invalid_dpop_proof"', async () => {
      challenged(await call('/agent-info', bound, await dpopProof(P, { htm: 'GET', htu: url('/api/v1/agents'), accessToken: bound })), 'DPoP', 'invalid_dpop_proof');
    });
    hostile('the token endpoint proof reused at the resource -> 401 DPoP error="invalid_dpop_proof"', async () => {
      challenged(await call('/agent-info', bound, await dpopProof(P, { htu: url('/api/v1/token') })), 'DPoP', 'invalid_dpop_proof');
    });
    hostile('a replayed resource proof -> 200, then 401 DPoP error="invalid_dpop_proof"', async () => {
      const proof = await dpopProof(P, { htm: 'GET', htu: url('/agent-info'), accessToken: bound });
      assert.equal((await call('/agent-info', bound, proof)).status, 200);
      challenged(await call('/agent-info', bound, proof), 'DPoP', 'invalid_dpop_proof');
    });
    hostile('a proof 5 minutes old -> 401 DPoP error="invalid_dpop_proof"', async () => {
      challenged(await call('/agent-info', bound, await dpopProof(P, { htm: 'GET', htu: url('/agent-info'), accessToken: bound, claims: { iat: now() - 300 } })), 'DPoP', 'invalid_dpop_proof');
    });
    hostile('a forged token (payload of the bound one, attacker signature) under DPoP -> 401 DPoP error="invalid_token"', async () => {
      const [h, p] = parts(bound);
      const attacker = await newKey(b64uJson(h).alg);
      const forged = `${h}.${p}.${rawSignature(`${h}.${p}`, attacker)}`;
      challenged(await call('/agent-info', forged, await dpopProof(P, { htm: 'GET', htu: url('/agent-info'), accessToken: forged })), 'DPoP', 'invalid_token');
    });
    hostile('introspection with a bad proof (DPoP client auth) -> 401 invalid_dpop_proof', async () => {
      const res = await tokenRequest(server, { grant_type: undefined, token: plain }, {
        path: '/api/v1/token/introspect',
        headers: { authorization: `DPoP ${bound}`, dpop: await dpopProof(P, { htu: url('/api/v1/token/introspect'), accessToken: bound2 }) },
      });
      refused(res, 401, 'invalid_dpop_proof');
    });
  });

  describe('DPoP nonces (AGENTIDP_DPOP_NONCE=true)', () => {
    let server;
    let A;
    let P;

    before(async () => {
      server = await startServer({ alg: ALGORITHMS[0], env: { ...QUIET, AGENTIDP_DPOP_NONCE: 'true' } });
      const key = await newKey('ES256');
      A = { ...(await registerKeyAgent(server, await adminToken(server), { keys: [key] })), key };
      P = await newKey('ES256');
    });
    after(async () => {
      await server?.stop();
    });

    const tokenUrl = () => `${server.issuer}/api/v1/token`;
    const assertion = () => signAssertion(server, A.clientId, A.key);

    hostile('token endpoint, proof without nonce -> 400 use_dpop_nonce + DPoP-Nonce; the assertion is not spent', async () => {
      const jwt = await assertion();
      const res = await tokenRequest(server, assertionForm(jwt), { headers: { dpop: await dpopProof(P, { htu: tokenUrl() }) } });
      refused(res, 400, 'use_dpop_nonce');
      const nonce = res.headers.get('dpop-nonce');
      assert.ok(nonce, 'DPoP-Nonce header');
      const retry = await tokenRequest(server, assertionForm(jwt), { headers: { dpop: await dpopProof(P, { htu: tokenUrl(), nonce }) } });
      assert.equal(retry.status, 200, retry.text);
    });

    hostile('token endpoint, made-up nonce -> 400 use_dpop_nonce + DPoP-Nonce', async () => {
      const res = await tokenRequest(server, assertionForm(await assertion()), {
        headers: { dpop: await dpopProof(P, { htu: tokenUrl(), nonce: b64u(Buffer.alloc(24, 7)) }) },
      });
      refused(res, 400, 'use_dpop_nonce');
      assert.ok(res.headers.get('dpop-nonce'));
    });

    hostile('token endpoint, nonce as a number -> 400 use_dpop_nonce', async () => {
      const res = await tokenRequest(server, assertionForm(await assertion()), {
        headers: { dpop: await dpopProof(P, { htu: tokenUrl(), nonce: 12345 }) },
      });
      refused(res, 400, 'use_dpop_nonce');
    });

    describe('at the resource', () => {
      let token;
      let nonce;
      before(async () => {
        const first = await tokenRequest(server, assertionForm(await assertion()), { headers: { dpop: await dpopProof(P, { htu: tokenUrl() }) } });
        nonce = first.headers.get('dpop-nonce');
        const res = await tokenRequest(server, assertionForm(await assertion()), { headers: { dpop: await dpopProof(P, { htu: tokenUrl(), nonce }) } });
        assert.equal(res.status, 200, res.text);
        token = res.body.access_token;
      });
      const get = async (proofOptions) => resourceRequest(server, '/agent-info', {
        headers: {
          authorization: `DPoP ${token}`,
          dpop: await dpopProof(P, { htm: 'GET', htu: `${server.issuer}/agent-info`, accessToken: token, ...proofOptions }),
        },
      });

      hostile('no nonce -> 401 DPoP error="use_dpop_nonce" + DPoP-Nonce', async () => {
        const res = await get({});
        challenged(res, 'DPoP', 'use_dpop_nonce');
        assert.ok(res.headers.get('dpop-nonce'));
        assert.equal((await get({ nonce: res.headers.get('dpop-nonce') })).status, 200);
      });

      hostile('a nonce with one byte changed -> 401 DPoP error="use_dpop_nonce"', async () => {
        const bytes = Buffer.from(nonce, 'base64url');
        bytes[bytes.length - 1] ^= 1;
        challenged(await get({ nonce: b64u(bytes) }), 'DPoP', 'use_dpop_nonce');
      });
    });
  });

  for (const alg of ALGORITHMS) {
    describe(`forged and misused bearer tokens [server ${alg}]`, () => {
      let server;
      let A;
      let token; // a real access token of A (scope includes tokens:read)
      let serverJwk;

      before(async () => {
        server = await startServer({ alg, env: QUIET });
        const key = await newKey('ES256');
        A = { ...(await registerKeyAgent(server, await adminToken(server), { keys: [key] })), key };
        const res = await tokenRequest(server, assertionForm(await signAssertion(server, A.clientId, key)));
        assert.equal(res.status, 200, res.text);
        token = res.body.access_token;
        const jwks = await (await fetch(`${server.url}/.well-known/jwks.json`)).json();
        serverJwk = jwks.keys.find((k) => k.kid === jose.decodeProtectedHeader(token).kid);
        assert.ok(serverJwk);
      });
      after(async () => {
        await server?.stop();
      });

      // The forged token at two kinds of resource: introspection (OAuth body) and
      // GET /agent-info (RFC 6750 challenge).
      async function refusedEverywhere(forged, what) {
        const intro = await tokenRequest(server, { grant_type: undefined, token }, {
          path: '/api/v1/token/introspect', headers: { authorization: `Bearer ${forged}` },
        });
        refused(intro, 401, 'invalid_token', `${what} at introspection`);
        const info = await resourceRequest(server, '/agent-info', { headers: { authorization: `Bearer ${forged}` } });
        challenged(info, 'Bearer', 'invalid_token', `${what} at /agent-info`);
      }

      it('control: the genuine token is accepted at both', async () => {
        const info = await resourceRequest(server, '/agent-info', { headers: { authorization: `Bearer ${token}` } });
        assert.equal(info.status, 200, info.text);
      });

      hostile('alg none, signature stripped -> 401 invalid_token', async () => {
        const [h, p] = parts(token);
        await refusedEverywhere(`${b64u(JSON.stringify({ ...b64uJson(h), alg: 'none' }))}.${p}.`, 'alg none');
      });
      hostile('HS256 keyed with the server\'s public key (PEM) -> 401 invalid_token', async () => {
        const forged = await new jose.SignJWT(b64uJson(parts(token)[1]))
          .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: serverJwk.kid }).sign(Buffer.from(pem(serverJwk)));
        await refusedEverywhere(forged, 'HS256/PEM');
      });
      hostile('HS256 keyed with the server\'s JWK (JSON text) -> 401 invalid_token', async () => {
        const forged = await new jose.SignJWT(b64uJson(parts(token)[1]))
          .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: serverJwk.kid }).sign(Buffer.from(JSON.stringify(serverJwk)));
        await refusedEverywhere(forged, 'HS256/JWK');
      });
      hostile('signed by an attacker key under the server\'s kid -> 401 invalid_token', async () => {
        const attacker = await newKey(alg, serverJwk.kid);
        const forged = await new jose.SignJWT(b64uJson(parts(token)[1]))
          .setProtectedHeader({ alg, typ: 'at+jwt', kid: serverJwk.kid }).sign(attacker.privateKey);
        await refusedEverywhere(forged, 'attacker key');
      });
      hostile('attacker key embedded as jwk header -> 401 invalid_token', async () => {
        const attacker = await newKey(alg);
        const forged = await new jose.SignJWT(b64uJson(parts(token)[1]))
          .setProtectedHeader({ alg, typ: 'at+jwt', jwk: await jose.exportJWK(attacker.publicKey) }).sign(attacker.privateKey);
        await refusedEverywhere(forged, 'embedded jwk');
      });
      hostile('jku header at the trap -> 401 invalid_token, no fetch', async () => {
        const attacker = await newKey(alg);
        const forged = await new jose.SignJWT(b64uJson(parts(token)[1]))
          .setProtectedHeader({ alg, typ: 'at+jwt', kid: attacker.kid, jku: trap.url() }).sign(attacker.privateKey);
        await refusedEverywhere(forged, 'jku');
      });
      hostile('x5u header at the trap -> 401 invalid_token, no fetch', async () => {
        const attacker = await newKey(alg);
        const forged = await new jose.SignJWT(b64uJson(parts(token)[1]))
          .setProtectedHeader({ alg, typ: 'at+jwt', kid: attacker.kid, x5u: trap.url('/cert.pem') }).sign(attacker.privateKey);
        await refusedEverywhere(forged, 'x5u');
      });
      hostile('issuer claim pointing at the trap, attacker-signed -> 401 invalid_token, no discovery', async () => {
        const attacker = await newKey(alg);
        const forged = await new jose.SignJWT({ ...b64uJson(parts(token)[1]), iss: trap.url('') })
          .setProtectedHeader({ alg, typ: 'at+jwt', kid: attacker.kid }).sign(attacker.privateKey);
        await refusedEverywhere(forged, 'iss at trap');
      });
      hostile('scope widened in the payload, signature kept -> 401 invalid_token', async () => {
        const [h, p, s] = parts(token);
        const claims = { ...b64uJson(p), scope: 'agents:read agents:write tokens:read audit:read admin:orgs' };
        await refusedEverywhere(`${h}.${b64u(JSON.stringify(claims))}.${s}`, 'widened scope');
      });
      hostile('header alg swapped (signature kept) -> 401 invalid_token', async () => {
        const [h, p, s] = parts(token);
        const other = alg === 'RS256' ? 'PS256' : alg === 'ES256' ? 'ES384' : 'Ed448';
        await refusedEverywhere(`${b64u(JSON.stringify({ ...b64uJson(h), alg: other }))}.${p}.${s}`, 'alg swap');
      });
      hostile('non-canonical base64url signature of the genuine token -> 401 invalid_token', async () => {
        const [h, p, s] = parts(token);
        await refusedEverywhere(`${h}.${p}.${nonCanonical(s)}`, 'non-canonical');
      });
      hostile('the genuine token with a trailing dot -> 401 invalid_token', async () => {
        await refusedEverywhere(`${token}.`, 'trailing dot');
      });
      hostile('the genuine token with its signature repeated as a fourth segment -> 401 invalid_token', async () => {
        await refusedEverywhere(`${token}.${parts(token)[2]}`, 'four segments');
      });
      hostile('an id_token as a bearer token -> 401 invalid_token', async () => {
        const res = await requestToken(server, { clientId: server.admin.client_id, clientSecret: server.admin.client_secret, scope: 'openid' });
        await refusedEverywhere(res.body.id_token, 'id_token');
      });
      hostile('a client assertion as a bearer token -> 401 invalid_token', async () => {
        await refusedEverywhere(await signAssertion(server, A.clientId, A.key), 'assertion');
      });
      hostile('a DPoP proof as a bearer token -> 401 invalid_token', async () => {
        await refusedEverywhere(await dpopProof(A.key, { htm: 'GET', htu: `${server.issuer}/agent-info` }), 'proof');
      });
      hostile('a revoked token -> 401 invalid_token', async () => {
        const res = await tokenRequest(server, assertionForm(await signAssertion(server, A.clientId, A.key)));
        const revoked = res.body.access_token;
        const rev = await tokenRequest(server, { grant_type: undefined, token: revoked, ...assertionForm(await signAssertion(server, A.clientId, A.key)) }, { path: '/api/v1/token/revoke' });
        assert.equal(rev.status, 200, rev.text);
        await refusedEverywhere(revoked, 'revoked');
      });
      hostile('a 7 kB bearer token of junk -> 401 invalid_token', async () => {
        await refusedEverywhere(`${parts(token)[0]}.${'A'.repeat(7000)}.${parts(token)[2]}`, 'junk');
      });
      hostile('a 40 kB Authorization header -> 431, not 5xx', async () => {
        const res = await resourceRequest(server, '/agent-info', { headers: { authorization: `Bearer ${'A'.repeat(40_000)}` } });
        notServerError(res, '40 kB header');
        assert.equal(res.status, 431, res.text);
      });
    });
  }

  describe('URLs an attacker controls are never fetched (server without AGENTIDP_OUTBOUND_ALLOW_PRIVATE)', () => {
    let server;
    let admin;

    before(async () => {
      server = await startServer({ alg: ALGORITHMS[0], env: QUIET });
      admin = await adminToken(server);
    });
    after(async () => {
      await server?.stop();
    });

    const variants = () => {
      const v = {
        '127.0.0.1': trap.url(),
        localhost: `https://localhost:${trap.port}/jwks.json`,
        'localhost. (trailing dot)': `https://localhost.:${trap.port}/jwks.json`,
        '127.1 (short form)': `https://127.1:${trap.port}/jwks.json`,
        '2130706433 (decimal)': `https://2130706433:${trap.port}/jwks.json`,
        '0x7f.0.0.1 (hex)': `https://0x7f.0.0.1:${trap.port}/jwks.json`,
        '0177.0.0.1 (octal)': `https://0177.0.0.1:${trap.port}/jwks.json`,
        '0.0.0.0': `https://0.0.0.0:${trap.port}/jwks.json`,
        '[::ffff:127.0.0.1] (v4-mapped)': `https://[::ffff:127.0.0.1]:${trap.port}/jwks.json`,
        '[::ffff:7f00:1] (v4-mapped, hex)': `https://[::ffff:7f00:1]:${trap.port}/jwks.json`,
        '[::127.0.0.1] (v4-compatible)': `https://[::127.0.0.1]:${trap.port}/jwks.json`,
      };
      if (trap.url6) v['[::1]'] = trap.url6();
      return v;
    };

    for (const what of ['127.0.0.1', 'localhost', 'localhost. (trailing dot)', '127.1 (short form)', '2130706433 (decimal)',
      '0x7f.0.0.1 (hex)', '0177.0.0.1 (octal)', '0.0.0.0', '[::ffff:127.0.0.1] (v4-mapped)', '[::ffff:7f00:1] (v4-mapped, hex)',
      '[::127.0.0.1] (v4-compatible)', '[::1]']) {
      hostile(`credential jwksUri https://${what} -> registered, then 401 invalid_client and no connection`, async (t) => {
        const uri = variants()[what];
        if (!uri) return t.skip('no IPv6 loopback on this host');
        const key = await newKey('ES256');
        const C = await registerKeyAgent(server, admin, { jwksUri: uri });
        assert.equal(C.credential.jwksUri ?? uri, uri);
        refused(await tokenRequest(server, assertionForm(await signAssertion(server, C.clientId, key))), 401, 'invalid_client', what);
      });
    }

    hostile('jwksUri set by rotation -> 401 invalid_client and no connection', async () => {
      const key = await newKey('ES256');
      const C = await registerKeyAgent(server, admin, { keys: [key] });
      const res = await fetch(`${server.url}/api/v1/agents/${C.agentId}/credentials/${C.credential.credentialId}/rotate`, {
        method: 'POST',
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        body: JSON.stringify({ jwksUri: `https://localhost:${trap.port}/rotated.json` }),
      });
      assert.equal(res.status, 200, await res.text());
      refused(await tokenRequest(server, assertionForm(await signAssertion(server, C.clientId, key))), 401, 'invalid_client');
    });

    hostile('an unknown kid against a jwksUri credential (refresh path) -> 401 invalid_client, no connection', async () => {
      const C = await registerKeyAgent(server, admin, { jwksUri: `https://127.0.0.1:${trap.port}/refresh.json` });
      for (let i = 0; i < 3; i++) {
        refused(await tokenRequest(server, assertionForm(await signAssertion(server, C.clientId, await newKey('ES256')))), 401, 'invalid_client');
      }
    });

    hostile('a registered JWK carrying x5u / jku members: stored without them, never fetched', async () => {
      const key = await newKey('ES256');
      const jwk = { ...key.publicJwk, x5u: trap.url('/x5u.pem'), jku: trap.url('/jku.json') };
      const C = await createAndRegister(server, admin, jwk);
      assert.equal(C.status, 201, C.text);
      for (const k of C.body.jwks.keys) {
        assert.equal(k.x5u, undefined);
        assert.equal(k.jku, undefined);
      }
      const ok = await tokenRequest(server, assertionForm(await signAssertion(server, C.body.clientId, key)));
      assert.equal(ok.status, 200, ok.text);
    });

    hostile('client_id = a trap URL with HTTP Basic -> 401 invalid_client, no fetch', async () => {
      const res = await tokenRequest(server, {}, { headers: { authorization: basicAuth(trap.url('/client'), 'secret') } });
      refused(res, 401, 'invalid_client');
    });
  });

  describe('control: the trap does see a server that may reach private addresses', () => {
    let server;
    let ownTrap;
    before(async () => {
      ownTrap = await startTrap();
      server = await startServer({ alg: ALGORITHMS[0], env: { ...QUIET, AGENTIDP_OUTBOUND_ALLOW_PRIVATE: 'true' } });
    });
    after(async () => {
      await server?.stop();
      await ownTrap?.close();
    });

    it('jwksUri at a second trap: the fetch is attempted (connection counted), the assertion still refused', async () => {
      const key = await newKey('ES256');
      const C = await registerKeyAgent(server, await adminToken(server), { jwksUri: ownTrap.url() });
      refused(await tokenRequest(server, assertionForm(await signAssertion(server, C.clientId, key))), 401, 'invalid_client');
      assert.ok(ownTrap.count() >= 1, 'the control trap saw the connection');
    });
  });

  it('the trap saw no connection at all, after every hostile case', (t) => {
    t.diagnostic(`${hostileCount} hostile cases`);
    assert.ok(hostileCount >= 60, `at least 60 hostile cases, have ${hostileCount}`);
    assert.deepEqual(trap.connections(), [], 'connections to the loopback trap');
  });
});

async function createAndRegister(server, admin, jwk) {
  const res = await fetch(`${server.url}/api/v1/agents`, {
    method: 'POST',
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      email: `hostile-${randomUUID()}@agents.example.test`, agentType: 'custom', version: '1.0.0',
      capabilities: ['conformance:test'], owner: 'conformance', deploymentEnv: 'development',
    }),
  });
  const agent = await res.json();
  const cred = await postCredential(server, admin, agent.agentId, { type: 'private_key_jwt', jwks: { keys: [jwk] } });
  if (cred.status === 201) cred.body.clientId ??= agent.agentId;
  return cred;
}
