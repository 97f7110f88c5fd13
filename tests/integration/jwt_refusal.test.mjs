// Bearer tokens the server must refuse, at the API (401) and at introspection
// ({"active":false}), never with a 5xx (SPEC §5: pinned algorithms, iss, aud, exp, typ;
// alg:none, HMAC with a public key, duplicate members refused).
//
// Tokens with a valid signature but a wrong iss, aud or an expiry come from the server
// itself: it is started on the same data directory (same signing key) with another
// AGENTIDP_ISSUER, another AGENTIDP_AUDIENCE, or AGENTIDP_TOKEN_TTL_SECONDS=60, and a
// token minted there is then presented to the real server. The expiry case waits for
// that 60 s token to expire (the test file's last test); other files run meanwhile.

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, createPublicKey } from 'node:crypto';
import { startServer, makeTempDir, decodeJwt, b64url, sleep } from './lib/harness.mjs';

const ISSUER = 'http://idp.integration.test';
const dir = makeTempDir();
let srv;
let adminAuth;
let good; // a real access token of the server (the admin's)
let expiring; // valid-signature token with a 60 s lifetime, right iss and aud
let wrongAud;
let wrongIss;
let jwks;
const seen = []; // [label, where, status]

async function mint(env) {
  const s = await startServer({ dataDir: dir, env });
  try {
    return await s.accessToken(s.admin.client_id, s.admin.client_secret);
  } finally {
    await s.stop();
  }
}

before(async () => {
  expiring = await mint({ AGENTIDP_ISSUER: ISSUER, AGENTIDP_TOKEN_TTL_SECONDS: '60' });
  wrongAud = await mint({ AGENTIDP_ISSUER: ISSUER, AGENTIDP_AUDIENCE: 'https://other-api.example' });
  wrongIss = await mint({ AGENTIDP_ISSUER: 'http://impostor.integration.test' });
  srv = await startServer({ dataDir: dir, env: { AGENTIDP_ISSUER: ISSUER, AGENTIDP_JWT_LEEWAY_SECONDS: '0' } });
  adminAuth = { id: srv.admin.client_id, secret: srv.admin.client_secret };
  good = await srv.accessToken(adminAuth.id, adminAuth.secret);
  jwks = (await srv.api('GET', '/.well-known/jwks.json')).json;
});
after(async () => { await srv?.stop(); });

function seg(obj) { return b64url(typeof obj === 'string' ? obj : JSON.stringify(obj)); }
function parts(token) { return token.split('.'); }

async function apiStatus(token, label) {
  const r = await srv.api('GET', '/api/v1/agents', { token });
  seen.push([label, 'api', r.status]);
  return r;
}

async function introspection(token, label) {
  const r = await srv.introspect(token, adminAuth);
  seen.push([label, 'introspect', r.status]);
  return r;
}

async function assertRefused(token, label, { introspect = true } = {}) {
  const a = await apiStatus(token, label);
  assert.equal(a.status, 401, `${label}: API answered ${a.status} ${a.text}`);
  assert.equal(a.json?.code, 'UNAUTHORIZED', label);
  assert.ok(a.headers.get('www-authenticate'), `${label}: WWW-Authenticate`);
  const info = await srv.api('GET', '/agent-info', { token });
  seen.push([label, 'agent-info', info.status]);
  assert.equal(info.status, 401, `${label}: /agent-info answered ${info.status}`);
  if (introspect) {
    const i = await introspection(token, label);
    assert.equal(i.status, 200, `${label}: introspection answered ${i.status} ${i.text}`);
    assert.equal(i.text, '{"active":false}', `${label}: introspection said ${i.text}`);
  }
  const rv = await srv.revoke(token, adminAuth);
  seen.push([label, 'revoke', rv.status]);
  assert.equal(rv.status, 200, `${label}: revocation answered ${rv.status} ${rv.text}`);
}

describe('control', () => {
  test('the genuine token is accepted everywhere', async () => {
    assert.equal((await apiStatus(good, 'good')).status, 200);
    const i = await introspection(good, 'good');
    assert.equal(i.json.active, true);
    assert.equal(i.json.iss, ISSUER);
    assert.equal(decodeJwt(good).payload.iss, ISSUER);
  });

  test('the 60 s token is accepted before it expires', async () => {
    const { payload } = decodeJwt(expiring);
    assert.equal(payload.exp - payload.iat, 60);
    assert.equal(payload.iss, ISSUER);
    const a = await apiStatus(expiring, 'expiring (before)');
    assert.equal(a.status, 200, a.text);
    assert.equal((await introspection(expiring, 'expiring (before)')).json.active, true);
  });
});

