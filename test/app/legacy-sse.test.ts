import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { type Grant, type InProcess, KEY, PUBLIC_URL, startApp } from '../support/in-process.ts';
import { serveLegacySse } from '../support/in-process-upstream.ts';
import { TestOAuthProvider } from '../support/oauth-client.ts';
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
      new RegExp(`resource_metadata="${PUBLIC_URL}/\\.well-known/oauth-protected-resource/${slug}/sse"`),
      'the challenge names metadata whose resource is the /sse URL the client connected to',
    );

    const response = await open(`/${slug}/sse`);
    const events = sseReader(response.body!);
    try {
      const url = new URL((await events.next()).data);
      const before = k.upstreams.requests.length;
      const unauthorized = await post(url, INITIALIZE, null);
      assert.equal(unauthorized.status, 401);
      assert.match(unauthorized.headers.get('www-authenticate') ?? '', new RegExp(`oauth-protected-resource/${slug}/sse"`));
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

describe('an MCP SDK client pointed at the legacy /sse URL, in-process', () => {
  let k: InProcess;
  let slug: string;
  before(async () => {
    k = await startApp();
    serveLegacySse(k.upstreams, { url: LEGACY_URL, key: KEY });
    slug = (await k.mustCreateEndpoint({ upstream_url: LEGACY_URL })).slug!;
  });
  after(() => k.close());

  const fetchApp = (url: string | URL, init?: RequestInit) => k.fetch(String(url), init);

  /** What mcp-remote --transport sse-only and the Inspector do: discover, register, authorize, connect. */
  async function connectSse(provider: TestOAuthProvider): Promise<Client> {
    const sseUrl = new URL(`${PUBLIC_URL}/${slug}/sse`);
    const first = new SSEClientTransport(sseUrl, { authProvider: provider, fetch: fetchApp });
    await new Client({ name: 'sdk-sse', version: '1' }).connect(first).then(
      () => assert.fail('connected without authorization'),
      (error) => assert.ok(error instanceof UnauthorizedError, String(error)),
    );
    const page = await k.openAuthorization(provider.authorizationUrl!);
    assert.equal(page.status, 200, page.text);
    const approved = await k.submitConsent(page, { api_key: KEY, action: 'approve' });
    assert.equal(approved.status, 302);
    await first.finishAuth(new URL(approved.headers.get('location')!).searchParams.get('code')!);
    const client = new Client({ name: 'sdk-sse', version: '1' });
    await client.connect(new SSEClientTransport(sseUrl, { authProvider: provider, fetch: fetchApp }));
    return client;
  }

  test('discovers, registers, authorizes, calls a tool, refreshes, and calls again', async () => {
    const provider = new TestOAuthProvider();
    const client = await connectSse(provider);
    try {
      assert.equal(provider.authorizationUrl!.searchParams.get('resource'), `${PUBLIC_URL}/${slug}/sse`);
      const called = (await client.callTool({ name: 'echo', arguments: { text: 'via sse' } })) as { content: unknown };
      assert.deepEqual(called.content, [{ type: 'text', text: 'echo: via sse' }]);
    } finally {
      await client.close();
    }

    const before = provider.savedTokens!;
    const refreshed = await k.token({
      grant_type: 'refresh_token',
      refresh_token: before.refresh_token!,
      client_id: provider.information!.client_id,
      resource: `${PUBLIC_URL}/${slug}/sse`,
    });
    assert.equal(refreshed.status, 200, await refreshed.clone().text());
    const tokens = (await refreshed.json()) as { access_token: string };
    assert.notEqual(tokens.access_token, before.access_token);
    // The SDK uses whatever token its provider holds; a refreshed one connects as well.
    provider.saveTokens({ ...before, ...tokens, token_type: 'Bearer' });
    const again = new Client({ name: 'sdk-sse', version: '1' });
    await again.connect(new SSEClientTransport(new URL(`${PUBLIC_URL}/${slug}/sse`), { authProvider: provider, fetch: fetchApp }));
    try {
      assert.ok((await again.listTools()).tools.some((tool) => tool.name === 'echo'));
    } finally {
      await again.close();
    }
  });

  test('the SDK refreshes by itself when its access token is refused', async () => {
    const provider = new TestOAuthProvider();
    await (await connectSse(provider)).close();
    provider.saveTokens({ ...provider.savedTokens!, access_token: `${slug}:expired:token` });
    const client = new Client({ name: 'sdk-sse', version: '1' });
    const spent = provider.savedTokens!.refresh_token;
    await client.connect(new SSEClientTransport(new URL(`${PUBLIC_URL}/${slug}/sse`), { authProvider: provider, fetch: fetchApp }));
    try {
      assert.notEqual(provider.savedTokens!.refresh_token, spent, 'a refresh happened');
      assert.ok((await client.listTools()).tools.length > 0);
    } finally {
      await client.close();
    }
  });

  test('the /sse metadata names the /sse resource and the same authorization server; a token from /sse works on /mcp and back', async () => {
    const metadata = (await (await k.fetch(`/.well-known/oauth-protected-resource/${slug}/sse`)).json()) as Record<string, unknown>;
    assert.equal(metadata.resource, `${PUBLIC_URL}/${slug}/sse`);
    assert.deepEqual(metadata.authorization_servers, [PUBLIC_URL]);

    const viaSse = new TestOAuthProvider();
    await (await connectSse(viaSse)).close();
    const onMcp = await k.fetch(`/${slug}/mcp`, {
      headers: { accept: 'text/event-stream', authorization: `Bearer ${viaSse.savedTokens!.access_token}` },
    });
    assert.equal(onMcp.status, 200, 'a token issued through /sse opens the stream on /mcp');
    await onMcp.body?.cancel();

    const viaMcp = await k.authorize(`${PUBLIC_URL}/${slug}/mcp`);
    const onSse = await k.fetch(`/${slug}/sse`, {
      headers: { accept: 'text/event-stream', authorization: `Bearer ${viaMcp.accessToken}` },
    });
    assert.equal(onSse.status, 200, 'a token issued through /mcp opens the stream on /sse');
    await onSse.body?.cancel();
  });

  test('a Streamable HTTP SDK client on the same legacy endpoint still discovers through /mcp', async () => {
    const provider = new TestOAuthProvider();
    const transport = new StreamableHTTPClientTransport(new URL(`${PUBLIC_URL}/${slug}/mcp`), { authProvider: provider, fetch: fetchApp });
    await new Client({ name: 'sdk', version: '1' }).connect(transport).catch(() => {});
    assert.equal(provider.authorizationUrl?.searchParams.get('resource'), `${PUBLIC_URL}/${slug}/mcp`);
  });
});
