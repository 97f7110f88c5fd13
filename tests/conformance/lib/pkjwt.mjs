// Helpers for private_key_jwt client authentication and DPoP (RFC 7523, RFC 9449):
// client key pairs made with jose, agents registered with a public key set,
// client assertions and DPoP proofs signed by jose (or, for the malformed cases,
// by hand over exact bytes), and raw requests that show the exact answer.

import { randomUUID, createHash, KeyObject, sign as nodeSign } from 'node:crypto';
import * as jose from 'jose';

export const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
// The algorithms a client key (and a DPoP key) may use (SPEC §3, §5).
export const CLIENT_ALGS = ['RS256', 'ES256', 'EdDSA'];

export const b64u = (input) => Buffer.from(input).toString('base64url');
export const b64uJson = (part) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
export const now = () => Math.floor(Date.now() / 1000);
// RFC 9449 §4.2: ath = base64url(SHA-256(ASCII access token)).
export const ath = (token) => createHash('sha256').update(token).digest('base64url');

async function readBody(res) {
  const text = await res.text();
  try {
    return { text, body: JSON.parse(text) };
  } catch {
    return { text, body: text };
  }
}

/**
 * A client key pair: the private CryptoKey, its public JWK (with kid, alg, use) and
 * a node KeyObject for signing exact bytes.
 */
export async function newKey(alg = 'ES256', kid = `k-${randomUUID()}`) {
  const { privateKey, publicKey } = await jose.generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await jose.exportJWK(publicKey)), kid, alg, use: 'sig' };
  const privateJwk = { ...(await jose.exportJWK(privateKey)), kid, alg };
  return { alg, kid, privateKey, publicKey, publicJwk, privateJwk, keyObject: KeyObject.from(privateKey) };
}

/** The public JWK of a key as DPoP wants it in the header (no kid/alg/use). */
export async function bareJwk(key) {
  const jwk = await jose.exportJWK(key.publicKey);
  return jwk;
}

/** RFC 7638 thumbprint (the token's cnf.jkt). */
export async function thumbprint(key) {
  return jose.calculateJwkThumbprint(await bareJwk(key), 'sha256');
}

/**
 * Signs header and payload given as exact JSON text (duplicate members, odd
 * spacing ...) with a key of `alg`, without any library checking the content.
 */
export function rawSign(headerJson, payloadJson, key, alg = key.alg) {
  const input = `${b64u(headerJson)}.${b64u(payloadJson)}`;
  return `${input}.${rawSignature(input, key, alg)}`;
}

export function rawSignature(signingInput, key, alg = key.alg) {
  const data = Buffer.from(signingInput);
  let sig;
  if (alg === 'RS256') sig = nodeSign('sha256', data, key.keyObject);
  else if (alg === 'ES256') sig = nodeSign('sha256', data, { key: key.keyObject, dsaEncoding: 'ieee-p1363' });
  else if (alg === 'EdDSA') sig = nodeSign(null, data, key.keyObject);
  else throw new Error(`rawSignature: no ${alg}`);
  return sig.toString('base64url');
}

/** POST /api/v1/agents with a bearer holding agents:write; the new agent. */
export async function createAgent(server, bearer) {
  const res = await fetch(`${server.url}/api/v1/agents`, {
    method: 'POST',
    headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      email: `pkjwt-${randomUUID()}@agents.example.test`,
      agentType: 'custom',
      version: '1.0.0',
      capabilities: ['conformance:test'],
      owner: 'conformance',
      deploymentEnv: 'development',
    }),
  });
  const { body } = await readBody(res);
  if (res.status !== 201 || typeof body?.agentId !== 'string') {
    throw new Error(`register agent -> HTTP ${res.status} ${JSON.stringify(body)}`);
  }
  return body;
}

