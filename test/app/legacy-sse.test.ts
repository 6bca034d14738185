import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Grant, type InProcess, KEY, PUBLIC_URL, startApp } from '../support/in-process.ts';
import { serveLegacySse } from '../support/in-process-upstream.ts';
import { sseReader } from '../support/transport-helpers.ts';

/** The legacy HTTP+SSE transport (2024-11-05): `/{slug}/sse`, its rewritten endpoint event, `/{slug}/messages`. */

const LEGACY_URL = 'https://legacy.example.com/sse';
const INITIALIZE = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2024-11-05', capabilities: {}, clientInfo: { name: 'legacy', version: '1' } },
};

describe('legacy HTTP+SSE through the proxy, in-process', () => {
  let k: InProcess;
  let slug: string;
  let grant: Grant;
  before(async () => {
    k = await startApp();
    serveLegacySse(k.upstreams, { url: LEGACY_URL, key: KEY });
    const created = await k.mustCreateEndpoint({ upstream_url: LEGACY_URL });
    assert.equal(created.transport, 'sse', 'a keyless 401 on a /sse path is taken as the legacy transport');
    slug = created.slug!;
    grant = await k.authorize(created.mcp_endpoint!);
  });
  after(() => k.close());

  // `null` sends no token; leaving it out sends the grant's.
  const open = (path: string, token: string | null = grant.accessToken) =>
    k.fetch(path, { headers: { accept: 'text/event-stream', ...(token ? { authorization: `Bearer ${token}` } : {}) } });
  const post = (url: string | URL, body: unknown, token: string | null = grant.accessToken) =>
    k.fetch(String(url), {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });

  test('the endpoint event names a signed message URL on our origin; messages reach the upstream session with the key', async () => {
    const response = await open(`/${slug}/sse`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
    const events = sseReader(response.body!);
    try {
      const endpoint = await events.next();
      assert.equal(endpoint.event, 'endpoint');
      const url = new URL(endpoint.data);
      assert.equal(url.origin, PUBLIC_URL);
      assert.equal(url.pathname, `/${slug}/messages`);
      assert.match(url.searchParams.get('to') ?? '', /^\/messages\?sessionId=[0-9a-f-]{36}$/);
      assert.match(url.searchParams.get('sig') ?? '', /^[0-9a-f]{32}$/);
      assert.ok(!endpoint.data.includes('legacy.example.com'), 'the upstream host is not exposed');

      const init = await post(url, INITIALIZE);
      assert.equal(init.status, 202);
      await init.body?.cancel();
      const sent = k.upstreams.requests.at(-1)!;
      assert.equal(sent.url, `https://legacy.example.com${url.searchParams.get('to')}`);
      assert.equal(sent.headers.authorization, `Bearer ${KEY}`);
      assert.ok(!JSON.stringify(sent.headers).includes(grant.accessToken));
      const answer = await events.next();
      assert.equal(answer.event, 'message');
      assert.equal(JSON.parse(answer.data).result.serverInfo.name, 'in-process-legacy');

      await (await post(url, { jsonrpc: '2.0', method: 'notifications/initialized' })).body?.cancel();
      await (
        await post(url, { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { text: 'old school' } } })
      ).body?.cancel();
      const call = JSON.parse((await events.next()).data);
      assert.equal(call.id, 2);
      assert.deepEqual(call.result.content, [{ type: 'text', text: 'echo: old school' }]);
    } finally {
      await events.cancel();
    }
  });

  test('the token is checked on both routes, and message URLs cannot be altered or borrowed', async () => {
    const noToken = await open(`/${slug}/sse`, null);
    assert.equal(noToken.status, 401);
    assert.match(
      noToken.headers.get('www-authenticate') ?? '',
      new RegExp(`resource_metadata="${PUBLIC_URL}/\\.well-known/oauth-protected-resource/${slug}/mcp"`),
    );

    const response = await open(`/${slug}/sse`);
    const events = sseReader(response.body!);
    try {
      const url = new URL((await events.next()).data);
      const before = k.upstreams.requests.length;
      assert.equal((await post(url, INITIALIZE, null)).status, 401);
      const altered = new URL(url);
      altered.searchParams.set('to', '/admin/delete-everything');
      assert.equal((await post(altered, INITIALIZE)).status, 403);
      const elsewhere = new URL(url);
      elsewhere.searchParams.set('to', '//evil.example.com/messages');
      assert.equal((await post(elsewhere, INITIALIZE)).status, 403);
      const unsigned = new URL(url);
      unsigned.searchParams.delete('sig');
      assert.equal((await post(unsigned, INITIALIZE)).status, 400);
      const someoneElse = await k.authorize(`${PUBLIC_URL}/${slug}/mcp`);
      const borrowed = await post(url, INITIALIZE, someoneElse.accessToken);
      assert.equal(borrowed.status, 403, 'another grant cannot use this message URL');
      assert.match(
        ((await borrowed.json()) as { error: { message: string } }).error.message,
        /not issued by this server for this endpoint and authorization/,
      );
      assert.ok(
        k.upstreams.requests.slice(before).every((request) => !request.url.includes('/messages')),
        'no refused message reached the upstream',
      );
    } finally {
      await events.cancel();
    }
  });

  test('a legacy endpoint on its /mcp URL: GET opens the stream, POST is 405 with Allow: GET', async () => {
    const stream = await open(`/${slug}/mcp`);
    assert.equal(stream.status, 200);
    const events = sseReader(stream.body!);
    try {
      assert.equal((await events.next()).event, 'endpoint');
    } finally {
      await events.cancel();
    }
    const posted = await post(`/${slug}/mcp`, INITIALIZE);
    assert.equal(posted.status, 405);
    assert.equal(posted.headers.get('allow'), 'GET');
  });

  test('the legacy routes of a Streamable HTTP endpoint point to its /mcp URL', async () => {
    const created = await k.mustCreateEndpoint();
    const streamable = await k.authorize(created.mcp_endpoint!);
    const response = await open(`/${created.slug}/sse`, streamable.accessToken);
    assert.equal(response.status, 404);
    assert.match(
      ((await response.json()) as { error: { message: string } }).error.message,
      new RegExp(`speaks Streamable HTTP; connect to ${created.mcp_endpoint}`),
    );
    const wrongMethod = await k.fetch(`/${slug}/sse`, { method: 'POST', body: '{}' });
    assert.equal(wrongMethod.status, 405);
    assert.equal(wrongMethod.headers.get('allow'), 'GET, OPTIONS');
  });
});
