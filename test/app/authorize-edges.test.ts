import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parse } from 'node-html-parser';
import { type InProcess, KEY, startApp } from '../support/in-process.ts';
import { serveMcp } from '../support/in-process-upstream.ts';

/**
 * The authorization page's edges: what it does before the user acted (errors stay on our page,
 * RFC 9700 §4.11.1), `resource` values naming nothing of ours (RFC 8707 `invalid_target`), the CSP
 * built from a client-chosen redirect URI, and key-check errors that must not reveal whether a
 * host:port is reachable.
 */

describe('the authorization page before the user acted, in-process', () => {
  let k: InProcess;
  let endpoint: string;
  before(async () => {
    k = await startApp();
    endpoint = (await k.mustCreateEndpoint()).mcp_endpoint!;
  });
  after(() => k.close());

  test('an error in a self-registered client’s request is shown on our page, never redirected to its URI (no open redirect)', async () => {
    const client = await k.register({ redirect_uris: ['https://evil.example/landing'] });
    const requests: Record<string, string>[] = [
      { response_type: 'token' },
      { response_type: 'code id_token' },
      { scope: 'mcp', code_challenge_method: 'plain' },
    ];
    for (const params of requests) {
      const page = await k.openConsent(endpoint, client, { params });
      assert.equal(page.status, 400, JSON.stringify(params));
      assert.equal(page.response.headers.get('location'), null, `${JSON.stringify(params)}: no redirect to the client`);
      assert.match(page.text, /Start again from your app/);
    }
  });

  test('a resource that names no endpoint of ours is refused with invalid_target, not a 200 page', async () => {
    const client = await k.register();
    for (const resource of ['https://elsewhere.example/mcp', 'urn:example:thing', `${k.url}/zzzzzzzzzzzz/mcp`]) {
      const page = await k.openConsent(endpoint, client, { params: { resource } });
      assert.ok(page.status === 400 || page.status === 404, `${resource}: ${page.status}`);
      assert.match(page.text, /invalid_target/, resource);
      assert.equal(page.response.headers.get('location'), null);
    }
    // No resource at all, or the bare origin, still lets the user name the endpoint.
    const bare = await k.openConsent(endpoint, client, { params: { resource: k.url } });
    assert.equal(bare.status, 200);
    assert.match(bare.text, /Which endpoint/);
  });

  test('the CSP names a redirect host only when it is made of letters, digits, hyphens and dots (or an IP literal)', async () => {
    for (const [redirect, expected] of [
      ['https://a;script-src.example/cb', null],
      ['https://x.example,evil/cb', null],
      ['https://client-1.example.net/cb', 'https://client-1.example.net'],
      ['http://127.0.0.1:4711/cb', 'http://127.0.0.1:4711'],
      ['http://[::1]:4711/cb', 'http://[::1]:4711'],
      ['cursor://anysphere.cursor-mcp/oauth/callback', 'cursor:'],
    ] as const) {
      const client = await k.register({ redirect_uris: [redirect] }).catch(() => undefined);
      if (!client) continue; // the engine refused the URI itself: nothing reaches the CSP
      const page = await k.openConsent(endpoint, client);
      const csp = page.response.headers.get('content-security-policy') ?? '';
      const formAction = /form-action ([^;]*)/.exec(csp)?.[1] ?? '';
      assert.doesNotMatch(csp, /[;,]\s*script-src\.example|,evil/, redirect);
      if (expected) assert.equal(formAction, `'self' ${expected}`, redirect);
      else assert.equal(formAction, "'self'", redirect);
    }
  });
});

describe('the key check says what failed upstream, each case its own way, in-process', () => {
  let k: InProcess;
  before(async () => {
    k = await startApp();
  });
  after(() => k.close());

  // Creation refuses such upstreams (upstream/detect.ts) and so already tells whether a host:port
  // answers: the consent page hiding it would protect nothing, and would mislead the person.
  test('unreachable, an HTTP error and a non-MCP answer each say what happened and what to do', async () => {
    const texts = new Map<string, string>();
    for (const [url, handler] of [
      ['https://closed.example.com/mcp', undefined],
      ['https://web.example.com/mcp', () => new Response('not found', { status: 404 })],
      ['https://broken.example.com/mcp', () => new Response('oops', { status: 500 })],
    ] as const) {
      serveMcp(k.upstreams, { url, key: KEY });
      const endpoint = (await k.mustCreateEndpoint({ upstream_url: url, transport: 'streamable-http' })).mcp_endpoint!;
      if (handler) k.upstreams.serve(url, handler);
      else k.upstreams.stop(url);
      const page = await k.openConsent(endpoint, await k.register());
      const response = await k.submitConsent(page, { api_key: 'sk-whatever', action: 'approve' });
      const alert = (parse(await response.text()).querySelector('[role="alert"]')?.text ?? '').replace(/\s+/g, ' ');
      assert.equal(response.status, 502, url);
      assert.match(alert, /could not be checked.*Nothing was saved/, url);
      assert.doesNotMatch(alert, /ECONNREFUSED|sk-whatever/, url);
      texts.set(url, alert);
    }
    assert.match(texts.get('https://closed.example.com/mcp')!, /not reachable \(the connection was refused/);
    assert.match(texts.get('https://web.example.com/mcp')!, /answered HTTP 404/);
    assert.match(texts.get('https://broken.example.com/mcp')!, /answered HTTP 500/);
  });
});
