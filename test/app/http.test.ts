import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { KVStore } from '../../src/storage/contract.ts';
import { createMemoryStorage } from '../../src/storage/memory.ts';
import { INITIALIZE, type InProcess, PUBLIC_URL, startApp, UPSTREAM_URL } from '../support/in-process.ts';
import { LEAK_PATTERNS } from '../support/security.ts';

/** What every route shares: health and assets, security headers, error bodies, body limits. */

function assertPageHeaders(response: Response, where: string) {
  const csp = response.headers.get('content-security-policy') ?? '';
  assert.match(response.headers.get('content-type') ?? '', /^text\/html/, where);
  assert.match(csp, /default-src 'none'/, `${where}: CSP defaults to nothing`);
  assert.match(csp, /script-src 'self'/, `${where}: scripts only from us`);
  assert.match(csp, /frame-ancestors 'none'/, `${where}: no framing`);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, `${where}: no inline script`);
  assert.equal(response.headers.get('x-frame-options'), 'DENY', `${where}: X-Frame-Options`);
  assert.equal(response.headers.get('referrer-policy'), 'no-referrer', `${where}: Referrer-Policy`);
  assert.equal(response.headers.get('x-content-type-options'), 'nosniff', `${where}: nosniff`);
}

function assertApiHeaders(response: Response, where: string) {
  assert.equal(response.headers.get('content-security-policy'), "default-src 'none'; frame-ancestors 'none'", where);
  assert.equal(response.headers.get('x-frame-options'), 'DENY', where);
  assert.equal(response.headers.get('x-content-type-options'), 'nosniff', where);
  assert.equal(response.headers.get('referrer-policy'), 'no-referrer', where);
}

/** An initialize request of about `size` bytes. */
const padded = (size: number) => ({ ...INITIALIZE, params: { ...INITIALIZE.params, _meta: { pad: 'x'.repeat(size) } } });
const form = (fields: Record<string, string>, headers: Record<string, string> = {}) => ({
  method: 'POST',
  body: new URLSearchParams(fields),
  headers: { 'sec-fetch-site': 'same-origin', ...headers },
});
const json = (body: unknown, headers: Record<string, string> = {}) => ({
  method: 'POST',
  body: JSON.stringify(body),
  headers: { 'content-type': 'application/json', ...headers },
});

