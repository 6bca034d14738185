import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseConfig } from '../../src/config.ts';

const defaults = { publicUrl: 'http://localhost:8787' };

test('defaults match the README', () => {
  const config = parseConfig({}, defaults);
  assert.equal(config.publicUrl, 'http://localhost:8787');
  assert.equal(config.allowPrivateUpstreams, false);
  assert.equal(config.accessTokenTtl, 3600);
  assert.equal(config.refreshTokenTtl, 30 * 24 * 3600);
  assert.equal(config.adminToken, undefined);
});

test('PUBLIC_URL is the exact issuer: a bare origin, trailing slash dropped, no path', () => {
  assert.equal(parseConfig({ PUBLIC_URL: 'https://MCP.example.com/' }, defaults).publicUrl, 'https://mcp.example.com');
  assert.throws(() => parseConfig({ PUBLIC_URL: 'https://mcp.example.com/base' }, defaults), ConfigError);
  assert.throws(() => parseConfig({ PUBLIC_URL: 'mcp.example.com' }, defaults), ConfigError);
  assert.throws(() => parseConfig({ PUBLIC_URL: 'ftp://mcp.example.com' }, defaults), ConfigError);
});

test('bad values name the variable', () => {
  assert.throws(() => parseConfig({ ALLOW_PRIVATE_UPSTREAMS: 'maybe' }, defaults), /ALLOW_PRIVATE_UPSTREAMS/);
  assert.throws(() => parseConfig({ ACCESS_TOKEN_TTL: '30' }, defaults), /ACCESS_TOKEN_TTL must be at least 60/);
  assert.throws(() => parseConfig({ RATE_LIMIT_CREATE: 'lots' }, defaults), /RATE_LIMIT_CREATE/);
  assert.throws(() => parseConfig({ LOG_LEVEL: 'loud' }, defaults), /LOG_LEVEL/);
});

test('lists and limits parse', () => {
  const config = parseConfig({ UPSTREAM_ALLOWLIST: 'A.example.com, *.b.example.com', RATE_LIMIT_AUTHORIZE: '5/60', RATE_LIMIT_CREATE: '0' }, defaults);
  assert.deepEqual(config.upstreamAllowlist, ['a.example.com', '*.b.example.com']);
  assert.deepEqual(config.rateLimits.authorizeSubmit, { limit: 5, windowSeconds: 60 });
  assert.equal(config.rateLimits.createEndpoint.limit, 0);
});
