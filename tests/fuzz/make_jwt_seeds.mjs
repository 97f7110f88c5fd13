// Regenerates corpus/jwt/: seed tokens signed with the fixed keys of fuzz_keys.hpp, so the
// fuzzer starts from tokens that pass the signature check and reaches the claim checks.
//   node tests/fuzz/make_jwt_seeds.mjs
// EdDSA and RS256 signatures are deterministic; ES256 ones are not, so re-running changes
// only the ES256 seeds' signature bytes.
import { createPrivateKey, createPublicKey, sign } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const src = readFileSync(path.join(here, 'fuzz_keys.hpp'), 'utf8');
const pem = (name) => new RegExp(`${name} = R"PEM\\(\\n([\\s\\S]*?)\\)PEM"`).exec(src)[1];
const keys = {
  es: { key: createPrivateKey(pem('kEs256Pem')), alg: 'ES256' },
  ed: { key: createPrivateKey(pem('kEdDsaPem')), alg: 'EdDSA' },
  rs: { key: createPrivateKey(pem('kRs256Pem')), alg: 'RS256' },
};

const NOW = 1774688400; // kNow in jwt_fuzzer.cpp
const b64 = (s) => Buffer.from(s).toString('base64url');

function jws(headerJson, payloadJson, kid) {
  const input = `${b64(headerJson)}.${b64(payloadJson)}`;
  const { key, alg } = keys[kid];
  const sig =
    alg === 'ES256' ? sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' })
    : alg === 'EdDSA' ? sign(null, Buffer.from(input), key)
    : sign('sha256', Buffer.from(input), key);
  return `${input}.${sig.toString('base64url')}`;
}

const access = (extra = {}) => JSON.stringify({
  iss: 'https://idp.example', sub: 'agent-1', aud: 'https://api.example', iat: NOW - 60,
  exp: NOW + 3600, jti: 'j1', scope: 'agents:read', organization_id: 'org-1', ...extra,
});
const jwk = (kid) => ({ ...createPublicKey(keys[kid].key).export({ format: 'jwk' }) });

const seeds = {
  'access_es256.jwt': jws(JSON.stringify({ alg: 'ES256', kid: 'es', typ: 'at+jwt' }), access(), 'es'),
  'access_eddsa.jwt': jws(JSON.stringify({ alg: 'EdDSA', kid: 'ed', typ: 'at+jwt' }), access({ aud: ['x', 'https://api.example'] }), 'ed'),
  'access_rs256.jwt': jws(JSON.stringify({ alg: 'RS256', kid: 'rs', typ: 'application/at+JWT' }), access({ nbf: NOW - 10 }), 'rs'),
  'expired.jwt': jws(JSON.stringify({ alg: 'ES256', kid: 'es', typ: 'at+jwt' }), access({ exp: NOW - 31 }), 'es'),
  'dpop_es256.jwt': jws(JSON.stringify({ alg: 'ES256', typ: 'dpop+jwt', jwk: jwk('es') }),
    JSON.stringify({ jti: 'p1', htm: 'POST', htu: 'https://idp.example/api/v1/token', iat: NOW }), 'es'),
  'dpop_eddsa.jwt': jws(JSON.stringify({ alg: 'EdDSA', typ: 'dpop+jwt', jwk: jwk('ed') }),
    JSON.stringify({ jti: 'p2', htm: 'GET', htu: 'https://api.example/x', iat: NOW - 5.5 }), 'ed'),
  'alg_none.jwt': `${b64('{"alg":"none","typ":"at+jwt"}')}.${b64(access())}.`,
  'hs256.jwt': `${b64('{"alg":"HS256","kid":"es"}')}.${b64(access())}.${b64('x'.repeat(32))}`,
  'jku_crit.jwt': `${b64('{"alg":"ES256","jku":"https://evil.example/jwks","crit":["b64"]}')}.${b64('{}')}.AA`,
  'duplicate_claim.jwt': jws(JSON.stringify({ alg: 'ES256', kid: 'es', typ: 'at+jwt' }),
    '{"iss":"https://idp.example","exp":1774692000,"exp":1,"aud":"https://api.example"}', 'es'),
};

const dir = path.join(here, 'corpus', 'jwt');
mkdirSync(dir, { recursive: true });
for (const [name, token] of Object.entries(seeds)) writeFileSync(path.join(dir, name), token);
console.log(`wrote ${Object.keys(seeds).length} seeds to ${dir}`);
