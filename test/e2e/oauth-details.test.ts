import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { connectWithOAuth, TestOAuthProvider } from '../support/oauth-client.ts';
import { type Running, targets } from '../support/targets.ts';
import { startUpstream, type Upstream } from '../support/upstream.ts';

const KEY = 'sk-details-1';

/** What real clients do beyond the happy path (docs/architecture.md): CORS, lifetimes, racing refreshes. */
for (const target of targets())
  describe(`OAuth details real clients depend on (${target.name})`, () => {
    let upstream: Upstream;
    let server: Running;
    let endpoint: string;

    before(async () => {
      upstream = await startUpstream({ key: KEY });
      server = await target.start({ ACCESS_TOKEN_TTL: '300', REFRESH_REUSE_GRACE_SECONDS: '2' });
      const response = await fetch(`${server.url}/api/slugs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ upstream_url: upstream.url }),
      });
      endpoint = ((await response.json()) as { mcp_endpoint: string }).mcp_endpoint;
    });
    after(async () => {
      await server?.stop();
      await upstream?.close();
    });

    test('browser clients get CORS on metadata, registration, token and the MCP endpoint', async () => {
      const origin = 'http://localhost:6274';
      const slug = new URL(endpoint).pathname.split('/')[1];
      for (const path of [
        '/.well-known/oauth-authorization-server',
        `/.well-known/oauth-protected-resource/${slug}/mcp`,
        '/oauth/register',
        '/oauth/token',
        `/${slug}/mcp`,
      ]) {
        const preflight = await fetch(`${server.url}${path}`, {
          method: 'OPTIONS',
          headers: {
            origin,
            'access-control-request-method': 'POST',
            'access-control-request-headers': 'authorization, content-type, mcp-protocol-version, mcp-session-id',
          },
        });
        assert.ok(preflight.status === 204 || preflight.status === 200, `${path}: ${preflight.status}`);
        assert.equal(preflight.headers.get('access-control-allow-origin'), origin, path);
      }

      const { client, provider } = await connectWithOAuth(endpoint, KEY);
      await client.close();
      const response = await fetch(endpoint, {
        method: 'POST',
        headers: {
          origin,
          authorization: `Bearer ${provider.savedTokens!.access_token}`,
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
        },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: 1,
          method: 'initialize',
          params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'cors', version: '1' } },
        }),
      });
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('access-control-allow-origin'), origin);
      assert.ok(response.headers.get('mcp-session-id'));
      assert.match(response.headers.get('access-control-expose-headers') ?? '', /Mcp-Session-Id/i);
      await response.body?.cancel();
    });

    test('reached by another name (127.0.0.1, a reverse proxy), the server still speaks as PUBLIC_URL', async () => {
      const other = server.url.replace('localhost', '127.0.0.1');
      const slug = new URL(endpoint).pathname.split('/')[1];
      const challenge = await fetch(`${other}/${slug}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      });
      assert.equal(challenge.status, 401);
      assert.match(
        challenge.headers.get('www-authenticate') ?? '',
        new RegExp(`resource_metadata="${server.url}/\\.well-known/oauth-protected-resource/${slug}/mcp"`),
      );
      const prm = (await (await fetch(`${other}/.well-known/oauth-protected-resource/${slug}/mcp`)).json()) as { resource: string };
      assert.equal(prm.resource, endpoint);
      const as = (await (await fetch(`${other}/.well-known/oauth-authorization-server`)).json()) as {
        issuer: string;
        token_endpoint: string;
      };
      assert.equal(as.issuer, server.url);
      assert.equal(as.token_endpoint, `${server.url}/oauth/token`);
    });

    test('access tokens live as long as ACCESS_TOKEN_TTL says', async () => {
      const { client, provider } = await connectWithOAuth(endpoint, KEY);
      await client.close();
      assert.equal(provider.savedTokens!.expires_in, 300);
    });

    test('two refreshes racing with the same refresh token both succeed', async () => {
      const { client, provider } = await connectWithOAuth(endpoint, KEY);
      await client.close();
      const refresh = () =>
        fetch(`${server.url}/oauth/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            grant_type: 'refresh_token',
            refresh_token: provider.savedTokens!.refresh_token!,
            client_id: provider.information!.client_id,
          }),
        });
      const [a, b] = await Promise.all([refresh(), refresh()]);
      assert.equal(a.status, 200, await a.clone().text());
      assert.equal(b.status, 200, await b.clone().text());
      const tokens = [(await a.json()) as { access_token: string }, (await b.json()) as { access_token: string }];
      for (const { access_token } of tokens) {
        const answer = await fetch(endpoint, {
          method: 'POST',
          headers: {
            authorization: `Bearer ${access_token}`,
            'content-type': 'application/json',
            accept: 'application/json, text/event-stream',
          },
          body: JSON.stringify({
            jsonrpc: '2.0',
            id: 1,
            method: 'initialize',
            params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'race', version: '1' } },
          }),
        });
        assert.equal(answer.status, 200);
        await answer.body?.cancel();
      }
    });

    test('a refresh token used again after the grace window revokes its grant (RFC 9700 §4.14.2)', async () => {
      const { client, provider } = await connectWithOAuth(endpoint, KEY);
      await client.close();
      const refresh = (token: string) =>
        fetch(`${server.url}/oauth/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: token, client_id: provider.information!.client_id }),
        });
      const old = provider.savedTokens!.refresh_token!;
      const first = await refresh(old);
      assert.equal(first.status, 200);
      const rotated = (await first.json()) as { refresh_token: string };
      await new Promise((resolve) => setTimeout(resolve, 2500));
      const reused = await refresh(old);
      assert.equal(reused.status, 400);
      assert.equal(((await reused.json()) as { error: string }).error, 'invalid_grant');
      const after = await refresh(rotated.refresh_token);
      assert.equal(after.status, 400, 'the rotated token went with the grant');
      await after.body?.cancel();
    });

    test('a client registered with client_secret_basic authenticates with HTTP Basic and works', async () => {
      const { client, provider } = await connectWithOAuth(endpoint, KEY, new TestOAuthProvider('client_secret_basic'));
      assert.equal((provider.information as { token_endpoint_auth_method?: string }).token_endpoint_auth_method, 'client_secret_basic');
      const tools = await client.listTools();
      assert.deepEqual(
        tools.tools.map((tool) => tool.name),
        ['echo'],
      );
      await client.close();
    });

    test('the token endpoint accepts resource with a trailing slash or as the bare origin, as clients send it', async () => {
      const { client, provider } = await connectWithOAuth(endpoint, KEY);
      await client.close();
      let refreshToken = provider.savedTokens!.refresh_token!;
      for (const resource of [`${endpoint}/`, server.url, `${server.url}/`]) {
        const response = await fetch(`${server.url}/oauth/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            grant_type: 'refresh_token',
            refresh_token: refreshToken,
            client_id: provider.information!.client_id,
            resource,
          }),
        });
        assert.equal(response.status, 200, `${resource}: ${await response.clone().text()}`);
        const tokens = (await response.json()) as { refresh_token: string; resource: string };
        assert.equal(tokens.resource, endpoint, 'the token stays bound to the endpoint');
        refreshToken = tokens.refresh_token;
      }
      const other = await fetch(`${server.url}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'refresh_token',
          refresh_token: refreshToken,
          client_id: provider.information!.client_id,
          resource: `${server.url}/AAAAAAAAAAAA/mcp`,
        }),
      });
      assert.equal(other.status, 400, 'a token cannot be retargeted at another endpoint');
      assert.equal(((await other.json()) as { error: string }).error, 'invalid_target');
    });

    test('a client whose registration the server no longer knows is told invalid_client (401), so it registers again', async () => {
      const response = await fetch(`${server.url}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'refresh_token',
          refresh_token: 'AbCdEfGhIjKl:nogrant:nosecretnosecret',
          client_id: 'forgotten-client',
        }),
      });
      assert.equal(response.status, 401);
      assert.equal(((await response.json()) as { error: string }).error, 'invalid_client');
    });
  });
