// A local HTTPS OIDC issuer for the workload-identity and federation tests: a throw-away CA
// and leaf certificate made with the openssl CLI, discovery documents and JWKS for several
// issuers under one listener (https://127.0.0.1:<port>/<name>), and minting of
// GitHub-Actions-, GitLab-CI- and Kubernetes-shaped tokens. node:crypto only.

import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { newKey, signJwt } from './jwt.mjs';

const run = promisify(execFile);
const now = () => Math.floor(Date.now() / 1000);

/** A CA and a leaf for localhost / 127.0.0.1 signed by it. Returns the file paths. */
export async function makeTestCa(dir) {
  const f = (n) => path.join(dir, n);
  const ossl = (args) => run('openssl', args, { timeout: 30_000 });
  await ossl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', f('ca.key'), '-out', f('ca.pem'), '-days', '1', '-subj', '/CN=AgentIdP integration test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  await ossl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', f('leaf.key'), '-out', f('leaf.csr'), '-subj', '/CN=localhost']);
  writeFileSync(f('leaf.ext'), [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature',
    'extendedKeyUsage=serverAuth',
    'subjectAltName=DNS:localhost,IP:127.0.0.1',
  ].join('\n') + '\n');
  await ossl(['x509', '-req', '-in', f('leaf.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'),
    '-CAcreateserial', '-out', f('leaf.pem'), '-days', '1', '-extfile', f('leaf.ext')]);
  return { caFile: f('ca.pem'), certFile: f('leaf.pem'), keyFile: f('leaf.key') };
}

/**
 * Starts the issuer. Every name (e.g. "github", "k8s") is its own issuer at
 * `${base}/${name}` with its own signing keys, created on first use.
 */
export async function startIssuer(dir, { alg = 'RS256' } = {}) {
  const ca = await makeTestCa(dir);
  const issuers = new Map();  // name -> { signing, published: [key], discoveryIssuer? }
  const hits = { discovery: {}, jwks: {} };
  const state = (name) => {
    if (!issuers.has(name)) {
      const k = newKey(alg);
      issuers.set(name, { signing: k, published: [k] });
    }
    return issuers.get(name);
  };
  let base = '';
  const server = https.createServer({ cert: readFileSync(ca.certFile), key: readFileSync(ca.keyFile) }, (req, res) => {
    const m = /^\/([a-z0-9-]+)\/(\.well-known\/openid-configuration|jwks)$/.exec(req.url);
    if (!m) { res.writeHead(404); res.end(); return; }
    const [, name, what] = m;
    const s = state(name);
    if (what === 'jwks') {
      hits.jwks[name] = (hits.jwks[name] ?? 0) + 1;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: s.published.map((k) => ({ ...k.jwk, use: 'sig' })) }));
      return;
    }
    hits.discovery[name] = (hits.discovery[name] ?? 0) + 1;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({
      issuer: s.discoveryIssuer ?? `${base}/${name}`,
      jwks_uri: `${base}/${name}/jwks`,
      response_types_supported: ['id_token'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: [alg],
    }));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `https://127.0.0.1:${server.address().port}`;

  const issuer = {
    base,
    caFile: ca.caFile,
    hits,
    url: (name) => `${base}/${name}`,
    jwksHits: (name) => hits.jwks[name] ?? 0,
    discoveryHits: (name) => hits.discovery[name] ?? 0,
    /** Publishes a new key and signs with it from now on (the old one stays published). */
    rotate(name) {
      const s = state(name);
      const k = newKey(alg);
      s.published.push(k);
      s.signing = k;
      return k;
    },
    /** A new signing key that is NOT published (until publish()). */
    unpublishedKey(name) {
      const s = state(name);
      const k = newKey(alg);
      s.signing = k;
      return k;
    },
    publish(name, key) { state(name).published.push(key); },
    /** Makes discovery name another issuer than the URL it is served for. */
    lieAboutIssuer(name, other) { state(name).discoveryIssuer = other; },
    /** A token of issuer `name` with `claims` (undefined members are dropped). */
    mint(name, claims = {}, { header = {}, key } = {}) {
      const payload = { iss: `${base}/${name}`, jti: randomUUID(), iat: now(), nbf: now() - 5, exp: now() + 300, ...claims };
      for (const k of Object.keys(payload)) if (payload[k] === undefined) delete payload[k];
      return signJwt(key ?? state(name).signing, payload, { typ: 'JWT', ...header });
    },
    /** A GitHub Actions ID token for `repository` on `branch`. */
    github(name, { repository, branch = 'main', aud, claims = {}, ...opts }) {
      const ref = `refs/heads/${branch}`;
      return issuer.mint(name, {
        sub: `repo:${repository}:ref:${ref}`, aud, repository, repository_owner: repository.split('/')[0],
        ref, ref_type: 'branch', sha: 'a'.repeat(40), workflow: 'ci', event_name: 'push',
        actor: 'octocat', run_id: '42', ...claims,
      }, opts);
    },
    /** A GitLab CI ID token for project `repository` on `branch`. */
    gitlab(name, { repository, branch = 'main', aud, claims = {}, ...opts }) {
      return issuer.mint(name, {
        sub: `project_path:${repository}:ref_type:branch:ref:${branch}`, aud, project_path: repository,
        namespace_path: repository.split('/')[0], ref: branch, ref_type: 'branch', pipeline_id: '7', ...claims,
      }, opts);
    },
    /** A projected Kubernetes service-account token. */
    kubernetes(name, { namespace, serviceAccount, aud, claims = {}, ...opts }) {
      return issuer.mint(name, {
        sub: `system:serviceaccount:${namespace}:${serviceAccount}`, aud: [aud],
        'kubernetes.io': { namespace, serviceaccount: { name: serviceAccount, uid: randomUUID() }, pod: { name: 'builder-0', uid: randomUUID() } },
        ...claims,
      }, opts);
    },
    close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); }),
  };
  return issuer;
}
