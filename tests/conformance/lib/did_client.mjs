// The relying party's side of did:web, run as a child process so that it trusts the test's CA
// exactly the way a deployed verifier would: through NODE_EXTRA_CA_CERTS, which node reads
// once at start-up (the parent test cannot add a CA to its own running process).
//
// Reads one JSON job on stdin:
//   {"resolve": ["did:web:..."], "verify": [{"jwt": "...", "proofPurpose": "assertionMethod"}]}
// and writes one JSON answer on stdout:
//   {"resolutions": [<did-resolver result>...],
//    "verifications": [{"ok": true, "issuer", "signer", "payload"} | {"ok": false, "error"}]}
// Resolution uses did-resolver + web-did-resolver (HTTPS, no fallback to HTTP); verification
// uses did-jwt's verifyJWT with that same resolver.

import { Resolver } from 'did-resolver';
import { getResolver as webDidResolver } from 'web-did-resolver';
import { verifyJWT } from 'did-jwt';

async function readStdin() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

const job = await readStdin();
// cache: false so that each call really goes over the wire (a decommissioned agent's DID must
// stop resolving, not be answered from memory).
const resolver = new Resolver({ ...webDidResolver() }, { cache: false });

const resolutions = [];
for (const did of job.resolve ?? []) resolutions.push(await resolver.resolve(did));

const verifications = [];
for (const { jwt, proofPurpose, audience } of job.verify ?? []) {
  try {
    const r = await verifyJWT(jwt, { resolver, proofPurpose, audience });
    verifications.push({ ok: true, issuer: r.issuer, signer: r.signer, payload: r.payload });
  } catch (err) {
    verifications.push({ ok: false, error: String(err?.message ?? err) });
  }
}

process.stdout.write(JSON.stringify({ resolutions, verifications }));
