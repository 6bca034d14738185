import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clientResponseHeaders, upstreamRequestHeaders } from '../../src/upstream/headers.ts';

test('towards the upstream: the key replaces the client credentials; MCP headers pass', () => {
  const incoming = new Headers({
    authorization: 'Bearer oauth-access-token',
    cookie: 'session=1',
    origin: 'https://evil.example',
    host: 'k2o.example.com',
    connection: 'keep-alive, x-key',
    'x-key': 'client-supplied',
    'accept-encoding': 'gzip',
    'x-forwarded-for': '10.0.0.1',
    accept: 'application/json, text/event-stream',
    'content-type': 'application/json',
    'mcp-session-id': 's1',
    'mcp-protocol-version': '2025-06-18',
    'last-event-id': 'e7',
    'mcp-method': 'tools/call',
    'mcp-name': 'echo',
  });
  const out = upstreamRequestHeaders(incoming, { name: 'X-Key', value: 'the-api-key' });
  assert.equal(out.get('x-key'), 'the-api-key');
  for (const dropped of ['authorization', 'cookie', 'origin', 'host', 'connection', 'x-forwarded-for'])
    assert.equal(out.get(dropped), null, dropped);
  assert.equal(out.get('accept-encoding'), 'identity');
  for (const kept of ['accept', 'content-type', 'mcp-session-id', 'mcp-protocol-version', 'last-event-id', 'mcp-method', 'mcp-name']) {
    assert.equal(out.get(kept), incoming.get(kept), kept);
  }
});

test('back to the client: no cookies, no upstream challenge, no hop-by-hop; the session id is readable', () => {
  const upstream = new Headers({
    'content-type': 'text/event-stream',
    'mcp-session-id': 's1',
    'set-cookie': 'tracking=1',
    'www-authenticate': 'Bearer realm="upstream"',
    'strict-transport-security': 'max-age=63072000',
    connection: 'close',
    'transfer-encoding': 'chunked',
    'access-control-allow-origin': '*',
    'cache-control': 'no-cache',
  });
  const out = clientResponseHeaders(upstream);
  assert.equal(out.get('mcp-session-id'), 's1');
  assert.equal(out.get('cache-control'), 'no-cache');
  for (const dropped of [
    'set-cookie',
    'www-authenticate',
    'strict-transport-security',
    'connection',
    'transfer-encoding',
    'access-control-allow-origin',
  ]) {
    assert.equal(out.get(dropped), null, dropped);
  }
  assert.match(out.get('access-control-expose-headers') ?? '', /Mcp-Session-Id/);
});

test('a body fetch decoded loses its encoding and length headers', () => {
  const out = clientResponseHeaders(
    new Headers({ 'content-encoding': 'gzip', 'content-length': '10', 'content-type': 'application/json' }),
  );
  assert.equal(out.get('content-encoding'), null);
  assert.equal(out.get('content-length'), null);
});

test('back to the client: only an allowlist crosses; what acts on our origin or the connection never does', () => {
  const upstream = new Headers({
    'content-type': 'application/json',
    'content-length': '42',
    'mcp-session-id': 's1',
    'mcp-protocol-version': '2025-06-18',
    'cache-control': 'no-store',
    etag: '"v1"',
    'retry-after': '5',
    'x-accel-buffering': 'no',
    allow: 'POST',
    'clear-site-data': '"*"',
    refresh: '0; url=https://evil.example',
    link: '<https://evil.example/x.js>; rel=preload; as=script',
    'service-worker-allowed': '/',
    'permissions-policy': 'camera=*',
    'content-location': '/other',
    'proxy-authenticate': 'Basic',
    location: 'https://evil.example',
    'x-upstream-secret': 'internal',
  });
  const out = clientResponseHeaders(upstream);
  for (const kept of [
    'content-type',
    'content-length',
    'mcp-session-id',
    'mcp-protocol-version',
    'cache-control',
    'etag',
    'retry-after',
    'x-accel-buffering',
    'allow',
  ])
    assert.equal(out.get(kept), upstream.get(kept), kept);
  for (const dropped of [
    'clear-site-data',
    'refresh',
    'link',
    'service-worker-allowed',
    'permissions-policy',
    'content-location',
    'proxy-authenticate',
    'location',
    'x-upstream-secret',
  ])
    assert.equal(out.get(dropped), null, dropped);
});

test('back to the client: headers the upstream names in its own Connection header are hop-by-hop and dropped (RFC 9110 §7.6.1)', () => {
  const upstream = new Headers({
    'content-type': 'text/event-stream',
    connection: 'keep-alive, Cache-Control ,  mcp-session-id',
    'cache-control': 'no-cache',
    'mcp-session-id': 's1',
    'mcp-protocol-version': '2025-06-18',
  });
  const out = clientResponseHeaders(upstream);
  assert.equal(out.get('cache-control'), null);
  assert.equal(out.get('mcp-session-id'), null);
  assert.equal(out.get('mcp-protocol-version'), '2025-06-18');
});
