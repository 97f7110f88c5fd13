// W3C DIDs seen by independent DID tooling, over the server's native TLS listener:
//
// - did-resolver + web-did-resolver resolve the instance DID (did:web:127.0.0.1%3A<port>)
//   and per-agent DIDs (...:agents:<id>) over HTTPS, trusting the test's own CA through
//   NODE_EXTRA_CA_CERTS (lib/did_client.mjs runs as a child process for that);
// - did-jwt's verifyJWT verifies the agent card JWT that the server signs with the agent's
//   DID key (GET /agents/{id}/did/card?format=jwt), resolving `iss` with the same resolver,
//   and refuses forgeries and the JWTs of a deactivated DID;
// - jsonld expands every DID document in safe mode with the contexts loaded offline
//   (lib/jsonld_contexts.mjs refuses any other URL).

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import jsonld from 'jsonld';
import { createJWT, EdDSASigner, decodeJWT } from 'did-jwt';

import { startServer } from './lib/server.mjs';
import { basicAuth } from './lib/api.mjs';
import { makeTestPki, httpsRequest } from './lib/tls.mjs';
import { documentLoader, requested, DID_V1, JWS_2020_V1 } from './lib/jsonld_contexts.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const SEC = 'https://w3id.org/security#';

/** Runs lib/did_client.mjs with `job`; `trust` false leaves NODE_EXTRA_CA_CERTS out. */
function didClient(job, { caFile, trust = true }) {
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  if (trust) env.NODE_EXTRA_CA_CERTS = caFile;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(here, 'lib', 'did_client.mjs')], {
      env, stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out = [];
    const err = [];
    child.stdout.on('data', (c) => out.push(c));
    child.stderr.on('data', (c) => err.push(c));
    child.on('error', reject);
    child.on('exit', (code) => {
      const stderr = Buffer.concat(err).toString('utf8');
      if (code !== 0) return reject(new Error(`did_client exited with ${code}: ${stderr}`));
      try {
        resolve(JSON.parse(Buffer.concat(out).toString('utf8')));
      } catch (e) {
        reject(new Error(`did_client answered no JSON (${e.message}); stderr: ${stderr}`));
      }
    });
    child.stdin.end(JSON.stringify(job));
  });
}

async function resolveDids(dids, pki, options = {}) {
  return (await didClient({ resolve: dids }, { caFile: pki.caFile, ...options })).resolutions;
}

async function verifyJwts(items, pki) {
  return (await didClient({ verify: items }, { caFile: pki.caFile })).verifications;
}

