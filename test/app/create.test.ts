import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parse } from 'node-html-parser';
import { type InProcess, PUBLIC_URL, startApp, UPSTREAM_URL } from '../support/in-process.ts';

/** Creating endpoints: the start page's form and the JSON API, with their limits. */

const ADMIN = 'admin-token-in-process-0123456789';
const SAME_ORIGIN = { 'sec-fetch-site': 'same-origin', origin: 'null', accept: 'text/html' };

function postForm(k: InProcess, fields: Record<string, string>, headers: Record<string, string> = SAME_ORIGIN, clientAddress?: string) {
  return k.fetch('/', { method: 'POST', headers, body: new URLSearchParams(fields), ...(clientAddress ? { clientAddress } : {}) });
}

describe('the start page, in-process', () => {
  let k: InProcess;
  before(async () => {
    k = await startApp();
  });
  after(() => k.close());

  test('GET / shows the form; no admin token is asked for on an open deployment', async () => {
    const response = await k.fetch('/');
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/html/);
    const form = parse(await response.text()).querySelector('form[method="post"]');
    assert.equal(form?.getAttribute('action'), '/');
    assert.ok(form?.querySelector('input[name="upstream_url"][type="url"]'));
    assert.equal(form?.querySelector('input[name="admin_token"]'), null);
  });

  test('posting the form creates the endpoint: its page shows the URL and the manage link, and the endpoint answers', async () => {
    const posted = await postForm(k, { upstream_url: UPSTREAM_URL, display_name: 'Form-made', auth_header_name: '', transport: 'auto' });
    assert.equal(posted.status, 303);
    const response = await k.fetch(posted.headers.get('location')!);
    assert.equal(response.status, 200);
    const root = parse(await response.text());
    assert.match(root.querySelector('h1')?.text ?? '', /Your endpoint for Form-made/);
    const endpoint = root.querySelector('input#endpoint')?.getAttribute('value') ?? '';
    assert.match(endpoint, new RegExp(`^${PUBLIC_URL}/[A-Za-z0-9]{12}/mcp$`));
    assert.match(
      root.querySelector('input#manage-link')?.getAttribute('value') ?? '',
      /\/manage\/[A-Za-z0-9]{12}#token=[A-Za-z0-9_-]{43}$/,
    );
    assert.equal(root.querySelector('.host')?.text, 'echo.example.com');

    const slug = new URL(endpoint).pathname.split('/')[1];
    const prm = await k.fetch(`/.well-known/oauth-protected-resource/${slug}/mcp`);
    assert.equal(prm.status, 200, 'the new endpoint exists');
  });

  test('a refused URL comes back on the page with the reason and the fields kept', async () => {
    const response = await postForm(k, { upstream_url: 'http://echo.example.com/mcp', display_name: 'Kept name' });
    assert.equal(response.status, 400);
    const root = parse(await response.text());
    assert.match(root.querySelector('.error')?.text ?? '', /must start with https:\/\//);
    assert.equal(root.querySelector('input[name="upstream_url"]')?.getAttribute('value'), 'http://echo.example.com/mcp');
    assert.equal(root.querySelector('input[name="display_name"]')?.getAttribute('value'), 'Kept name');
  });

  test('a form posted from another site is refused with 403 and creates nothing', async () => {
    const response = await postForm(
      k,
      { upstream_url: UPSTREAM_URL },
      { 'sec-fetch-site': 'cross-site', origin: 'https://evil.example.com' },
    );
    assert.equal(response.status, 403);
    assert.match(await response.text(), /can only be submitted from this site/);
  });
});

