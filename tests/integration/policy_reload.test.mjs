// SIGHUP reloads the policy file (SPEC §9); an invalid file is refused and the running
// policy kept.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, makeTempDir, sleep } from './lib/harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const original = readFileSync(path.join(here, '..', '..', 'config', 'policy.json'), 'utf8');
const policyFile = path.join(makeTempDir('agentidp-policy-'), 'policy.json');

let srv;
let admin;
let member;
before(async () => {
  writeFileSync(policyFile, original);
  srv = await startServer({ env: { AGENTIDP_POLICY_FILE: policyFile } });
  admin = await srv.adminToken(srv);
  const m = await srv.agentWithSecret(admin);
  member = await srv.accessToken(m.id, m.secret);
});
after(async () => { await srv?.close(); });

async function listStatus(token) {
  return (await srv.api('GET', '/api/v1/agents', { token })).status;
}

async function waitFor(what, fn, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

test('the policy from the file is in force', async () => {
  assert.equal(await listStatus(member), 200);
});

test('SIGHUP applies a changed policy: agents.list now needs admin:orgs', async () => {
  const policy = JSON.parse(original);
  policy.routes['agents.list'] = ['admin:orgs'];
  writeFileSync(policyFile, JSON.stringify(policy, null, 2));
  process.kill(srv.pid, 'SIGHUP');
  await waitFor('the member to lose agents.list', async () => (await listStatus(member)) === 403);
  const r = await srv.api('GET', '/api/v1/agents', { token: member });
  assert.equal(r.status, 403);
  assert.equal(r.json.reason, 'insufficient_scope');
  assert.deepEqual(r.json.details?.requiredScopes, ['admin:orgs']);
  assert.equal(await listStatus(admin), 200, 'the admin holds admin:orgs');
  // Other routes are unchanged.
  const one = await srv.api('GET', `/api/v1/agents/${srv.admin.client_id}`, { token: member });
  assert.equal(one.status, 200, one.text);
});

test('an invalid policy on SIGHUP is refused; the server stays up with the old policy', async () => {
  const invalid = [
    '{ this is not json',
    JSON.stringify({ ...JSON.parse(original), routes: { ...JSON.parse(original).routes, 'agents.list': ['no:such-scope'] } }),
    JSON.stringify({ ...JSON.parse(original), routes: { ...JSON.parse(original).routes, 'made.up': [] } }),
    JSON.stringify({ ...JSON.parse(original), version: 2 }),
    '{"version":1,"version":1}',
    '',
  ];
  for (const doc of invalid) {
    writeFileSync(policyFile, doc);
    process.kill(srv.pid, 'SIGHUP');
    await sleep(300);
    assert.equal(srv.exited(), null, `the server survived ${doc.slice(0, 40)}`);
    const h = await srv.api('GET', '/health');
    assert.equal(h.status, 200);
    assert.equal(await listStatus(member), 403, `the previous policy is kept after ${doc.slice(0, 40)}`);
    assert.equal(await listStatus(admin), 200);
  }
  assert.match(srv.stderr(), /policy reload refused/i);
});

test('restoring the original file and SIGHUP gives the member its access back', async () => {
  writeFileSync(policyFile, original);
  process.kill(srv.pid, 'SIGHUP');
  await waitFor('the member to regain agents.list', async () => (await listStatus(member)) === 200);
  assert.match(srv.stderr(), /policy reloaded/i);
});
