// docs/openapi.yaml is read by tools, not only people: it must be a valid OpenAPI 3.1
// document (schema validation and $ref resolution by @apidevtools/swagger-parser), and every
// operation must say what it answers. Route parity with the server's route table is checked
// by tests/unit/app/config_test.cpp.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import SwaggerParser from '@apidevtools/swagger-parser';

const here = path.dirname(fileURLToPath(import.meta.url));
const file = path.join(here, '../../docs/openapi.yaml');

test('docs/openapi.yaml validates as OpenAPI 3.1 and its references resolve', async () => {
  const api = await SwaggerParser.validate(file);
  assert.equal(api.openapi, '3.1.0');
  assert.ok(Object.keys(api.paths).length >= 40, `paths: ${Object.keys(api.paths).length}`);
});

test('every operation has a summary and documents at least one success and one error', async () => {
  const api = await SwaggerParser.dereference(file);
  const problems = [];
  for (const [p, item] of Object.entries(api.paths)) {
    for (const [method, op] of Object.entries(item)) {
      if (!['get', 'post', 'put', 'patch', 'delete'].includes(method)) continue;
      const codes = Object.keys(op.responses ?? {});
      if (!op.summary) problems.push(`${method.toUpperCase()} ${p}: no summary`);
      if (!codes.some((c) => /^[23]/.test(c))) problems.push(`${method.toUpperCase()} ${p}: no success response`);
      if (!codes.some((c) => /^[45]/.test(c)) && !p.startsWith('/.well-known') && p !== '/health' && p !== '/metrics')
        problems.push(`${method.toUpperCase()} ${p}: no error response`);
    }
  }
  assert.deepEqual(problems, []);
});

test('a broken document is refused (the validator is live)', async () => {
  const api = await SwaggerParser.parse(file);
  const broken = structuredClone(api);
  broken.paths['/health'].get.responses = { 200: { $ref: '#/components/responses/NoSuchResponse' } };
  await assert.rejects(SwaggerParser.validate(broken));
});
