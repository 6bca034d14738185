import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { APP_JS, STYLE_CSS } from '../../src/pages/assets.ts';
import { haveChromium, launchChromium } from '../support/chromium.ts';
import { consentPageUrl } from '../support/oauth-client.ts';
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
/** Which page each picture shows, by the hash `shoot` computes. */
const HASHES = join(SHOTS, 'pages.json');
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

  /**
   * The page at both widths, whole, as docs/screenshots/{name}-{desktop,phone}.png, rewritten only
   * when the page changed, so a test run leaves the tree clean. What changes from run to run (ports,
   * the slug, tokens, times, hidden form values) is first replaced in the page itself by fixed
   * stand-ins, so the picture is the same for the same page; then the page's HTML, the stylesheet,
   * the script and the width are hashed, and the picture is taken only when that hash is not the
   * one docs/screenshots/pages.json holds for it.
   */
  async function shoot(name: string) {
    const replacements: [string, string][] = [
      [server.url, 'https://key2oauth.example'],
      [new URL(server.url).host, 'key2oauth.example'],
      [new URL(upstream.url).origin, 'https://mcp.example.com'],
      [new URL(upstream.url).host, 'mcp.example.com'],
    ];
    // As they appear inside URLs (the key holder's link carries the endpoint URL).
    for (const [from, to] of [...replacements]) replacements.push([encodeURIComponent(from), encodeURIComponent(to)]);
    if (endpoint) replacements.push([slugOf(endpoint), 'Xq7pL2mN9vR4']);
    const html = await page.evaluate(normalizedPage, replacements);
    if (process.env.SCREENSHOT_HTML_DIR) writeFileSync(join(process.env.SCREENSHOT_HTML_DIR, `${name}.html`), html);
    const hashes = readHashes();
    for (const [size, viewport] of [
      ['desktop', DESKTOP],
      ['phone', PHONE],
    ] as const) {
      const file = join(SHOTS, `${name}-${size}.png`);
      const hash = createHash('sha256')
        .update(JSON.stringify([viewport, STYLE_CSS, APP_JS, html]))
        .digest('hex');
      if (hashes[`${name}-${size}`] === hash && existsSync(file)) continue;
      // The stand-in page, served at our origin so its stylesheet and script load as the real one's do.
      const copy = await browser.newPage({ viewport, colorScheme: 'light' });
      await copy.route(`${server.url}/screenshot`, (route) => route.fulfill({ status: 200, contentType: 'text/html', body: html }));
      await copy.goto(`${server.url}/screenshot`);
      await copy.screenshot({ path: file, fullPage: true });
      await copy.close();
      // The README carries these: 64 colours keep them a quarter of the size and look the same.
      if (havePngquant) execFileSync('pngquant', ['--force', '--skip-if-larger', '--strip', '--output', file, '64', file]);
      hashes[`${name}-${size}`] = hash;
      writeHashes(hashes);
    }
  }

  function endpointCount(): number {
    const db = new DatabaseSync(join(server.dataDir, 'key2oauth.db'), { readOnly: true });
    try {
      return (db.prepare("SELECT count(*) AS n FROM kv WHERE key LIKE 'k2o:endpoint:%'").get() as { n: number }).n;
    } finally {
      db.close();
    }
  }

  function authorizationUrl(clientName: string): Promise<string> {
    return consentPageUrl(server.url, { clientName, redirectUri: CALLBACK, state: 'pages', resource: endpoint });
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
    await page.waitForSelector('h1:has-text("Revoke Claude’s access?")');
    await shoot('manage-confirm');
    await page.click('button.danger');
    await page.waitForSelector('.ok:has-text("Access revoked")');
    assert.equal(await page.locator('table.grants tbody tr').count(), 1);
    assert.equal((await mcpPost(endpoint, claudeToken, INITIALIZE)).status, 401, 'the revoked app is refused');
    const still = await mcpPost(endpoint, other.accessToken, INITIALIZE);
    assert.equal(still.status, 200, 'the other app goes on');
    await still.body?.cancel();

    await page.fill('input[name=confirm]', slugOf(endpoint));
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
    await page.click('summary:has-text("Details")');
    await page.click('a:has-text("Revoke this access or replace its key")');
    await page.waitForURL(/\/access\?/);
    assert.equal(await page.inputValue('input[name=endpoint]'), endpoint);
    await shoot('revoke');
    await page.fill('input[name=credential_0]', KEY);
    await page.click('button:has-text("Show my accesses")');
    await page.waitForSelector('table.grants');
    assert.ok(!page.url().includes(KEY), 'no key in the URL');
    await page.click('button:has-text("Revoke all")');
    await page.click('button.danger:has-text("Revoke all")');
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

function slugOf(endpoint: string): string {
  return new URL(endpoint).pathname.split('/')[1]!;
}

function readHashes(): Record<string, string> {
  return existsSync(HASHES) ? (JSON.parse(readFileSync(HASHES, 'utf8')) as Record<string, string>) : {};
}

function writeHashes(hashes: Record<string, string>): void {
  const sorted = Object.fromEntries(Object.entries(hashes).sort(([a], [b]) => a.localeCompare(b)));
  writeFileSync(HASHES, `${JSON.stringify(sorted, null, 2)}\n`);
}

/**
 * Runs in the page: a copy of it, with the run's own origins and slug replaced by fixed ones in every
 * text, attribute and input value, times and durations by fixed ones, tokens and hidden form values
 * emptied. The page itself is left as it is.
 */
function normalizedPage(replacements: [string, string][]): string {
  const fixed = (text: string) => {
    let out = text;
    for (const [from, to] of replacements) out = out.split(from).join(to);
    // Besides times, the day a grant was authorized (the revoke confirmation names it): without it
    // the page changed every day. Not every bare date: "Legacy HTTP+SSE (2024-11-05)" is a spec's.
    return out
      .replace(/token=[A-Za-z0-9_-]+/g, 'token=•••')
      .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?Z?/g, '2026-01-01T12:00:00Z')
      .replace(/\d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)?/g, '2026-01-01 12:00')
      .replace(/authorized \d{4}-\d\d-\d\d\b/g, 'authorized 2026-01-01')
      .replace(/\b\d+ ms\b/g, '12 ms');
  };
  const root = document.documentElement.cloneNode(true) as HTMLElement;
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) node.nodeValue = fixed(node.nodeValue ?? '');
  for (const element of root.querySelectorAll('*'))
    for (const attribute of [...element.attributes]) element.setAttribute(attribute.name, fixed(attribute.value));
  // Values a person does not see: hidden fields (handles, grant ids) and the ids behind a select's options.
  for (const input of root.querySelectorAll('input')) if (input.type === 'hidden') input.setAttribute('value', '');
  for (const option of root.querySelectorAll('option')) option.setAttribute('value', '');
  return `<!doctype html>\n${root.outerHTML}`;
}
