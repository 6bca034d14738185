import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parse } from 'node-html-parser';
import * as oauth from '../../src/cli/oauth-client.ts';
import { engine } from '../../src/oauth/engine.ts';
import { inBasic, inHeaders, inQuery } from '../support/expects-key.ts';
import { type Client, INITIALIZE, type InProcess, KEY, readRpc, startApp } from '../support/in-process.ts';
import { serveLegacySse, serveMcp } from '../support/in-process-upstream.ts';

/**
 * Credential templates (issue 18, items 1–3), in-process: the JSON API's `credentials`, its
 * refusals, the consent page asking for each field, and every upstream request carrying each
 * value where the template puts it: a query key, two headers, HTTP Basic; old records still work.
 */

const QUERY_URL = 'https://query.example.com/mcp';
const QUERY_KEY = 'qk-LEAKCHECK-0123456789abcdef';
const TWO_URL = 'https://two.example.com/mcp';
const ACCOUNT = 'acct-42-LEAKCHECK';
const BASIC_URL = 'https://basic.example.com/mcp';
const XKEY_URL = 'https://xkey.example.com/mcp';
const LEGACY_URL = 'https://legacy-query.example.com/sse';

/** Consent with these form fields, then the code exchange: the tokens, or the refused answer. */
async function authorizeWith(k: InProcess, endpoint: string, fields: Record<string, string>, client?: Client) {
  const registered = client ?? (await k.register());
  const page = await k.openConsent(endpoint, registered);
  assert.equal(page.status, 200, page.text);
  const approved = await k.submitConsent(page, { ...fields, action: 'approve' });
  if (approved.status !== 302) return { refused: approved, page };
  const code = new URL(approved.headers.get('location')!).searchParams.get('code')!;
  const response = await k.token(
    oauth.codeExchangeFields({
      code,
      verifier: registered.verifier,
      clientId: registered.client_id,
      redirectUri: registered.redirect_uris[0]!,
      resource: endpoint,
      ...(registered.client_secret ? { clientSecret: registered.client_secret } : {}),
    }),
  );
  assert.equal(response.status, 200);
  const tokens = (await response.json()) as { access_token: string };
  return { accessToken: tokens.access_token, page, location: approved.headers.get('location')! };
}

async function callEcho(k: InProcess, endpoint: string, token: string) {
  const init = await k.mcp(endpoint, token, INITIALIZE);
  assert.equal(init.status, 200, await init.clone().text());
  const session = init.headers.get('mcp-session-id')!;
  assert.ok((await readRpc(init)).result);
  const call = await k.mcp(
    endpoint,
    token,
    { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { text: 'hi' } } },
    { 'mcp-session-id': session, 'mcp-protocol-version': '2025-06-18' },
  );
  assert.deepEqual((await readRpc(call)).result.content, [{ type: 'text', text: 'echo: hi' }]);
}

