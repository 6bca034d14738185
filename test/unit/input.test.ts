import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createEndpointInput, firstIssue } from '../../src/endpoints/input.ts';

const parse = (body: unknown) => createEndpointInput.safeParse(body);
const message = (body: unknown) => {
  const result = parse(body);
  assert.equal(result.success, false, JSON.stringify(body));
  return firstIssue(result.error!);
};

test('a plain creation request is accepted', () => {
  assert.ok(parse({ upstream_url: 'https://mcp.example.com/mcp' }).success);
  assert.ok(parse({ upstream_url: 'https://mcp.example.com/mcp', auth_header_name: 'X-API-Key', auth_header_prefix: '' }).success);
  assert.ok(parse({ upstream_url: 'https://mcp.example.com/mcp', auth_header_name: 'Authorization', auth_header_prefix: 'Token' }).success);
});

test('header names that carry framing, routing or protocol state are refused', () => {
  for (const name of [
    'Host',
    'content-length',
    'Transfer-Encoding',
    'Connection',
    'Cookie',
    'Mcp-Session-Id',
    'X-Forwarded-For',
    'Sec-Fetch-Site',
    'Upgrade',
    'TE',
  ]) {
    assert.match(message({ upstream_url: 'https://a.example.com', auth_header_name: name }), /cannot hold the key/, name);
  }
});

test('header names must be HTTP tokens', () => {
  for (const name of ['X API Key', 'X-Key:', 'X-Key\r\nEvil: 1', 'Ключ', '']) {
    assert.ok(!parse({ upstream_url: 'https://a.example.com', auth_header_name: name }).success, JSON.stringify(name));
  }
});

test('a prefix with a line break or non-ASCII text is refused', () => {
  for (const prefix of ['Bearer\r\nX-Evil: 1', 'Bearer\n', 'Béarer', 'a\u0000b']) {
    assert.match(message({ upstream_url: 'https://a.example.com', auth_header_prefix: prefix }), /visible ASCII/);
  }
});

test('unknown fields, wrong types and overlong values get a message naming the field', () => {
  assert.match(message({ upstream_url: 'https://a.example.com', upstream: 'x' }), /Unknown field/);
  assert.match(message({ upstream_url: 42 }), /upstream_url must be a string/);
  assert.match(message({ upstream_url: 'https://a.example.com', display_name: 7 }), /display_name must be a string/);
  assert.match(message({}), /upstream_url is required/);
  assert.match(message({ upstream_url: `https://a.example.com/${'a'.repeat(2100)}` }), /2048/);
  assert.match(message({ upstream_url: 'https://a.example.com', display_name: 'x'.repeat(101) }), /100/);
  assert.match(message({ upstream_url: 'https://a.example.com', display_name: 'evil\u202ename' }), /control characters/);
  assert.match(message([]), /JSON object/);
});
