// Offline JSON-LD document loader for the DID documents the server emits: the DID Core v1
// context (npm `did-context`) and the JSON Web Signature 2020 suite context
// (npm `@transmute/security-context`). Any other URL is refused, so a test fails the moment
// the server emits a context this suite does not know, and nothing is fetched from the
// network while the tests run.

import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const didContext = require('did-context');
const securityContexts = require('@transmute/security-context');

export const DID_V1 = 'https://www.w3.org/ns/did/v1';
export const JWS_2020_V1 = 'https://w3id.org/security/suites/jws-2020/v1';

const KNOWN = new Map([
  [DID_V1, didContext.contexts.get(DID_V1)],
  [JWS_2020_V1, securityContexts.contexts.get(JWS_2020_V1)],
]);
for (const [url, doc] of KNOWN) {
  if (!doc) throw new Error(`context ${url} is missing from its npm package`);
}

export const requested = [];

export async function documentLoader(url) {
  requested.push(url);
  const document = KNOWN.get(url);
  if (!document) throw new Error(`offline document loader: refusing to load ${url}`);
  // A deep copy: jsonld must not be able to alter the shared context objects.
  return { contextUrl: null, documentUrl: url, document: structuredClone(document) };
}
