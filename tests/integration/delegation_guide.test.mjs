// docs/delegating-between-agents.md, executed: every ```sh block of the guide runs, in order,
// in one bash (set -euo pipefail) against a live server, with IDP and ADMIN set as the guide
// says; a ```json or ```text block directly under a ```sh block (blank lines only between)
// is that block's expected output, placeholders like "<A>" bind one value across the guide.
// The runner and matcher live in lib/guide.mjs (shared with secretless_guide.test.mjs).
//
// The server runs with the policy the guide describes (crossClientExchangeRoles: ["admin"]).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, makeTempDir } from './lib/harness.mjs';
import { steps, matchJson, matchText, runGuide, assertGuideTools, assertDistinct } from './lib/guide.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const GUIDE = path.join(here, '../../docs/delegating-between-agents.md');

let srv;
before(async () => {
  const doc = JSON.parse(readFileSync(path.join(here, '../../config/policy.json'), 'utf8'));
  doc.crossClientExchangeRoles = ['admin'];
  const policyFile = path.join(makeTempDir(), 'policy.json');
  writeFileSync(policyFile, JSON.stringify(doc));
  srv = await startServer({ env: { AGENTIDP_POLICY_FILE: policyFile } });
});
after(async () => { await srv?.close(); });

test('the output matcher itself: placeholders bind, members and lines must match exactly', () => {
  const b = new Map();
  matchJson({ a: 'x', n: 3, act: { sub: 'y' } }, { a: '<A>', n: 3, act: { sub: '<B>' } }, b, 'ok');
  assert.deepEqual([...b], [['A', 'x'], ['B', 'y']]);
  assert.throws(() => matchJson({ a: 'z' }, { a: '<A>' }, b, 'rebind'), /<A> was x, now z/);
  assert.throws(() => matchJson({ a: 'x', extra: 1 }, { a: '<A>' }, b, 'extra member'));
  assert.throws(() => matchJson({ a: 'x' }, { a: '<A>', gone: 1 }, b, 'missing member'));
  assert.throws(() => matchJson({ a: null }, { a: '<C>' }, b, 'null is no placeholder value'));
  assert.throws(() => matchJson([1, 2], [1], b, 'length'));
  matchText('422 SELF_DELEGATION\nx y\n', '422 SELF_DELEGATION\n<A> <B>', b, 'text ok');
  assert.throws(() => matchText('422 SELF\n', '422 SELF_DELEGATION', b, 'text'));
  assert.throws(() => matchText('x z\n', '<A> <B>\nmore', b, 'lines'));
  assert.throws(() => matchText('z y', '<A> <B>', b, 'text rebind'), /<A> was x, now z/);
  const blocks = steps('x\n```sh\necho 1\n```\n\n```json\n1\n```\n\ntext\n\n```sh\necho 2\n```\nprose\n```json\n{}\n```\n');
  assert.equal(blocks.length, 2);
  assert.equal(blocks[0].expected.body, '1\n');
  assert.equal(blocks[1].expected, undefined, 'a block after prose is not an expected output');
});

test('the guide has runnable examples with expected output', () => {
  const all = steps(readFileSync(GUIDE, 'utf8'));
  assert.ok(all.length >= 10, `only ${all.length} sh blocks`);
  assert.ok(all.filter((s) => s.expected).length >= 10, 'most examples show their output');
  assertGuideTools();
});

test('every sh block of docs/delegating-between-agents.md runs and prints what the guide shows', async () => {
  const admin = await srv.adminToken(srv);
  const env = { PATH: process.env.PATH, HOME: makeTempDir(), LANG: 'C.UTF-8', IDP: srv.url, ADMIN: admin };
  const bindings = await runGuide(readFileSync(GUIDE, 'utf8'), { name: 'docs/delegating-between-agents.md', env, cwd: makeTempDir() });
  // Placeholders with different names stand for different things (agents, chains).
  assertDistinct(bindings, ['A', 'B', 'C', 'OPS', 'OPS2']);
  assertDistinct(bindings, ['CHAIN_1', 'CHAIN_2']);
});