describe('the JSON API, in-process', () => {
  let k: InProcess;
  before(async () => {
    // Every POST counts against the creation limit; this suite's subject is the answers, not the limit.
    k = await startApp({ env: { RATE_LIMIT_CREATE: '0' } });
  });
  after(() => k.close());

  test('201 with the slug, the endpoint URLs, the defaults and a manage token', async () => {
    const created = await k.createEndpoint({ upstream_url: UPSTREAM_URL });
    assert.equal(created.status, 201);
    const body = created.body;
    assert.match(body.slug!, /^[A-Za-z0-9]{12}$/);
    assert.equal(body.mcp_endpoint, `${PUBLIC_URL}/${body.slug}/mcp`);
    assert.equal(body.sse_endpoint, `${PUBLIC_URL}/${body.slug}/sse`);
    assert.equal(body.upstream_url, UPSTREAM_URL);
    assert.equal(body.display_name, 'echo.example.com');
    assert.equal(body.auth_header_name, 'Authorization');
    assert.equal(body.auth_header_prefix, 'Bearer');
    assert.equal(body.transport, 'streamable-http', 'a keyless 401 to initialize means Streamable HTTP');
    assert.ok(body.manage_token && body.manage_token.length >= 40);

    const custom = await k.createEndpoint({ upstream_url: UPSTREAM_URL, auth_header_name: 'X-API-Key', display_name: '  Mine  ' });
    assert.equal(custom.status, 201);
    assert.equal(custom.body.auth_header_prefix, '', 'a custom header gets the bare key');
    assert.equal(custom.body.display_name, 'Mine');
    assert.notEqual(custom.body.slug, body.slug);
  });

  test('bad input is 400 with an error code and a message a person can act on', async () => {
    const cases: [unknown, string, RegExp][] = [
      [{}, 'invalid_request', /upstream_url is required/],
      [{ upstream_url: 5 }, 'invalid_request', /upstream_url must be a string/],
      [[], 'invalid_request', /must be a JSON object/],
      [{ upstream_url: UPSTREAM_URL, colour: 'red' }, 'invalid_request', /Unknown field\(s\): colour/],
      [{ upstream_url: UPSTREAM_URL, auth_header_name: 'Host' }, 'invalid_request', /auth_header_name/],
      [{ upstream_url: UPSTREAM_URL, auth_header_name: 'X-Key\r\nInjected: 1' }, 'invalid_request', /valid HTTP header name/],
      [{ upstream_url: UPSTREAM_URL, auth_header_prefix: 'Bearer\n' }, 'invalid_request', /visible ASCII/],
      [{ upstream_url: UPSTREAM_URL, display_name: 'x'.repeat(101) }, 'invalid_request', /at most 100 characters/],
      [
        { upstream_url: UPSTREAM_URL, transport: 'websocket' },
        'invalid_request',
        /^transport must be one of "auto", "streamable-http", "sse"$/,
      ],
      [{ upstream_url: 'http://echo.example.com/mcp' }, 'invalid_upstream_url', /must start with https:\/\//],
      [{ upstream_url: 'https://localhost/mcp' }, 'invalid_upstream_url', /localhost/],
      [{ upstream_url: 'https://10.0.0.1/mcp' }, 'invalid_upstream_url', /only public internet addresses/],
      [{ upstream_url: 'https://169.254.169.254/latest' }, 'invalid_upstream_url', /public internet addresses|metadata/],
      [{ upstream_url: 'https://mcp.internal.test/mcp' }, 'invalid_upstream_url', /\.test are private/],
      [{ upstream_url: 'https://user:hunter2@echo.example.com/mcp' }, 'invalid_upstream_url', /user name or password/],
    ];
    for (const [body, error, message] of cases) {
      const response = await k.createEndpoint(body);
      const label = JSON.stringify(body);
      assert.equal(response.status, 400, label);
      assert.equal(response.body.error, error, label);
      assert.match(response.body.message!, message, label);
      assert.ok(!response.body.message!.includes('hunter2'), 'a password in the URL is never echoed');
    }
    const broken = await k.fetch('/api/slugs', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"upstream_url":',
    });
    assert.equal(broken.status, 400);
    assert.deepEqual(await broken.json(), {
      error: 'invalid_json',
      error_description: 'The body is not valid JSON',
      message: 'The body is not valid JSON',
    });
  });

  test('a body that is not JSON gets 415', async () => {
    for (const headers of [
      { 'content-type': 'text/plain' },
      { 'content-type': 'application/x-www-form-urlencoded' },
      {} as Record<string, string>,
    ]) {
      const response = await k.fetch('/api/slugs', { method: 'POST', headers, body: `upstream_url=${UPSTREAM_URL}` });
      assert.equal(response.status, 415, JSON.stringify(headers));
      assert.equal(((await response.json()) as { error: string }).error, 'unsupported_media_type');
    }
  });

  test('a host whose addresses the platform refuses is 400 with its reason', async () => {
    const strict = await startApp({
      platform: { checkUpstreamHost: async () => ({ ok: false, reason: 'echo.example.com resolves to a private address.' }) },
    });
    try {
      const refused = await strict.createEndpoint({ upstream_url: UPSTREAM_URL });
      assert.equal(refused.status, 400);
      assert.deepEqual(refused.body, {
        error: 'invalid_upstream_url',
        error_description: 'echo.example.com resolves to a private address.',
        message: 'echo.example.com resolves to a private address.',
      });
      assert.equal(strict.upstreams.requests.length, 0, 'nothing was sent to a refused host');
    } finally {
      await strict.close();
    }
  });
});

