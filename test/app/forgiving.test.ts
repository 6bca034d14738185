import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parse } from 'node-html-parser';
import { postForm } from '../../src/cli/oauth-client.ts';
import { type InProcess, KEY, PUBLIC_URL, startApp, UPSTREAM_URL } from '../support/in-process.ts';
import { serveMcp } from '../support/in-process-upstream.ts';

/**
 * Pages that forgive mistakes: reloading, going Back, a pasted `Bearer `, a key sent the wrong way,
 * an upstream that is a website or is down, a browser opening an endpoint URL.
 */

const SAME_ORIGIN = { 'sec-fetch-site': 'same-origin', origin: 'null', accept: 'text/html' };

async function endpointCount(k: InProcess): Promise<number> {
  return (await k.platform.kv.list({ prefix: 'k2o:endpoint:' })).keys.length;
}

describe('pages that forgive mistakes, in-process', () => {
  let k: InProcess;
  before(async () => {
    k = await startApp();
  });
  after(() => k.close());

  test('creating from the form redirects (303) to a page that shows the manage link once; reloading it creates nothing', async () => {
    const before = await endpointCount(k);
    const posted = await k.fetch('/', { method: 'POST', headers: SAME_ORIGIN, body: new URLSearchParams({ upstream_url: UPSTREAM_URL }) });
    assert.equal(posted.status, 303);
    const location = posted.headers.get('location') ?? '';
    assert.match(location, /^\/created\/[A-Za-z0-9_-]{20,}$/);
    assert.equal(await endpointCount(k), before + 1);

    const first = parse(await (await k.fetch(location)).text());
    const manageLink = first.querySelector('input#manage-link')?.getAttribute('value') ?? '';
    assert.match(manageLink, new RegExp(`^${PUBLIC_URL}/manage/[A-Za-z0-9]{12}#token=[A-Za-z0-9_-]{40,}$`));
    assert.match(first.querySelector('main')?.text ?? '', /Save your manage link now/);

    const reload = await k.fetch(location);
    assert.equal(reload.status, 200);
    const again = parse(await reload.text());
    assert.equal(again.querySelector('input#manage-link'), null, 'the manage token is shown once');
    assert.match(again.querySelector('main')?.text ?? '', /shown once/);
    assert.ok(again.querySelector('input#endpoint')?.getAttribute('value')?.endsWith('/mcp'), 'the endpoint URL is still there');
    assert.equal(await endpointCount(k), before + 1, 'no second endpoint');
  });

  test('the created page shows the exact header line the key will travel in', async () => {
    const posted = await k.fetch('/', {
      method: 'POST',
      headers: SAME_ORIGIN,
      body: new URLSearchParams({ upstream_url: UPSTREAM_URL, auth_header_name: 'X-API-Key', auth_header_prefix: '' }),
    });
    const page = parse(await (await k.fetch(posted.headers.get('location')!)).text());
    assert.equal(page.querySelector('code.header-line')?.text, 'X-API-Key: <your API key>');
  });

  test('the Advanced prefix field does what its label says when left empty', async () => {
    const home = parse(await (await k.fetch('/')).text());
    const label = home.querySelector('input[name="auth_header_prefix"]')?.parentNode?.text ?? '';
    assert.match(label, /empty: Bearer with the Authorization header, the bare key with any other/i);
    const bearer = await k.fetch('/', {
      method: 'POST',
      headers: SAME_ORIGIN,
      body: new URLSearchParams({ upstream_url: UPSTREAM_URL, auth_header_prefix: '' }),
    });
    const bearerPage = parse(await (await k.fetch(bearer.headers.get('location')!)).text());
    assert.equal(bearerPage.querySelector('code.header-line')?.text, 'Authorization: Bearer <your API key>');
  });

  test('the key check wants an MCP answer: a website that answers 200 to anything approves no key', async () => {
    // Created while an MCP server answered there; a website took its place since.
    serveMcp(k.upstreams, { url: 'https://site.example.com/mcp', key: KEY });
    const endpoint = (await k.mustCreateEndpoint({ upstream_url: 'https://site.example.com/mcp', transport: 'streamable-http' }))
      .mcp_endpoint!;
    k.upstreams.serve(
      'https://site.example.com',
      () => new Response('<!doctype html><p>Hello', { headers: { 'content-type': 'text/html' } }),
    );
    const page = await k.openConsent(endpoint, await k.register());
    const refused = await k.submitConsent(page, { api_key: KEY, action: 'approve' });
    assert.notEqual(refused.status, 302, 'no code is issued');
    assert.match(
      parse(await refused.text()).text,
      /answered with a web page, not as an MCP server[\s\S]*may point at a website rather than the MCP server/,
    );
  });

  test('a pasted "Bearer " before the key is recognised, not sent as "Bearer Bearer …"', async () => {
    const endpoint = (await k.mustCreateEndpoint()).mcp_endpoint!;
    const grant = await k.authorize(endpoint, { key: `Bearer ${KEY}` });
    const answer = await k.mcp(endpoint, grant.accessToken, {
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } },
    });
    assert.equal(answer.status, 200);
    await answer.body?.cancel();
  });

  test('a 401 that may be the header setup says how the key was sent and what else could be wrong', async () => {
    serveMcp(k.upstreams, { url: 'https://wants-x-api-key.example.com/mcp', key: KEY, header: 'x-api-key', prefix: '' });
    const endpoint = (await k.mustCreateEndpoint({ upstream_url: 'https://wants-x-api-key.example.com/mcp' })).mcp_endpoint!;
    const page = await k.openConsent(endpoint, await k.register());
    assert.match(page.text, /Authorization: Bearer <your API key>/, 'the consent page shows the header line');
    const refused = await k.submitConsent(page, { api_key: KEY, action: 'approve' });
    const text = parse(await refused.text()).text;
    assert.match(text, /rejected this key \(HTTP 401\)/);
    assert.match(text, /Authorization: Bearer sk-i…/, 'the header line as sent, key masked');
    assert.match(text, /another header or prefix/);
    assert.doesNotMatch(text, new RegExp(KEY), 'never the whole key');
  });

  test('a browser opening an endpoint URL gets a short page saying what it is; an MCP client still gets its challenge', async () => {
    const endpoint = (await k.mustCreateEndpoint()).mcp_endpoint!;
    const browser = await k.fetch(endpoint, { headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } });
    assert.equal(browser.status, 200);
    assert.match(browser.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(parse(await browser.text()).querySelector('main')?.text ?? '', /MCP endpoint/);
    const client = await k.fetch(endpoint, { headers: { accept: 'text/event-stream' } });
    assert.equal(client.status, 401);
    assert.ok(client.headers.get('www-authenticate'));
    await client.body?.cancel();
  });

  test('/favicon.ico is an icon, not a 404', async () => {
    const response = await k.fetch('/favicon.ico');
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^image\//);
    await response.body?.cancel();
  });

  test('the rate-limit page offers the way back', async () => {
    const limited = await startApp({ env: { RATE_LIMIT_AUTHORIZE_PAGE: '1/600' } });
    try {
      const endpoint = (await limited.mustCreateEndpoint()).mcp_endpoint!;
      const client = await limited.register();
      await limited.openConsent(endpoint, client);
      const page = await limited.openConsent(endpoint, client);
      assert.equal(page.status, 429);
      // Back to the same sign-in, not the start page (forgiving-server.test.ts has the details).
      const again = new URL(page.url);
      assert.ok(parse(page.html).querySelector(`main a[href="${again.pathname}${again.search}"]`));
    } finally {
      await limited.close();
    }
  });
});

