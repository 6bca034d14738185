import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { createEndpoint } from '../support/api.ts';
import { Browser } from '../support/browser.ts';
import { approveInBrowser, connectWithOAuth, TestOAuthProvider } from '../support/oauth-client.ts';
import { startServer } from '../support/server-process.ts';
import { type Running, targets } from '../support/targets.ts';
import { startUpstream, type Upstream } from '../support/upstream.ts';

const KEY = 'sk-test-0123456789abcdef';

function callEcho(client: Client, text: string) {
  return client.callTool({ name: 'echo', arguments: { text } }) as Promise<{ content: { type: string; text: string }[] }>;
}

for (const target of targets())
  describe(`the core bridge, end to end through the real server (${target.name})`, () => {
    let upstream: Upstream;
    let server: Running;
    let endpoint: string;

    before(async () => {
      upstream = await startUpstream({ key: KEY });
      server = await target.start();
      const created = await createEndpoint(server, { upstream_url: upstream.url, display_name: 'Echo server' });
      assert.equal(created.status, 201);
      endpoint = created.body.mcp_endpoint!;
    });
    after(async () => {
      await server?.stop();
      await upstream?.close();
    });

    test('the JSON API answers 201 with the slug and the endpoint URL', async () => {
      const created = await createEndpoint(server, { upstream_url: upstream.url });
      assert.equal(created.status, 201);
      assert.match(created.body.slug!, /^[A-Za-z0-9]{12}$/);
      assert.equal(created.body.mcp_endpoint, `${server.url}/${created.body.slug}/mcp`);
      assert.equal(created.body.auth_header_name, 'Authorization');
      assert.equal(created.body.auth_header_prefix, 'Bearer');
      assert.ok(created.body.manage_token && created.body.manage_token.length >= 40);
    });

    test('discovery: challenge, protected resource metadata and authorization server metadata agree', async () => {
      const challenge = await fetch(endpoint, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      assert.equal(challenge.status, 401);
      const header = challenge.headers.get('www-authenticate') ?? '';
      const metadataUrl = /resource_metadata="([^"]+)"/.exec(header)?.[1];
      const slug = new URL(endpoint).pathname.split('/')[1];
      assert.equal(metadataUrl, `${server.url}/.well-known/oauth-protected-resource/${slug}/mcp`);

      const prm = (await (await fetch(metadataUrl!)).json()) as { resource: string; authorization_servers: string[] };
      assert.equal(prm.resource, endpoint);
      assert.deepEqual(prm.authorization_servers, [server.url]);

      const as = (await (await fetch(`${server.url}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
      assert.equal(as.issuer, server.url);
      assert.deepEqual(as.code_challenge_methods_supported, ['S256']);
      assert.ok((as.token_endpoint_auth_methods_supported as string[]).includes('none'));
      assert.ok((as.token_endpoint_auth_methods_supported as string[]).includes('client_secret_post'));
      assert.ok((as.token_endpoint_auth_methods_supported as string[]).includes('client_secret_basic'));
      assert.ok(as.registration_endpoint);
      assert.ok(as.revocation_endpoint);
      assert.ok((as.scopes_supported as string[]).includes('offline_access'));

      const unknown = await fetch(`${server.url}/.well-known/oauth-protected-resource/AAAAAAAAAAAA/mcp`);
      assert.equal(unknown.status, 404);
      const unknownMcp = await fetch(`${server.url}/AAAAAAAAAAAA/mcp`, { method: 'POST', body: '{}' });
      assert.equal(unknownMcp.status, 404);
    });

    test('an SDK client goes through OAuth and calls tools; the upstream sees only the key', async () => {
      upstream.requests.length = 0;
      const { client, provider } = await connectWithOAuth(endpoint, KEY);
      const tools = await client.listTools();
      assert.deepEqual(
        tools.tools.map((tool) => tool.name),
        ['echo'],
      );
      const result = await callEcho(client, 'hello');
      assert.equal(result.content[0]!.text, 'echo: hello');

      const accessToken = provider.savedTokens!.access_token;
      const refreshToken = provider.savedTokens!.refresh_token!;
      assert.ok(refreshToken, 'a refresh token is issued');
      for (const { headers } of upstream.requests) {
        assert.equal(headers.authorization, `Bearer ${KEY}`);
        for (const value of Object.values(headers)) {
          assert.ok(!String(value).includes(accessToken), 'the OAuth access token never reaches the upstream');
        }
        assert.equal(headers.cookie, undefined);
      }
      await client.close();
    });

    test('a client registered with client_secret_post goes through the same flow', async () => {
      const { client, provider } = await connectWithOAuth(endpoint, KEY, new TestOAuthProvider('client_secret_post'));
      assert.equal((provider.information as { token_endpoint_auth_method?: string }).token_endpoint_auth_method, 'client_secret_post');
      assert.ok(provider.information && 'client_secret' in provider.information && provider.information.client_secret);
      assert.equal((await callEcho(client, 'post')).content[0]!.text, 'echo: post');
      await client.close();
    });

    test('refresh rotates tokens; revocation makes the next MCP request a 401', async () => {
      const { client, provider } = await connectWithOAuth(endpoint, KEY);
      await client.close();
      const clientId = provider.information!.client_id;
      const first = provider.savedTokens!;

      const refreshed = await fetch(`${server.url}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'refresh_token',
          refresh_token: first.refresh_token!,
          client_id: clientId,
          resource: endpoint,
        }),
      });
      assert.equal(refreshed.status, 200);
      assert.equal(refreshed.headers.get('cache-control'), 'no-store');
      const tokens = (await refreshed.json()) as { access_token: string; refresh_token: string };
      assert.notEqual(tokens.access_token, first.access_token);
      assert.notEqual(tokens.refresh_token, first.refresh_token);

      provider.saveTokens({ ...tokens, token_type: 'bearer' });
      const again = new Client({ name: 'test-client', version: '1.0.0' });
      await again.connect(new StreamableHTTPClientTransport(new URL(endpoint), { authProvider: provider }));
      assert.equal((await callEcho(again, 'refreshed')).content[0]!.text, 'echo: refreshed');
      await again.close();

      const revoked = await fetch(`${server.url}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: tokens.access_token, client_id: clientId }),
      });
      assert.equal(revoked.status, 200);
      const denied = await fetch(endpoint, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${tokens.access_token}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
      });
      assert.equal(denied.status, 401);
      assert.match(denied.headers.get('www-authenticate') ?? '', /invalid_token/);
    });

    test('a wrong key is refused on the page and nothing is issued', async () => {
      const provider = new TestOAuthProvider();
      const transport = new StreamableHTTPClientTransport(new URL(endpoint), { authProvider: provider });
      await new Client({ name: 't', version: '1' }).connect(transport).catch(() => {});
      const browser = new Browser();
      const page = await browser.get(provider.authorizationUrl!);
      assert.equal(page.status, 200);
      assert.match(page.text(), /127\.0\.0\.1/, 'the upstream host is shown');
      assert.match(page.text(), /whoever runs this server could recover it while it is in use/, 'the trust notice');

      const refused = await browser.submit(page, { api_key: 'wrong-key' }, { name: 'action', value: 'approve' });
      assert.equal(refused.status, 401);
      assert.equal(refused.headers.get('location'), null);
      const html = await refused.text();
      assert.match(html, /rejected this key/);
      assert.ok(!html.includes('wrong-key'), 'the key is not echoed back');

      // The re-rendered page carries a fresh handle; the right key then works.
      const retryPage = Object.assign(Object.create(Object.getPrototypeOf(page)), page, { body: html });
      const approved = await browser.submit(retryPage, { api_key: KEY }, { name: 'action', value: 'approve' });
      assert.equal(approved.status, 302);
      assert.ok(new URL(approved.headers.get('location')!).searchParams.get('code'));
    });

    test('Deny sends the user back with access_denied and the state intact', async () => {
      const provider = new TestOAuthProvider();
      await new Client({ name: 't', version: '1' })
        .connect(new StreamableHTTPClientTransport(new URL(endpoint), { authProvider: provider }))
        .catch(() => {});
      const browser = new Browser();
      const page = await browser.get(provider.authorizationUrl!);
      const denied = await browser.submit(page, {}, { name: 'action', value: 'deny' });
      assert.equal(denied.status, 302);
      const location = new URL(denied.headers.get('location')!);
      assert.equal(location.searchParams.get('error'), 'access_denied');
      assert.equal(location.searchParams.get('state'), provider.state());
      assert.equal(location.searchParams.get('code'), null);
    });

    test('a request without resource lets the user name the endpoint', async () => {
      const provider = new TestOAuthProvider();
      await new Client({ name: 't', version: '1' })
        .connect(new StreamableHTTPClientTransport(new URL(endpoint), { authProvider: provider }))
        .catch(() => {});
      const url = new URL(provider.authorizationUrl!);
      url.searchParams.delete('resource');
      const browser = new Browser();
      const choose = await browser.get(url);
      assert.equal(choose.status, 200);
      assert.match(choose.text(), /Which endpoint/);
      const named = new URL(url);
      named.searchParams.set('endpoint', endpoint);
      const continued = await browser.get(named);
      assert.equal(continued.status, 303);
      const code = await approveInBrowser(browser, new URL(continued.response.headers.get('location')!, server.url), KEY);
      assert.ok(code.startsWith(new URL(endpoint).pathname.split('/')[1]!), 'the code names its endpoint');
    });

    test('an upstream that starts refusing the key leads the client to a fresh 401 challenge', async () => {
      const { client } = await connectWithOAuth(endpoint, KEY);
      upstream.acceptedKey = 'rotated-key';
      try {
        await assert.rejects(callEcho(client, 'x'));
        const { provider } = {
          provider: (client as unknown as { _transport: { _authProvider: TestOAuthProvider } })._transport._authProvider,
        };
        const response = await fetch(endpoint, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${provider.savedTokens!.access_token}`,
            'content-type': 'application/json',
            accept: 'application/json, text/event-stream',
          },
          body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
        });
        assert.equal(response.status, 401);
        const header = response.headers.get('www-authenticate') ?? '';
        assert.match(header, /error="invalid_token"/);
        assert.match(header, /resource_metadata="http:\/\/localhost:\d+\/\.well-known\/oauth-protected-resource\//);
      } finally {
        upstream.acceptedKey = KEY;
      }
    });

    test('an unreachable upstream gives 502 with a JSON body', async (t) => {
      const dead = await startUpstream({ key: KEY });
      // Closed below to make it unreachable; closed here too when the test fails before that.
      t.after(() => dead.close());
      const created = await createEndpoint(server, { upstream_url: dead.url });
      const { client, provider } = await connectWithOAuth(created.body.mcp_endpoint!, KEY);
      await client.close();
      await dead.close();
      const response = await fetch(created.body.mcp_endpoint!, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${provider.savedTokens!.access_token}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
      });
      assert.equal(response.status, 502);
      const body = (await response.json()) as { error: { message: string } };
      assert.match(body.error.message, /could not be reached/);
    });
  });

describe('a restart keeps endpoints and grants', () => {
  test('the same token works after SIGTERM and a new start on the same data directory', async (t) => {
    const upstream = await startUpstream({ key: KEY });
    t.after(() => upstream.close());
    const server = await startServer();
    try {
      const created = await createEndpoint(server, { upstream_url: upstream.url });
      const { client, provider } = await connectWithOAuth(created.body.mcp_endpoint!, KEY);
      await client.close();
      assert.equal(await server.stop('SIGTERM'), 0, 'SIGTERM shuts down cleanly');

      const port = new URL(server.url).port;
      const restarted = await startServer({}, { dataDir: server.dataDir, port: Number(port) });
      try {
        const client2 = new Client({ name: 'after-restart', version: '1.0.0' });
        await client2.connect(new StreamableHTTPClientTransport(new URL(created.body.mcp_endpoint!), { authProvider: provider }));
        assert.equal((await callEcho(client2, 'still here')).content[0]!.text, 'echo: still here');
        await client2.close();
      } finally {
        await restarted.stop();
      }
    } finally {
      await server.stop();
    }
  });
});
