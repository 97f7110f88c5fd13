// DIDs (SPEC §4 "did", "compliance/agent-cards"): the instance DID document and per-agent
// did:web documents (port encoded as %3A, path :agents:<id>), per-agent keys whose published
// verification methods verify what they sign, W3C DID resolution results, AGNTCY-style agent
// cards, 410 for decommissioned agents, 404 for unknown ones, no private key member anywhere;
// rotation of an agent's key (POST /api/v1/agents/{id}/did/keys/rotate).

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, verify, randomUUID } from 'node:crypto';
import { startServer } from './lib/harness.mjs';

let srv;
let admin;
let didBase;
before(async () => {
  srv = await startServer();
  admin = await srv.adminToken(srv);
  didBase = `did:web:127.0.0.1%3A${srv.port}`;
});
after(async () => { await srv?.close(); });

const PRIVATE = new Set(['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k']);
function assertNoPrivateMembers(value, where = '$') {
  if (Array.isArray(value)) value.forEach((v, i) => assertNoPrivateMembers(v, `${where}[${i}]`));
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      assert.ok(!PRIVATE.has(k), `private member "${k}" at ${where}`);
      assertNoPrivateMembers(v, `${where}.${k}`);
    }
  }
}

function verifyJws(compact, jwk) {
  const [h, p, s] = compact.split('.');
  const header = JSON.parse(Buffer.from(h, 'base64url').toString());
  const key = createPublicKey({ key: jwk, format: 'jwk' });
  const data = Buffer.from(`${h}.${p}`);
  const sig = Buffer.from(s, 'base64url');
  if (header.alg === 'EdDSA') return verify(null, data, key, sig);
  if (header.alg === 'ES256') return verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, sig);
  if (header.alg === 'RS256') return verify('sha256', data, key, sig);
  throw new Error(`unexpected alg ${header.alg}`);
}

describe('instance DID', () => {
  test('did:web with the port as %3A, every JWKS key as a JsonWebKey2020 method, public only', async () => {
    const r = await srv.api('GET', '/.well-known/did.json');
    assert.equal(r.status, 200, r.text);
    assert.match(r.headers.get('content-type'), /^application\/did\+ld\+json/);
    assert.equal(r.json.id, didBase);
    assert.deepEqual(r.json['@context'], ['https://www.w3.org/ns/did/v1', 'https://w3id.org/security/suites/jws-2020/v1']);
    const jwks = (await srv.api('GET', '/.well-known/jwks.json')).json;
    assert.equal(r.json.verificationMethod.length, jwks.keys.length);
    for (const key of jwks.keys) {
      const vm = r.json.verificationMethod.find((m) => m.id === `${didBase}#${key.kid}`);
      assert.ok(vm, `no verification method for ${key.kid}`);
      assert.equal(vm.type, 'JsonWebKey2020');
      assert.equal(vm.controller, didBase);
      assert.deepEqual(vm.publicKeyJwk, key);
      assert.ok(r.json.assertionMethod.includes(vm.id));
      assert.ok(r.json.authentication.includes(vm.id));
    }
    assertNoPrivateMembers(r.json);
  });

  test('the method named by an access token\'s kid verifies that token', async () => {
    const token = admin;
    const [h] = token.split('.');
    const { kid } = JSON.parse(Buffer.from(h, 'base64url').toString());
    const doc = (await srv.api('GET', '/.well-known/did.json')).json;
    const vm = doc.verificationMethod.find((m) => m.id === `${didBase}#${kid}`);
    assert.ok(vm);
    assert.equal(verifyJws(token, vm.publicKeyJwk), true);
    // A tampered token does not verify with it.
    const [hh, p, s] = token.split('.');
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString());
    payload.scope = 'admin:orgs';
    const forged = `${hh}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`;
    assert.equal(verifyJws(forged, vm.publicKeyJwk), false);
  });
});

