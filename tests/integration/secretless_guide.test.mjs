// docs/secretless-agents.md, executed: every ```sh block of the guide runs, in order, in one
// bash (set -euo pipefail) against a live server and its output is compared with the
// ```json/```text block under it (lib/guide.mjs, shared with delegation_guide.test.mjs).
// The platform-only ```yaml blocks (workflow, .gitlab-ci.yml, pod spec) are not executed,
// but every script they embed must be run, line for line, by one of the sh blocks.
//
// The test provides the environment the guide's "Running the examples" section defines:
// IDP, ADMIN, K8S_ISSUER, OIDC_ISSUER, and the platform stand-ins github_job, gitlab_job and
// kubernetes_pod (exported bash functions). They get their tokens from a local "platform"
// (an HTTP listener of this test) that mints them with lib/oidc_issuer.mjs, the local HTTPS
// OIDC issuer with its own CA; the server fetches discovery and JWKS from it over real TLS
// (AGENTIDP_OUTBOUND_ALLOW_PRIVATE, AGENTIDP_OUTBOUND_CA_FILE), and the github/gitlab
// providers point at it (federation_github_issuer / federation_gitlab_issuer).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer, makeTempDir } from './lib/harness.mjs';
import { startIssuer } from './lib/oidc_issuer.mjs';
import { steps, yamlScripts, runBySomeStep, runGuide, assertGuideTools, assertDistinct } from './lib/guide.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const GUIDE_NAME = 'docs/secretless-agents.md';
const GUIDE = path.join(here, '../..', GUIDE_NAME);

/**
 * The platforms' side of a job, on loopback: GitHub's runner token service (bearer-protected,
 * `audience` parameter, answer `{count, value}`), and what GitLab and the kubelet hand a job
 * or pod (here fetched once per job by the stand-in functions). Tokens are minted by `issuer`.
 */
async function startPlatform(issuer, requestToken) {
  const server = http.createServer((req, res) => {
    const u = new URL(req.url, 'http://platform');
    const q = (k) => u.searchParams.get(k) ?? undefined;
    const send = (status, body, type = 'application/json') => {
      res.writeHead(status, { 'content-type': type });
      res.end(typeof body === 'string' ? body : JSON.stringify(body));
    };
    if (u.pathname === '/github/token') {
      if (req.headers.authorization !== `bearer ${requestToken}`) return send(401, { message: 'bad request token' });
      const repository = q('repository');
      // Without `audience` GitHub uses the repository owner's URL.
      const aud = q('audience') ?? `https://github.com/${repository.split('/')[0]}`;
      return send(200, { count: 1, value: issuer.github('github', { repository, branch: q('branch'), aud }) });
    }
    if (u.pathname === '/gitlab/token') {
      return send(200, issuer.gitlab('gitlab', { repository: q('repository'), branch: q('branch'), aud: q('aud') }), 'text/plain');
    }
    if (u.pathname === '/kubernetes/token') {
      return send(200, issuer.kubernetes('k8s', { namespace: q('namespace'), serviceAccount: q('serviceAccount'), aud: q('aud') }), 'text/plain');
    }
    return send(404, { message: 'not found' });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) };
}

/** The stand-ins as exported bash functions (the environment the guide's prose defines). */
function standIns(platformUrl, requestToken) {
  const fn = (name, body) => [`BASH_FUNC_${name}%%`, `() {\n${body}\n}`];
  return Object.fromEntries([
    fn('github_job', [
      '  export ACTIONS_ID_TOKEN_REQUEST_URL="' + platformUrl + '/github/token?api-version=2.0&repository=$1&branch=$2"',
      `  export ACTIONS_ID_TOKEN_REQUEST_TOKEN=${requestToken}`,
      '  export GITHUB_ENV="$PWD/github_env_$RANDOM"',
      '  : > "$GITHUB_ENV"',
    ].join('\n')),
    fn('gitlab_job', [
      '  AGENTIDP_ID_TOKEN=$(curl -sSf "' + platformUrl + '/gitlab/token?repository=$1&branch=$2&aud=$IDP")',
      '  export AGENTIDP_ID_TOKEN',
    ].join('\n')),
    fn('kubernetes_pod', [
      '  export SA_TOKEN_FILE="$PWD/agentidp-token"',
      '  curl -sSf -o "$SA_TOKEN_FILE" "' + platformUrl + '/kubernetes/token?namespace=$1&serviceAccount=$2&aud=$IDP"',
    ].join('\n')),
  ]);
}

let issuer, platform, srv;
const requestToken = randomBytes(16).toString('hex');
before(async () => {
  issuer = await startIssuer(makeTempDir());
  platform = await startPlatform(issuer, requestToken);
  srv = await startServer({
    env: {
      AGENTIDP_OUTBOUND_ALLOW_PRIVATE: 'true',
      AGENTIDP_OUTBOUND_CA_FILE: issuer.caFile,
      AGENTIDP_FEDERATION_GITHUB_ISSUER: issuer.url('github'),
      AGENTIDP_FEDERATION_GITLAB_ISSUER: issuer.url('gitlab'),
    },
  });
});
after(async () => { await srv?.close(); await platform?.close(); await issuer?.close(); });

