// Small JWT and DPoP helpers for the integration tests, on node:crypto only (the
// conformance suite uses third-party libraries; these tests need byte-level control).

import { createHash, generateKeyPairSync, randomUUID, sign } from 'node:crypto';

export const b64u = (buf) => Buffer.from(buf).toString('base64url');
export const b64uJson = (obj) => b64u(JSON.stringify(obj));

const KEY_TYPES = {
  ES256: () => generateKeyPairSync('ec', { namedCurve: 'P-256' }),
  RS256: () => generateKeyPairSync('rsa', { modulusLength: 2048 }),
  EdDSA: () => generateKeyPairSync('ed25519'),
};

/** A key pair with its public JWK (kid, alg set). */
export function newKey(alg = 'ES256', kid = randomUUID()) {
  const { privateKey, publicKey } = KEY_TYPES[alg]();
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid, alg };
  return { alg, kid, privateKey, publicKey, jwk };
}

/** The public members only (no kid/alg), as a DPoP header carries it. */
export function bareJwk(key) {
  const { kid, alg, ...rest } = key.jwk;
  return rest;
}

/** RFC 7638 thumbprint of a public JWK. */
export function thumbprint(jwk) {
  const members = { EC: ['crv', 'kty', 'x', 'y'], RSA: ['e', 'kty', 'n'], OKP: ['crv', 'kty', 'x'] }[jwk.kty];
  const canonical = '{' + members.map((m) => `${JSON.stringify(m)}:${JSON.stringify(jwk[m])}`).join(',') + '}';
  return b64u(createHash('sha256').update(canonical).digest());
}

export function signature(alg, privateKey, input) {
  if (alg === 'ES256') return sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
  if (alg === 'RS256') return sign('sha256', Buffer.from(input), privateKey);
  if (alg === 'EdDSA') return sign(null, Buffer.from(input), privateKey);
  throw new Error(`unsupported alg ${alg}`);
}

/** Signs `payload` with `key`; header defaults to {alg, kid}; `header` members override. */
export function signJwt(key, payload, header = {}) {
  const h = { alg: key.alg, kid: key.kid, ...header };
  for (const k of Object.keys(h)) if (h[k] === undefined) delete h[k];
  const input = `${b64uJson(h)}.${b64uJson(payload)}`;
  return `${input}.${b64u(signature(key.alg, key.privateKey, input))}`;
}

const now = () => Math.floor(Date.now() / 1000);

/** A client assertion for private_key_jwt (RFC 7523 §3). `claims` override the defaults. */
export function assertion(key, clientId, issuer, { claims = {}, header = {} } = {}) {
  const payload = { iss: clientId, sub: clientId, aud: issuer, jti: randomUUID(), iat: now(), exp: now() + 120, ...claims };
  for (const k of Object.keys(payload)) if (payload[k] === undefined) delete payload[k];
  return signJwt(key, payload, header);
}

export const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** A DPoP proof (RFC 9449 §4.2) for `htm htu`, bound to `accessToken` when given. */
export function dpopProof(key, htm, htu, { accessToken, nonce, claims = {}, header = {} } = {}) {
  const payload = { jti: randomUUID(), htm, htu, iat: now(), ...claims };
  if (accessToken) payload.ath = b64u(createHash('sha256').update(accessToken).digest());
  if (nonce) payload.nonce = nonce;
  for (const k of Object.keys(payload)) if (payload[k] === undefined) delete payload[k];
  return signJwt(key, payload, { typ: 'dpop+jwt', kid: undefined, jwk: bareJwk(key), ...header });
}

/** Decodes a JWT's payload without verifying it. */
export function claimsOf(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8'));
}