/** POST /api/v1/agents/{id}/credentials with `body`; {status, body, text}. */
export async function postCredential(server, bearer, agentId, body) {
  const res = await fetch(`${server.url}/api/v1/agents/${agentId}/credentials`, {
    method: 'POST',
    headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, ...(await readBody(res)) };
}

/**
 * A fresh agent with one private_key_jwt credential: `keys` (from newKey) are
 * registered inline, or `jwksUri` is.
 */
export async function registerKeyAgent(server, bearer, { keys = [], jwksUri } = {}) {
  const agent = await createAgent(server, bearer);
  const req = jwksUri
    ? { type: 'private_key_jwt', jwksUri }
    : { type: 'private_key_jwt', jwks: { keys: keys.map((k) => k.publicJwk) } };
  const res = await postCredential(server, bearer, agent.agentId, req);
  if (res.status !== 201) {
    throw new Error(`create private_key_jwt credential -> HTTP ${res.status} ${res.text}`);
  }
  return { agentId: agent.agentId, clientId: res.body.clientId ?? agent.agentId, credential: res.body, keys };
}

/** The claims of a well-formed client assertion for `clientId`. */
export function assertionClaims(server, clientId, overrides = {}) {
  const t = now();
  return { iss: clientId, sub: clientId, aud: server.issuer, jti: randomUUID(), iat: t, exp: t + 60, ...overrides };
}

/**
 * A client assertion signed with jose. `claims` replace or add claims (a value
 * of undefined removes one); `header` adds protected header members.
 */
export async function signAssertion(server, clientId, key, { claims = {}, header = {} } = {}) {
  const payload = assertionClaims(server, clientId);
  for (const [k, v] of Object.entries(claims)) {
    if (v === undefined) delete payload[k];
    else payload[k] = v;
  }
  return new jose.SignJWT(payload)
    .setProtectedHeader({ alg: key.alg, kid: key.kid, ...header })
    .sign(key.privateKey);
}

/**
 * A DPoP proof (RFC 9449 §4.2) for `htm` `htu` signed by `key`, with `jwk` of its
 * public part in the header. `claims`/`header` override as in signAssertion.
 */
export async function dpopProof(key, { htm = 'POST', htu, accessToken, nonce, claims = {}, header = {} } = {}) {
  const payload = { jti: randomUUID(), htm, htu, iat: now() };
  if (accessToken !== undefined) payload.ath = ath(accessToken);
  if (nonce !== undefined) payload.nonce = nonce;
  for (const [k, v] of Object.entries(claims)) {
    if (v === undefined) delete payload[k];
    else payload[k] = v;
  }
  const protectedHeader = { alg: key.alg, typ: 'dpop+jwt', jwk: await bareJwk(key), ...header };
  for (const [k, v] of Object.entries(header)) if (v === undefined) delete protectedHeader[k];
  return new jose.SignJWT(payload).setProtectedHeader(protectedHeader).sign(key.privateKey);
}

/**
 * POST /api/v1/token (or `path`) with the form fields given (grant_type
 * client_credentials unless set) and extra headers; {status, headers, body, text}.
 */
export async function tokenRequest(server, form = {}, { headers = {}, path = '/api/v1/token' } = {}) {
  const params = new URLSearchParams();
  const fields = { grant_type: 'client_credentials', ...form };
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    for (const one of Array.isArray(v) ? v : [v]) params.append(k, one);
  }
  const res = await fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', ...headers },
    body: params,
  });
  return { status: res.status, headers: res.headers, ...(await readBody(res)) };
}

/** The form fields of private_key_jwt client authentication. */
export function assertionForm(assertion, extra = {}) {
  return { client_assertion_type: ASSERTION_TYPE, client_assertion: assertion, ...extra };
}

/** A request to a protected resource with any headers; {status, headers, body, text}. */
export async function resourceRequest(server, path, { method = 'GET', headers = {}, body } = {}) {
  const res = await fetch(`${server.url}${path}`, { method, headers, body });
  return { status: res.status, headers: res.headers, ...(await readBody(res)) };
}

/**
 * The auth-params of the WWW-Authenticate challenge of `scheme` (case-insensitive)
 * as an object, or undefined when there is none.
 */
export function challenge(headers, scheme) {
  const value = headers.get('www-authenticate');
  if (!value) return undefined;
  const m = value.match(new RegExp(`(?:^|,\\s*)${scheme}(?:\\s+(.*))?$`, 'i'));
  if (!m) return undefined;
  const params = {};
  for (const p of (m[1] ?? '').matchAll(/([A-Za-z_]+)="((?:[^"\\]|\\.)*)"/g)) params[p[1].toLowerCase()] = p[2];
  return params;
}
