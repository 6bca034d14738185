import assert from 'node:assert/strict';
import { test } from 'node:test';
import { judgeAnswer, upstreamRequest, WHOLE_ANSWER_MAX_BYTES, wholeAnswerLength, withCors } from '../../src/upstream/exchange.ts';

/**
 * The exchange's header rules (src/upstream/exchange.ts, with the allowlists in headers.ts), as
 * data in and decisions out; test/e2e/one-exchange.test.ts holds every carrier to them.
 */

const TARGET = { url: 'https://upstream.example/mcp', headerName: 'X-Key', headerPrefix: '', transport: 'streamable-http' as const };

function upstreamRequestHeaders(incoming: Headers): Headers {
  const { headers } = upstreamRequest(
    TARGET,
    ['the-api-key'],
    (visit) => {
      for (const [name, value] of incoming) visit(name, value);
    },
    null,
  );
  return new Headers(headers);
}

/** The answer's headers for an upstream answer with these headers (no timers: lengths stand). */
function clientResponseHeaders(upstream: Headers, rules = { heartbeatMs: 0, idleMs: 0 }): Headers {
  const verdict = judgeAnswer(
    200,
    (visit) =>
      upstream.forEach((value, name) => {
        visit(name, value);
      }),
    (name) => upstream.get(name),
    12.4,
    rules,
  );
  assert.equal(verdict.kind, 'relay');
  const out = new Headers();
  if (verdict.kind === 'relay') for (const [name, value] of verdict.headers) out.append(name, value);
  return out;
}

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
  const out = upstreamRequestHeaders(incoming);
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

test('a coded body from an upstream that ignored our identity is relayed as it came, coding and length with it', () => {
  const out = clientResponseHeaders(
    new Headers({ 'content-encoding': 'gzip', 'content-length': '10', 'content-type': 'application/json' }),
  );
  assert.equal(out.get('content-encoding'), 'gzip');
  assert.equal(out.get('content-length'), '10');
});

test('an event stream gets heartbeats and so loses its declared length, whatever the case of its type; JSON keeps it', () => {
  const rules = { heartbeatMs: 25_000, idleMs: 0 };
  const sse = clientResponseHeaders(new Headers({ 'content-type': 'Text/Event-Stream; charset=utf-8', 'content-length': '99' }), rules);
  assert.equal(sse.get('content-length'), null);
  const json = clientResponseHeaders(new Headers({ 'content-type': 'application/json', 'content-length': '99' }), rules);
  assert.equal(json.get('content-length'), '99');
});

test('statuses: 401 and 403 mean the key was refused, 3xx is refused, 204 has no body, anything else is relayed', () => {
  const judge = (status: number) =>
    judgeAnswer(
      status,
      () => {},
      () => null,
      1,
      { heartbeatMs: 0, idleMs: 0 },
    );
  assert.equal(judge(401).kind, 'key-rejected');
  assert.equal(judge(403).kind, 'key-rejected');
  assert.equal(judge(302).kind, 'redirect-refused');
  assert.equal(judge(304).kind, 'redirect-refused');
  const none = judge(204);
  assert.ok(none.kind === 'relay' && none.nullBody);
  const error = judge(500);
  assert.ok(error.kind === 'relay' && !error.nullBody);
});

test('read whole before it is sent: a declared, uncoded body up to 1 MiB that is not an event stream; anything else streams', () => {
  const whole = (status: number, headers: Record<string, string>) => wholeAnswerLength(status, (name) => new Headers(headers).get(name));
  assert.equal(whole(200, { 'content-type': 'application/json', 'content-length': '37' }), 37);
  assert.equal(whole(500, { 'content-type': 'text/plain', 'content-length': '0' }), 0);
  assert.equal(
    whole(200, { 'content-type': 'application/json', 'content-length': String(WHOLE_ANSWER_MAX_BYTES) }),
    WHOLE_ANSWER_MAX_BYTES,
  );
  assert.equal(whole(200, { 'content-type': 'application/json', 'content-length': String(WHOLE_ANSWER_MAX_BYTES + 1) }), null);
  assert.equal(whole(200, { 'content-type': 'application/json' }), null, 'undeclared');
  assert.equal(whole(200, { 'content-type': 'application/json', 'content-length': '37, 37' }), null, 'not one length');
  assert.equal(whole(200, { 'content-type': 'Text/Event-Stream', 'content-length': '9' }), null, 'an event stream');
  assert.equal(whole(200, { 'content-type': 'application/json', 'content-length': '9', 'content-encoding': 'gzip' }), null, 'coded');
  assert.equal(whole(204, { 'content-length': '0' }), null, 'no body may follow');
});

test('the upstream URL is the one stored, whatever the client asked for', () => {
  assert.equal(upstreamRequest(TARGET, ['k'], () => {}, null).url, TARGET.url);
});

test('CORS for a browser client: allowed origin, Vary and the headers it must read, added to what is there', () => {
  const out = withCors(
    [
      ['access-control-expose-headers', 'Mcp-Session-Id, MCP-Protocol-Version, WWW-Authenticate'],
      ['vary', 'Accept'],
    ],
    'https://inspector.example',
  );
  const get = (name: string) => out.find(([have]) => have === name)?.[1];
  assert.equal(get('access-control-allow-origin'), 'https://inspector.example');
  assert.equal(get('vary'), 'Accept, Origin');
  assert.equal(get('access-control-expose-headers'), 'Mcp-Session-Id, MCP-Protocol-Version, WWW-Authenticate, Retry-After');
  assert.deepEqual(withCors([['a', 'b']], undefined), [['a', 'b']]);
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
