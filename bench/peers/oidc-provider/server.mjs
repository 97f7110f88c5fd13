// Benchmark peer: panva's oidc-provider configured as a machine-to-machine
// token service comparable to AgentIdP's hot path — client_credentials grant,
// client_secret_basic, ES256-signed JWT access tokens (RFC 9068) via a default
// resource indicator.
//
//   node server.mjs --listening-file FILE [--workers N]
//
// Listens on an ephemeral loopback port and writes
// {"url","port","pid","client_id","client_secret","resource"} to FILE once it
// accepts connections. With --workers N > 1 it runs N processes (node:cluster)
// sharing the port, so that, like AgentIdP, it can use every core.

import cluster from 'node:cluster';
import crypto from 'node:crypto';
import { writeFileSync, renameSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';

const { values: opts } = parseArgs({
  options: {
    'listening-file': { type: 'string' },
    workers: { type: 'string', default: String(os.availableParallelism()) },
  },
});

const CLIENT_ID = 'bench-client';
const RESOURCE = 'https://api.bench.example/';
const SCOPE = 'api:read api:write';

function writeAtomically(file, obj) {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, JSON.stringify(obj));
  renameSync(tmp, file);
}

if (cluster.isPrimary) {
  const workers = Math.max(1, Number.parseInt(opts.workers, 10) || 1);
  // Keys and the client secret are made once and shared with every worker so
  // that all of them sign with the same keys.
  const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
  const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const shared = {
    jwks: { keys: [{ ...ec, kid: 'es256-1', alg: 'ES256', use: 'sig' }, { ...rsa, kid: 'rs256-1', alg: 'RS256', use: 'sig' }] },
    clientSecret: crypto.randomBytes(32).toString('hex'),
    cookieKey: crypto.randomBytes(32).toString('hex'),
  };

  let ready = 0;
  let port;
  for (let i = 0; i < workers; i += 1) {
    const w = cluster.fork({ PEER_SHARED: JSON.stringify(shared) });
    w.on('message', (msg) => {
      if (msg?.type !== 'listening') return;
      port = msg.port;
      ready += 1;
      if (ready === workers && opts['listening-file']) {
        writeAtomically(opts['listening-file'], {
          url: `http://127.0.0.1:${port}`,
          port,
          pid: process.pid,
          workers,
          client_id: CLIENT_ID,
          client_secret: shared.clientSecret,
          resource: RESOURCE,
        });
      }
    });
  }
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    for (const w of Object.values(cluster.workers)) w.kill('SIGTERM');
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  cluster.on('exit', () => {
    if (Object.keys(cluster.workers).length === 0) process.exit(0);
    if (!stopping) {
      console.error('oidc-provider peer: a worker died; stopping');
      stop();
    }
  });
} else {
  const { default: Provider } = await import('oidc-provider');
  const shared = JSON.parse(process.env.PEER_SHARED);

  // The issuer needs the port, which is only known after listen(); listen on
  // a plain http.Server first and mount the provider's callback on it.
  const http = await import('node:http');
  let handler = (_req, res) => { res.statusCode = 503; res.end(); };
  const server = http.createServer((req, res) => handler(req, res));
  server.keepAliveTimeout = 60_000;
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();

  const provider = new Provider(`http://127.0.0.1:${port}`, {
    clients: [{
      client_id: CLIENT_ID,
      client_secret: shared.clientSecret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: SCOPE,
    }],
    jwks: shared.jwks,
    cookies: { keys: [shared.cookieKey] },
    scopes: SCOPE.split(' '),
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, resourceIndicator) => {
          if (resourceIndicator !== RESOURCE) throw new Provider.errors.InvalidTarget();
          return {
            scope: SCOPE,
            audience: RESOURCE,
            accessTokenTTL: 3600,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'ES256' } },
          };
        },
      },
    },
  });
  provider.on('server_error', (_ctx, err) => console.error('oidc-provider peer server_error:', err));
  handler = provider.callback();
  process.send?.({ type: 'listening', port });

  process.on('SIGTERM', () => {
    server.close(() => process.exit(0));
    server.closeAllConnections?.();
  });
}