describe('credential templates, in-process', () => {
  let k: InProcess;
  before(async () => {
    k = await startApp({
      env: {
        LOG_LEVEL: 'debug',
        RATE_LIMIT_CREATE: '1000/3600',
        RATE_LIMIT_AUTHORIZE: '1000/600',
        RATE_LIMIT_AUTHORIZE_ENDPOINT: '1000/600',
      },
    });
    serveMcp(k.upstreams, { url: QUERY_URL, key: QUERY_KEY, expects: inQuery('api_key', QUERY_KEY) });
    serveMcp(k.upstreams, { url: TWO_URL, key: KEY, expects: inHeaders({ 'x-api-key': KEY, 'x-account-id': ACCOUNT }) });
    serveMcp(k.upstreams, { url: BASIC_URL, key: KEY, expects: inBasic('alice', KEY) });
    serveMcp(k.upstreams, { url: XKEY_URL, key: KEY, header: 'x-api-key', prefix: '' });
  });
  after(() => k.close());

  test('POST /api/slugs takes a template and shows it; the one-header names stay for one header', async () => {
    const created = await k.createEndpoint({
      upstream_url: `${QUERY_URL}?region=eu`,
      credentials: [{ label: 'Exa key', in: 'query', name: 'api_key' }],
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.deepEqual(created.body.credentials, [{ label: 'Exa key', in: 'query', name: 'api_key' }]);
    assert.equal(created.body.auth_header_name, null);
    assert.equal(created.body.upstream_url, `${QUERY_URL}?region=eu`);

    const plain = await k.mustCreateEndpoint({ upstream_url: TWO_URL, auth_header_name: 'X-API-Key' });
    assert.deepEqual(plain.credentials, [{ label: 'API key', in: 'header', name: 'X-API-Key', prefix: '' }]);
    assert.equal(plain.auth_header_name, 'X-API-Key');
    assert.equal(plain.auth_header_prefix, '');
    const defaults = await k.mustCreateEndpoint({ upstream_url: TWO_URL });
    assert.deepEqual(defaults.credentials, [{ label: 'API key', in: 'header', name: 'Authorization', prefix: 'Bearer' }]);
    const basic = await k.mustCreateEndpoint({ upstream_url: BASIC_URL, credentials: [{ in: 'basic_user' }, { in: 'basic_password' }] });
    assert.deepEqual(basic.credentials, [
      { label: 'User name', in: 'basic_user' },
      { label: 'Password', in: 'basic_password' },
    ]);
  });

  test('bad templates are refused with a 400 that says what is wrong', async () => {
    const cases: [unknown, RegExp][] = [
      [[], /1 to 4 fields/],
      [Array.from({ length: 5 }, (_, i) => ({ in: 'header', name: `X-K${i}` })), /1 to 4 fields/],
      [[{ in: 'cookie', name: 'k' }], /credentials\.0\.in must be one of/],
      [[{ in: 'header' }], /credentials\[0\]\.name is required/],
      [[{ in: 'query' }], /credentials\[0\]\.name is required/],
      [[{ in: 'header', name: 'X Key' }], /valid HTTP header name/],
      [[{ in: 'header', name: 'Host' }], /framing, routing or protocol state/],
      [[{ in: 'header', name: 'Content-Length' }], /framing, routing or protocol state/],
      [[{ in: 'header', name: 'Transfer-Encoding' }], /framing, routing or protocol state/],
      [[{ in: 'header', name: 'X-Forwarded-For' }], /framing, routing or protocol state/],
      [
        [
          { in: 'header', name: 'X-Key' },
          { in: 'header', name: 'x-key' },
        ],
        /two fields cannot both set the x-key header/,
      ],
      [
        [
          { in: 'query', name: 'key' },
          { in: 'query', name: 'KEY' },
        ],
        /two fields cannot both set the KEY query parameter/,
      ],
      [[{ in: 'query', name: 'a&b' }], /query parameter name/],
      [[{ in: 'basic_user' }, { in: 'basic_user' }], /only one field can be the Basic user/],
      [[{ in: 'basic_user' }, { in: 'header', name: 'Authorization' }], /Basic is sent in the Authorization header/],
      [[{ in: 'basic_password', name: 'pw' }], /name is not used for basic_password/],
      [[{ in: 'query', name: 'k', prefix: 'Bearer' }], /prefix is only for header fields/],
      [[{ in: 'header', name: 'X-Key', prefix: 'a\r\nb' }], /visible ASCII/],
      [[{ in: 'header', name: 'X-Key', label: 'a\u202eb' }], /control characters/],
      [[{ in: 'header', name: 'X-Key', extra: 1 }], /Unknown field/],
      ['X-Key', /credentials must be a list/],
    ];
    for (const [credentials, message] of cases) {
      const answer = await k.createEndpoint({ upstream_url: QUERY_URL, credentials });
      assert.equal(answer.status, 400, JSON.stringify(credentials));
      assert.match(answer.body.message ?? '', message, JSON.stringify(credentials));
    }
    const both = await k.createEndpoint({ upstream_url: QUERY_URL, auth_header_name: 'X-Key', credentials: [{ in: 'query', name: 'k' }] });
    assert.equal(both.status, 400);
    assert.match(both.body.message!, /either credentials or auth_header_name/);
    const inUrl = await k.createEndpoint({ upstream_url: `${QUERY_URL}?API_KEY=pasted`, credentials: [{ in: 'query', name: 'api_key' }] });
    assert.equal(inUrl.status, 400);
    assert.match(inUrl.body.message!, /already has a api_key query parameter/);
    assert.ok(!JSON.stringify(inUrl.body).includes('pasted'), 'the refusal does not echo a value from the URL');
  });

  test('a query-key upstream: the consent page asks for it; every request carries it once, the stored URL never', async () => {
    const created = await k.mustCreateEndpoint({
      upstream_url: `${QUERY_URL}?region=eu`,
      credentials: [{ label: 'Exa key', in: 'query', name: 'api_key' }],
    });
    const endpoint = created.mcp_endpoint!;
    const client = await k.register();
    const page = await k.openConsent(endpoint, client);
    const root = parse(page.html);
    assert.ok(root.querySelector('input[name="api_key"]'), 'a one-field template still asks for api_key');
    assert.match(page.text, /as the query parameter api_key/);
    assert.match(
      root.querySelector('pre.request-preview')?.text ?? '',
      /^POST https:\/\/query\.example\.com\/mcp\?region=eu&api_key=<your Exa key>$/,
    );

    const wrong = await authorizeWith(k, endpoint, { api_key: 'qk-wrong-0000000000' }, client);
    assert.equal(wrong.refused?.status, 401);
    const refusedText = await wrong.refused!.text();
    assert.match(refusedText, /api_key=qk-w…/, 'the refusal shows where the key went, masked');

    const before = k.upstreams.requests.length;
    const granted = await authorizeWith(k, endpoint, { credential_0: QUERY_KEY });
    assert.ok(granted.accessToken, 'credential_0 names the single field too');
    assert.ok(!granted.location.includes(QUERY_KEY));
    const probe = k.upstreams.requests.slice(before).find((request) => request.method === 'POST')!;
    assert.equal(new URL(probe.url).searchParams.getAll('api_key').join(), QUERY_KEY, 'the key check carries the key');

    // The client's own query string, even one naming the parameter, never reaches the upstream.
    const sent = k.upstreams.requests.length;
    await callEcho(k, `${endpoint}?api_key=client-chosen`, granted.accessToken!);
    for (const request of k.upstreams.requests.slice(sent)) {
      const url = new URL(request.url);
      assert.deepEqual(url.searchParams.getAll('api_key'), [QUERY_KEY], request.url);
      assert.equal(url.searchParams.get('region'), 'eu');
    }

    const described = await k.fetch(`/api/slugs/${created.slug}`, { headers: { authorization: `Bearer ${created.manage_token}` } });
    const text = await described.text();
    assert.ok(!text.includes(QUERY_KEY));
    assert.equal(JSON.parse(text).upstream_url, `${QUERY_URL}?region=eu`);
  });

  test('a two-header upstream: credential_0 and credential_1 in template order, both checked, both sent', async () => {
    const created = await k.mustCreateEndpoint({
      upstream_url: TWO_URL,
      credentials: [
        { label: 'API key', in: 'header', name: 'X-Api-Key' },
        { label: 'Account id', in: 'header', name: 'X-Account-Id' },
      ],
    });
    const endpoint = created.mcp_endpoint!;
    const client = await k.register();
    const page = await k.openConsent(endpoint, client);
    const inputs = parse(page.html)
      .querySelectorAll('form input:not([type=hidden]):not([name=tools]):not([name=tool])')
      .map((input) => input.getAttribute('name'));
    assert.deepEqual(inputs, ['credential_0', 'credential_1']);
    assert.match(page.text, /API key in the X-Api-Key header and Account id in the X-Account-Id header/);

    const missing = await authorizeWith(k, endpoint, { credential_0: KEY }, client);
    assert.equal(missing.refused?.status, 400);
    assert.match(await missing.refused!.text(), /Fill in “Account id”/);
    const wrong = await authorizeWith(k, endpoint, { credential_0: KEY, credential_1: 'acct-other' });
    assert.equal(wrong.refused?.status, 401, 'the second value is checked against the upstream too');

    const granted = await authorizeWith(k, endpoint, { credential_0: KEY, credential_1: ACCOUNT });
    const sent = k.upstreams.requests.length;
    await callEcho(k, endpoint, granted.accessToken!);
    const request = k.upstreams.requests[sent]!;
    assert.equal(request.headers['x-api-key'], KEY);
    assert.equal(request.headers['x-account-id'], ACCOUNT);
    assert.equal(request.headers.authorization, undefined, 'the OAuth token does not go upstream');
  });

  test('the key holder page asks for each value of a two-field endpoint, by its labels, and finds the access with both', async () => {
    const created = await k.mustCreateEndpoint({
      upstream_url: TWO_URL,
      credentials: [
        { label: 'API key', in: 'header', name: 'X-Api-Key' },
        { label: 'Account id', in: 'header', name: 'X-Account-Id' },
      ],
    });
    const endpoint = created.mcp_endpoint!;
    await authorizeWith(k, endpoint, { credential_0: KEY, credential_1: ACCOUNT });
    const link = parse((await k.openConsent(endpoint, await k.register())).html)
      .querySelector('main a[href^="/access?"]')!
      .getAttribute('href')!;
    const find = parse(await (await k.fetch(link)).text());
    const labelled = find
      .querySelectorAll('form[action="/access"] label')
      .map((label) => [label.text.trim().split('\n')[0], label.querySelector('input')?.getAttribute('name')]);
    assert.deepEqual(labelled.slice(1), [
      ['API key (as you gave it)', 'credential_0'],
      ['Account id (as you gave it)', 'credential_1'],
    ]);

    const posted = await oauth.postForm(k.fetch, '/access', new oauth.CookieJar(), {
      action: 'find',
      endpoint,
      credential_0: KEY,
      credential_1: ACCOUNT,
    });
    assert.equal(posted.status, 303);
    const jar = new oauth.CookieJar();
    jar.keep(posted);
    const list = parse(await (await k.fetch('/access', { headers: { ...jar.header(), accept: 'text/html' } })).text());
    assert.equal(list.querySelectorAll('table.grants tbody tr').length, 1);
    assert.deepEqual(
      list.querySelectorAll('input[name^="new_credential_"]').map((input) => input.getAttribute('name')),
      ['new_credential_0', 'new_credential_1'],
    );
    const onlyOne = await oauth.postForm(k.fetch, '/access', new oauth.CookieJar(), { action: 'find', endpoint, credential_0: KEY });
    assert.equal(onlyOne.status, 403, 'one of the two values is no proof');
  });

  test('a Basic upstream: user and password become one Authorization header (RFC 7617)', async () => {
    const created = await k.mustCreateEndpoint({ upstream_url: BASIC_URL, credentials: [{ in: 'basic_user' }, { in: 'basic_password' }] });
    const endpoint = created.mcp_endpoint!;
    const colon = await authorizeWith(k, endpoint, { credential_0: 'al:ice', credential_1: KEY });
    assert.equal(colon.refused?.status, 400);
    assert.match(await colon.refused!.text(), /cannot contain a colon/);
    const granted = await authorizeWith(k, endpoint, { credential_0: 'alice', credential_1: KEY });
    const sent = k.upstreams.requests.length;
    await callEcho(k, endpoint, granted.accessToken!);
    assert.equal(k.upstreams.requests[sent]!.headers.authorization, `Basic ${Buffer.from(`alice:${KEY}`).toString('base64')}`);
  });

  test('PATCH replaces the template and revokes; auth_header_prefix alone needs a one-header template', async () => {
    const created = await k.mustCreateEndpoint({ upstream_url: XKEY_URL, auth_header_name: 'X-Api-Key' });
    const manage = { authorization: `Bearer ${created.manage_token}`, 'content-type': 'application/json' };
    const patch = (body: unknown) =>
      k.fetch(`/api/slugs/${created.slug}`, { method: 'PATCH', headers: manage, body: JSON.stringify(body) });
    const granted = await authorizeWith(k, created.mcp_endpoint!, { api_key: KEY });
    assert.ok(granted.accessToken);

    const two = [
      { label: 'Key', in: 'header', name: 'X-Api-Key', prefix: '' },
      { label: 'Account', in: 'header', name: 'X-Account-Id', prefix: '' },
    ];
    const changed = await patch({ credentials: two });
    const body = (await changed.json()) as Record<string, unknown>;
    assert.equal(changed.status, 200, JSON.stringify(body));
    assert.deepEqual(body.credentials, two);
    assert.equal(body.revoked_grants, 1, 'where the key goes changed: every grant goes');
    assert.equal((await k.mcp(created.mcp_endpoint!, granted.accessToken!, INITIALIZE)).status, 401);

    const prefixOnly = await patch({ auth_header_prefix: 'Token' });
    assert.equal(prefixOnly.status, 400);
    assert.match(((await prefixOnly.json()) as { message: string }).message, /auth_header_prefix changes a one-header template/);
    const clash = await patch({ upstream_url: `${TWO_URL}?k=1`, credentials: [{ in: 'query', name: 'k' }] });
    assert.equal(clash.status, 400);
    const back = await patch({ auth_header_name: 'Authorization' });
    assert.deepEqual(((await back.json()) as { credentials: unknown }).credentials, [
      { label: 'API key', in: 'header', name: 'Authorization', prefix: 'Bearer' },
    ]);
    const renamed = await patch({ display_name: 'Renamed' });
    assert.equal(((await renamed.json()) as { revoked_grants: number }).revoked_grants, 0, 'a new name keeps grants');
    await patch({ auth_header_name: 'X-Api-Key' });
    const regranted = await authorizeWith(k, created.mcp_endpoint!, { api_key: KEY });
    assert.ok(regranted.accessToken);
    const relabelled = await patch({ credentials: [{ label: 'Your XKey token', in: 'header', name: 'X-Api-Key', prefix: '' }] });
    assert.equal(((await relabelled.json()) as { revoked_grants: number }).revoked_grants, 0, 'a new label sends no key elsewhere');
    assert.equal((await k.mcp(created.mcp_endpoint!, regranted.accessToken!, INITIALIZE)).status, 200);
  });

  test('legacy SSE with a query key: the stream and every message carry it, the message URL never shows it', async () => {
    const LEGACY_KEY = 'lq-LEAKCHECK-5555555555';
    serveLegacySse(k.upstreams, { url: LEGACY_URL, key: LEGACY_KEY, expects: inQuery('token', LEGACY_KEY), echoQuery: true });
    const created = await k.mustCreateEndpoint({
      upstream_url: LEGACY_URL,
      transport: 'sse',
      credentials: [{ in: 'query', name: 'token' }],
    });
    const granted = await authorizeWith(k, created.mcp_endpoint!, { api_key: LEGACY_KEY });
    const stream = await k.fetch(`/${created.slug}/sse`, {
      headers: { accept: 'text/event-stream', authorization: `Bearer ${granted.accessToken}` },
    });
    assert.equal(stream.status, 200);
    const reader = stream.body!.pipeThrough(new TextDecoderStream()).getReader();
    let text = '';
    while (!text.includes('\n\n')) text += (await reader.read()).value ?? '';
    const data = /data: (.*)/.exec(text)![1]!;
    assert.ok(!data.includes(LEGACY_KEY), 'the message URL handed to the client holds no key');
    const sent = k.upstreams.requests.length;
    const posted = await k.fetch(data, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${granted.accessToken}` },
      body: JSON.stringify({ ...INITIALIZE, params: { ...INITIALIZE.params, protocolVersion: '2024-11-05' } }),
    });
    assert.equal(posted.status, 202);
    assert.deepEqual(new URL(k.upstreams.requests[sent]!.url).searchParams.getAll('token'), [LEGACY_KEY]);
    await reader.cancel();
  });

  test('an endpoint and a grant written before templates (one header, apiKey) still work', async () => {
    const created = await k.mustCreateEndpoint({ upstream_url: TWO_URL, credentials: [{ in: 'header', name: 'X-Api-Key' }] });
    // The record as the previous release wrote it.
    const record = {
      slug: created.slug,
      upstreamUrl: 'https://echo.example.com/mcp',
      displayName: 'Old',
      authHeaderName: 'Authorization',
      authHeaderPrefix: 'Bearer',
      transport: 'streamable-http',
      createdAt: Math.floor(Date.now() / 1000),
    };
    await k.platform.kv.put(`k2o:endpoint:${created.slug}`, JSON.stringify(record));
    const endpoint = created.mcp_endpoint!;
    const view = (await (
      await k.fetch(`/api/slugs/${created.slug}`, { headers: { authorization: `Bearer ${'x'.repeat(40)}` } })
    ).json()) as {
      error: string;
    };
    assert.equal(view.error, 'unauthorized');
    const page = await k.openConsent(endpoint, await k.register());
    assert.match(page.text, /in the Authorization header/);

    // A grant whose props have the old shape: `apiKey` and a one-header upstream target.
    const client = await k.register();
    const grantEngine = engine(k.platform, created.slug!).helpers();
    const { redirectTo } = await grantEngine.completeAuthorization({
      request: {
        responseType: 'code',
        clientId: client.client_id,
        redirectUri: client.redirect_uris[0]!,
        scope: ['mcp'],
        state: 's',
        codeChallenge: client.challenge,
        codeChallengeMethod: 'S256',
        resource: endpoint,
      },
      userId: created.slug!,
      metadata: { createdAt: 0 },
      scope: ['mcp'],
      props: {
        v: 1,
        slug: created.slug,
        apiKey: KEY,
        upstream: {
          url: 'https://echo.example.com/mcp',
          headerName: 'Authorization',
          headerPrefix: 'Bearer',
          transport: 'streamable-http',
        },
      },
    });
    const code = new URL(redirectTo).searchParams.get('code')!;
    const tokens = (await (
      await k.token(
        oauth.codeExchangeFields({
          code,
          verifier: client.verifier,
          clientId: client.client_id,
          redirectUri: client.redirect_uris[0]!,
          resource: endpoint,
          ...(client.client_secret ? { clientSecret: client.client_secret } : {}),
        }),
      )
    ).json()) as { access_token: string };
    const sent = k.upstreams.requests.length;
    await callEcho(k, endpoint, tokens.access_token);
    assert.equal(k.upstreams.requests[sent]!.headers.authorization, `Bearer ${KEY}`);
  });
});