describe('agent DID documents', () => {
  let agent;
  before(async () => {
    agent = await srv.createAgent(admin, { capabilities: ['resumes:read', 'candidates:score'] });
  });

  test('/agents/{id}/did.json and /agents/{id}/did: did:web:<host%3Aport>:agents:<id>, the agent\'s did', async () => {
    const expected = `${didBase}:agents:${agent.agentId}`;
    assert.equal(agent.did, expected);
    const a = await srv.api('GET', `/agents/${agent.agentId}/did.json`);
    assert.equal(a.status, 200, a.text);
    assert.match(a.headers.get('content-type'), /^application\/did\+ld\+json/);
    assert.equal(a.json.id, expected);
    assert.equal(a.json.controller, didBase);
    assert.equal(a.json.verificationMethod.length, 1);
    const vm = a.json.verificationMethod[0];
    assert.equal(vm.type, 'JsonWebKey2020');
    assert.equal(vm.controller, expected);
    assert.equal(vm.id, `${expected}#${vm.publicKeyJwk.kid}`);
    assert.equal(vm.publicKeyJwk.kty, 'OKP');
    assert.equal(vm.publicKeyJwk.crv, 'Ed25519');
    assert.deepEqual(a.json.assertionMethod, [vm.id]);
    assert.deepEqual(a.json.authentication, [vm.id]);
    assertNoPrivateMembers(a.json);
    const b = await srv.api('GET', `/agents/${agent.agentId}/did`);
    assert.equal(b.status, 200, b.text);
    assert.deepEqual(b.json, a.json, 'the same document, and the same key on every read');
    // A different agent has a different key.
    const other = await srv.createAgent(admin);
    const o = await srv.api('GET', `/agents/${other.agentId}/did.json`);
    assert.notEqual(o.json.verificationMethod[0].publicKeyJwk.x, vm.publicKeyJwk.x);
  });

  test('the signed agent card verifies with the key the DID document publishes', async () => {
    const doc = (await srv.api('GET', `/agents/${agent.agentId}/did.json`)).json;
    const vm = doc.verificationMethod[0];
    const r = await srv.api('GET', `/agents/${agent.agentId}/did/card?format=jwt`);
    assert.equal(r.status, 200, r.text);
    assert.match(r.headers.get('content-type'), /^application\/jwt/);
    const jws = r.text;
    const [h, p] = jws.split('.');
    const header = JSON.parse(Buffer.from(h, 'base64url').toString());
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
    assert.equal(header.alg, 'EdDSA');
    assert.equal(header.kid, vm.id);
    assert.equal(claims.iss, doc.id);
    assert.equal(claims.sub, doc.id);
    assert.equal(claims.card.id, agent.agentId);
    assert.equal(verifyJws(jws, vm.publicKeyJwk), true, 'signature made by the agent key verifies');
    // The instance keys do not verify it: it is the agent's own key that signs.
    const instance = (await srv.api('GET', '/.well-known/did.json')).json;
    for (const m of instance.verificationMethod) {
      if (m.publicKeyJwk.kty === 'OKP') assert.equal(verifyJws(jws, m.publicKeyJwk), false);
    }
    // Nor does another agent's key.
    const other = await srv.createAgent(admin);
    const otherVm = (await srv.api('GET', `/agents/${other.agentId}/did.json`)).json.verificationMethod[0];
    assert.equal(verifyJws(jws, otherVm.publicKeyJwk), false);
  });

  test('agent card (JSON): id, did, capabilities, endpoints, version, public keys', async () => {
    const r = await srv.api('GET', `/agents/${agent.agentId}/did/card`);
    assert.equal(r.status, 200, r.text);
    const card = r.json;
    assert.equal(card.id, agent.agentId);
    assert.equal(card.name, agent.agentId, 'a card is public: a non-public agent is named by its id');
    assert.ok(!JSON.stringify(card).includes(agent.email), 'no email of a non-public agent');
    const pub = await srv.createAgent(admin, { isPublic: true });
    assert.equal((await srv.api('GET', `/agents/${pub.agentId}/did/card`)).json.name, pub.email);
    assert.equal(card.did, agent.did);
    assert.equal(card.version, '1.0.0');
    assert.deepEqual(card.capabilities, ['resumes:read', 'candidates:score']);
    assert.equal(card.endpoints.didDocument, `${srv.issuer}/agents/${agent.agentId}/did.json`);
    assert.equal(card.endpoints.tokenEndpoint, `${srv.issuer}/api/v1/token`);
    assert.equal(card.endpoints.jwksUri, `${srv.issuer}/.well-known/jwks.json`);
    const doc = (await srv.api('GET', `/agents/${agent.agentId}/did.json`)).json;
    assert.deepEqual(card.publicKeys, doc.verificationMethod);
    assertNoPrivateMembers(card);
    const bad = await srv.api('GET', `/agents/${agent.agentId}/did/card?format=xml`);
    assert.equal(bad.status, 400, bad.text);
  });

  test('unknown and malformed ids: 404 on every DID route', async () => {
    for (const id of [randomUUID(), 'not-a-uuid']) {
      for (const p of [`/agents/${id}/did.json`, `/agents/${id}/did`, `/agents/${id}/did/card`]) {
        const r = await srv.api('GET', p);
        assert.equal(r.status, 404, `${p}: ${r.text}`);
        assert.equal(r.json.code, 'AGENT_NOT_FOUND');
      }
      const res = await srv.api('GET', `/agents/${id}/did/resolve`, { token: admin });
      assert.equal(res.status, 404, res.text);
    }
  });

  test('a decommissioned agent: 410 Gone on its document and card, resolution deactivated', async () => {
    const a = await srv.createAgent(admin);
    assert.equal((await srv.api('GET', `/agents/${a.agentId}/did.json`)).status, 200);
    assert.equal((await srv.api('DELETE', `/api/v1/agents/${a.agentId}`, { token: admin })).status, 204);
    for (const p of [`/agents/${a.agentId}/did.json`, `/agents/${a.agentId}/did`, `/agents/${a.agentId}/did/card`, `/agents/${a.agentId}/did/card?format=jwt`]) {
      const r = await srv.api('GET', p);
      assert.equal(r.status, 410, `${p}: ${r.text}`);
      assert.equal(r.json.code, 'AGENT_DECOMMISSIONED');
    }
    const res = await srv.api('GET', `/agents/${a.agentId}/did/resolve`, { token: admin });
    assert.equal(res.status, 410, res.text);
    assert.equal(res.json.didDocumentMetadata.deactivated, true);
    assert.equal(res.json.didDocument.id, a.did);
    assert.equal(res.json.didDocument.verificationMethod, undefined);
  });

  test('a suspended agent keeps its DID document', async () => {
    const a = await srv.createAgent(admin);
    await srv.api('PATCH', `/api/v1/agents/${a.agentId}`, { token: admin, body: { status: 'suspended' } });
    assert.equal((await srv.api('GET', `/agents/${a.agentId}/did.json`)).status, 200);
  });
});

