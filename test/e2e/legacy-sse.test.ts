import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { after, before, describe, test } from 'node:test';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Browser } from '../support/browser.ts';
import { type McpUpstream, startMcpUpstream } from '../support/mcp-upstream.ts';
import { approveInBrowser, TestOAuthProvider } from '../support/oauth-client.ts';
import { type Running, targets } from '../support/targets.ts';
import { authorize, bearer, createEndpoint, sseReader, waitFor } from '../support/transport-helpers.ts';

const KEY = 'sk-legacy-0123456789abcdef';

type Text = { content: { type: string; text: string }[] };

async function connectSse(url: string, provider: TestOAuthProvider) {
  const client = new Client({ name: 'legacy-client', version: '1.0.0' });
  await client.connect(new SSEClientTransport(new URL(url), { authProvider: provider }));
  return client;
}

for (const target of targets()) {
  describe(`legacy HTTP+SSE (2024-11-05) through the proxy (${target.name})`, () => {
    let upstream: McpUpstream;
    let server: Running;
    let created: Record<string, string>;
    let slug: string;
    let provider: TestOAuthProvider;

    before(async () => {
      upstream = await startMcpUpstream({ key: KEY, mode: 'legacy-sse' });
      server = await target.start();
      created = await createEndpoint(server, { upstream_url: upstream.url });
      slug = created.slug!;
      provider = await authorize(created.mcp_endpoint!, KEY);
    });
    after(async () => {
      await server?.stop();
      await upstream?.close();
    });

    test('the transport is detected at creation, and the transport field overrides it', async (t) => {
      assert.equal(created.transport, 'sse');
      assert.equal(created.sse_endpoint, `${server.url}/${slug}/sse`);
      const forced = await createEndpoint(server, { upstream_url: upstream.url, transport: 'streamable-http' });
      assert.equal(forced.transport, 'streamable-http');
      const streamable = await startMcpUpstream({ key: KEY, mode: 'stateless' });
      t.after(() => streamable.close());
      // Without the /sse convention, the answers alone tell: POST 405, keyless GET 401.
      const unconventional = await startMcpUpstream({ key: KEY, mode: 'legacy-sse', ssePath: '/v1/events' });
      t.after(() => unconventional.close());
      assert.equal((await createEndpoint(server, { upstream_url: streamable.url })).transport, 'streamable-http');
      assert.equal((await createEndpoint(server, { upstream_url: streamable.url, transport: 'sse' })).transport, 'sse');
      assert.equal((await createEndpoint(server, { upstream_url: unconventional.url })).transport, 'sse');
      assert.equal((await createEndpoint(server, { upstream_url: unconventional.url, transport: 'auto' })).transport, 'sse');
    });

    test('the endpoint event is rewritten to a message URL under the slug on our origin', async () => {
      const response = await fetch(`${server.url}/${slug}/sse`, {
        headers: { authorization: bearer(provider), accept: 'text/event-stream' },
      });
      assert.equal(response.status, 200);
      assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
      const events = sseReader(response.body!);
      const endpoint = await events.next();
      assert.equal(endpoint.event, 'endpoint');
      const url = new URL(endpoint.data);
      assert.equal(url.origin, server.url);
      assert.equal(url.pathname, `/${slug}/messages`);
      assert.match(url.searchParams.get('to') ?? '', /^\/messages\?sessionId=[0-9a-f-]{36}$/, 'the upstream message path rides along');
      assert.ok(!endpoint.data.includes('127.0.0.1'), 'the upstream host is not exposed to the client');

      // POSTs there reach the upstream's message URL for the same session, with the key.
      upstream.requests.length = 0;
      const init = await fetch(url, {
        method: 'POST',
        headers: { authorization: bearer(provider), 'content-type': 'application/json' },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 1,
          method: 'initialize',
          params: { protocolVersion: '2024-11-05', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
        }),
      });
      assert.equal(init.status, 202);
      await init.body?.cancel();
      const seen = upstream.requests.at(-1)!;
      assert.equal(seen.path, url.searchParams.get('to'));
      assert.equal(seen.headers.authorization, `Bearer ${KEY}`);
      const answer = await events.next();
      assert.equal(answer.event, 'message');
      assert.equal(JSON.parse(answer.data).id, 1);
      await events.cancel();
    });

    test('the token is checked on the stream and on the message URL; message URLs cannot be altered', async () => {
      const noToken = await fetch(`${server.url}/${slug}/sse`, { headers: { accept: 'text/event-stream' } });
      assert.equal(noToken.status, 401);
      assert.match(
        noToken.headers.get('www-authenticate') ?? '',
        new RegExp(`resource_metadata="${server.url}/\\.well-known/oauth-protected-resource/${slug}/sse"`),
      );
      const badToken = await fetch(`${server.url}/${slug}/sse`, {
        headers: { authorization: `Bearer ${slug}:x:y`, accept: 'text/event-stream' },
      });
      assert.equal(badToken.status, 401);

      const response = await fetch(`${server.url}/${slug}/sse`, {
        headers: { authorization: bearer(provider), accept: 'text/event-stream' },
      });
      const events = sseReader(response.body!);
      const url = new URL((await events.next()).data);
      const message = (target: URL, auth?: string) =>
        fetch(target, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) },
          body: '{"jsonrpc":"2.0","method":"notifications/initialized"}',
        });

      upstream.requests.length = 0;
      assert.equal((await message(url)).status, 401);
      const altered = new URL(url);
      altered.searchParams.set('to', '/admin/delete-everything');
      assert.equal((await message(altered, bearer(provider))).status, 403);
      const elsewhere = new URL(url);
      elsewhere.searchParams.set('to', '//evil.example/messages');
      assert.equal((await message(elsewhere, bearer(provider))).status, 403);
      // Another user's token (another grant, same endpoint) cannot use this user's message URL.
      const someoneElse = await authorize(created.mcp_endpoint!, KEY);
      upstream.requests.length = 0;
      assert.equal((await message(url, bearer(someoneElse))).status, 403);
      const otherSlug = new URL(url.href.replace(`/${slug}/`, '/AAAAAAAAAAAA/'));
      assert.equal((await message(otherSlug, bearer(provider))).status, 401, 'the token is for its own endpoint only');
      assert.equal(upstream.requests.length, 0, 'nothing reached the upstream');
      await events.cancel();

      // Browser clients' preflights succeed on both legacy routes.
      for (const path of [`/${slug}/sse`, `/${slug}/messages`]) {
        const preflight = await fetch(`${server.url}${path}`, {
          method: 'OPTIONS',
          headers: {
            origin: 'https://inspector.example',
            'access-control-request-method': path.endsWith('sse') ? 'GET' : 'POST',
            'access-control-request-headers': 'authorization',
          },
        });
        assert.equal(preflight.status, 204, path);
        assert.equal(preflight.headers.get('access-control-allow-origin'), 'https://inspector.example');
      }
    });

    test('SSEClientTransport calls tools; progress arrives event by event', async () => {
      const client = await connectSse(`${server.url}/${slug}/sse`, provider);
      assert.equal(((await client.callTool({ name: 'echo', arguments: { text: 'legacy' } })) as Text).content[0]!.text, 'echo: legacy');
      const arrivedAt: number[] = [];
      const result = (await client.callTool({ name: 'progress', arguments: { steps: 5 } }, undefined, {
        timeout: 20_000,
        onprogress: ({ progress }) => {
          arrivedAt[progress] = performance.now();
          upstream.release(`progress-${progress + 1}`);
        },
      })) as Text;
      assert.equal(result.content[0]!.text, 'done after 5 steps');
      for (let k = 1; k < 5; k++)
        assert.ok(arrivedAt[k]! < upstream.progressSentAt[k + 1]!, `event ${k} arrived before event ${k + 1} was sent`);
      await client.close();
    });

    test('a client that only speaks SSE does the whole OAuth flow on the endpoint URL', async () => {
      const endpoint = created.mcp_endpoint!;
      // Clients that try Streamable HTTP first are told to fall back.
      const refused = await fetch(endpoint, {
        method: 'POST',
        headers: { authorization: bearer(provider), 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body: '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}',
      });
      assert.equal(refused.status, 405);
      await refused.body?.cancel();

      const fresh = new TestOAuthProvider();
      const transport = new SSEClientTransport(new URL(endpoint), { authProvider: fresh });
      await new Client({ name: 'sse-only', version: '1' }).connect(transport).then(
        () => assert.fail('connected without authorization'),
        (error) => assert.ok(error instanceof UnauthorizedError, String(error)),
      );
      await transport.finishAuth(await approveInBrowser(new Browser(), fresh.authorizationUrl!, KEY));
      const client = await connectSse(endpoint, fresh);
      assert.equal(((await client.callTool({ name: 'echo', arguments: { text: 'fallback' } })) as Text).content[0]!.text, 'echo: fallback');
      await client.close();
    });

    test('an SDK client pointed at the /sse URL discovers, registers, authorizes, calls tools and refreshes', async () => {
      const sseUrl = `${server.url}/${slug}/sse`;
      const fresh = new TestOAuthProvider();
      const transport = new SSEClientTransport(new URL(sseUrl), { authProvider: fresh });
      await new Client({ name: 'sse-url', version: '1' }).connect(transport).then(
        () => assert.fail('connected without authorization'),
        (error) => assert.ok(error instanceof UnauthorizedError, String(error)),
      );
      assert.equal(fresh.authorizationUrl!.searchParams.get('resource'), sseUrl, 'the SDK accepted the /sse metadata');
      await transport.finishAuth(await approveInBrowser(new Browser(), fresh.authorizationUrl!, KEY));
      const client = await connectSse(sseUrl, fresh);
      assert.equal(((await client.callTool({ name: 'echo', arguments: { text: 'on sse' } })) as Text).content[0]!.text, 'echo: on sse');
      await client.close();

      // A spent access token: the SDK refreshes with resource=/sse and reconnects.
      const spent = fresh.savedTokens!.refresh_token;
      fresh.saveTokens({ ...fresh.savedTokens!, access_token: `${slug}:gone:token` });
      const again = await connectSse(sseUrl, fresh);
      assert.notEqual(fresh.savedTokens!.refresh_token, spent, 'the SDK refreshed');
      assert.ok((await again.listTools()).tools.length > 0);
      await again.close();

      // The same token opens the /mcp URL's stream, and a token issued through /mcp opens /sse.
      const onMcp = await fetch(created.mcp_endpoint!, { headers: { authorization: bearer(fresh), accept: 'text/event-stream' } });
      assert.equal(onMcp.status, 200);
      await onMcp.body?.cancel();
      const onSse = await fetch(sseUrl, { headers: { authorization: bearer(provider), accept: 'text/event-stream' } });
      assert.equal(onSse.status, 200);
      await onSse.body?.cancel();
    });

    // Only where an idle client's disconnect can be noticed: after the endpoint event the stream is
    // silent, and workerd run locally learns of a disconnect only when a write fails
    // (Target.capabilities.clientDisconnect, test/support/targets.ts).
    if (target.capabilities.clientDisconnect)
      test('a client that leaves ends the upstream stream promptly', async () => {
        upstream.aborted.length = 0;
        const leaving = new AbortController();
        const response = await fetch(`${server.url}/${slug}/sse`, {
          headers: { authorization: bearer(provider), accept: 'text/event-stream' },
          signal: leaving.signal,
        });
        const events = sseReader(response.body!);
        await events.next();
        const leftAt = performance.now();
        leaving.abort();
        const gone = await waitFor(() => upstream.aborted.find((a) => a.method === 'GET'), 3000, 'the upstream stream to close');
        assert.ok(gone.at - leftAt < 1000);
      });

    test('an endpoint event that names another origin is refused; the key goes nowhere else', async () => {
      let elsewhereHits = 0;
      const elsewhere: Server = createServer((_req, res) => {
        elsewhereHits++;
        res.end();
      });
      await new Promise<void>((resolve) => elsewhere.listen(0, '127.0.0.1', resolve));
      const elsewherePort = (elsewhere.address() as AddressInfo).port;
      const hostile = [`http://127.0.0.1:${elsewherePort}/messages?sessionId=1`, `//127.0.0.1:${elsewherePort}/messages?sessionId=2`];
      let served = 0;
      upstream.intercept = (req, res) => {
        if (req.method !== 'GET') return false;
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(`event: endpoint\ndata: ${hostile[served++ % hostile.length]}\n\n`);
        return true;
      };
      try {
        for (let i = 0; i < hostile.length; i++) {
          const response = await fetch(`${server.url}/${slug}/sse`, {
            headers: { authorization: bearer(provider), accept: 'text/event-stream' },
          });
          const events = sseReader(response.body!);
          await assert.rejects(events.next(3000), /ended|terminated|no SSE event/);
          assert.ok(!events.raw.includes(String(elsewherePort)), 'the foreign URL is not passed on');
        }
        assert.equal(elsewhereHits, 0);
      } finally {
        upstream.intercept = undefined;
        elsewhere.closeAllConnections();
        await new Promise<void>((resolve) => elsewhere.close(() => resolve()));
      }
    });
  });

  describe(`a Streamable HTTP endpoint has no legacy routes (${target.name})`, () => {
    test('GET /{slug}/sse names the right URL instead of opening a stream', async (t) => {
      const upstream = await startMcpUpstream({ key: KEY, mode: 'stateful-json' });
      t.after(() => upstream.close());
      const server = await target.start();
      try {
        const created = await createEndpoint(server, { upstream_url: upstream.url });
        const provider = await authorize(created.mcp_endpoint!, KEY);
        const response = await fetch(`${server.url}/${created.slug}/sse`, {
          headers: { authorization: bearer(provider), accept: 'text/event-stream' },
        });
        assert.equal(response.status, 404);
        const body = (await response.json()) as { error: { message: string } };
        assert.ok(body.error.message.includes(created.mcp_endpoint!));
        const client = new Client({ name: 'c', version: '1' });
        await client.connect(new StreamableHTTPClientTransport(new URL(created.mcp_endpoint!), { authProvider: provider }));
        await client.close();
      } finally {
        await server.stop();
      }
    });
  });
}