describe('DIDs over TLS with did-resolver, did-jwt and jsonld', () => {
  let pki;
  let server;
  let adminBearer;
  let agent;
  const call = (method, p, opts = {}) => httpsRequest(`${server.url}${p}`, { ca: pki.ca, method, ...opts });

  async function createAgent() {
    const r = await call('POST', '/api/v1/agents', {
      headers: { authorization: `Bearer ${adminBearer}` },
      body: {
        email: `did-${Date.now()}-${Math.random().toString(16).slice(2)}@agents.example.test`,
        agentType: 'custom', version: '1.0.0', capabilities: ['did:test'], owner: 'conformance',
        deploymentEnv: 'development',
      },
    });
    assert.equal(r.status, 201, r.text);
    return r.json;
  }

  async function signedCard(agentId) {
    const r = await call('GET', `/agents/${agentId}/did/card?format=jwt`, { headers: { accept: 'application/jwt' } });
    assert.equal(r.status, 200, r.text);
    assert.match(r.headers['content-type'], /^application\/jwt/);
    return r.text;
  }

  before(async () => {
    pki = await makeTestPki();
    server = await startServer({ alg: 'ES256', args: ['--tls-cert', pki.certFile, '--tls-key', pki.keyFile] });
    assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const t = await call('POST', '/api/v1/token', {
      headers: { authorization: basicAuth(server.admin.client_id, server.admin.client_secret) },
      body: new URLSearchParams({ grant_type: 'client_credentials' }),
    });
    assert.equal(t.status, 200, t.text);
    adminBearer = t.json.access_token;
    agent = await createAgent();
  });
  after(async () => {
    await server?.stop();
    if (pki) await rm(pki.dir, { recursive: true, force: true });
  });

  it('the server names itself and its agents with did:web identifiers of its TLS origin', () => {
    assert.equal(server.issuer, server.url);
    assert.equal(agent.did, `did:web:127.0.0.1%3A${server.port}:agents:${agent.agentId}`);
  });

  it('web-did-resolver resolves the instance DID to /.well-known/did.json over HTTPS', async () => {
    const did = `did:web:127.0.0.1%3A${server.port}`;
    const [res] = await resolveDids([did], pki);
    assert.equal(res.didResolutionMetadata.error, undefined, JSON.stringify(res.didResolutionMetadata));
    assert.equal(res.didResolutionMetadata.contentType, 'application/did+ld+json');
    const served = await call('GET', '/.well-known/did.json');
    assert.deepEqual(res.didDocument, served.json);
    assert.equal(res.didDocument.id, did);
    // Every key of the JWKS is a verification method, public members only.
    const jwks = (await call('GET', '/.well-known/jwks.json')).json;
    assert.ok(jwks.keys.length >= 1);
    for (const key of jwks.keys) {
      const vm = res.didDocument.verificationMethod.find((m) => m.id === `${did}#${key.kid}`);
      assert.ok(vm, `no method for ${key.kid}`);
      assert.equal(vm.type, 'JsonWebKey2020');
      assert.deepEqual(vm.publicKeyJwk, key);
      assert.equal(vm.publicKeyJwk.d, undefined);
    }
  });

  it('web-did-resolver resolves an agent DID to /agents/{id}/did.json', async () => {
    const [res] = await resolveDids([agent.did], pki);
    assert.equal(res.didResolutionMetadata.error, undefined, JSON.stringify(res.didResolutionMetadata));
    const doc = res.didDocument;
    assert.equal(doc.id, agent.did);
    assert.equal(doc.controller, `did:web:127.0.0.1%3A${server.port}`);
    assert.equal(doc.verificationMethod.length, 1);
    const [vm] = doc.verificationMethod;
    assert.equal(vm.type, 'JsonWebKey2020');
    assert.equal(vm.controller, agent.did);
    assert.deepEqual(Object.keys(vm.publicKeyJwk).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x']);
    assert.equal(vm.publicKeyJwk.crv, 'Ed25519');
    assert.equal(vm.id, `${agent.did}#${vm.publicKeyJwk.kid}`);
    assert.deepEqual(doc.assertionMethod, [vm.id]);
    assert.deepEqual(doc.authentication, [vm.id]);
  });

  it('without the CA in NODE_EXTRA_CA_CERTS the same resolution fails (TLS is really checked)', async () => {
    const [res] = await resolveDids([agent.did], pki, { trust: false });
    assert.equal(res.didResolutionMetadata.error, 'notFound');
    assert.match(res.didResolutionMetadata.message, /certificate/i);
    assert.equal(res.didDocument, null);
  });

  it('unknown agents do not resolve', async () => {
    const did = `did:web:127.0.0.1%3A${server.port}:agents:00000000-0000-4000-8000-000000000000`;
    const [res] = await resolveDids([did], pki);
    assert.equal(res.didResolutionMetadata.error, 'notFound');
    assert.equal(res.didDocument, null);
  });

  it("did-jwt verifies the card JWT signed with the agent's DID key", async () => {
    const jwt = await signedCard(agent.agentId);
    const { header, payload } = decodeJWT(jwt);
    assert.equal(header.alg, 'EdDSA');
    const [res] = await resolveDids([agent.did], pki);
    const vm = res.didDocument.verificationMethod[0];
    assert.equal(header.kid, vm.id, 'kid names the verification method of the DID document');

    const [asAssertion, asAuthentication] = await verifyJwts([
      { jwt, proofPurpose: 'assertionMethod' },
      { jwt, proofPurpose: 'authentication' },
    ], pki);
    for (const v of [asAssertion, asAuthentication]) {
      assert.equal(v.ok, true, v.error);
      assert.equal(v.issuer, agent.did);
      assert.equal(v.signer.id, vm.id);
      assert.deepEqual(v.signer.publicKeyJwk, vm.publicKeyJwk);
      assert.deepEqual(v.payload, payload);
    }
    assert.equal(asAssertion.payload.sub, agent.did);
    assert.equal(asAssertion.payload.card.did, agent.did);
    assert.equal(asAssertion.payload.card.id, agent.agentId);
    assert.deepEqual(asAssertion.payload.card.publicKeys, [vm]);
  });

  it('did-jwt refuses an altered card, a foreign key under the agent DID, and another agent\'s key', async () => {
    const jwt = await signedCard(agent.agentId);
    const [h, p, s] = jwt.split('.');
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8'));
    claims.card.capabilities = ['admin:everything'];
    const altered = `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${s}`;

    // An attacker's Ed25519 key, claiming to be the agent and naming its method.
    const { privateKey } = generateKeyPairSync('ed25519');
    const seed = Buffer.from(privateKey.export({ format: 'jwk' }).d, 'base64url');
    const [res] = await resolveDids([agent.did], pki);
    const forged = await createJWT(
      { sub: agent.did, card: claims.card },
      { issuer: agent.did, signer: EdDSASigner(new Uint8Array(seed)), alg: 'EdDSA' },
      { kid: res.didDocument.verificationMethod[0].id },
    );

    // A genuine signature by another agent's DID key, relabelled as this agent's.
    const other = await createAgent();
    const otherJwt = await signedCard(other.agentId);
    const [oh, op, os] = otherJwt.split('.');
    const ohdr = JSON.parse(Buffer.from(oh, 'base64url').toString('utf8'));
    ohdr.kid = res.didDocument.verificationMethod[0].id;
    const oclaims = JSON.parse(Buffer.from(op, 'base64url').toString('utf8'));
    oclaims.iss = agent.did;
    const relabelled = [
      Buffer.from(JSON.stringify(ohdr)).toString('base64url'),
      Buffer.from(JSON.stringify(oclaims)).toString('base64url'),
      os,
    ].join('.');

    const results = await verifyJwts([{ jwt: altered }, { jwt: forged }, { jwt: relabelled }], pki);
    for (const [i, v] of results.entries()) {
      assert.equal(v.ok, false, `case ${i} verified`);
      assert.match(v.error, /invalid_signature/, `case ${i}: ${v.error}`);
    }
  });

  it('the DID documents expand with jsonld in safe mode, contexts offline', async () => {
    const [instance, agentRes] = await resolveDids([`did:web:127.0.0.1%3A${server.port}`, agent.did], pki);
    for (const doc of [instance.didDocument, agentRes.didDocument]) {
      assert.deepEqual(doc['@context'], [DID_V1, JWS_2020_V1]);
      const expanded = await jsonld.expand(doc, { safe: true, documentLoader });
      assert.equal(expanded.length, 1);
      const [node] = expanded;
      assert.equal(node['@id'], doc.id);
      const methods = node[`${SEC}verificationMethod`];
      assert.equal(methods.length, doc.verificationMethod.length);
      for (const [i, m] of methods.entries()) {
        const vm = doc.verificationMethod[i];
        assert.equal(m['@id'], vm.id);
        assert.deepEqual(m['@type'], [`${SEC}JsonWebKey2020`]);
        assert.deepEqual(m[`${SEC}controller`], [{ '@id': vm.controller }]);
        // publicKeyJwk is a JSON literal (@json): carried through byte for byte.
        assert.deepEqual(m[`${SEC}publicKeyJwk`], [{ '@type': '@json', '@value': vm.publicKeyJwk }]);
      }
      assert.deepEqual(node[`${SEC}assertionMethod`].map((r) => r['@id']), doc.assertionMethod);
      assert.deepEqual(node[`${SEC}authenticationMethod`].map((r) => r['@id']), doc.authentication);
      // Nothing the server emitted was dropped: every top-level member became an IRI.
      const expectedKeys = ['@id', `${SEC}verificationMethod`, `${SEC}assertionMethod`, `${SEC}authenticationMethod`];
      if (doc.controller) expectedKeys.push(`${SEC}controller`);
      assert.deepEqual(Object.keys(node).sort(), expectedKeys.sort());
    }
  });

  it('the safe-mode check has teeth: undefined terms and unknown contexts are refused', async () => {
    const [res] = await resolveDids([agent.did], pki);
    const undefinedTerm = { ...res.didDocument, serviceLevel: 'gold' };
    await assert.rejects(jsonld.expand(undefinedTerm, { safe: true, documentLoader }), /safe mode/i);
    const unknownContext = { ...res.didDocument, '@context': [...res.didDocument['@context'], 'https://example.com/ctx/v1'] };
    requested.length = 0;
    await assert.rejects(jsonld.expand(unknownContext, { safe: true, documentLoader }), (err) => {
      assert.equal(err.name, 'jsonld.InvalidUrl');
      assert.match(err.message, /https:\/\/example\.com\/ctx\/v1/);
      assert.match(String(err.details?.cause?.message), /refusing to load/);
      return true;
    });
    assert.deepEqual(requested, [DID_V1, JWS_2020_V1, 'https://example.com/ctx/v1']);
  });

  it('a decommissioned agent: its DID stops resolving and its signed cards stop verifying', async () => {
    const gone = await createAgent();
    const jwt = await signedCard(gone.agentId);
    const [alive] = await verifyJwts([{ jwt }], pki);
    assert.equal(alive.ok, true, alive.error);
    const del = await call('DELETE', `/api/v1/agents/${gone.agentId}`, { headers: { authorization: `Bearer ${adminBearer}` } });
    assert.equal(del.status, 204, del.text);
    const [res] = await resolveDids([gone.did], pki);
    assert.equal(res.didResolutionMetadata.error, 'notFound');
    const [dead] = await verifyJwts([{ jwt }], pki);
    assert.equal(dead.ok, false);
    assert.match(dead.error, /resolver_error|notFound/);
  });
});