describe('DID resolution', () => {
  test('agents:read: a W3C DID Resolution result with the document and its metadata', async () => {
    const a = await srv.createAgent(admin);
    const member = await srv.agentWithSecret(admin);
    const token = await srv.accessToken(member.id, member.secret);
    const r = await srv.api('GET', `/agents/${a.agentId}/did/resolve`, { token });
    assert.equal(r.status, 200, r.text);
    const doc = (await srv.api('GET', `/agents/${a.agentId}/did.json`)).json;
    assert.deepEqual(r.json.didDocument, doc);
    assert.equal(r.json.didResolutionMetadata.contentType, 'application/did+ld+json');
    assert.equal(r.json.didDocumentMetadata.deactivated, false);
    assert.match(r.json.didDocumentMetadata.created, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.match(r.json.didDocumentMetadata.updated, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(r.json.didDocumentMetadata.created, a.createdAt.replace(/\.\d{3}Z$/, 'Z'));
    assertNoPrivateMembers(r.json);
  });

  test('401 without a token; another organization\'s agent is 404', async () => {
    const a = await srv.createAgent(admin);
    assert.equal((await srv.api('GET', `/agents/${a.agentId}/did/resolve`)).status, 401);
    const org = (await srv.api('POST', '/api/v1/organizations', { token: admin, body: { name: 'Tenant', slug: `t-${randomUUID().slice(0, 8)}` } })).json;
    const outsider = await srv.agentWithSecret(admin, { organizationId: org.organizationId });
    const token = await srv.accessToken(outsider.id, outsider.secret);
    const r = await srv.api('GET', `/agents/${a.agentId}/did/resolve`, { token });
    assert.equal(r.status, 404, r.text);
    assert.equal(r.json.code, 'AGENT_NOT_FOUND');
    const own = await srv.api('GET', `/agents/${outsider.id}/did/resolve`, { token });
    assert.equal(own.status, 200, own.text);
  });
});

describe('compliance agent cards', () => {
  test('every active agent of the caller\'s organization, nothing else', async () => {
    const org = (await srv.api('POST', '/api/v1/organizations', { token: admin, body: { name: 'Cards', slug: `c-${randomUUID().slice(0, 8)}` } })).json;
    const a = await srv.agentWithSecret(admin, { organizationId: org.organizationId });
    const b = await srv.createAgent(admin, { organizationId: org.organizationId });
    const c = await srv.createAgent(admin, { organizationId: org.organizationId });
    const d = await srv.createAgent(admin, { organizationId: org.organizationId });
    await srv.api('DELETE', `/api/v1/agents/${c.agentId}`, { token: admin });
    await srv.api('PATCH', `/api/v1/agents/${d.agentId}`, { token: admin, body: { status: 'suspended' } });
    const token = await srv.accessToken(a.id, a.secret);
    const r = await srv.api('GET', '/api/v1/compliance/agent-cards', { token });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.total, 2);
    assert.deepEqual(new Set(r.json.data.map((x) => x.id)), new Set([a.id, b.agentId]));
    for (const card of r.json.data) {
      const doc = (await srv.api('GET', `/agents/${card.id}/did.json`)).json;
      assert.deepEqual(card.publicKeys, doc.verificationMethod);
      assert.equal(card.did, doc.id);
    }
    assertNoPrivateMembers(r.json);
    // The filter cannot widen a confined caller's view.
    const widened = await srv.api('GET', `/api/v1/compliance/agent-cards?organizationId=${srv.admin.organization_id}`, { token });
    assert.equal(widened.json.total, 2);
    // A cross-tenant administrator may ask for another organization's.
    const asAdmin = await srv.api('GET', `/api/v1/compliance/agent-cards?organizationId=${org.organizationId}`, { token: admin });
    assert.equal(asAdmin.json.total, 2);
    assert.equal((await srv.api('GET', '/api/v1/compliance/agent-cards')).status, 401);
  });
});

describe('keys survive a restart', () => {
  test('an agent keeps its DID key across restarts (stored sealed, not regenerated)', async () => {
    const s = await startServer();
    try {
      const t = await s.adminToken(s);
      const a = await s.createAgent(t);
      const before = (await s.api('GET', `/agents/${a.agentId}/did.json`)).json.verificationMethod[0].publicKeyJwk;
      await s.stop();
      const again = await startServer({ dataDir: s.dataDir });
      try {
        const after = (await again.api('GET', `/agents/${a.agentId}/did.json`)).json.verificationMethod[0].publicKeyJwk;
        assert.deepEqual(after, before);
        const jws = (await again.api('GET', `/agents/${a.agentId}/did/card?format=jwt`)).text;
        assert.equal(verifyJws(jws, before), true);
      } finally {
        await again.stop();
      }
    } finally {
      await s.close();
    }
  });
});

describe('agent DID key rotation', () => {
  const rotate = (id, token = admin) => srv.api('POST', `/api/v1/agents/${id}/did/keys/rotate`, { token });
  const vmOf = async (id) => {
    const doc = (await srv.api('GET', `/agents/${id}/did.json`)).json;
    assert.equal(doc.verificationMethod.length, 1, 'exactly one (the active) key is published');
    return { doc, vm: doc.verificationMethod[0] };
  };

  test('a new key replaces the old one in the document and signs the cards; audited', async () => {
    const agent = await srv.createAgent(admin);
    const before = await vmOf(agent.agentId);
    const oldCard = (await srv.api('GET', `/agents/${agent.agentId}/did/card?format=jwt`)).text;
    const r = await rotate(agent.agentId);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('cache-control'), 'no-store');
    assert.equal(r.json.agentId, agent.agentId);
    assert.equal(r.json.did, before.doc.id);
    assert.equal(r.json.previousKid, before.vm.id.split('#')[1]);
    assert.notEqual(r.json.kid, r.json.previousKid);
    assert.equal(r.json.verificationMethod, `${before.doc.id}#${r.json.kid}`);
    assert.equal(r.json.alg, 'EdDSA');
    assertNoPrivateMembers(r.json);

    const after = await vmOf(agent.agentId);
    assert.equal(after.vm.id, r.json.verificationMethod);
    assert.deepEqual(after.doc.assertionMethod, [r.json.verificationMethod]);
    assert.deepEqual(after.doc.authentication, [r.json.verificationMethod]);
    const card = (await srv.api('GET', `/agents/${agent.agentId}/did/card?format=jwt`)).text;
    assert.equal(JSON.parse(Buffer.from(card.split('.')[0], 'base64url')).kid, after.vm.id);
    assert.equal(verifyJws(card, after.vm.publicKeyJwk), true, 'the new key signs');
    assert.equal(verifyJws(card, before.vm.publicKeyJwk), false, 'the old key does not');
    assert.equal(verifyJws(oldCard, after.vm.publicKeyJwk), false);
    const res = await srv.api('GET', `/agents/${agent.agentId}/did/resolve`, { token: admin });
    assert.equal(res.json.didDocument.verificationMethod[0].id, after.vm.id);

    const audit = await srv.api('GET', `/api/v1/audit?action=key.rotated&agentId=${agent.agentId}`, { token: admin });
    assert.equal(audit.status, 200, audit.text);
    assert.equal(audit.json.data.length, 1, audit.text);
    assert.equal(audit.json.data[0].metadata.keyType, 'agent_did');
    assert.equal(audit.json.data[0].metadata.kid, r.json.kid);
    assert.equal(audit.json.data[0].metadata.previousKid, r.json.previousKid);

    // Again: a third key; the second is retired too.
    const again = await rotate(agent.agentId);
    assert.equal(again.status, 200, again.text);
    assert.equal(again.json.previousKid, r.json.kid);
    assert.equal((await vmOf(agent.agentId)).vm.id, again.json.verificationMethod);
  });

  test('an agent that never had a key gets its first one', async () => {
    const agent = await srv.createAgent(admin);
    // No DID route was read yet, so no key exists.
    const r = await rotate(agent.agentId);
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.previousKid, null);
    assert.equal((await vmOf(agent.agentId)).vm.id, r.json.verificationMethod);
  });

  test('needs agents:write, stays in the organization, refuses decommissioned agents', async () => {
    const agent = await srv.createAgent(admin);
    assert.equal((await srv.api('POST', `/api/v1/agents/${agent.agentId}/did/keys/rotate`)).status, 401);
    const member = await srv.agentWithSecret(admin);
    const memberToken = await srv.accessToken(member.id, member.secret);
    const forbidden = await rotate(agent.agentId, memberToken);
    assert.equal(forbidden.status, 403, forbidden.text);
    assert.equal((await rotate(randomUUID())).status, 404);
    assert.equal((await rotate('not-a-uuid')).status, 404);
    // Another organization's admin does not see the agent.
    const org = await srv.api('POST', '/api/v1/organizations', { token: admin, body: { name: 'Other', slug: `did-${randomUUID().slice(0, 8)}` } });
    assert.equal(org.status, 201, org.text);
    const outsider = await srv.agentWithSecret(admin);
    assert.equal((await srv.api('POST', `/api/v1/organizations/${org.json.organizationId}/members`, { token: admin, body: { agentId: outsider.id, role: 'admin' } })).status, 201);
    const outsiderToken = await srv.accessToken(outsider.id, outsider.secret);
    const foreign = await rotate(agent.agentId, outsiderToken);
    assert.equal(foreign.status, 404, foreign.text);
    assert.equal((await srv.api('DELETE', `/api/v1/agents/${agent.agentId}`, { token: admin })).status, 204);
    const gone = await rotate(agent.agentId);
    assert.equal(gone.status, 409, gone.text);
    assert.equal(gone.json.code, 'AGENT_ALREADY_DECOMMISSIONED');
  });
});