describe('ADMIN_TOKEN and the creation limit, in-process', () => {
  let k: InProcess;
  before(async () => {
    k = await startApp({ env: { ADMIN_TOKEN: ADMIN, RATE_LIMIT_CREATE: '4/3600' } });
  });
  after(() => k.close());

  test('the JSON API creates only with the admin token; the start page asks for it', async () => {
    for (const headers of [
      {},
      { authorization: 'Bearer wrong' },
      { authorization: `Bearer ${ADMIN}x` },
      { authorization: `Basic ${ADMIN}` },
    ] as Record<string, string>[]) {
      const refused = await k.fetch('/api/slugs', {
        method: 'POST',
        clientAddress: '192.0.2.66',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ upstream_url: UPSTREAM_URL }),
      });
      assert.equal(refused.status, 401, JSON.stringify(headers));
      const body = (await refused.json()) as { error: string; message: string };
      assert.equal(body.error, 'unauthorized');
      assert.match(body.message, /admin token/);
    }
    assert.equal((await k.createEndpoint({ upstream_url: UPSTREAM_URL }, { authorization: `Bearer ${ADMIN}` })).status, 201);

    const home = parse(await (await k.fetch('/', { clientAddress: '192.0.2.77' })).text());
    assert.ok(home.querySelector('input[name="admin_token"][type="password"]'));
    const refused = await postForm(k, { upstream_url: UPSTREAM_URL, admin_token: 'wrong' }, SAME_ORIGIN, '192.0.2.77');
    assert.equal(refused.status, 401);
    const text = await refused.text();
    assert.match(text, /admin token is not right/);
    assert.ok(!text.includes(ADMIN));
    assert.equal((await postForm(k, { upstream_url: UPSTREAM_URL, admin_token: ADMIN }, SAME_ORIGIN, '192.0.2.77')).status, 303);
  });

  test('the admin token counts only as the one credential of a Bearer header, as every token the server reads', async () => {
    // The same grammar as the manage API, /metrics and the engine (http/bearer.ts): no bare token,
    // and a header holding two credentials (two Authorization headers, joined) is no token.
    const headers = [ADMIN, `Bearer ${ADMIN}, Bearer ${ADMIN}`, `Bearer ${ADMIN},Bearer ${ADMIN}`];
    for (const [index, authorization] of headers.entries()) {
      const refused = await k.fetch('/api/slugs', {
        method: 'POST',
        clientAddress: `192.0.2.${120 + index}`,
        headers: { 'content-type': 'application/json', authorization },
        body: JSON.stringify({ upstream_url: UPSTREAM_URL }),
      });
      assert.equal(refused.status, 401, authorization);
      await refused.body?.cancel();
    }
  });

  test('past the limit, creation is 429 with Retry-After, even with the right token; the form shares the limit; other addresses are not held up', async () => {
    const address = '203.0.113.200';
    const create = (token: string) =>
      k.fetch('/api/slugs', {
        method: 'POST',
        clientAddress: address,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({ upstream_url: UPSTREAM_URL }),
      });
    for (let attempt = 0; attempt < 4; attempt++) assert.equal((await create(`guess-${attempt}`)).status, 401);
    const limited = await create(ADMIN);
    assert.equal(limited.status, 429, 'a correct guess after the limit learns nothing');
    const retryAfter = Number(limited.headers.get('retry-after'));
    assert.ok(retryAfter >= 1 && retryAfter <= 3600, `Retry-After ${retryAfter}`);
    const body = (await limited.json()) as { error: string; message: string };
    assert.equal(body.error, 'rate_limited');
    assert.match(body.message, /try again in \d+ seconds/);

    const form = await postForm(k, { upstream_url: UPSTREAM_URL, admin_token: ADMIN }, SAME_ORIGIN, address);
    assert.equal(form.status, 429);
    assert.match(form.headers.get('retry-after') ?? '', /^\d+$/);
    assert.match(await form.text(), /Too many endpoints created from your network/);

    const elsewhere = await k.createEndpoint({ upstream_url: UPSTREAM_URL }, { authorization: `Bearer ${ADMIN}` });
    assert.equal(elsewhere.status, 201);
  });
});
