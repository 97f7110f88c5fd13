// A throw-away PKI for tests that need the server's TLS listener: a self-signed CA and a
// server certificate for 127.0.0.1/localhost issued by it, made with the openssl CLI, plus an
// HTTPS client that trusts only that CA.

import { execFile } from 'node:child_process';
import { mkdtemp, writeFile, readFile } from 'node:fs/promises';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Returns {dir, caFile, ca, certFile, keyFile}. */
export async function makeTestPki(prefix = 'agentidp-pki-') {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  const f = (name) => path.join(dir, name);
  const opts = { timeout: 30_000 };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  await run('openssl', ['req', '-x509', ...ec, '-keyout', f('ca-key.pem'), '-out', f('ca.pem'), '-days', '1',
    '-subj', '/CN=AgentIdP conformance test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], opts);
  await run('openssl', ['req', '-new', ...ec, '-keyout', f('server-key.pem'), '-out', f('server.csr'),
    '-subj', '/CN=localhost'], opts);
  await writeFile(f('server.ext'), [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature',
    'extendedKeyUsage=serverAuth',
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '',
  ].join('\n'));
  await run('openssl', ['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca-key.pem'),
    '-CAcreateserial', '-out', f('server-cert.pem'), '-days', '1', '-extfile', f('server.ext')], opts);
  return {
    dir,
    caFile: f('ca.pem'),
    ca: await readFile(f('ca.pem')),
    certFile: f('server-cert.pem'),
    keyFile: f('server-key.pem'),
  };
}

/**
 * One HTTPS request trusting only `ca`. Resolves to {status, headers, text, json}.
 * body: an object (sent as JSON) or URLSearchParams (sent as a form).
 */
export function httpsRequest(url, { ca, method = 'GET', headers = {}, body } = {}) {
  let payload;
  const h = { accept: 'application/json', ...headers };
  if (body instanceof URLSearchParams) {
    payload = body.toString();
    h['content-type'] = 'application/x-www-form-urlencoded';
  } else if (body !== undefined) {
    payload = JSON.stringify(body);
    h['content-type'] = 'application/json';
  }
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method, headers: h, ca, timeout: 10_000 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url} timed out`)));
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}