describe('the consent form after a wrong key, in-process', () => {
  let k: InProcess;
  before(async () => {
    k = await startApp();
  });
  after(() => k.close());

  test('a wrong key answers 303 back to the page (POST/redirect/GET): the message shows once, reload and Back are plain GETs, the right key then works', async () => {
    const endpoint = (await k.mustCreateEndpoint()).mcp_endpoint!;
    const page = await k.openConsent(endpoint, await k.register());
    const posted = await postForm(k.fetch, page.url, page.jar, { ...page.hidden, api_key: 'sk-wrong-0000', action: 'approve' });
    assert.equal(posted.status, 303, 'no page in the history is a POST result');
    page.jar.keep(posted);
    const location = new URL(posted.headers.get('location')!, PUBLIC_URL);
    assert.equal(location.pathname, '/authorize');
    assert.equal(location.searchParams.get('client_id'), new URL(page.url).searchParams.get('client_id'));
    assert.ok(location.searchParams.get('notice'));

    const shown = await k.openAuthorization(location, page.jar);
    assert.equal(shown.status, 401, 'the refusal keeps its status');
    assert.match(shown.text, /rejected this key/);
    assert.doesNotMatch(shown.html, /sk-wrong-0000/);

    const reloaded = await k.openAuthorization(location, page.jar);
    assert.equal(reloaded.status, 200);
    assert.doesNotMatch(reloaded.text, /rejected this key/, 'the message was shown once');

    const approved = await k.submitConsent(reloaded, { api_key: KEY, action: 'approve' });
    assert.equal(approved.status, 302);
    assert.ok(new URL(approved.headers.get('location')!).searchParams.get('code'));
  });
});
