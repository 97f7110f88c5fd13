// Signing-key rotation with staging (SPEC §5) driven by the CLI while the server runs, and
// the CLI's own contract: version, strict environment.

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, runCli, makeTempDir, decodeJwt, sleep } from './lib/harness.mjs';

describe('key rotation with staging', () => {
  const env = { AGENTIDP_KEY_ACTIVATION_DELAY_SECONDS: '2', AGENTIDP_KEY_REFRESH_SECONDS: '1', AGENTIDP_RATE_LIMIT_PER_MINUTE: '10000' };
  let srv;
  before(async () => { srv = await startServer({ env }); });
  after(async () => { await srv?.close(); });

  test('a rotated key is published before it signs; the old one stays published', async () => {
    const auth = { id: srv.admin.client_id, secret: srv.admin.client_secret };
    const tokenA = await srv.accessToken(auth.id, auth.secret);
    const k1 = decodeJwt(tokenA).header.kid;
    const jwks0 = (await srv.api('GET', '/.well-known/jwks.json')).json;
    assert.deepEqual(jwks0.keys.map((k) => k.kid), [k1]);
    const jwksCache = (await srv.api('GET', '/.well-known/jwks.json')).headers.get('cache-control');
    assert.match(jwksCache ?? '', /max-age=(0|1)\b/, 'JWKS max-age stays below the staging delay');

    const rotatedAt = Date.now();
    const rot = await runCli(['keys', 'rotate', '--data-dir', srv.dataDir], { env });
    const cliDone = Date.now();
    assert.equal(rot.code, 0, `keys rotate: ${rot.stdout} ${rot.stderr}`);
    const m = /staged key (\S+)/.exec(rot.stdout);
    assert.ok(m, `rotate names the new key: ${rot.stdout}`);
    const k2 = m[1].replace(/;$/, '');
    assert.notEqual(k2, k1);

    // Watch the JWKS and fresh tokens side by side until a token carries K2. The key must
    // be published first (within the 1 s refresh), sign only after the 2 s delay, and
    // there must be a moment where both keys are published while K1 still signs.
    let publishedAt = null;
    let late = null;
    let window = 0;
    let publishedKids = null;
    let signedAt = null;
    while (!late) {
      assert.ok(Date.now() - rotatedAt < 8000, 'K2 never signed within 8 s of the rotation');
      const j = (await srv.api('GET', '/.well-known/jwks.json')).json;
      const hasK2 = j.keys.some((k) => k.kid === k2);
      if (hasK2 && publishedAt === null) { publishedAt = Date.now(); publishedKids = j.keys.map((k) => k.kid).sort(); }
      const t = await srv.accessToken(auth.id, auth.secret);
      const kid = decodeJwt(t).header.kid;
      if (kid === k2) {
        signedAt = Date.now();
        assert.ok(publishedAt !== null, 'a token was signed by K2 before the JWKS published it');
        late = t;
      } else {
        assert.equal(kid, k1);
        if (hasK2) window++;
      }
      await sleep(100);
    }
    assert.deepEqual(publishedKids, [k1, k2].sort(), 'both keys published');
    assert.ok(publishedAt - cliDone <= 2000, `K2 published ${publishedAt - cliDone} ms after keys rotate returned (refresh is 1 s)`);
    assert.ok(window >= 1, 'tokens were still signed by K1 while K2 was published');
    assert.ok(signedAt - rotatedAt >= 1900, `K2 signed ${signedAt - rotatedAt} ms after the rotation, before the 2 s delay`);
    const publishedAfter = publishedAt - rotatedAt;
    const activeAfter = signedAt - rotatedAt;

    // K1 stays published and its tokens stay valid.
    const after = (await srv.api('GET', '/.well-known/jwks.json')).json;
    assert.ok(after.keys.some((k) => k.kid === k1), 'K1 still published');
    const i = await srv.introspect(tokenA, auth);
    assert.equal(i.json.active, true, i.text);
    assert.equal((await srv.api('GET', '/api/v1/agents', { token: tokenA })).status, 200);
    assert.equal((await srv.api('GET', '/api/v1/agents', { token: late })).status, 200);

    const list = await runCli(['keys', 'list', '--data-dir', srv.dataDir], { env });
    assert.equal(list.code, 0, list.stderr);
    assert.ok(list.stdout.includes(k1), list.stdout);
    assert.ok(list.stdout.includes(k2), list.stdout);
    const k2Line = list.stdout.split('\n').find((l) => l.includes(k2));
    assert.match(k2Line, /signing/, list.stdout);
    const k1Line = list.stdout.split('\n').find((l) => l.includes(k1));
    assert.doesNotMatch(k1Line, /signing/, list.stdout);

    // The rotation is audited.
    const adminTok = await srv.accessToken(auth.id, auth.secret, { scope: 'audit:read' });
    const audit = await srv.api('GET', '/api/v1/audit?action=key.rotated', { token: adminTok });
    assert.equal(audit.status, 200, audit.text);
    assert.ok(audit.json.data.some((e) => e.metadata.kid === k2), audit.text);
    console.log(`# K2 published ${publishedAfter} ms after the rotation started, signing after ${activeAfter} ms; ${window} K1 tokens seen while both were published`);
  });
});

describe('cli', () => {
  test('agentidp version prints a version', async () => {
    const r = await runCli(['version']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^agentidp \d+\.\d+\.\d+\S*\s*$/);
  });

  test('an unknown AGENTIDP_* variable stops serve, naming it', async () => {
    const dir = makeTempDir();
    const r = await runCli(['serve', '--data-dir', dir, '--port', '0'], { env: { AGENTIDP_FOO: '1' }, timeoutMs: 15_000 });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /AGENTIDP_FOO/);
  });

  test('an invalid value stops serve, naming the variable', async () => {
    const dir = makeTempDir();
    const r = await runCli(['serve', '--data-dir', dir, '--port', '0'], { env: { AGENTIDP_TOKEN_TTL_SECONDS: 'soon' }, timeoutMs: 15_000 });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /AGENTIDP_TOKEN_TTL_SECONDS/);
    const alg = await runCli(['serve', '--data-dir', dir, '--port', '0'], { env: { AGENTIDP_SIGNING_ALG: 'HS256' }, timeoutMs: 15_000 });
    assert.notEqual(alg.code, 0);
    assert.match(alg.stderr, /AGENTIDP_SIGNING_ALG/);
  });
});
