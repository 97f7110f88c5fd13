// Bad input never gets a 5xx: malformed, duplicate-member, non-UTF-8 and non-object JSON,
// wrong media types, oversized bodies, unknown routes and methods, malformed HTTP.

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, raw, rawStatus, hostPort } from './lib/harness.mjs';

let srv;
let admin;
const statuses = []; // every status seen in this file, checked for 5xx at the end
before(async () => {
  srv = await startServer();
  admin = await srv.adminToken(srv);
});
after(async () => { await srv?.close(); });

async function post(path, body, contentType = 'application/json', extraHeaders = {}) {
  const r = await srv.api('POST', path, {
    token: admin, raw: true, body, headers: contentType ? { 'content-type': contentType, ...extraHeaders } : extraHeaders,
  });
  statuses.push([`POST ${path}`, r.status]);
  return r;
}

const validAgent = '"agentType":"custom","version":"1.0.0","capabilities":["a:b"],"owner":"o","deploymentEnv":"development"';

describe('JSON bodies', () => {
  test('malformed JSON: 400 VALIDATION_ERROR', async () => {
    for (const body of ['{', '{"email":', '{"email":"a@b.com",}', "{'email':'a@b.com'}", '{"a":1} trailing', '{"a":01}', '{"a":NaN}', '{"a":"\\x41"}', '\u0000']) {
      const r = await post('/api/v1/agents', body);
      assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.text}`);
      assert.equal(r.json?.code, 'VALIDATION_ERROR', r.text);
      assert.equal(typeof r.json.message, 'string');
    }
  });

  test('duplicate members: 400 (a lenient parser would have created the agent)', async () => {
    for (const body of [
      `{"email":"dup1@example.com","email":"dup2@example.com",${validAgent}}`,
      `{"email":"dup3@example.com",${validAgent},"owner":"other"}`,
    ]) {
      const r = await post('/api/v1/agents', body);
      assert.equal(r.status, 400, `${body}: ${r.text}`);
      assert.equal(r.json?.code, 'VALIDATION_ERROR');
    }
    const list = await srv.api('GET', '/api/v1/agents?owner=o', { token: admin });
    assert.equal(list.json.total, 0, 'nothing was created from a duplicate-member body');
  });

  test('invalid UTF-8 inside a JSON string: 400', async () => {
    const bodies = [
      Buffer.concat([Buffer.from('{"email":"a'), Buffer.from([0xc3, 0x28]), Buffer.from(`@example.com",${validAgent}}`)]),
      Buffer.concat([Buffer.from(`{"email":"utf8@example.com",${validAgent.replace('"owner":"o"', '"owner":"')}`), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]),
      Buffer.concat([Buffer.from(`{"email":"utf8b@example.com",${validAgent.replace('"owner":"o"', '"owner":"')}`), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')]), // UTF-16 surrogate
      Buffer.concat([Buffer.from(`{"email":"utf8c@example.com",${validAgent.replace('"owner":"o"', '"owner":"')}`), Buffer.from([0xc0, 0xaf]), Buffer.from('"}')]), // overlong '/'
    ];
    for (const body of bodies) {
      const r = await post('/api/v1/agents', body);
      assert.equal(r.status, 400, `${body.toString('hex').slice(0, 40)}: ${r.text}`);
      assert.equal(r.json?.code, 'VALIDATION_ERROR');
    }
  });

  test('JSON that is not an object: 400', async () => {
    for (const body of ['[]', '[{"email":"a@b.com"}]', '"string"', '42', 'null', 'true']) {
      const r = await post('/api/v1/agents', body);
      assert.equal(r.status, 400, `${body}: ${r.text}`);
      assert.equal(r.json?.code, 'VALIDATION_ERROR');
    }
    const agent = await srv.createAgent(admin);
    const patch = await srv.api('PATCH', `/api/v1/agents/${agent.agentId}`, { token: admin, raw: true, body: '[1]', headers: { 'content-type': 'application/json' } });
    statuses.push(['PATCH', patch.status]);
    assert.equal(patch.status, 400, patch.text);
  });

  test('deeply nested and huge-number JSON: 4xx, never 5xx', async () => {
    for (const body of ['['.repeat(20000) + ']'.repeat(20000), `{"a":${'{"a":'.repeat(5000)}1${'}'.repeat(5001)}`,
      `{"email":"n@example.com",${validAgent},"isPublic":1e99999}`, `{"email":"n2@example.com",${validAgent},"isPublic":123456789012345678901234567890}`]) {
      const r = await post('/api/v1/agents', body);
      assert.ok(r.status >= 400 && r.status < 500, `${body.slice(0, 30)}: ${r.status} ${r.text}`);
    }
  });

  test('wrong content type on POST /agents: 415', async () => {
    const body = `{"email":"ct@example.com",${validAgent}}`;
    for (const ct of ['text/plain', 'application/x-www-form-urlencoded', 'application/jsonx', 'application/xml', null]) {
      const r = await post('/api/v1/agents', ct ? body : Buffer.from(body), ct);
      assert.equal(r.status, 415, `${ct}: ${r.text}`);
      assert.equal(typeof r.json?.code, 'string');
    }
    const ok = await post('/api/v1/agents', body, 'application/json; charset=utf-8');
    assert.equal(ok.status, 201, ok.text);
  });

  test('body over 64 KiB: 413 PAYLOAD_TOO_LARGE', async () => {
    const big = JSON.stringify({ email: 'big@example.com', owner: 'x'.repeat(70 * 1024) });
    let r;
    try {
      r = await post('/api/v1/agents', big);
    } catch (e) {
      assert.fail(`the server broke the connection instead of answering 413: ${e.cause?.code ?? e.message}`);
    }
    assert.equal(r.status, 413, r.text);
    assert.equal(r.json?.code, 'PAYLOAD_TOO_LARGE');

    // Announced by Content-Length alone, before any body byte.
    const { host, port } = hostPort(srv.url);
    const text = await raw(host, port,
      `POST /api/v1/agents HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${admin}\r\nContent-Type: application/json\r\nContent-Length: 1048576\r\n\r\n{`);
    assert.equal(rawStatus(text), 413, text);
    statuses.push(['raw 413', rawStatus(text)]);

    // Exactly at the limit the body is read and judged on its merits (here: bad JSON).
    const atLimit = await post('/api/v1/agents', '{' + ' '.repeat(64 * 1024 - 1));
    assert.equal(atLimit.status, 400, atLimit.text);
  });

  test('form endpoints: garbage form bodies are 400/401, never 5xx', async () => {
    for (const body of ['%', '%zz=1', 'grant_type=client_credentials&%ff=1', '&&&', '=', Buffer.from([0x67, 0x3d, 0xff])]) {
      const r = await srv.api('POST', '/api/v1/token', { raw: true, body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      statuses.push(['token form', r.status]);
      assert.ok(r.status === 400 || r.status === 401, `${body}: ${r.status} ${r.text}`);
      assert.equal(typeof r.json?.error, 'string');
    }
  });
});

describe('routing', () => {
  test('unknown route: 404 NOT_FOUND', async () => {
    for (const path of ['/nope', '/api/v1/nope', '/api/v2/agents', '/API/V1/AGENTS', '/api/v1/agents/x/y/z', '/.well-known/nope', '/api/v1/token/extra']) {
      const r = await srv.api('GET', path, { token: admin });
      statuses.push([path, r.status]);
      assert.equal(r.status, 404, `${path}: ${r.text}`);
      assert.equal(r.json?.code, 'NOT_FOUND');
    }
  });

  test('wrong method: 405 with Allow', async () => {
    const cases = [
      ['PUT', '/api/v1/agents', ['GET', 'POST']],
      ['DELETE', '/health', ['GET']],
      ['POST', '/.well-known/jwks.json', ['GET']],
      ['PUT', '/api/v1/agents/00000000-0000-4000-8000-000000000000', ['GET', 'PATCH', 'DELETE']],
      ['GET', '/api/v1/token/revoke', ['POST']],
    ];
    for (const [method, path, allowed] of cases) {
      const r = await srv.api(method, path, { token: admin });
      statuses.push([`${method} ${path}`, r.status]);
      assert.equal(r.status, 405, `${method} ${path}: ${r.text}`);
      // HEAD comes with GET (RFC 9110 §9.3.2), so it may be listed too.
      const allow = (r.headers.get('allow') ?? '').split(',').map((s) => s.trim()).filter(Boolean)
        .filter((m) => !(m === 'HEAD' && allowed.includes('GET'))).sort();
      assert.deepEqual(allow, [...allowed].sort(), `${method} ${path}: Allow ${r.headers.get('allow')}`);
      assert.equal(typeof r.json?.code, 'string', r.text);
    }
  });

  test('bad query strings: 400', async () => {
    for (const q of ['owner=%zz', 'owner=%ff', 'bogus=1']) {
      const r = await srv.api('GET', `/api/v1/agents?${q}`, { token: admin });
      statuses.push([q, r.status]);
      assert.equal(r.status, 400, `${q}: ${r.text}`);
    }
  });
});

describe('malformed HTTP', () => {
  const malformed = [
    ['garbage request line', 'GARBAGE\r\n\r\n'],
    ['missing version', 'GET /health\r\nHost: x\r\n\r\n'],
    ['bad version', 'GET /health HTTP/9.x\r\nHost: x\r\n\r\n'],
    ['double space', 'GET  /health HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['space in target', 'GET /hea lth HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['control character in target', 'GET /health\x01 HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['lowercase method token with bad char', 'G(T /health HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['header without colon', 'GET /health HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n'],
    ['space before colon', 'GET /health HTTP/1.1\r\nHost : x\r\n\r\n'],
    ['HTTP/1.1 without Host', 'GET /health HTTP/1.1\r\n\r\n'],
    ['two Host headers', 'GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'],
    ['bad Content-Length', 'POST /api/v1/token HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n'],
    ['two different Content-Lengths', 'POST /api/v1/token HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab'],
    ['bad chunk size', 'POST /api/v1/token HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n'],
    ['target not starting with /', 'GET health HTTP/1.1\r\nHost: x\r\n\r\n'],
  ];
  for (const [name, bytes] of malformed) {
    test(`${name}: 400`, async () => {
      const { host, port } = hostPort(srv.url);
      const text = await raw(host, port, bytes);
      statuses.push([name, rawStatus(text)]);
      assert.equal(rawStatus(text), 400, `${name}: ${JSON.stringify(text.slice(0, 300))}`);
    });
  }

  test('pipelined requests are answered in order (positive control)', async () => {
    const { host, port } = hostPort(srv.url);
    const text = await raw(host, port, 'GET /health HTTP/1.1\r\nHost: x\r\nX-Request-Id: first\r\n\r\n' +
      'GET /nope HTTP/1.1\r\nHost: x\r\nX-Request-Id: second\r\nConnection: close\r\n\r\n');
    const starts = [...text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
    assert.deepEqual(starts, [200, 404], text);
    assert.ok(text.indexOf('X-Request-Id: first') < text.indexOf('X-Request-Id: second'));
  });

  test('Content-Length with Transfer-Encoding (smuggling): 400 and the connection closes', async () => {
    const { host, port } = hostPort(srv.url);
    const text = await raw(host, port, 'POST /api/v1/token HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n' +
      'Transfer-Encoding: chunked\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\n0\r\n\r\n' +
      'GET /health HTTP/1.1\r\nHost: x\r\n\r\n');
    statuses.push(['CL+TE', rawStatus(text)]);
    assert.equal(rawStatus(text), 400, text);
    assert.equal([...text.matchAll(/HTTP\/1\.1 \d{3}/g)].length, 1, 'the smuggled request is not answered');
  });

  test('oversized header block: 431 (or 400), never 5xx', async () => {
    const { host, port } = hostPort(srv.url);
    const text = await raw(host, port, `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(100 * 1024)}\r\n\r\n`);
    const s = rawStatus(text);
    statuses.push(['big header', s]);
    assert.ok(s === 431 || s === 400, `status ${s}: ${text.slice(0, 200)}`);
  });

  test('the server is still healthy, and no bad input got a 5xx', async () => {
    const r = await srv.api('GET', '/health');
    assert.equal(r.status, 200);
    const fivexx = statuses.filter(([, s]) => s >= 500);
    assert.deepEqual(fivexx, []);
    assert.equal(srv.exited(), null, 'the server did not exit');
  });
});
