import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { haveChromium, launchChromium } from '../support/chromium.ts';
import { authorize, mcpPost } from '../support/security.ts';
import { type ServerProcess, startServer } from '../support/server-process.ts';
import { startUpstream, type Upstream } from '../support/upstream.ts';

/**
 * Every page as a person uses it, in real Chromium, with its mistakes: reloading after creating,
 * a wrong key and Back, managing the endpoint (edit, revoke one app, delete), taking your own
 * access back. Each page is photographed at desktop and phone widths into docs/screenshots/,
 * which the README shows.
 */

const KEY = 'sk-browser-pages-4242';
const havePngquant = spawnSync('pngquant', ['--version']).status === 0;
const CALLBACK = 'https://claude.ai/api/mcp/auth_callback';
const SHOTS = join(import.meta.dirname, '..', '..', 'docs', 'screenshots');
const DESKTOP = { width: 1100, height: 760 };
const PHONE = { width: 390, height: 760 };
const INITIALIZE = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'pages', version: '1' } },
});

describe('every page in real Chromium', { skip: !haveChromium && 'Chromium not installed (apt-get install chromium)' }, () => {
  let upstream: Upstream;
  let server: ServerProcess;
  let browser: Browser;
  let page: Page;
  let endpoint = '';
  let manageLink = '';
  let claudeToken = '';

  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    upstream = await startUpstream({ key: KEY });
    server = await startServer({ LOG_LEVEL: 'info' });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: DESKTOP, colorScheme: 'light' });
    await page.route('https://claude.ai/**', (route) =>
      route.fulfill({ status: 200, contentType: 'text/plain', body: 'back at the client' }),
    );
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
    await upstream?.close();
  });

  /** The page at both widths, whole, as docs/screenshots/{name}-{desktop,phone}.png. */
  async function shoot(name: string) {
    for (const [size, viewport] of [
      ['desktop', DESKTOP],
      ['phone', PHONE],
    ] as const) {
      await page.setViewportSize(viewport);
      const file = join(SHOTS, `${name}-${size}.png`);
      await page.screenshot({ path: file, fullPage: true });
      // The README carries these: 64 colours keep them a quarter of the size and look the same.
      if (havePngquant) execFileSync('pngquant', ['--force', '--skip-if-larger', '--strip', '--output', file, '64', file]);
    }
    await page.setViewportSize(DESKTOP);
  }

  function endpointCount(): number {
    const db = new DatabaseSync(join(server.dataDir, 'key2oauth.db'), { readOnly: true });
    try {
      return (db.prepare("SELECT count(*) AS n FROM kv WHERE key LIKE 'k2o:endpoint:%'").get() as { n: number }).n;
    } finally {
      db.close();
    }
  }

  async function authorizationUrl(clientName: string): Promise<string> {
    const registration = (await (
      await fetch(`${server.url}/oauth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ client_name: clientName, redirect_uris: [CALLBACK], token_endpoint_auth_method: 'none' }),
      })
    ).json()) as { client_id: string };
    const url = new URL('/authorize', server.url);
    url.search = new URLSearchParams({
      response_type: 'code',
      client_id: registration.client_id,
      redirect_uri: CALLBACK,
      state: 'pages',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
      scope: 'mcp offline_access',
      resource: endpoint,
    }).toString();
    return url.href;
  }

  test('create: the form lands on a page shown by GET; reloading it creates no second endpoint and hides the manage link', async () => {
    await page.goto(server.url);
    await shoot('home');
    await page.fill('input[name=upstream_url]', upstream.url);
    await page.fill('input[name=display_name]', 'Echo demo');
    await page.click('button[type=submit]');
    await page.waitForURL(/\/created\//);
    endpoint = await page.inputValue('#endpoint');
    manageLink = await page.inputValue('#manage-link');
    assert.match(manageLink, /\/manage\/[A-Za-z0-9]{12}#token=/);
    await shoot('created');
    assert.equal(endpointCount(), 1);

    const reloaded = await page.reload();
    assert.equal(reloaded?.status(), 200);
    assert.equal(reloaded?.request().method(), 'GET', 'a reload is a GET, never the form again');
    assert.equal(await page.inputValue('#endpoint'), endpoint);
    assert.equal(await page.locator('#manage-link').count(), 0, 'the manage link was shown once');
    assert.equal(endpointCount(), 1, 'no second endpoint');
  });

  test('authorize: a wrong key twice, Back, then the right key; Back never asks to resubmit the form', async () => {
    const url = await authorizationUrl('Claude');
    await page.goto(url);
    assert.match(await page.locator('code.header-line').first().innerText(), /^Authorization: Bearer <your API key>$/);
    await shoot('authorize');

    for (const attempt of ['not-the-key', 'still-not-it']) {
      await page.fill('input[name=api_key]', attempt);
      await page.click('button[value=approve]');
      await page.waitForSelector('.error');
    }
    assert.match(await page.locator('.error').innerText(), /rejected this key \(HTTP 401\)/);
    await shoot('authorize-wrong-key');

    const back = await page.goBack();
    assert.ok(back, 'Back loads a page');
    assert.equal(back.request().method(), 'GET', 'the entry Back lands on was reached by GET, not by the form’s POST');
    assert.ok(back.ok() || back.status() === 200, `Back shows a page (${back.status()})`);
    assert.equal(await page.locator('input[name=api_key]').count(), 1, 'the form is there to try again');

    await page.fill('input[name=api_key]', KEY);
    await page.click('button[value=approve]');
    await page.waitForURL((u) => u.hostname === 'claude.ai');
    const code = new URL(page.url()).searchParams.get('code');
    assert.ok(code);
    const token = await fetch(`${server.url}/oauth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        code_verifier: 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk',
        client_id: new URL(url).searchParams.get('client_id')!,
        redirect_uri: CALLBACK,
        resource: endpoint,
      }),
    });
    assert.equal(token.status, 200);
    claudeToken = ((await token.json()) as { access_token: string }).access_token;
  });

  test('manage: the link opens the page; edit the name, revoke one app (it is refused, the other is not), delete', async () => {
    const other = await authorize(server, endpoint, KEY);
    await page.goto(manageLink);
    await page.waitForSelector('h1:has-text("Manage Echo demo")');
    assert.doesNotMatch(page.url(), /token=/, 'the token left the address bar');
    assert.equal(await page.locator('table.grants tbody tr').count(), 2);
    await shoot('manage');

    await page.fill('input[name=display_name]', 'Echo renamed');
    await page.click('button:has-text("Save")');
    await page.waitForSelector('.ok');
    assert.equal(await page.locator('h1').innerText(), 'Manage Echo renamed');

    await page.locator('table.grants tbody tr', { hasText: 'Claude' }).locator('button:has-text("Revoke")').click();
    await page.waitForSelector('.ok:has-text("Access revoked")');
    assert.equal(await page.locator('table.grants tbody tr').count(), 1);
    assert.equal((await mcpPost(endpoint, claudeToken, INITIALIZE)).status, 401, 'the revoked app is refused');
    const still = await mcpPost(endpoint, other.accessToken, INITIALIZE);
    assert.equal(still.status, 200, 'the other app goes on');
    await still.body?.cancel();

    await page.click('button:has-text("Delete endpoint")');
    await page.waitForSelector('h1:has-text("Endpoint deleted")');
    await shoot('manage-deleted');
    assert.equal((await mcpPost(endpoint, other.accessToken, INITIALIZE)).status, 401);
    assert.equal(endpointCount(), 0);
  });

  test('revoke your own access: from the consent page, with the key you pasted', async () => {
    const created = (await (
      await fetch(`${server.url}/api/slugs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ upstream_url: upstream.url, display_name: 'Echo demo' }),
      })
    ).json()) as { mcp_endpoint: string };
    endpoint = created.mcp_endpoint;
    const granted = await authorize(server, endpoint, KEY);

    await page.goto(await authorizationUrl('Claude'));
    await page.click('a:has-text("Revoke this access or replace its key")');
    await page.waitForURL(/\/access\?/);
    assert.equal(await page.inputValue('input[name=endpoint]'), endpoint);
    await shoot('revoke');
    await page.fill('input[name=credential_0]', KEY);
    await page.click('button:has-text("Show my accesses")');
    await page.waitForSelector('table.grants');
    assert.ok(!page.url().includes(KEY), 'no key in the URL');
    await page.click('button:has-text("Revoke all")');
    await page.waitForSelector('.ok');
    assert.match(await page.locator('.ok').innerText(), /Done: revoked Test MCP Client\. It can no longer use this endpoint/);
    assert.equal((await mcpPost(endpoint, granted.accessToken, INITIALIZE)).status, 401);
  });

  test('an endpoint URL opened in a browser, and an error page, say what to do next', async () => {
    await page.goto(endpoint);
    assert.match(await page.locator('h1').innerText(), /This is an MCP endpoint for Echo demo/);
    await shoot('endpoint-in-browser');
    const expired = await page.goto(`${server.url}/created/${'x'.repeat(43)}`);
    assert.equal(expired?.status(), 404);
    assert.equal(await page.locator('main a[href="/"]').count(), 1, 'the way back');
    await shoot('error');
    const icon = await page.request.get(`${server.url}/favicon.ico`);
    assert.equal(icon.status(), 200);
    assert.equal(icon.headers()['content-type'], 'image/svg+xml');
  });
});
