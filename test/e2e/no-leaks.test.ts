import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { parse } from 'node-html-parser';
import { Browser, Page } from '../support/browser.ts';
import { TestOAuthProvider } from '../support/oauth-client.ts';
import { createEndpoint, mcpPost, startAuthorization } from '../support/security.ts';
import { targets } from '../support/targets.ts';
import { startUpstream } from '../support/upstream.ts';

const KEY = 'sk-live-LEAKCHECK-0123456789abcdef';
const WRONG_KEY = 'sk-live-WRONGKEY-9876543210fedcba';
const ADMIN = 'admin-LEAKCHECK-0123456789abcdef';

const handleOf = (body: string) => parse(body).querySelector('input[name="handle"]')!.getAttribute('value')!;

for (const target of targets())
  describe(`no secret reaches the logs (${target.name})`, () => {
    test('a whole flow at LOG_LEVEL=debug prints no key, code, token, secret, handle or query string', async (t) => {
      const upstream = await startUpstream({ key: KEY });
      t.after(() => upstream.close());
      const server = await target.start({ LOG_LEVEL: 'debug', ADMIN_TOKEN: ADMIN });
      const secrets: Record<string, string> = { 'API key': KEY, 'wrong API key': WRONG_KEY, 'admin token': ADMIN };
      try {
        // Create, with the admin token; the manage token comes back once.
        const created = await createEndpoint(
          server,
          { upstream_url: upstream.url, display_name: 'Leak check' },
          { authorization: `Bearer ${ADMIN}` },
        );
        assert.equal(created.status, 201);
        const endpoint = created.body.mcp_endpoint!;
        secrets['manage token'] = created.body.manage_token!;

        // Register (a confidential client, so there is a client secret) and open the consent page.
        const provider = new TestOAuthProvider('client_secret_post');
        const authorizationUrl = await startAuthorization(endpoint, provider);
        const clientId = provider.information!.client_id;
        secrets['client secret'] = (provider.information as { client_secret: string }).client_secret;
        secrets['PKCE verifier'] = provider.verifier;
        secrets['PKCE challenge'] = authorizationUrl.searchParams.get('code_challenge')!;
        secrets['state (query string)'] = encodeURIComponent(provider.state());
        const browser = new Browser();
        const page = await browser.get(authorizationUrl);
        secrets['consent handle'] = handleOf(page.body);

        // A wrong key first, then the right one.
        const refused = await browser.submit(page, { api_key: WRONG_KEY }, { name: 'action', value: 'approve' });
        assert.equal(refused.status, 401);
        const retry = new Page(page.url, refused, await refused.text());
        secrets['second consent handle'] = handleOf(retry.body);
        const approved = await browser.submit(retry, { api_key: KEY }, { name: 'action', value: 'approve' });
        assert.equal(approved.status, 302);
        const code = new URL(approved.headers.get('location')!).searchParams.get('code')!;
        secrets['authorization code'] = code;

        // Token exchange, tool call, refresh, revoke.
        const exchanged = await fetch(`${server.url}/oauth/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            grant_type: 'authorization_code',
            code,
            code_verifier: provider.verifier,
            client_id: clientId,
            client_secret: secrets['client secret'],
            redirect_uri: provider.redirectUrl,
            resource: endpoint,
          }),
        });
        assert.equal(exchanged.status, 200);
        const tokens = (await exchanged.json()) as { access_token: string; refresh_token: string; token_type: string };
        secrets['access token'] = tokens.access_token;
        secrets['refresh token'] = tokens.refresh_token;
        provider.saveTokens(tokens);

        const client = new Client({ name: 'leak-check', version: '1.0.0' });
        await client.connect(new StreamableHTTPClientTransport(new URL(endpoint), { authProvider: provider }));
        const result = (await client.callTool({ name: 'echo', arguments: { text: 'hi' } })) as { content: { text: string }[] };
        assert.equal(result.content[0]!.text, 'echo: hi');
        await client.close();

        const refreshed = await fetch(`${server.url}/oauth/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({
            grant_type: 'refresh_token',
            refresh_token: tokens.refresh_token,
            client_id: clientId,
            client_secret: secrets['client secret'],
          }),
        });
        assert.equal(refreshed.status, 200);
        const rotated = (await refreshed.json()) as { access_token: string; refresh_token: string };
        secrets['refreshed access token'] = rotated.access_token;
        secrets['refreshed refresh token'] = rotated.refresh_token;
        const managed = await fetch(`${server.url}/api/slugs/${created.body.slug}`, {
          headers: { authorization: `Bearer ${secrets['manage token']}` },
        });
        assert.equal(managed.status, 200);
        await managed.body?.cancel();

        // The upstream starts refusing the key: the proxy revokes the grant and logs it.
        upstream.acceptedKey = 'rotated-upstream-key';
        const rejected = await mcpPost(endpoint, rotated.access_token, JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list' }));
        assert.equal(rejected.status, 401);
        await rejected.body?.cancel();

        // RFC 7009 revocation of a token, and the refused request after it.
        const revoked = await fetch(`${server.url}/oauth/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ token: rotated.refresh_token, client_id: clientId, client_secret: secrets['client secret'] }),
        });
        assert.equal(revoked.status, 200);
        const denied = await mcpPost(endpoint, rotated.access_token, JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }));
        assert.equal(denied.status, 401);
        // Replaying the code makes the engine log an error (and revoke what it issued): that too must be clean.
        await (
          await fetch(`${server.url}/oauth/token`, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams({
              grant_type: 'authorization_code',
              code,
              code_verifier: provider.verifier,
              client_id: clientId,
              client_secret: secrets['client secret'],
              redirect_uri: provider.redirectUrl,
            }),
          })
        ).body?.cancel();
      } finally {
        await server.stop();
      }

      const output = server.output();
      for (const [name, secret] of Object.entries(secrets)) {
        assert.ok(secret && secret.length >= 8, `${name} was captured`);
        assert.ok(!output.includes(secret), `the ${name} appears in the server output`);
      }
      // Engine tokens are `slug:grant:secret`; no such triple, nor any part after the slug, may be printed.
      for (const name of ['authorization code', 'access token', 'refresh token', 'refreshed access token', 'refreshed refresh token']) {
        const secretPart = secrets[name]!.split(':')[2]!;
        assert.ok(!output.includes(secretPart), `the secret part of the ${name} appears in the server output`);
      }
      assert.match(output, /"level":"debug"/, 'debug logging was on');
      assert.match(output, /upstream rejected the key/);
      for (const path of ['/api/slugs', '/oauth/register', '/authorize', '/oauth/token']) {
        assert.ok(output.includes(`"path":"${path}"`), `requests to ${path} are logged`);
      }
      assert.match(
        output,
        /"method":"POST","route":"\/:slug\/mcp","path":"\/[A-Za-z0-9]{12}\/mcp","status":200,"ms":\d+/,
        'MCP requests are logged with status and duration',
      );
    });
  });
