import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { INITIALIZE, type InProcess, KEY, PUBLIC_URL, readRpc, startApp, UPSTREAM_URL } from '../support/in-process.ts';
import { serveMcp } from '../support/in-process-upstream.ts';
import { TestOAuthProvider } from '../support/oauth-client.ts';

/** `/{slug}/mcp`: what goes upstream, what comes back, and what happens when the upstream misbehaves. */

describe('the MCP proxy, in-process', () => {
  let k: InProcess;
  before(async () => {
    k = await startApp({ env: { RATE_LIMIT_CREATE: '0', UPSTREAM_FIRST_BYTE_TIMEOUT_MS: '200' } });
  });
  after(() => k.close());

  test('an MCP SDK client discovers, registers, gets consent and calls a tool, all in-process', async () => {
    const { mcp_endpoint: endpoint } = await k.mustCreateEndpoint();
    const fetch = (url: string | URL, init?: RequestInit) => k.fetch(String(url), init);
    const provider = new TestOAuthProvider();
    const first = new StreamableHTTPClientTransport(new URL(endpoint!), { authProvider: provider, fetch });
    await assert.rejects(new Client({ name: 'sdk', version: '1' }).connect(first), UnauthorizedError);
    assert.equal(new URL(provider.authorizationUrl!).origin, PUBLIC_URL);

    const page = await k.openAuthorization(provider.authorizationUrl!);
    assert.equal(page.status, 200);
    assert.match(page.text, /Test MCP Client/);
    const approved = await k.submitConsent(page, { api_key: KEY, action: 'approve' });
    await first.finishAuth(new URL(approved.headers.get('location')!).searchParams.get('code')!);

    const client = new Client({ name: 'sdk', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(endpoint!), { authProvider: provider, fetch }));
    assert.deepEqual(
      (await client.listTools()).tools.map((tool) => tool.name),
      ['echo'],
    );
    const result = (await client.callTool({ name: 'echo', arguments: { text: 'via the SDK' } })) as { content: { text: string }[] };
    assert.equal(result.content[0]!.text, 'echo: via the SDK');
    await client.close();
  });

  test('a custom header carries the bare key; the client’s token, cookies, origin and proxy headers stay here', async () => {
    serveMcp(k.upstreams, { url: 'https://custom.example.com/mcp', key: KEY, header: 'x-api-key', prefix: '' });
    const { mcp_endpoint: endpoint } = await k.mustCreateEndpoint({
      upstream_url: 'https://custom.example.com/mcp',
      auth_header_name: 'X-API-Key',
    });
    const grant = await k.authorize(endpoint!);
    await k.settle();
    k.upstreams.requests.length = 0;
    const response = await k.mcp(endpoint!, grant.accessToken, INITIALIZE, {
      cookie: '__Host-oauth-consent-x=1; session=abc',
      origin: 'https://app.example.com',
      'sec-fetch-site': 'cross-site',
      'x-forwarded-for': '192.0.2.1',
      'user-agent': 'in-process-test/1',
      'mcp-protocol-version': '2025-06-18',
    });
    assert.equal(response.status, 200);
    await response.body?.cancel();
    const [sent] = k.upstreams.requests;
    assert.equal(k.upstreams.requests.length, 1);
    assert.equal(sent!.headers['x-api-key'], KEY);
    assert.equal(sent!.headers.authorization, undefined, 'our OAuth token is not passed on');
    assert.equal(sent!.headers['user-agent'], 'in-process-test/1');
    assert.equal(sent!.headers['mcp-protocol-version'], '2025-06-18');
    assert.equal(sent!.headers['accept-encoding'], 'identity');
    for (const name of ['cookie', 'origin', 'sec-fetch-site', 'x-forwarded-for']) assert.equal(sent!.headers[name], undefined, name);
  });

  test('an upstream that starts refusing the key: the client gets invalid_token and the grant is gone', async () => {
    const url = 'https://rotating.example.com/mcp';
    const upstream = serveMcp(k.upstreams, { url, key: KEY });
    const { mcp_endpoint: endpoint, slug } = await k.mustCreateEndpoint({ upstream_url: url });
    const grant = await k.authorize(endpoint!);
    upstream.acceptedKey = 'sk-rotated';
    const refused = await k.mcp(endpoint!, grant.accessToken, INITIALIZE);
    assert.equal(refused.status, 401);
    const challenge = refused.headers.get('www-authenticate') ?? '';
    assert.match(challenge, /error="invalid_token"/);
    assert.match(challenge, new RegExp(`resource_metadata="${PUBLIC_URL}/\\.well-known/oauth-protected-resource/${slug}/mcp"`));
    assert.doesNotMatch(challenge, /realm="upstream"/, 'the upstream’s own challenge is not passed on');

    upstream.acceptedKey = KEY;
    const before = k.upstreams.requests.length;
    assert.equal(
      (await k.mcp(endpoint!, grant.accessToken, INITIALIZE)).status,
      401,
      'the grant was revoked, not just this request refused',
    );
    assert.equal(k.upstreams.requests.length, before);
    assert.equal(
      (await k.token({ grant_type: 'refresh_token', refresh_token: grant.refreshToken, client_id: grant.client.client_id })).status,
      400,
    );
  });

  test('an unreachable upstream is 502, a redirect is 502 and not followed, a silent one is 504: all JSON-RPC errors', async () => {
    const url = 'https://flaky.example.com/mcp';
    let mode: 'ok' | 'redirect' | 'silent' = 'ok';
    serveMcp(k.upstreams, { url, key: KEY });
    const { mcp_endpoint: endpoint } = await k.mustCreateEndpoint({ upstream_url: url });
    const grant = await k.authorize(endpoint!);
    const mcpHandler = k.upstreams.handler(url)!;
    k.upstreams.serve(url, (request) => {
      if (mode === 'redirect') return new Response(null, { status: 307, headers: { location: 'https://evil.example.com/steal' } });
      if (mode === 'silent')
        return new Promise((_, reject) => request.signal.addEventListener('abort', () => reject(request.signal.reason)));
      return mcpHandler(request);
    });
    const expect = async (status: number, message: RegExp) => {
      const response = await k.mcp(endpoint!, grant.accessToken, INITIALIZE);
      assert.equal(response.status, status);
      const body = (await response.json()) as { jsonrpc: string; error: { code: number; message: string } };
      assert.equal(body.jsonrpc, '2.0');
      assert.match(body.error.message, message);
    };

    mode = 'redirect';
    await expect(502, /redirect \(307\), which is not followed/);
    assert.ok(!k.upstreams.requests.some((request) => request.url.startsWith('https://evil.example.com')));
    mode = 'silent';
    await expect(504, /did not answer within 200 ms/);
    k.upstreams.stop(url);
    await expect(502, /could not be reached/);
  });

  test('whatever a hostile upstream sends back arrives inert: sandboxed, no cookies, no foreign CORS', async () => {
    const url = 'https://hostile.example.com/mcp';
    serveMcp(k.upstreams, { url, key: KEY });
    const { mcp_endpoint: endpoint } = await k.mustCreateEndpoint({ upstream_url: url, transport: 'streamable-http' });
    const grant = await k.authorize(endpoint!);
    k.upstreams.serve(
      url,
      () =>
        new Response('<script>document.cookie</script>', {
          headers: {
            'content-type': 'text/html',
            'content-security-policy': "script-src * 'unsafe-inline'",
            'x-frame-options': 'ALLOWALL',
            'set-cookie': '__Host-oauth-consent-x=stolen; Path=/; Secure',
            'access-control-allow-origin': '*',
            'strict-transport-security': 'max-age=31536000; includeSubDomains',
            'clear-site-data': '"cookies", "storage"',
            refresh: '0; url=https://evil.example.com/',
            link: '<https://evil.example.com/x.js>; rel=preload; as=script',
            'service-worker-allowed': '/',
          },
        }),
    );
    const response = await k.mcp(endpoint!, grant.accessToken, INITIALIZE);
    assert.equal(response.status, 200);
    const csp = response.headers.get('content-security-policy') ?? '';
    assert.match(csp, /sandbox/);
    assert.match(csp, /default-src 'none'/);
    assert.doesNotMatch(csp, /unsafe-inline/);
    assert.equal(response.headers.get('x-frame-options'), 'DENY');
    assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(response.headers.get('set-cookie'), null);
    assert.equal(response.headers.get('access-control-allow-origin'), null);
    assert.equal(response.headers.get('strict-transport-security'), null);
    for (const name of ['clear-site-data', 'refresh', 'link', 'service-worker-allowed'])
      assert.equal(response.headers.get(name), null, name);
    await response.body?.cancel();
  });

  test('methods MCP does not use are 405 with a JSON-RPC error, and never reach the upstream', async () => {
    const { mcp_endpoint: endpoint } = await k.mustCreateEndpoint();
    const before = k.upstreams.requests.length;
    for (const method of ['PUT', 'PATCH']) {
      const response = await k.fetch(endpoint!, { method, body: '{}', headers: { 'content-type': 'application/json' } });
      assert.equal(response.status, 405, method);
      const body = (await response.json()) as { error: { message: string } };
      assert.match(body.error.message, new RegExp(`Method ${method} is not supported`));
    }
    assert.equal(k.upstreams.requests.length, before);
  });

  test('DELETE ends the upstream session through the proxy', async () => {
    const { mcp_endpoint: endpoint } = await k.mustCreateEndpoint();
    const grant = await k.authorize(endpoint!);
    const init = await k.mcp(endpoint!, grant.accessToken, INITIALIZE);
    const session = init.headers.get('mcp-session-id')!;
    await readRpc(init);
    const ended = await k.fetch(endpoint!, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${grant.accessToken}`, 'mcp-session-id': session },
    });
    assert.equal(ended.status, 200);
    const deleted = k.upstreams.requests.filter((request) => request.method === 'DELETE' && request.headers['mcp-session-id'] === session);
    assert.equal(deleted.length, 1);
    assert.equal(deleted[0]!.url, UPSTREAM_URL);
    assert.equal(deleted[0]!.headers.authorization, `Bearer ${KEY}`);
    const after = await k.mcp(endpoint!, grant.accessToken, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, { 'mcp-session-id': session });
    assert.equal(after.status, 404, 'the upstream forgot the session');
  });
});
