import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parse } from 'node-html-parser';
import {
  CookieJar,
  consentPage,
  INITIALIZE,
  type InProcess,
  KEY,
  PUBLIC_URL,
  REDIRECT_URI,
  readRpc,
  startApp,
} from '../support/in-process.ts';

/** The authorization code + PKCE flow by hand, and MCP traffic with the tokens it gives. */

const json = (body: unknown) => JSON.stringify(body);

describe('the authorization flow, in-process', () => {
  let k: InProcess;
  let endpoint: string;
  let slug: string;
  before(async () => {
    k = await startApp();
    const created = await k.mustCreateEndpoint({ upstream_url: 'https://echo.example.com/mcp', display_name: 'Echo server' });
    endpoint = created.mcp_endpoint!;
    slug = created.slug!;
  });
  after(() => k.close());

  test('register, consent, approve with the key, exchange the code, then initialize and call a tool upstream with the key', async () => {
    const client = await k.register();
    assert.ok(client.client_id);

    const page = await k.openConsent(endpoint, client);
    assert.equal(page.status, 200);
    assert.match(page.response.headers.get('content-type') ?? '', /^text\/html/);
    assert.equal(parse(page.html).querySelector('.destination .host')?.text, 'echo.example.com', 'the page names where the key goes');
    assert.match(page.text, /Echo server · a name chosen by whoever created this endpoint/);
    assert.match(page.text, /In-process Client wants to use your key/);
    assert.match(page.text, /in the Authorization header/);
    assert.ok(page.hidden.handle && page.hidden.destination, 'the form carries its handle and destination');
    const cookies = page.response.headers.getSetCookie();
    assert.equal(cookies.length, 1);
    assert.match(cookies[0]!, /^__Host-oauth-consent[^=]*=/, 'the consent is bound to this browser by a __Host- cookie');
    assert.match(cookies[0]!, /;\s*Secure/i);
    assert.match(cookies[0]!, /;\s*Path=\//i);
    assert.match(cookies[0]!, /;\s*HttpOnly/i);
    assert.match(
      page.response.headers.get('content-security-policy') ?? '',
      /form-action 'self' https:\/\/client\.example\.net/,
      'the form may redirect to the client only',
    );

    const approved = await k.submitConsent(page, { api_key: KEY, action: 'approve' });
    assert.equal(approved.status, 302);
    const location = new URL(approved.headers.get('location')!);
    assert.equal(`${location.origin}${location.pathname}`, REDIRECT_URI);
    assert.equal(location.searchParams.get('state'), 'state-ünicode-✓');
    assert.equal(location.searchParams.get('iss'), PUBLIC_URL);
    const code = location.searchParams.get('code')!;
    assert.ok(code.startsWith(`${slug}:`), 'the code names its endpoint');

    const exchanged = await k.token({
      grant_type: 'authorization_code',
      code,
      code_verifier: client.verifier,
      client_id: client.client_id,
      redirect_uri: REDIRECT_URI,
      resource: endpoint,
    });
    assert.equal(exchanged.status, 200);
    assert.equal(exchanged.headers.get('cache-control'), 'no-store');
    const tokens = (await exchanged.json()) as {
      access_token: string;
      refresh_token: string;
      token_type: string;
      scope: string;
      expires_in: number;
    };
    assert.equal(tokens.token_type.toLowerCase(), 'bearer');
    assert.ok(tokens.access_token && tokens.refresh_token);
    assert.deepEqual(tokens.scope.split(' ').sort(), ['mcp', 'offline_access']);
    assert.equal(tokens.expires_in, 3600);

    await k.settle();
    k.upstreams.requests.length = 0;
    const init = await k.mcp(endpoint, tokens.access_token, INITIALIZE);
    assert.equal(init.status, 200);
    const session = init.headers.get('mcp-session-id');
    assert.ok(session, 'the upstream session id reaches the client');
    assert.equal((await readRpc(init)).result.serverInfo.name, 'in-process-upstream');
    const headers = { 'mcp-session-id': session, 'mcp-protocol-version': '2025-06-18' };
    const initialized = await k.mcp(endpoint, tokens.access_token, { jsonrpc: '2.0', method: 'notifications/initialized' }, headers);
    assert.equal(initialized.status, 202);
    const list = await readRpc(await k.mcp(endpoint, tokens.access_token, { jsonrpc: '2.0', id: 2, method: 'tools/list' }, headers));
    assert.deepEqual(
      list.result.tools.map((tool: { name: string }) => tool.name),
      ['echo'],
    );
    const call = await readRpc(
      await k.mcp(
        endpoint,
        tokens.access_token,
        { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'echo', arguments: { text: 'hello' } } },
        headers,
      ),
    );
    assert.deepEqual(call.result.content, [{ type: 'text', text: 'echo: hello' }]);

    assert.equal(k.upstreams.requests.length, 4);
    for (const request of k.upstreams.requests) {
      assert.equal(request.url, 'https://echo.example.com/mcp');
      assert.equal(request.headers.authorization, `Bearer ${KEY}`, 'the key goes upstream in its header');
      assert.ok(!JSON.stringify(request.headers).includes(tokens.access_token), 'the access token never reaches the upstream');
      assert.equal(request.headers.cookie, undefined);
    }
    assert.equal(k.upstreams.requests[1]!.headers['mcp-session-id'], session, 'MCP headers are passed on');
  });

  test('the code works once, and only with its PKCE verifier', async () => {
    const client = await k.register();
    const page = await k.openConsent(endpoint, client);
    const code = new URL((await k.submitConsent(page, { api_key: KEY, action: 'approve' })).headers.get('location')!).searchParams.get(
      'code',
    )!;
    const exchange = (verifier: string) =>
      k.token({ grant_type: 'authorization_code', code, code_verifier: verifier, client_id: client.client_id, redirect_uri: REDIRECT_URI });

    const wrongVerifier = await exchange('x'.repeat(43));
    assert.equal(wrongVerifier.status, 400);
    assert.equal(((await wrongVerifier.json()) as { error: string }).error, 'invalid_grant');
    assert.equal((await exchange(client.verifier)).status, 200);
    const replayed = await exchange(client.verifier);
    assert.equal(replayed.status, 400, 'an exchanged code is spent');
    assert.equal(((await replayed.json()) as { error: string }).error, 'invalid_grant');
  });

  test('refresh rotates both tokens and the new access token reaches the upstream', async () => {
    const grant = await k.authorize(endpoint);
    const refreshed = await k.token({
      grant_type: 'refresh_token',
      refresh_token: grant.refreshToken,
      client_id: grant.client.client_id,
      resource: endpoint,
    });
    assert.equal(refreshed.status, 200);
    assert.equal(refreshed.headers.get('cache-control'), 'no-store');
    const tokens = (await refreshed.json()) as { access_token: string; refresh_token: string };
    assert.notEqual(tokens.access_token, grant.accessToken);
    assert.notEqual(tokens.refresh_token, grant.refreshToken);
    const init = await k.mcp(endpoint, tokens.access_token, INITIALIZE);
    assert.equal(init.status, 200);
    assert.equal((await readRpc(init)).result.serverInfo.name, 'in-process-upstream');
  });

  test('a revoked access token gets 401 invalid_token and its request never reaches the upstream', async () => {
    const grant = await k.authorize(endpoint);
    assert.equal((await k.mcp(endpoint, grant.accessToken, INITIALIZE)).status, 200);
    const revoked = await k.token({ token: grant.accessToken, client_id: grant.client.client_id });
    assert.equal(revoked.status, 200);
    await k.settle();
    const before = k.upstreams.requests.length;
    const denied = await k.mcp(endpoint, grant.accessToken, INITIALIZE);
    assert.equal(denied.status, 401);
    assert.match(denied.headers.get('www-authenticate') ?? '', /error="invalid_token"/);
    assert.match(
      denied.headers.get('www-authenticate') ?? '',
      new RegExp(`resource_metadata="${PUBLIC_URL}/\\.well-known/oauth-protected-resource/${slug}/mcp"`),
    );
    assert.equal(k.upstreams.requests.length, before, 'nothing was forwarded');
  });

  test('a wrong key is refused on the page with 401 and no code; the fresh form then takes the right key', async () => {
    const page = await k.openConsent(endpoint, await k.register());
    const refused = await k.submitConsent(page, { api_key: 'sk-wrong-key-000', action: 'approve' });
    assert.equal(refused.status, 401);
    assert.equal(refused.headers.get('location'), null);
    const html = await refused.text();
    assert.match(html, /echo\.example\.com rejected this key \(HTTP 401\)/);
    assert.ok(!html.includes('sk-wrong-key-000'), 'the key is not echoed back');

    const retry = consentPage(page.url, refused, html, page.jar);
    assert.match(retry.text, /rejected this key/);
    assert.notEqual(retry.hidden.handle, page.hidden.handle, 'the spent handle is replaced');
    const approved = await k.submitConsent(retry, { api_key: KEY, action: 'approve' });
    assert.equal(approved.status, 302);
    assert.ok(new URL(approved.headers.get('location')!).searchParams.get('code'));
  });

  test('Deny sends the user back with access_denied and the state, and sends no key anywhere', async () => {
    const page = await k.openConsent(endpoint, await k.register());
    await k.settle();
    const before = k.upstreams.requests.length;
    const denied = await k.submitConsent(page, { api_key: KEY, action: 'deny' });
    assert.equal(denied.status, 302);
    const location = new URL(denied.headers.get('location')!);
    assert.equal(`${location.origin}${location.pathname}`, REDIRECT_URI);
    assert.equal(location.searchParams.get('error'), 'access_denied');
    assert.equal(location.searchParams.get('state'), 'state-ünicode-✓');
    assert.equal(location.searchParams.get('code'), null);
    assert.equal(k.upstreams.requests.length, before, 'the key was not checked, let alone stored');
  });

  test('a consent post from another site is refused with 403 before the handle is spent', async () => {
    const page = await k.openConsent(endpoint, await k.register());
    const attempts: Record<string, string>[] = [
      { 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' },
      { 'sec-fetch-site': 'same-site' },
      { 'sec-fetch-site': '', origin: 'https://evil.example' },
    ];
    for (const headers of attempts) {
      const response = await k.submitConsent(page, { api_key: KEY, action: 'approve' }, headers);
      assert.equal(response.status, 403, json(headers));
      assert.equal(response.headers.get('location'), null);
      assert.match(await response.text(), /can only be submitted from this site/);
    }
    const real = await k.submitConsent(page, { api_key: KEY, action: 'approve' });
    assert.equal(real.status, 302, 'the refused posts did not spend the handle');
  });

  test('a handle works once, and only with the cookie of the browser that opened the page', async () => {
    const page = await k.openConsent(endpoint, await k.register());
    const stranger = await k.submitConsent({ ...page, jar: new CookieJar() }, { api_key: KEY, action: 'approve' });
    assert.equal(stranger.status, 400);
    assert.match(await stranger.text(), /not started in this browser/);

    const cookies = new Map(page.jar.cookies);
    assert.equal((await k.submitConsent(page, { api_key: KEY, action: 'approve' })).status, 302);
    page.jar.cookies = cookies;
    // The request was approved: the replayed form is told so (approve-once.ts), before its spent handle is even read.
    const replay = await k.submitConsent(page, { api_key: KEY, action: 'approve' });
    assert.equal(replay.status, 409);
    assert.equal(replay.headers.get('location'), null);
    assert.match(await replay.text(), /already approved/);
    // A spent handle of a request not approved (a Deny) is still refused as spent.
    const denied = await k.openConsent(endpoint, await k.register());
    const deniedCookies = new Map(denied.jar.cookies);
    assert.equal((await k.submitConsent(denied, { action: 'deny' })).status, 302);
    denied.jar.cookies = deniedCookies;
    const again = await k.submitConsent(denied, { api_key: KEY, action: 'approve' });
    assert.equal(again.status, 400);
    assert.match(await again.text(), /expired or was already used/);
  });

  test('an authorization request without PKCE S256 gets a 400 page and starts no consent', async () => {
    const client = await k.register();
    for (const params of [{ code_challenge_method: 'plain' }, { code_challenge: 'short' }] as Record<string, string>[]) {
      const page = await k.openConsent(endpoint, client, { params });
      assert.equal(page.status, 400, json(params));
      assert.match(page.text, /code_challenge/);
      assert.equal(page.response.headers.getSetCookie().length, 0);
    }
  });
});
