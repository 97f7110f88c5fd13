// Small helpers around the AgentIdP REST API, written with plain fetch so that
// failures show the exact request and response.

import { randomUUID } from 'node:crypto';

// Every signing algorithm the server supports (SPEC §5). CONFORMANCE_ALGS
// (comma separated) narrows the run, e.g. while debugging one of them.
export const ALGORITHMS = (process.env.CONFORMANCE_ALGS ?? 'RS256,ES256,EdDSA')
  .split(',').map((s) => s.trim()).filter(Boolean);

// RFC 6749 §2.3.1: client_id and client_secret are form-urlencoded before
// being joined and base64-encoded.
export function basicAuth(clientId, clientSecret) {
  const enc = (s) => encodeURIComponent(s).replace(/%20/g, '+');
  return 'Basic ' + Buffer.from(`${enc(clientId)}:${enc(clientSecret)}`).toString('base64');
}

async function readBody(res) {
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function describeFailure(what, req, res, body) {
  return new Error(`${what}: ${req} -> HTTP ${res.status} ${JSON.stringify(body)}`);
}

/** POST to the token endpoint with client_secret_basic (default) or client_secret_post. */
export async function requestToken(server, { clientId, clientSecret, scope, method = 'basic', extra = {} }) {
  const form = new URLSearchParams({ grant_type: 'client_credentials', ...extra });
  if (scope !== undefined) form.set('scope', scope);
  const headers = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
  if (method === 'basic') {
    headers.authorization = basicAuth(clientId, clientSecret);
  } else {
    form.set('client_id', clientId);
    form.set('client_secret', clientSecret);
  }
  const res = await fetch(`${server.url}/api/v1/token`, { method: 'POST', headers, body: form });
  return { status: res.status, headers: res.headers, body: await readBody(res) };
}

/** An access token for the bootstrap admin (all scopes unless narrowed). */
export async function adminToken(server, scope) {
  const { status, body } = await requestToken(server, {
    clientId: server.admin.client_id,
    clientSecret: server.admin.client_secret,
    scope,
  });
  if (status !== 200 || typeof body?.access_token !== 'string') {
    throw new Error(`admin token request (scope=${scope ?? '<omitted>'}) -> HTTP ${status} ${JSON.stringify(body)}`);
  }
  return body.access_token;
}

/**
 * Registers a fresh agent and creates a client_secret credential for it,
 * through the REST API with the given bearer token (agents:write).
 */
export async function registerAgent(server, bearer, overrides = {}) {
  const agentReq = {
    email: `conformance-${randomUUID()}@agents.example.test`,
    agentType: 'custom',
    version: '1.0.0',
    capabilities: ['conformance:test'],
    owner: 'conformance',
    deploymentEnv: 'development',
    ...overrides,
  };
  const auth = { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' };
  let res = await fetch(`${server.url}/api/v1/agents`, {
    method: 'POST', headers: auth, body: JSON.stringify(agentReq),
  });
  const agent = await readBody(res);
  if (res.status !== 201 || typeof agent?.agentId !== 'string') {
    throw describeFailure('register agent', `POST /api/v1/agents ${JSON.stringify(agentReq)}`, res, agent);
  }
  res = await fetch(`${server.url}/api/v1/agents/${agent.agentId}/credentials`, {
    method: 'POST', headers: auth, body: '{}',
  });
  const credential = await readBody(res);
  if (res.status !== 201 || typeof credential?.clientSecret !== 'string') {
    throw describeFailure('create credential', `POST /api/v1/agents/${agent.agentId}/credentials {}`, res, credential);
  }
  return {
    agentId: agent.agentId,
    clientId: credential.clientId ?? agent.agentId,
    clientSecret: credential.clientSecret,
    credentialId: credential.credentialId,
    agent,
    credential,
  };
}

/** Raw RFC 7662 introspection with client_secret_basic. */
export async function introspect(server, token, { clientId, clientSecret }) {
  const res = await fetch(`${server.url}/api/v1/token/introspect`, {
    method: 'POST',
    headers: {
      authorization: basicAuth(clientId, clientSecret),
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    },
    body: new URLSearchParams({ token }),
  });
  return { status: res.status, headers: res.headers, body: await readBody(res) };
}

export async function getJson(url) {
  const res = await fetch(url, { headers: { accept: 'application/json' } });
  return { status: res.status, headers: res.headers, body: await readBody(res) };
}
