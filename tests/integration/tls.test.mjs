// The native TLS listener (--tls-cert/--tls-key), scanned from outside with sslscan: an HTTPS
// request works with the certificate as the only trust anchor; only TLS 1.2 and 1.3 are
// offered; every accepted suite has forward secrecy and AEAD (SECURITY: TLS 1.2 suites are
// ECDHE with AES-GCM or ChaCha20-Poly1305), for an ECDSA and an RSA certificate, since the
// RSA-only suites (static RSA key exchange among them) only show with an RSA key; no
// insecure renegotiation; cleartext HTTP on the TLS port gets no answer.
//
// The certificates are made with the openssl CLI in a temporary directory. Needs sslscan
// (scripts/install-deps.sh installs it); without it the scan tests are skipped, saying so.

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { promisify } from 'node:util';
import { startServer, makeTempDir, raw, rawStatus } from './lib/harness.mjs';

const run = promisify(execFile);

const SSLSCAN_MISSING = spawnSync('sslscan', ['--version'], { stdio: 'ignore' }).error
  ? 'sslscan is not installed (scripts/install-deps.sh installs it)'
  : false;

// TLS 1.3 suites OpenSSL may offer; all AEAD with ephemeral key exchange by construction.
const TLS13_SUITES = new Set([
  'TLS_AES_256_GCM_SHA384', 'TLS_AES_128_GCM_SHA256', 'TLS_CHACHA20_POLY1305_SHA256',
  'TLS_AES_128_CCM_SHA256',
]);
// TLS 1.2 (OpenSSL names): ECDHE key exchange, AES-GCM or ChaCha20-Poly1305.
const TLS12_ALLOWED = /^ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$/;
// Named for clear failure messages; anything not allowed above fails anyway.
const WEAK = [
  [/RC4/, 'RC4'], [/(^|-)DES-|DES-CBC3|3DES/, 'DES/3DES'], [/NULL/, 'NULL cipher'],
  [/EXP/, 'export grade'], [/(^|-)(ADH|AECDH)-|anon/i, 'anonymous key exchange'],
  [/MD5/, 'MD5'], [/-CBC-|-SHA$/, 'CBC with SHA-1 MAC'], [/^(AES|CAMELLIA|SEED|IDEA|ARIA)/, 'static RSA key exchange (no forward secrecy)'],
  [/PSK|SRP/, 'PSK/SRP'],
];

async function makeCert(dir, kind) {
  const cert = path.join(dir, `${kind}-cert.pem`);
  const key = path.join(dir, `${kind}-key.pem`);
  const keyArgs = kind === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  await run('openssl', ['req', '-x509', ...keyArgs, '-nodes', '-keyout', key, '-out', cert, '-days', '1',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { timeout: 30_000 });
  return { cert, key };
}

function httpsGet(url, ca) {
  return new Promise((resolve, reject) => {
    // agent: false so the connection is not pooled and its TLS version can be read.
    const req = https.get(url, { ca, timeout: 10_000, agent: false }, (res) => {
      const protocol = res.socket.getProtocol();
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString('utf8'), protocol }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
  });
}

/** Runs sslscan and parses protocols, accepted suites and the renegotiation verdict. */
async function sslscan(port) {
  const { stdout } = await run('sslscan', ['--no-colour', `127.0.0.1:${port}`], { timeout: 120_000, maxBuffer: 1 << 20 });
  const protocols = {};
  for (const m of stdout.matchAll(/^(SSLv2|SSLv3|TLSv1\.[0-3])\s+(enabled|disabled)\s*$/gm)) protocols[m[1]] = m[2];
  const suites = [];
  for (const m of stdout.matchAll(/^(Preferred|Accepted)\s+(\S+)\s+(\d+) bits\s+(\S+)/gm)) {
    suites.push({ protocol: m[2], bits: Number(m[3]), name: m[4] });
  }
  const renegotiation = /^(.*renegotiation.*)$/im.exec(stdout.split('TLS renegotiation:')[1] ?? '')?.[1]?.trim();
  return { stdout, protocols, suites, renegotiation };
}

for (const kind of ['ecdsa', 'rsa']) {
  describe(`TLS listener with an ${kind.toUpperCase()} certificate`, () => {
    let srv;
    let ca;

    before(async () => {
      const dir = makeTempDir('agentidp-tls-');
      const { cert, key } = await makeCert(dir, kind === 'rsa' ? 'rsa' : 'ec');
      ca = readFileSync(cert);
      srv = await startServer({ args: ['--tls-cert', cert, '--tls-key', key] });
    });
    after(async () => { await srv?.close(); });

    test('listening.json announces https and an HTTPS request succeeds', async () => {
      assert.match(srv.url, /^https:\/\/127\.0\.0\.1:\d+$/);
      const r = await httpsGet(`${srv.url}/health`, ca);
      assert.equal(r.status, 200, r.body);
      assert.ok(['TLSv1.2', 'TLSv1.3'].includes(r.protocol), `negotiated ${r.protocol}`);
    });

    test('cleartext HTTP on the TLS port gets no HTTP answer', async () => {
      const text = await raw('127.0.0.1', srv.port,
        'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n', { timeoutMs: 3000 });
      assert.ok(Number.isNaN(rawStatus(text)), `answered in clear: ${text.slice(0, 80)}`);
    });

    test('sslscan: TLS 1.2+ only, forward-secret AEAD suites only, no insecure renegotiation',
      { skip: SSLSCAN_MISSING }, async () => {
        const scan = await sslscan(srv.port);
        const context = `\nsslscan output:\n${scan.stdout}`;
        for (const p of ['SSLv2', 'SSLv3', 'TLSv1.0', 'TLSv1.1']) {
          assert.equal(scan.protocols[p], 'disabled', `${p} must be disabled${context}`);
        }
        assert.ok(scan.protocols['TLSv1.2'] === 'enabled' || scan.protocols['TLSv1.3'] === 'enabled',
          `TLS 1.2 or 1.3 must be enabled${context}`);
        assert.equal(scan.protocols['TLSv1.2'], 'enabled', `TLS 1.2 is offered (clients without 1.3)${context}`);

        assert.ok(scan.suites.length > 0, `no accepted cipher suites parsed${context}`);
        for (const s of scan.suites) {
          assert.ok(['TLSv1.2', 'TLSv1.3'].includes(s.protocol), `suite on ${s.protocol}: ${s.name}${context}`);
          for (const [re, why] of WEAK) {
            assert.ok(!re.test(s.name), `weak suite accepted (${why}): ${s.protocol} ${s.name}${context}`);
          }
          if (s.protocol === 'TLSv1.3') assert.ok(TLS13_SUITES.has(s.name), `unexpected TLS 1.3 suite ${s.name}${context}`);
          else assert.match(s.name, TLS12_ALLOWED, `TLS 1.2 suite outside the policy: ${s.name}${context}`);
          assert.ok(s.bits >= 128, `${s.name}: ${s.bits} bits${context}`);
        }
        const tls12 = scan.suites.filter((s) => s.protocol === 'TLSv1.2').map((s) => s.name);
        const auth = kind === 'rsa' ? 'RSA' : 'ECDSA';
        assert.ok(tls12.some((n) => n.startsWith(`ECDHE-${auth}-`)), `an ECDHE-${auth} suite is offered${context}`);

        assert.ok(scan.renegotiation, `renegotiation verdict not found${context}`);
        assert.doesNotMatch(scan.renegotiation, /insecure/i, `${scan.renegotiation}${context}`);
      });
  });
}
