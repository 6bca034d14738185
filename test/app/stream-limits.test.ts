import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { INITIALIZE, type InProcess, KEY, startApp } from '../support/in-process.ts';

/**
 * Concurrent proxied requests are bounded per grant and per client address (429 with Retry-After
 * past either), released when a stream ends, and legitimate patterns fit under the defaults.
 */

const STREAM_URL = 'https://streams.example.com/mcp';

/**
 * An upstream whose GET streams stay open until the client leaves. A POST (the key check's
 * `initialize`) gets an MCP answer, since the key check wants one.
 */
function serveEndlessStreams(k: InProcess) {
  k.upstreams.serve(STREAM_URL, (request) => {
    if (request.headers.get('authorization') !== `Bearer ${KEY}`) return new Response(null, { status: 401 });
    if (request.method === 'POST') {
      return Response.json({
        jsonrpc: '2.0',
        id: 0,
        result: { protocolVersion: '2025-06-18', capabilities: {}, serverInfo: { name: 'streams', version: '1' } },
      });
    }
    return new Response(
      new ReadableStream({
        start: (controller) => controller.enqueue(new TextEncoder().encode(': open\n\n')),
      }),
      { headers: { 'content-type': 'text/event-stream' } },
    );
  });
}

const openStream = (k: InProcess, endpoint: string, token: string, clientAddress?: string) =>
  k.fetch(endpoint, {
    method: 'GET',
    headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
    ...(clientAddress ? { clientAddress } : {}),
  });

describe('stream limits, in-process', () => {
  let k: InProcess;
  let endpoint: string;
  before(async () => {
    k = await startApp({ env: { MAX_STREAMS_PER_GRANT: '3', MAX_STREAMS_PER_ADDRESS: '5' } });
    serveEndlessStreams(k);
    endpoint = (await k.mustCreateEndpoint({ upstream_url: STREAM_URL, transport: 'streamable-http' })).mcp_endpoint!;
  });
  after(() => k.close());

  test('one grant cannot hold more than MAX_STREAMS_PER_GRANT; a closed stream frees its place', async () => {
    const grant = await k.authorize(endpoint);
    const open = await Promise.all([1, 2, 3].map(() => openStream(k, endpoint, grant.accessToken, '203.0.113.1')));
    for (const response of open) assert.equal(response.status, 200);
    const refused = await openStream(k, endpoint, grant.accessToken, '203.0.113.1');
    assert.equal(refused.status, 429);
    assert.equal(refused.headers.get('retry-after'), '5');
    const body = (await refused.json()) as { jsonrpc: string; error: { message: string } };
    assert.equal(body.jsonrpc, '2.0');
    assert.match(body.error.message, /Too many requests are open .*; try again in 5 seconds/);

    await open[0]!.body!.cancel();
    const again = await openStream(k, endpoint, grant.accessToken, '203.0.113.1');
    assert.equal(again.status, 200, 'the cancelled stream released its place');
    for (const response of [...open.slice(1), again]) await response.body!.cancel();
  });

  test('one address cannot hold more than MAX_STREAMS_PER_ADDRESS across grants; other users are unaffected', async () => {
    const grants = await Promise.all([1, 2].map(() => k.authorize(endpoint)));
    const open: Response[] = [];
    for (const grant of grants) for (const _ of [1, 2]) open.push(await openStream(k, endpoint, grant.accessToken, '198.51.100.20'));
    open.push(await openStream(k, endpoint, grants[0]!.accessToken, '198.51.100.20'));
    for (const response of open) assert.equal(response.status, 200);
    const third = await k.authorize(endpoint);
    const refused = await openStream(k, endpoint, third.accessToken, '198.51.100.20');
    assert.equal(refused.status, 429, 'a sixth stream from the same address');
    await refused.body?.cancel();
    const elsewhere = await openStream(k, endpoint, third.accessToken, '192.0.2.55');
    assert.equal(elsewhere.status, 200, 'another user, at another address, still gets through');
    for (const response of [...open, elsewhere]) await response.body!.cancel();
  });
});

describe('legitimate patterns under the default limits, in-process', () => {
  let k: InProcess;
  before(async () => {
    k = await startApp();
  });
  after(() => k.close());

  test('a GET stream plus a burst of 20 parallel POSTs, for three clients of one user at one address', async () => {
    const endpoint = (await k.mustCreateEndpoint()).mcp_endpoint!;
    const grants = await Promise.all([1, 2, 3].map(() => k.authorize(endpoint)));
    const streams: Response[] = [];
    for (const grant of grants) {
      const init = await k.mcp(endpoint, grant.accessToken, INITIALIZE);
      assert.equal(init.status, 200);
      const session = init.headers.get('mcp-session-id')!;
      await init.body?.cancel();
      const stream = await k.fetch(endpoint, {
        method: 'GET',
        headers: {
          authorization: `Bearer ${grant.accessToken}`,
          accept: 'text/event-stream',
          'mcp-session-id': session,
          'mcp-protocol-version': '2025-06-18',
        },
      });
      assert.equal(stream.status, 200);
      streams.push(stream);
      const burst = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          k.mcp(
            endpoint,
            grant.accessToken,
            { jsonrpc: '2.0', id: i + 2, method: 'tools/list' },
            { 'mcp-session-id': session, 'mcp-protocol-version': '2025-06-18' },
          ),
        ),
      );
      for (const response of burst) {
        assert.equal(response.status, 200, await response.clone().text());
        await response.text();
      }
    }
    for (const stream of streams) await stream.body!.cancel();
  });
});