const guideEnv = async () => ({
  PATH: process.env.PATH,
  HOME: makeTempDir(),
  LANG: 'C.UTF-8',
  IDP: srv.url,
  ADMIN: await srv.adminToken(srv),
  K8S_ISSUER: issuer.url('k8s'),
  OIDC_ISSUER: issuer.url('generic'),
  ...standIns(platform.url, requestToken),
});

test('the runner fails on a broken guide', async () => {
  const env = { PATH: process.env.PATH, LANG: 'C.UTF-8' };
  const cwd = makeTempDir();
  const ok = '```sh\nX=abc; echo "{\\"x\\": \\"$X\\"}"\n```\n\n```json\n{"x": "<X>"}\n```\n\n```sh\necho "x is $X"\n```\n\n```text\nx is <X>\n```\n';
  const b = await runGuide(ok, { name: 'ok', env, cwd });
  assert.equal(b.get('X'), 'abc');
  const broken = {
    'a command fails': ['```sh\necho one\nfalse\necho two\n```\n', /exited with 1 in the block at line 1/],
    'an unset variable': ['```sh\necho ok\n```\n\nprose\n\n```sh\necho "$NOT_SET"\n```\n', /exited with 1 in the block at line 7/],
    'a failing pipeline': ['```sh\ncurl -sf http://127.0.0.1:1/ | jq .\n```\n', /exited with/],
    'other output': ['```sh\necho "{\\"x\\": 2}"\n```\n\n```json\n{"x": 1}\n```\n', /block at line 1/],
    'a missing member': ['```sh\necho "{}"\n```\n\n```json\n{"x": "<X>"}\n```\n', /members/],
    'a rebound placeholder': [ok.replace('echo "x is $X"', 'echo "x is 2"'), /<X> was abc, now 2/],
    'a missing line': ['```sh\necho a\n```\n\n```text\na\nb\n```\n', /got/],
  };
  for (const [what, [md, re]] of Object.entries(broken)) {
    await assert.rejects(runGuide(md, { name: what, env, cwd }), re, what);
  }

  // yaml scripts: extracted from `run: |` and `- |`, checked against the sh blocks.
  const md = [
    '```yaml', 'steps:', '  - name: a', '    shell: bash', '    run: |', '      A=$(echo 1)', '      echo "$A"', '  - run: echo inline',
    'job:', '  script:', '    - |', '      B=2', '```', '',
    '```sh', 'A=$(echo 1)', 'echo "$A"', 'B=2', '```', '',
  ].join('\n');
  const scripts = yamlScripts(md);
  assert.deepEqual(scripts.map((s) => s.lines), [['A=$(echo 1)', 'echo "$A"'], ['B=2']]);
  assert.ok(scripts.every((s) => runBySomeStep(steps(md), s.lines)));
  assert.ok(!runBySomeStep(steps(md), ['A=$(echo 1)', 'B=2']), 'lines must be consecutive');
  assert.ok(!runBySomeStep(steps(md), ['echo  "$A"']), 'and exact');
  assert.throws(() => yamlScripts('```yaml\nscript:\n  - >\n    folded\n```\n'), /literal/);
});

test('the guide has runnable examples with expected output, and every yaml script is run', () => {
  const markdown = readFileSync(GUIDE, 'utf8');
  const all = steps(markdown);
  assert.ok(all.length >= 12, `only ${all.length} sh blocks`);
  assert.ok(all.filter((s) => s.expected).length >= 12, 'most examples show their output');
  const scripts = yamlScripts(markdown);
  assert.ok(scripts.length >= 3, 'the GitHub, GitLab and Kubernetes yaml each embed a script');
  for (const s of scripts) {
    assert.ok(runBySomeStep(all, s.lines), `${GUIDE_NAME}: the script of the yaml at line ${s.line} is run by no sh block:\n${s.lines.join('\n')}`);
  }
  assertGuideTools();
});

test(`every sh block of ${GUIDE_NAME} runs and prints what the guide shows`, async () => {
  const bindings = await runGuide(readFileSync(GUIDE, 'utf8'), { name: GUIDE_NAME, env: await guideEnv(), cwd: makeTempDir() });
  // Different names stand for different things: agents, policies.
  assertDistinct(bindings, ['DEPLOYER', 'PUBLISHER', 'BUILDER', 'REPORTER', 'PROVISIONED', 'ADMIN_ID']);
  assertDistinct(bindings, ['GH_POLICY', 'BOOT_POLICY', 'GL_POLICY', 'K8S_POLICY', 'GENERIC_POLICY']);
  // The guide's placeholders for the platforms' issuers are the issuers the platforms used.
  assert.equal(bindings.get('GITHUB_ISSUER'), issuer.url('github'));
  assert.equal(bindings.get('GITLAB_ISSUER'), issuer.url('gitlab'));
  assert.equal(bindings.get('K8S_ISSUER_URL'), issuer.url('k8s'));
  assert.equal(bindings.get('AUDIENCE'), srv.issuer, 'the default audience is the issuer');
});
