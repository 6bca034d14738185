import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tokenParts } from '../../src/oauth/engine.ts';
import { resourceUrl, slugFromResource } from '../../src/oauth/resource.ts';

const PUBLIC = 'https://k2o.example.com';
const SLUG = 'Ab3dEf6hIj9L';

test('the resource of an endpoint is its MCP URL', () => {
  assert.equal(resourceUrl(PUBLIC, SLUG), `${PUBLIC}/${SLUG}/mcp`);
});

test('resource values real clients send are understood (docs/architecture.md)', () => {
  for (const value of [
    `${PUBLIC}/${SLUG}/mcp`,
    `${PUBLIC}/${SLUG}/mcp/`,
    `HTTPS://K2O.EXAMPLE.COM/${SLUG}/mcp`,
    `${PUBLIC}/${SLUG}`,
    `${PUBLIC}/${SLUG}/sse`,
    ` ${PUBLIC}/${SLUG}/mcp `,
    SLUG,
  ]) {
    assert.equal(slugFromResource(PUBLIC, value), SLUG, value);
  }
});

test('values that name no endpoint of this server give nothing', () => {
  for (const value of [
    PUBLIC,
    `${PUBLIC}/`,
    `https://other.example.com/${SLUG}/mcp`,
    `http://k2o.example.com/${SLUG}/mcp`,
    `${PUBLIC}/${SLUG}/other`,
    `${PUBLIC}/short/mcp`,
    'not a url',
    '',
    null,
  ]) {
    assert.equal(slugFromResource(PUBLIC, value), undefined, String(value));
  }
});

test('an engine token names its slug in its first segment', () => {
  assert.deepEqual(tokenParts(`${SLUG}:grant123:secretsecretsecret`), { slug: SLUG, grantId: 'grant123' });
  assert.equal(tokenParts('nota-slug:grant:secret'), undefined);
  assert.equal(tokenParts(undefined), undefined);
});
