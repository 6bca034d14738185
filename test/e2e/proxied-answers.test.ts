import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { authorize, mcpPost } from '../support/security.ts';
import { type ServerProcess, startServer } from '../support/server-process.ts';
import { startUpstream, type Upstream } from '../support/upstream.ts';

/**
 * What the Node server puts on a proxied MCP answer, whichever way it serves it: MCP messages with
 * a valid token take its fast path (src/adapters/node/fast-path.ts, raw node:http and undici), the
 * rest the app. An operator and a client must not be able to tell: the same security headers, the
 * caller's request id, the upstream's timing, one access log line, the /metrics counts, the open
 * stream gauge, and a browser client's CORS answer.
 */

const KEY = 'sk-proxied-answers-0123456789';
const METRICS_TOKEN = 'metrics-token-proxied-answers-0123';
const INITIALIZE = JSON.stringify({
  jsonrpc: '2.0',
  id: 0,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'proxied-answers', version: '1' } },
});

describe('proxied MCP answers from the Node server', () => {
  let upstream: Upstream;
  let server: ServerProcess;
  let endpoint: string;
  let accessToken: string;
  before(async () => {
    upstream = await startUpstream({ key: KEY });
    server = await startServer({ METRICS_TOKEN, LOG_LEVEL: 'info' });
    const created = await fetch(`${server.url}/api/slugs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ upstream_url: upstream.url, transport: 'streamable-http' }),
    });
    endpoint = ((await created.json()) as { mcp_endpoint: string }).mcp_endpoint;
    accessToken = (await authorize(server, endpoint, KEY)).accessToken;
  });
  after(async () => {
    await server?.stop();
    await upstream?.close();
  });

  const metric = async (pattern: RegExp): Promise<number> => {
    const text = await (await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).text();
    return Number(pattern.exec(text)?.[1] ?? 0);
  };

  test('an answered message carries the security headers, the request id and the upstream timing, and is logged and counted once', async () => {
    const countOk = /^key2oauth_http_requests_total\{route="\/:slug\/mcp",method="POST",status="200"\} (\d+)$/m;
    const before = await metric(countOk);
    const response = await mcpPost(endpoint, accessToken, INITIALIZE, { 'x-request-id': 'trace-proxied-000001' });
    assert.equal(response.status, 200);
    await response.text();
    const headers = response.headers;
    assert.equal(headers.get('x-request-id'), 'trace-proxied-000001');
    assert.equal(headers.get('x-content-type-options'), 'nosniff');
    assert.equal(headers.get('x-frame-options'), 'DENY');
    assert.equal(headers.get('referrer-policy'), 'no-referrer');
    assert.match(headers.get('content-security-policy') ?? '', /\bsandbox\b/, 'nothing from an upstream runs as our origin');
    assert.match(headers.get('server-timing') ?? '', /^upstream;dur=\d+$/);
    assert.match(headers.get('access-control-expose-headers') ?? '', /Mcp-Session-Id/);
    assert.ok(headers.get('mcp-session-id'), "the upstream's session id is relayed");
    assert.equal(await metric(countOk), before + 1);

    const lines = server
      .output()
      .split('\n')
      .filter((line) => line.includes('trace-proxied-000001'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.equal(lines.length, 1, 'one access log line');
    assert.equal(lines[0]!.route, '/:slug/mcp');
    assert.equal(lines[0]!.status, 200);
    assert.equal(typeof lines[0]!.upstream_ms, 'number');
    for (const secret of [KEY, accessToken]) assert.ok(!server.output().includes(secret), 'no secret in the log');
  });

  test('a relayed event stream is counted as open until the client leaves it', async () => {
    const gauge = /^key2oauth_open_streams (\d+)$/m;
    const initialized = await mcpPost(endpoint, accessToken, INITIALIZE);
    const session = initialized.headers.get('mcp-session-id')!;
    await initialized.text();
    const before = await metric(gauge);
    const leave = new AbortController();
    const stream = await fetch(endpoint, {
      headers: { authorization: `Bearer ${accessToken}`, accept: 'text/event-stream', 'mcp-session-id': session },
      signal: leave.signal,
    });
    try {
      assert.equal(stream.status, 200);
      assert.match(stream.headers.get('content-type') ?? '', /^text\/event-stream/);
      assert.equal(await metric(gauge), before + 1);
    } finally {
      leave.abort();
    }
    const deadline = Date.now() + 5000;
    while ((await metric(gauge)) !== before && Date.now() < deadline) await new Promise((wait) => setTimeout(wait, 20));
    assert.equal(await metric(gauge), before, 'closed once the client left');
  });

  test('a browser client (Origin) gets the CORS answer on a proxied message', async () => {
    const origin = 'http://inspector.localhost:6274';
    const response = await mcpPost(endpoint, accessToken, INITIALIZE, { origin });
    assert.equal(response.status, 200);
    await response.text();
    assert.equal(response.headers.get('access-control-allow-origin'), origin);
    assert.match(response.headers.get('access-control-expose-headers') ?? '', /Mcp-Session-Id/);
  });
});