describe('forged or altered tokens', () => {
  test('alg none (every spelling), with and without a signature', async () => {
    const [, p, sig] = parts(good);
    const { header } = decodeJwt(good);
    for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
      const h = seg({ ...header, alg });
      await assertRefused(`${h}.${p}.`, `alg ${alg}, empty signature`);
      await assertRefused(`${h}.${p}.${sig}`, `alg ${alg}, original signature`);
    }
    await assertRefused(`${seg({ alg: 'none' })}.${p}.`, 'alg none, bare header');
  });

  test('HS256/384/512 signed with the server public key', async () => {
    const { header, payload } = decodeJwt(good);
    const jwk = jwks.keys.find((k) => k.kid === header.kid);
    assert.ok(jwk, 'the signing key is published');
    const pub = createPublicKey({ key: jwk, format: 'jwk' });
    const secrets = {
      'PEM spki': pub.export({ type: 'spki', format: 'pem' }),
      'PEM pkcs1': pub.export({ type: 'pkcs1', format: 'pem' }),
      'DER spki': pub.export({ type: 'spki', format: 'der' }),
      'JWK n bytes': Buffer.from(jwk.n, 'base64url'),
      'JWK JSON': JSON.stringify(jwk),
      'JWKS JSON': JSON.stringify(jwks),
    };
    for (const alg of ['HS256', 'HS384', 'HS512']) {
      for (const [name, key] of Object.entries(secrets)) {
        const input = `${seg({ ...header, alg })}.${seg(payload)}`;
        const mac = createHmac(`sha${alg.slice(2)}`, key).update(input).digest('base64url');
        await assertRefused(`${input}.${mac}`, `${alg} keyed with ${name}`);
      }
    }
  });

  test('valid signature, wrong issuer', async () => {
    assert.equal(decodeJwt(wrongIss).payload.iss, 'http://impostor.integration.test');
    assert.equal(decodeJwt(wrongIss).header.kid, decodeJwt(good).header.kid, 'same signing key');
    await assertRefused(wrongIss, 'wrong iss');
  });

  test('valid signature, wrong audience: refused by the API', async () => {
    const { payload, header } = decodeJwt(wrongAud);
    assert.equal(payload.aud, 'https://other-api.example');
    assert.equal(payload.iss, ISSUER);
    assert.equal(header.kid, decodeJwt(good).header.kid);
    // Introspection answers for any audience of ours, so only the API is checked.
    await assertRefused(wrongAud, 'wrong aud', { introspect: false });
    const i = await introspection(wrongAud, 'wrong aud');
    assert.equal(i.status, 200);
  });

  test('valid signature, wrong typ (an id_token, typ JWT)', async () => {
    const r = await srv.token(adminAuth.id, adminAuth.secret, { scope: 'openid agents:read' });
    assert.equal(r.status, 200, r.text);
    const idToken = r.json.id_token;
    assert.equal(decodeJwt(idToken).header.typ, 'JWT');
    await assertRefused(idToken, 'id_token as bearer');
  });

  test('typ altered in the header (JWT, absent, dpop+jwt)', async () => {
    const [, p, s] = parts(good);
    const { header } = decodeJwt(good);
    for (const typ of ['JWT', undefined, 'dpop+jwt', 'application/at+jwt+x']) {
      const h = { ...header, typ };
      if (typ === undefined) delete h.typ;
      await assertRefused(`${seg(h)}.${p}.${s}`, `typ ${typ}`);
    }
  });

  test('payload altered (exp pushed out, scope widened, sub changed): signature mismatch', async () => {
    const [h, , s] = parts(good);
    const { payload } = decodeJwt(good);
    await assertRefused(`${h}.${seg({ ...payload, exp: payload.exp + 86400 })}.${s}`, 'exp changed');
    await assertRefused(`${h}.${seg({ ...payload, scope: `${payload.scope} admin:orgs` })}.${s}`, 'scope changed');
    await assertRefused(`${h}.${seg({ ...payload, sub: '00000000-0000-4000-8000-000000000000' })}.${s}`, 'sub changed');
    const sigBytes = Buffer.from(s, 'base64url');
    sigBytes[0] ^= 1;
    await assertRefused(`${h}.${parts(good)[1]}.${sigBytes.toString('base64url')}`, 'signature bit flipped');
  });

  test('unknown or missing kid', async () => {
    const [, p, s] = parts(good);
    const { header } = decodeJwt(good);
    await assertRefused(`${seg({ ...header, kid: 'no-such-key' })}.${p}.${s}`, 'unknown kid');
    const noKid = { ...header };
    delete noKid.kid;
    await assertRefused(`${seg(noKid)}.${p}.${s}`, 'no kid');
    await assertRefused(`${seg({ ...header, kid: 42 })}.${p}.${s}`, 'numeric kid');
  });

  test('duplicate JSON members in the header or the payload', async () => {
    const [h, p, s] = parts(good);
    const hJson = Buffer.from(h, 'base64url').toString();
    const pJson = Buffer.from(p, 'base64url').toString();
    const dupHeaders = [
      hJson.replace('{', '{"alg":"none",'),
      hJson.replace('{', '{"alg":"HS256",'),
      hJson.replace(/}$/, ',"typ":"at+jwt"}'),
      hJson.replace(/}$/, ',"kid":"other"}'),
    ];
    for (const dh of dupHeaders) await assertRefused(`${seg(dh)}.${p}.${s}`, `dup header ${dh.slice(0, 40)}`);
    const { payload } = decodeJwt(good);
    await assertRefused(`${h}.${seg(pJson.replace(/}$/, `,"sub":"${payload.sub}"}`))}.${s}`, 'dup sub in payload');
  });

  test('header extensions: crit, jku, jwk, x5u', async () => {
    const [, p, s] = parts(good);
    const { header } = decodeJwt(good);
    const extras = [
      { crit: ['exp'] },
      { crit: ['x-custom'], 'x-custom': 1 },
      { jku: 'https://attacker.example/jwks.json' },
      { x5u: 'https://attacker.example/cert.pem' },
      { jwk: jwks.keys[0] },
    ];
    for (const extra of extras) await assertRefused(`${seg({ ...header, ...extra })}.${p}.${s}`, `header ${Object.keys(extra)[0]}`);
  });

  test('non-canonical base64url: padding, + and / characters', async () => {
    const segs = parts(good);
    // Padding added to a segment whose length is not a multiple of 4 would decode to the
    // same bytes in a lenient decoder.
    for (let i = 0; i < 3; i++) {
      if (segs[i].length % 4 === 0) continue;
      const padded = [...segs];
      padded[i] += '='.repeat(4 - (segs[i].length % 4));
      await assertRefused(padded.join('.'), `padding on segment ${i}`);
    }
    // Standard-alphabet characters in place of - and _ (same bytes to a lenient decoder).
    let altered = 0;
    for (let i = 0; i < 3; i++) {
      if (!/[-_]/.test(segs[i])) continue;
      const std = [...segs];
      std[i] = segs[i].replace(/-/g, '+').replace(/_/g, '/');
      await assertRefused(std.join('.'), `standard alphabet in segment ${i}`);
      altered++;
    }
    assert.ok(altered > 0, 'the token had - or _ somewhere to alter');
    await assertRefused(`${segs[0]}.${segs[1]}.${segs[2]}!`, 'invalid character in signature');
    await assertRefused(`${segs[0]} .${segs[1]}.${segs[2]}`, 'space inside');
  });

  test('structurally broken tokens', async () => {
    const [h, p, s] = parts(good);
    const broken = [
      `${h}.${p}`,
      `${h}.${p}.${s}.${s}`,
      `.${p}.${s}`,
      `${h}..${s}`,
      '..',
      '.',
      'a'.repeat(9000),
      `${seg('not json')}.${p}.${s}`,
      `${seg('[]')}.${p}.${s}`,
      `${h}.${seg('"a string"')}.${s}`,
      `${h}.${seg('{}')}.${s}`,
      `${seg({ alg: 'RS256', typ: 'at+jwt', kid: decodeJwt(good).header.kid })}.${seg({})}.${s}`,
    ];
    for (const tok of broken) await assertRefused(tok, `broken ${tok.slice(0, 30)}`);
  });

  test('a foreign token (another issuer and key) is inactive', async () => {
    const other = await startServer({ env: { AGENTIDP_SIGNING_ALG: 'ES256' } });
    try {
      const foreign = await other.accessToken(other.admin.client_id, other.admin.client_secret);
      await assertRefused(foreign, 'foreign token');
    } finally {
      await other.close();
    }
  });
});

describe('expiry', () => {
  test('a token past exp (leeway 0) is refused; it was accepted before', async () => {
    const { exp } = decodeJwt(expiring).payload;
    const waitMs = (exp + 1) * 1000 - Date.now() + 250;
    if (waitMs > 0) await sleep(waitMs);
    await assertRefused(expiring, 'expired');
  });

  test('nothing in this file was answered with a 5xx', () => {
    const bad = seen.filter(([, , s]) => s >= 500);
    assert.deepEqual(bad, []);
    assert.ok(seen.length > 100, `checked ${seen.length} responses`);
  });
});