describe('shared HTTP behaviour, in-process', () => {
  let k: InProcess;
  let slug: string;
  let endpoint: string;
  before(async () => {
    k = await startApp({ env: { MAX_BODY_BYTES: '1024', MAX_MCP_BODY_BYTES: '2048' } });
    ({ slug, mcp_endpoint: endpoint } = (await k.mustCreateEndpoint()) as { slug: string; mcp_endpoint: string });
  });
  after(() => k.close());

  test('health and assets', async () => {
    const health = await k.fetch('/healthz');
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { ok: true });
    assert.ok(
      k.logs.some((line) => line.includes('"level":"debug"') && line.includes('"path":"/healthz"')),
      'health checks are logged at debug only',
    );
    assert.ok(!k.logs.some((line) => line.includes('"level":"info"') && line.includes('"path":"/healthz"')));

    for (const [path, type, marker] of [
      ['/assets/style.css', 'text/css', ':root'],
      ['/assets/app.js', 'text/javascript', 'data-copy'],
    ] as const) {
      const response = await k.fetch(path);
      assert.equal(response.status, 200, path);
      assert.match(response.headers.get('content-type') ?? '', new RegExp(`^${type}`), path);
      assert.equal(response.headers.get('cache-control'), 'public, max-age=3600', path);
      assert.equal(response.headers.get('x-content-type-options'), 'nosniff', path);
      assert.ok((await response.text()).includes(marker), path);
    }
  });

  test('every page, errors included, carries the page CSP, X-Frame-Options, Referrer-Policy and nosniff', async () => {
    const client = await k.register();
    const pages: [string, Promise<Response>][] = [
      ['home', k.fetch('/')],
      ['home form error', k.fetch('/', form({ upstream_url: 'https://localhost/mcp' }))],
      ['cross-site home post', k.fetch('/', form({ upstream_url: 'x' }, { 'sec-fetch-site': 'cross-site' }))],
      ['consent page', k.openConsent(endpoint, client).then((page) => page.response)],
      ['authorize: unknown endpoint', k.openConsent(`${PUBLIC_URL}/AAAAAAAAAAAA/mcp`, client).then((page) => page.response)],
      ['authorize: no client', k.fetch('/authorize?response_type=code')],
      ['authorize POST without handle', k.fetch('/authorize', form({ action: 'approve' }))],
    ];
    for (const [name, pending] of pages) {
      const response = await pending;
      assertPageHeaders(response, name);
      assert.ok(response.status < 500, `${name}: ${response.status}`);
    }
  });

  test('every other response carries the locked-down CSP; proxied ones are sandboxed; redirects keep X-Frame-Options', async () => {
    const others: [string, Promise<Response>][] = [
      ['healthz', k.fetch('/healthz')],
      ['404', k.fetch('/no/such/page')],
      ['AS metadata', k.fetch('/.well-known/oauth-authorization-server')],
      ['PR metadata', k.fetch(`/.well-known/oauth-protected-resource/${slug}/mcp`)],
      ['register error', k.fetch('/oauth/register', { method: 'POST', body: '{', headers: { 'content-type': 'application/json' } })],
      [
        'token error',
        k.fetch('/oauth/token', {
          method: 'POST',
          body: 'grant_type=nope',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        }),
      ],
      ['API error', k.fetch('/api/slugs', json({}))],
      ['manage 401', k.fetch(`/api/slugs/${slug}`)],
    ];
    for (const [name, pending] of others) assertApiHeaders(await pending, name);

    const challenge = await k.mcp(endpoint, undefined, INITIALIZE);
    assert.equal(
      challenge.headers.get('content-security-policy'),
      "default-src 'none'; frame-ancestors 'none'; sandbox",
      'MCP routes are sandboxed',
    );

    const page = await k.openConsent(endpoint, await k.register());
    const redirect = await k.submitConsent(page, { action: 'deny' });
    assert.equal(redirect.status, 302);
    assert.equal(redirect.headers.get('x-frame-options'), 'DENY');
    assert.equal(redirect.headers.get('cache-control'), 'no-store');
  });

  test('errors have a JSON body with error and message (JSON-RPC on MCP routes), and no internals', async () => {
    const cases: [string, Promise<Response>, number][] = [
      ['unknown path', k.fetch('/no/such/page'), 404],
      ['unknown slug', k.fetch('/AAAAAAAAAAAA/mcp', json({})), 404],
      ['API 415', k.fetch('/api/slugs', { method: 'POST', body: 'x' }), 415],
      ['API 400', k.fetch('/api/slugs', json({ upstream_url: 'ftp://x' })), 400],
      ['API bad JSON', k.fetch('/api/slugs', { method: 'POST', body: '{', headers: { 'content-type': 'application/json' } }), 400],
      ['manage 401', k.fetch(`/api/slugs/${slug}`), 401],
      ['MCP challenge', k.mcp(endpoint, undefined, INITIALIZE), 401],
      ['MCP bad token', k.mcp(endpoint, `${slug}:nope:nope`, INITIALIZE), 401],
      ['AS metadata POST', k.fetch('/.well-known/oauth-authorization-server', json({})), 404],
    ];
    for (const [name, pending, status] of cases) {
      const response = await pending;
      assert.equal(response.status, status, name);
      assert.match(response.headers.get('content-type') ?? '', /^application\/json/, name);
      const text = await response.text();
      const body = JSON.parse(text) as { error: unknown; message: unknown };
      assert.equal(typeof body.error, 'string', `${name}: ${text}`);
      assert.ok(typeof body.message === 'string' && body.message.length > 0, `${name}: ${text}`);
      for (const pattern of LEAK_PATTERNS) assert.doesNotMatch(text, pattern, name);
    }
    const oauth = (await (
      await k.fetch('/oauth/token', {
        method: 'POST',
        body: 'grant_type=nope',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      })
    ).json()) as Record<string, string>;
    assert.ok(oauth.error && oauth.error_description, 'the token endpoint speaks OAuth errors');
    const mcp = (await (await k.fetch(endpoint, { method: 'PUT' })).json()) as {
      jsonrpc: string;
      error: { code: number; message: string };
    };
    assert.equal(mcp.jsonrpc, '2.0');
    assert.equal(typeof mcp.error.code, 'number');
  });

  test('bodies over the limits are 413: JSON for the API, a page for forms, JSON-RPC for MCP whether declared or streamed', async () => {
    const api = await k.fetch('/api/slugs', json({ upstream_url: UPSTREAM_URL, display_name: 'x'.repeat(2000) }));
    assert.equal(api.status, 413);
    assert.deepEqual(await api.json(), {
      error: 'payload_too_large',
      error_description: 'The request body is larger than 1024 bytes',
      message: 'The request body is larger than 1024 bytes',
    });
    const page = await k.fetch('/', form({ upstream_url: UPSTREAM_URL, display_name: 'x'.repeat(2000) }, { accept: 'text/html' }));
    assert.equal(page.status, 413);
    assertPageHeaders(page, 'form 413');
    assert.match(await page.text(), /more than 1024 bytes/);
    assert.equal(
      (await k.fetch('/oauth/register', json({ redirect_uris: ['https://a.example.com/cb'], client_name: 'x'.repeat(2000) }))).status,
      413,
    );

    const grant = await k.authorize(endpoint);
    const roomy = await k.mcp(endpoint, grant.accessToken, padded(1500));
    assert.equal(roomy.status, 200, `MCP bodies have their own, larger limit: ${await roomy.clone().text()}`);
    await roomy.body?.cancel();

    const big = JSON.stringify(padded(5000));
    await k.settle();
    const before = k.upstreams.requests.length;
    const declared = await k.mcp(endpoint, grant.accessToken, big, { 'content-length': String(big.length) });
    assert.equal(declared.status, 413);
    assert.match(((await declared.json()) as { error: { message: string } }).error.message, /larger than 2048 bytes/);
    assert.equal(k.upstreams.requests.length, before, 'a declared oversize body is refused before the upstream is asked');

    const chunks = [big.slice(0, 1500), big.slice(1500)];
    const streamed = await k.fetch(endpoint, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${grant.accessToken}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: new ReadableStream({
        pull: (controller) => void (chunks.length ? controller.enqueue(new TextEncoder().encode(chunks.shift())) : controller.close()),
      }),
      duplex: 'half',
    } as RequestInit);
    assert.equal(streamed.status, 413);
    assert.match(((await streamed.json()) as { error: { message: string } }).error.message, /larger than 2048 bytes/);
    const cut = k.upstreams.requests.slice(before);
    assert.ok(
      cut.every((request) => request.status !== 200),
      'the upstream never accepted the cut-off body',
    );
  });
});

describe('failures inside the server, in-process', () => {
  test('a storage failure is 500 server_error with no details, and is logged', async () => {
    const healthy = createMemoryStorage().kv;
    const broken: KVStore = { ...healthy, get: async () => Promise.reject(new TypeError('disk on fire at /srv/data/key2oauth.db')) };
    const k = await startApp({ platform: { kv: broken } });
    try {
      const response = await k.fetch('/.well-known/oauth-protected-resource/AAAAAAAAAAAA/mcp');
      assert.equal(response.status, 500);
      assertApiHeaders(response, '500');
      const text = await response.text();
      assert.deepEqual(JSON.parse(text), {
        error: 'server_error',
        error_description: 'Something went wrong on our side',
        message: 'Something went wrong on our side',
      });
      assert.doesNotMatch(text, /disk on fire/);
      assert.ok(
        k.logs.some((line) => line.includes('"msg":"unhandled error"') && line.includes('disk on fire')),
        'the operator sees the cause',
      );
    } finally {
      await k.close();
    }
  });
});
