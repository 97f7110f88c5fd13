// Health endpoints and Prometheus metrics (SPEC §4 health, §9).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './lib/harness.mjs';

let srv;
before(async () => { srv = await startServer(); });
after(async () => { await srv?.close(); });

function metricValues(text, name) {
  // `name{labels} value` or `name value`
  const out = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || !line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$/.exec(line);
    if (m && m[1] === name) out.push({ labels: m[2] ?? '', value: Number(m[3]) });
  }
  return out;
}

test('/health: 200 {"status":"ok"}, no authentication', async () => {
  const r = await srv.api('GET', '/health');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json, { status: 'ok' });
  assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
});

test('/health/detailed: database dependency with status and latencyMs', async () => {
  const r = await srv.api('GET', '/health/detailed');
  assert.equal(r.status, 200, r.text);
  const db = r.json.dependencies?.database;
  assert.ok(db, r.text);
  assert.equal(typeof db.status, 'string');
  assert.ok(['up', 'ok', 'healthy'].includes(db.status), db.status);
  assert.equal(typeof db.latencyMs, 'number');
  assert.ok(db.latencyMs >= 0);
  assert.equal(typeof r.json.status, 'string');
  for (const [name, dep] of Object.entries(r.json.dependencies)) {
    assert.equal(typeof dep.status, 'string', name);
    assert.equal(typeof dep.latencyMs, 'number', name);
  }
  assert.ok(!/sk_live_|secret|password/i.test(r.text), 'no secrets in health output');
});

test('/metrics: Prometheus text with the product metrics', async () => {
  // Produce some traffic first: a token, a failed authentication, an audit verification.
  const tok = await srv.adminToken(srv);
  const bad = await srv.token(srv.admin.client_id, 'sk_live_' + '0'.repeat(64));
  assert.equal(bad.status, 401);
  const verify = await srv.api('GET', '/api/v1/audit/verify', { token: tok });
  assert.equal(verify.status, 200, verify.text);
  assert.equal(verify.json.verified, true);
  await srv.api('GET', '/nope');

  const r = await srv.api('GET', '/metrics');
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type') ?? '', /^text\/plain/);
  const text = r.text;
  for (const name of ['agentidp_http_requests_total', 'agentidp_http_request_duration_seconds_bucket',
    'agentidp_tokens_issued_total', 'agentidp_auth_failures_total', 'agentidp_audit_chain_valid']) {
    assert.ok(text.includes(name), `metrics contain ${name}`);
  }
  // Well-formed exposition: every sample line is `name{labels} number`.
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    assert.match(line, /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? (-?[0-9.eE+-]+|NaN|\+Inf|-Inf)$/, `bad line: ${line}`);
  }
  assert.match(text, /# TYPE agentidp_http_request_duration_seconds histogram/);
  assert.match(text, /# TYPE agentidp_tokens_issued_total counter/);

  const issued = metricValues(text, 'agentidp_tokens_issued_total');
  assert.ok(issued.reduce((s, m) => s + m.value, 0) >= 1, `tokens issued ${JSON.stringify(issued)}`);
  const failures = metricValues(text, 'agentidp_auth_failures_total');
  assert.ok(failures.reduce((s, m) => s + m.value, 0) >= 1, `auth failures ${JSON.stringify(failures)}`);
  const chain = metricValues(text, 'agentidp_audit_chain_valid');
  assert.deepEqual(chain.map((m) => m.value), [1]);
  // The token's audit event was committed before its 200: at least one batch and one event.
  assert.match(text, /# TYPE agentidp_audit_batches_total counter/);
  const [batches] = metricValues(text, 'agentidp_audit_batches_total');
  const [events] = metricValues(text, 'agentidp_audit_events_total');
  assert.ok(batches.value >= 1 && events.value >= batches.value, `audit batches ${batches.value}, events ${events.value}`);
  const buckets = metricValues(text, 'agentidp_http_request_duration_seconds_bucket');
  assert.ok(buckets.some((b) => b.labels.includes('le="+Inf"')), 'histogram has a +Inf bucket');
  const requests = metricValues(text, 'agentidp_http_requests_total');
  assert.ok(requests.reduce((s, m) => s + m.value, 0) >= 4);
  // The 404 is counted (status may be the exact code or its class).
  assert.ok(requests.some((m) => /(status|code)="(404|4xx)"/.test(m.labels)), `a 404 is counted: ${JSON.stringify(requests)}`);
  // Unmatched paths must not create a series per path.
  assert.ok(!text.includes('/nope'), 'raw unknown paths are not metric labels');
  assert.ok(!text.includes('sk_live_'));
});
