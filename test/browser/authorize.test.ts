import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { Browser } from 'playwright-core';
import { haveChromium, launchChromium } from '../support/chromium.ts';
import { nodeTarget, type Running } from '../support/targets.ts';
import { startUpstream, type Upstream } from '../support/upstream.ts';

const KEY = 'sk-browser-test-42';
const CALLBACK = 'https://claude.ai/api/mcp/auth_callback';
const shots = join(tmpdir(), 'key2oauth-screenshots');

/**
 * The pages as a person uses them, in real headless Chromium: its CSP, cookie and Origin rules
 * are the ones that matter for the consent form, and no hand-made HTTP client reproduces them all.
 */
describe('the pages in real Chromium', { skip: !haveChromium && 'Chromium not installed (apt-get install chromium)' }, () => {
  let upstream: Upstream;
  let server: Running;
  let browser: Browser;

  before(async () => {
    mkdirSync(shots, { recursive: true });
    upstream = await startUpstream({ key: KEY });
    server = await nodeTarget.start();
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
    await upstream?.close();
  });

  test('create an endpoint on the home page, authorize a client with the key, call a tool with the token', async () => {
    const page = await browser.newPage();
    await page.goto(server.url);
    await page.fill('input[name=upstream_url]', upstream.url);
    await page.fill('input[name=display_name]', 'Echo <b>demo</b>');
    await page.click('button[type=submit]');
    const endpoint = await page.inputValue('#endpoint');
    assert.match(endpoint, new RegExp(`^${server.url}/[A-Za-z0-9]{12}/mcp$`));
    assert.equal(await page.locator('h1').innerText(), 'Your endpoint for Echo <b>demo</b>', 'names are shown as text, not markup');
    await page.screenshot({ path: join(shots, 'created.png'), fullPage: true });

    // A client registers and sends the user to /authorize, as Claude would.
    const registration = (await (
      await fetch(`${server.url}/oauth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          client_name: 'Claude <script>window.pwned=1</script>',
          redirect_uris: [CALLBACK],
          token_endpoint_auth_method: 'none',
        }),
      })
    ).json()) as { client_id: string };
    const verifier = 'a'.repeat(43) + 'B'.repeat(20);
    const challenge = Buffer.from(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))).toString('base64url');
    const authorize = new URL('/authorize', server.url);
    const state = 'état-✓-ステート';
    for (const [name, value] of Object.entries({
      response_type: 'code',
      client_id: registration.client_id,
      redirect_uri: CALLBACK,
      state,
      code_challenge: challenge,
      code_challenge_method: 'S256',
      scope: 'mcp offline_access',
      resource: `${endpoint}/`,
    }))
      authorize.searchParams.set(name, value);

    let callback: URL | undefined;
    await page.route('https://claude.ai/**', async (route) => {
      callback = new URL(route.request().url());
      await route.fulfill({ status: 200, contentType: 'text/plain', body: 'back at the client' });
    });
    await page.goto(authorize.href);
    assert.equal(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned), undefined, 'client names cannot run script');
    assert.match(await page.locator('.destination').innerText(), /127\.0\.0\.1:\d+/, 'the upstream host is shown');

    await page.fill('input[name=api_key]', 'not-the-key');
    await page.click('button[value=approve]');
    await page.waitForSelector('.error');
    assert.match(await page.locator('.error').innerText(), /rejected this key/);
    await page.screenshot({ path: join(shots, 'authorize-wrong-key.png'), fullPage: true });

    await page.fill('input[name=api_key]', KEY);
    await page.click('button[value=approve]');
    await page.waitForURL((url) => url.hostname === 'claude.ai');
    assert.ok(callback, 'the browser was sent back to the client');
    assert.equal(callback.searchParams.get('state'), state, 'a non-Latin-1 state round-trips');
    assert.equal(callback.searchParams.get('iss'), server.url);
    const code = callback.searchParams.get('code')!;

    const tokens = (await (
      await fetch(`${server.url}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code,
          code_verifier: verifier,
          client_id: registration.client_id,
          redirect_uri: CALLBACK,
          resource: endpoint,
        }),
      })
    ).json()) as { access_token: string };
    const client = new Client({ name: 'browser-test', version: '1' });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(endpoint), {
        requestInit: { headers: { authorization: `Bearer ${tokens.access_token}` } },
      }),
    );
    const result = (await client.callTool({ name: 'echo', arguments: { text: 'from the browser flow' } })) as {
      content: { text: string }[];
    };
    assert.equal(result.content[0]!.text, 'echo: from the browser flow');
    await client.close();
  });
});
