// Executed guides: the runner shared by the tests that run a guide of docs/ (every ```sh block,
// in order, in one bash with `set -euo pipefail`, against a live server) and compare what
// each block prints with the ```json or ```text block directly under it (blank lines only
// between). So a guide cannot drift from the server.
//
// Matching: ```json compares the stream of JSON values printed (jq -c splits both) value by
// value, objects with exactly the same members; ```text compares lines exactly. In both, a
// placeholder "<NAME>" stands for any string or number and binds: the same NAME must be the
// same value everywhere in the guide.
//
// Platform-only examples (```yaml of a CI system or a manifest) are not executed; instead
// yamlScripts() extracts the shell scripts they embed (`run: |`, `- |`) so that a test can
// require each of them to be run, line for line, by one of the guide's sh blocks.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';

const PLACEHOLDER = /^<([A-Za-z0-9_]+)>$/;

/** The fenced blocks of a markdown text: [{lang, body, start, end}] in order. */
export function fencedBlocks(markdown) {
  const blocks = [];
  const re = /^```([\w-]*)[^\n]*\n([\s\S]*?)^```[ \t]*$/gm;
  for (let m; (m = re.exec(markdown));) {
    blocks.push({ lang: m[1], body: m[2], start: m.index, end: m.index + m[0].length });
  }
  return blocks;
}

const lineOf = (markdown, offset) => markdown.slice(0, offset).split('\n').length;

/** Runnable steps: every sh block with the expected-output block directly under it, if any. */
export function steps(markdown) {
  const blocks = fencedBlocks(markdown);
  const out = [];
  for (let i = 0; i < blocks.length; i++) {
    const b = blocks[i];
    if (b.lang !== 'sh') continue;
    const next = blocks[i + 1];
    const adjacent = next && /^\s*$/.test(markdown.slice(b.end, next.start));
    const expected = adjacent && (next.lang === 'json' || next.lang === 'text') ? next : undefined;
    out.push({ line: lineOf(markdown, b.start), script: b.body, expected });
  }
  return out;
}

/**
 * The shell scripts embedded in the ```yaml blocks: the literal block scalars of `run: |`
 * (GitHub Actions steps) and of `- |` list items (GitLab CI `script:`), dedented, as arrays
 * of lines. Folded scalars (`>`) are refused: their line breaks are not the script's.
 */
export function yamlScripts(markdown) {
  const scripts = [];
  for (const b of fencedBlocks(markdown)) {
    if (b.lang !== 'yaml' && b.lang !== 'yml') continue;
    const lines = b.body.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const head = /^(\s*)(?:- +)?run: *([|>])[-+]?\s*$/.exec(lines[i]) ?? /^(\s*)- +([|>])[-+]?\s*$/.exec(lines[i]);
      if (!head) continue;
      assert.equal(head[2], '|', `yaml block at line ${lineOf(markdown, b.start)}: use a literal "|" scalar for scripts`);
      const at = lineOf(markdown, b.start) + 1 + i;
      const body = [];
      let indent;
      for (let j = i + 1; j < lines.length; j++) {
        const l = lines[j];
        if (l.trim() === '') { body.push(''); continue; }
        const ind = l.length - l.trimStart().length;
        indent ??= ind;
        if (ind < indent || ind <= head[1].length) break;
        body.push(l.slice(indent));
        i = j;
      }
      while (body.length && body[body.length - 1] === '') body.pop();
      scripts.push({ line: at, lines: body });
    }
  }
  return scripts;
}

/** Whether `lines` occur, consecutively and exactly (trailing blanks aside), in an sh block. */
export function runBySomeStep(allSteps, lines) {
  const norm = (l) => l.replace(/\s+$/, '');
  const want = lines.map(norm);
  return allSteps.some((s) => {
    const have = s.script.split('\n').map(norm);
    for (let i = 0; i + want.length <= have.length; i++) {
      if (want.every((w, j) => have[i + j] === w)) return true;
    }
    return false;
  });
}

export function jsonStream(text, where) {
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

export function matchJson(actual, expected, bindings, where) {
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

export function matchText(actual, expected, bindings, where) {
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

export function runBash(script, env, cwd, { timeoutMs = 120_000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', script], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const out = [];
    const err = [];
    child.stdout.on('data', (c) => out.push(c));
    child.stderr.on('data', (c) => err.push(c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    // 'close', not 'exit': 'exit' may come before the last of stdout has been read.
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

/** Fails unless bash, curl and jq (what the guides use) are installed. */
export function assertGuideTools() {
  for (const tool of ['bash', 'curl', 'jq']) {
    assert.equal(spawnSync(tool, ['--version'], { stdio: 'ignore' }).status, 0, `${tool} is needed (scripts/install-deps.sh)`);
  }
}

/**
 * Runs every sh block of `markdown` in one bash (variables and functions carry over, as in a
 * terminal) with exactly `env`, in `cwd`, and matches each block's output against its
 * expected block. Throws (an AssertionError naming the guide and line) on a non-zero exit or
 * a mismatch. Returns the placeholder bindings.
 */
export async function runGuide(markdown, { name, env, cwd, timeoutMs } = {}) {
  const all = steps(markdown);
  const marker = (i) => `@@guide-block-${i}@@`;
  const script = ['set -euo pipefail'];
  all.forEach((s, i) => { script.push(`printf '%s\\n' '${marker(i)}'`, s.script); });
  script.push(`printf '%s\\n' '${marker(all.length)}'`);

  const r = await runBash(script.join('\n'), env, cwd, { timeoutMs });
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
    `${name}: the guide's shell exited with ${r.code ?? r.signal} in the block at line ${failedAt?.line}:\n${r.stderr}\n${r.stdout.slice(-2000)}`);
  assert.equal(outputs.length, all.length, `${name}: every block ran`);

  const bindings = new Map();
  all.forEach((s, i) => {
    if (!s.expected) return;
    const where = `${name} block at line ${s.line}`;
    try {
      if (s.expected.lang === 'json') {
        const actual = jsonStream(outputs[i], where);
        const expected = jsonStream(s.expected.body, `${where} (expected)`);
        assert.equal(actual.length, expected.length, `${where}: printed\n${outputs[i]}`);
        expected.forEach((e, j) => matchJson(actual[j], e, bindings, `${where} value ${j + 1}`));
      } else {
        matchText(outputs[i], s.expected.body, bindings, where);
      }
    } catch (e) {
      // The whole output of the block helps more than the first differing member.
      if (e instanceof assert.AssertionError) e.message += `\n--- the block printed:\n${outputs[i]}`;
      throw e;
    }
  });
  return bindings;
}

/** Fails unless the named placeholders are all bound, to pairwise different values. */
export function assertDistinct(bindings, names) {
  const values = names.map((n) => bindings.get(n));
  assert.ok(values.every((v) => v !== undefined && v !== ''), `${names.join(', ')} all bound`);
  assert.equal(new Set(values).size, names.length, `${names.join(', ')} are distinct`);
}
