// docs/delegating-between-agents.md, executed: every ```sh block of the guide runs, in order,
// in one bash (set -euo pipefail) against a live server, with IDP and ADMIN set as the guide
// says; a ```json or ```text block directly under a ```sh block (blank lines only between)
// is that block's expected output. So the guide cannot drift from the server.
//
// Matching: ```json compares the stream of JSON values printed (jq -c splits both) value by
// value, objects with exactly the same members; ```text compares lines exactly. In both, a
// placeholder "<NAME>" stands for any string or number and binds: the same NAME must be the
// same value everywhere in the guide.
//
// The server runs with the policy the guide describes (crossClientExchangeRoles: ["admin"]).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, makeTempDir } from './lib/harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const GUIDE = path.join(here, '../../docs/delegating-between-agents.md');
const PLACEHOLDER = /^<([A-Za-z0-9_]+)>$/;

/** The fenced blocks of a markdown text: [{lang, body, start, end}] in order. */
function fencedBlocks(markdown) {
  const blocks = [];
  const re = /^```([\w-]*)[^\n]*\n([\s\S]*?)^```[ \t]*$/gm;
  for (let m; (m = re.exec(markdown));) {
    blocks.push({ lang: m[1], body: m[2], start: m.index, end: m.index + m[0].length });
  }
  return blocks;
}

/** Runnable steps: every sh block with the expected-output block directly under it, if any. */
function steps(markdown) {
  const blocks = fencedBlocks(markdown);
  const out = [];
  for (let i = 0; i < blocks.length; i++) {
    const b = blocks[i];
    if (b.lang !== 'sh') continue;
    const next = blocks[i + 1];
    const adjacent = next && /^\s*$/.test(markdown.slice(b.end, next.start));
    const expected = adjacent && (next.lang === 'json' || next.lang === 'text') ? next : undefined;
    const line = markdown.slice(0, b.start).split('\n').length;
    out.push({ line, script: b.body, expected });
  }
  return out;
}

function jsonStream(text, where) {
  if (text.trim() === '') return [];
  const r = spawnSync('jq', ['-c', '.'], { input: text, encoding: 'utf8' });
  assert.equal(r.status, 0, `${where}: not a stream of JSON values (${r.stderr.trim()}):\n${text}`);
  return r.stdout.trim().split('\n').map((l) => JSON.parse(l));
}

function bind(bindings, name, value, where) {
  if (bindings.has(name)) {
    assert.equal(value, bindings.get(name), `${where}: <${name}> was ${bindings.get(name)}, now ${value}`);
  } else {
    bindings.set(name, value);
  }
}

function matchJson(actual, expected, bindings, where) {
  if (typeof expected === 'string' && PLACEHOLDER.test(expected)) {
    assert.ok(typeof actual === 'string' || typeof actual === 'number', `${where}: ${JSON.stringify(actual)} for ${expected}`);
    bind(bindings, PLACEHOLDER.exec(expected)[1], actual, where);
    return;
  }
  if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual), `${where}: expected an array, got ${JSON.stringify(actual)}`);
    assert.equal(actual.length, expected.length, `${where}: ${JSON.stringify(actual)}`);
    expected.forEach((e, i) => matchJson(actual[i], e, bindings, `${where}[${i}]`));
    return;
  }
  if (expected && typeof expected === 'object') {
    assert.ok(actual && typeof actual === 'object' && !Array.isArray(actual), `${where}: expected an object, got ${JSON.stringify(actual)}`);
    assert.deepEqual(Object.keys(actual).sort(), Object.keys(expected).sort(), `${where}: members of ${JSON.stringify(actual)}`);
    for (const k of Object.keys(expected)) matchJson(actual[k], expected[k], bindings, `${where}.${k}`);
    return;
  }
  assert.deepEqual(actual, expected, where);
}

function matchText(actual, expected, bindings, where) {
  const a = actual.replace(/\s+$/, '').split('\n');
  const e = expected.replace(/\s+$/, '').split('\n');
  assert.equal(a.length, e.length, `${where}: got\n${actual}`);
  e.forEach((line, i) => {
    const names = [];
    const pattern = line.split(/(<[A-Za-z0-9_]+>)/).map((part) => {
      const m = PLACEHOLDER.exec(part);
      if (m) { names.push(m[1]); return '(\\S+?)'; }
      return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    }).join('');
    const m = new RegExp(`^${pattern}$`).exec(a[i]);
    assert.ok(m, `${where} line ${i + 1}: "${a[i]}" does not match "${line}"`);
    names.forEach((n, j) => bind(bindings, n, m[j + 1], where));
  });
}

function runBash(script, env, cwd) {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', script], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const out = [];
    const err = [];
    child.stdout.on('data', (c) => out.push(c));
    child.stderr.on('data', (c) => err.push(c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

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
  for (const tool of ['bash', 'curl', 'jq']) {
    assert.equal(spawnSync(tool, ['--version'], { stdio: 'ignore' }).status, 0, `${tool} is needed (scripts/install-deps.sh)`);
  }
});

test('every sh block of docs/delegating-between-agents.md runs and prints what the guide shows', async () => {
  const all = steps(readFileSync(GUIDE, 'utf8'));
  // One shell for the whole guide (variables and functions carry over, as in a terminal),
  // with a marker line between blocks to split the output.
  const marker = (i) => `@@guide-block-${i}@@`;
  const script = ['set -euo pipefail'];
  all.forEach((s, i) => { script.push(`printf '%s\\n' '${marker(i)}'`, s.script); });
  script.push(`printf '%s\\n' '${marker(all.length)}'`);

  const admin = await srv.adminToken(srv);
  const env = { PATH: process.env.PATH, HOME: makeTempDir(), LANG: 'C.UTF-8', IDP: srv.url, ADMIN: admin };
  const r = await runBash(script.join('\n'), env, makeTempDir());
  const outputs = [];
  let rest = r.stdout;
  for (let i = 0; i <= all.length; i++) {
    const at = rest.indexOf(`${marker(i)}\n`);
    if (at < 0) break;
    if (i > 0) outputs.push(rest.slice(0, at));
    rest = rest.slice(at + marker(i).length + 1);
  }
  const failedAt = all[outputs.length];
  assert.equal(r.code, 0,
    `the guide's shell exited with ${r.code ?? r.signal} in the block at line ${failedAt?.line}:\n${r.stderr}\n${r.stdout.slice(-2000)}`);
  assert.equal(outputs.length, all.length, 'every block ran');

  const bindings = new Map();
  all.forEach((s, i) => {
    if (!s.expected) return;
    const where = `docs/delegating-between-agents.md block at line ${s.line}`;
    if (s.expected.lang === 'json') {
      const actual = jsonStream(outputs[i], where);
      const expected = jsonStream(s.expected.body, `${where} (expected)`);
      assert.equal(actual.length, expected.length, `${where}: printed\n${outputs[i]}`);
      expected.forEach((e, j) => matchJson(actual[j], e, bindings, `${where} value ${j + 1}`));
    } else {
      matchText(outputs[i], s.expected.body, bindings, where);
    }
  });
  // Placeholders with different names stand for different things (agents, chains).
  for (const group of [['A', 'B', 'C', 'OPS', 'OPS2'], ['CHAIN_1', 'CHAIN_2']]) {
    const values = group.map((n) => bindings.get(n));
    assert.ok(values.every(Boolean), `${group.join(', ')} all bound`);
    assert.equal(new Set(values).size, group.length, `${group.join(', ')} are distinct`);
  }
});
