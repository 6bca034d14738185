import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { haveChromium, launchChromium } from '../support/chromium.ts';
import { consentPageUrl } from '../support/oauth-client.ts';
import { authorize, mcpPost } from '../support/security.ts';
import { nodeTarget, type Running } from '../support/targets.ts';
import { startUpstream, type Upstream } from '../support/upstream.ts';

/**
 * Pages a person trusts at a glance and that forgive mistakes (issue 22), in real Chromium, with
 * JavaScript and without: the consent page read top-down, every destructive button confirmed with
 * what it takes away, notices that do not come back on reload, the created page on a phone.
 */

const KEY = 'sk-browser-trust-4242';
const CALLBACK = 'https://claude.ai/api/mcp/auth_callback';
const PHONE = { width: 360, height: 740 };
const INITIALIZE = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'trust', version: '1' } },
});

describe('pages a person trusts, in real Chromium', { skip: !haveChromium && 'Chromium not installed (apt-get install chromium)' }, () => {
  let upstream: Upstream;
  let server: Running;
  let browser: Browser;
  let withJs: BrowserContext;
  let withoutJs: BrowserContext;

  before(async () => {
    upstream = await startUpstream({ key: KEY });
    server = await nodeTarget.start();
    browser = await launchChromium();
    withJs = await browser.newContext({ colorScheme: 'light' });
    await withJs.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url });
    withoutJs = await browser.newContext({ colorScheme: 'light', javaScriptEnabled: false });
    for (const context of [withJs, withoutJs]) {
      context.setDefaultTimeout(8000);
      await context.route('https://claude.ai/**', (route) => route.fulfill({ status: 200, contentType: 'text/plain', body: 'back' }));
    }
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
    await upstream?.close();
  });

  /** An endpoint made through the start page; its endpoint URL, slug and manage link. */
  async function create(page: Page, name: string) {
    await page.goto(server.url);
    await page.fill('input[name=upstream_url]', upstream.url);
    await page.fill('input[name=display_name]', name);
    await page.click('form[action="/"] button[type=submit]');
    await page.waitForURL(/\/created\//);
    const endpoint = await page.inputValue('#endpoint');
    return { endpoint, slug: new URL(endpoint).pathname.split('/')[1]!, manageLink: await page.inputValue('#manage-link') };
  }

  function consentUrl(endpoint: string, clientName: string): Promise<string> {
    return consentPageUrl(server.url, { clientName, redirectUri: CALLBACK, state: 'trust', resource: endpoint });
  }

  /** How many of these apps' tokens the endpoint still accepts. */
  async function working(endpoint: string, apps: { accessToken: string }[]): Promise<number> {
    let count = 0;
    for (const app of apps) {
      const response = await mcpPost(endpoint, app.accessToken, INITIALIZE);
      await response.body?.cancel();
      if (response.status === 200) count++;
    }
    return count;
  }

  /** Opens the manage page through the one-time link in the context's browser (no JS: by pasting the token). */
  async function openManage(page: Page, manageLink: string) {
    const url = new URL(manageLink);
    await page.goto(`${url.origin}${url.pathname}`);
    if (await page.locator('h1:has-text("Manage endpoint")').count()) {
      await page.fill('input[name=token]', url.hash.replace('#token=', ''));
      await page.click('button:has-text("Open")');
    }
    await page.waitForSelector('h1:has-text("Manage ")');
  }

  test('the consent page reads top-down: the app once, the service, what it may do, where the key goes, then Approve or Deny; details folded', async () => {
    const page = await withJs.newPage();
    const { endpoint } = await create(page, 'Echo notes');
    await page.goto(await consentUrl(endpoint, 'Claude'));
    const main = page.locator('main');
    assert.equal(await page.locator('h1').innerText(), 'Claude wants to use your key');
    const text = (await main.innerText()).replace(/\s+/g, ' ');
    assert.equal(text.match(/Claude/g)?.length, 1, `the app is named once: ${text}`);
    assert.doesNotMatch(text, /access goes to/i);
    assert.match(text, /nobody has checked it/, 'a self-given name says so');
    assert.match(text, /After you approve, you go back to claude\.ai/);
    // The order a person reads in.
    const order = await page.evaluate(() =>
      [...document.querySelectorAll('main h1, main h2, main button[value], main summary')].map((node) => (node.textContent ?? '').trim()),
    );
    assert.deepEqual(order.slice(0, 6), [
      'Claude wants to use your key',
      'Which service',
      'What it may do',
      'Where your key goes',
      'Approve',
      'Deny',
    ]);
    assert.match(order[6] ?? '', /^Details/);
    assert.equal(await page.locator('details pre.request-preview').count(), 1, 'the exact request is folded');
    assert.equal(await page.locator('details[open]').count(), 0);
    assert.equal(await page.locator('details .notice').count(), 0, 'the trust notice is never folded');
    assert.match(await page.locator('.notice').innerText(), /could recover it while it is in use/);
    assert.ok((await page.locator('.notice').innerText()).split(/\s+/).length < 50, 'and short');
    // The form's fields are the ones clients and scripts post.
    assert.equal(await page.locator('input[name=tools]').count(), 3);
    assert.equal(await page.locator('input[name=api_key]').count(), 1);

    // The key field has a Show button.
    await page.fill('input[name=api_key]', KEY);
    assert.equal(await page.getAttribute('input[name=api_key]', 'type'), 'password');
    await page.click('button:has-text("Show")');
    assert.equal(await page.getAttribute('input[name=api_key]', 'type'), 'text');
    await page.click('button:has-text("Hide")');
    assert.equal(await page.getAttribute('input[name=api_key]', 'type'), 'password');
    await page.click('button[value=approve]');
    await page.waitForURL((url) => url.hostname === 'claude.ai');
    await page.close();
  });

  test('without JavaScript the consent page hides the Show button it cannot work', async () => {
    const setup = await withJs.newPage();
    const { endpoint } = await create(setup, 'Echo plain');
    await setup.close();
    const page = await withoutJs.newPage();
    await page.goto(await consentUrl(endpoint, 'Claude'));
    assert.equal(await page.locator('button:has-text("Show")').isVisible(), false);
    await page.close();
  });

  for (const [name, context] of [
    ['with JavaScript', () => withJs],
    ['without JavaScript', () => withoutJs],
  ] as const)
    test(`manage, ${name}: Revoke, Revoke all, a Save that revokes and Delete each say what is lost first`, async () => {
      const setup = await withJs.newPage();
      const { endpoint, slug, manageLink } = await create(setup, `Echo ${name}`);
      await setup.close();
      const apps = [];
      for (let n = 0; n < 3; n++) apps.push(await authorize(server, endpoint, KEY));
      const page = await context().newPage();
      await openManage(page, manageLink);
      assert.equal(await page.locator('table.grants tbody tr').count(), 3);

      // Revoke one: the question names the app; Cancel loses nothing.
      await page.locator('table.grants tbody tr').first().locator('button:has-text("Revoke")').click();
      await page.waitForSelector('h1:has-text("Revoke")');
      assert.match(await page.locator('h1').innerText(), /^Revoke .+’s access\?$/);
      await page.click('a:has-text("Cancel")');
      await page.waitForSelector('h1:has-text("Manage ")');
      assert.equal(await page.locator('table.grants tbody tr').count(), 3, 'Cancel revoked nothing');
      await page.locator('table.grants tbody tr').first().locator('button:has-text("Revoke")').click();
      await page.click('button.danger:has-text("Revoke")');
      await page.waitForSelector('.ok:has-text("Access revoked")');
      assert.equal(await page.locator('table.grants tbody tr').count(), 2);
      // The notice is said once: a reload does not bring it back.
      await page.reload();
      assert.equal(await page.locator('.ok').count(), 0, 'no stale notice after a reload');

      // A Save that moves the key revokes every access: it says how many first.
      await page.locator('summary:has-text("Advanced")').click();
      await page.fill('input[name=credential_name_0]', 'X-Api-Key');
      await page.fill('input[name=credential_prefix_0]', '');
      await page.click('button:has-text("Save")');
      await page.waitForSelector('h1:has-text("Save and revoke")');
      assert.equal(await page.locator('h1').innerText(), 'Save and revoke 2 accesses?');
      assert.equal(await page.locator('ul.lost li').count(), 2);
      await page.click('a:has-text("Cancel")');
      await page.waitForSelector('h1:has-text("Manage ")');
      assert.equal(await page.locator('table.grants tbody tr').count(), 2, 'Cancel saved nothing');
      assert.equal(await working(endpoint, apps), 2, 'the two accesses left still work');

      // Revoke all: the count, then a page that says they were revoked (not that nobody ever authorized).
      await page.click('button:has-text("Revoke all")');
      await page.waitForSelector('h1:has-text("Revoke all")');
      assert.equal(await page.locator('h1').innerText(), 'Revoke all 2 accesses?');
      await page.click('button.danger');
      await page.waitForSelector('.ok');
      assert.match(await page.locator('.ok').innerText(), /All 2 accesses were revoked/);
      assert.doesNotMatch(await page.locator('main').innerText(), /Nobody has authorized/);
      assert.equal(await working(endpoint, apps), 0);

      // Delete: the endpoint's ID typed, as GitHub asks for a repository's name.
      const del = page.locator('button:has-text("Delete endpoint")');
      if (name === 'with JavaScript') {
        assert.equal(await del.isDisabled(), true, 'the button waits for the ID');
        await page.fill('input[name=confirm]', 'wrong');
        assert.equal(await del.isDisabled(), true);
      } else {
        await page.fill('input[name=confirm]', 'wrong');
        await del.click();
        await page.waitForSelector('.error:has-text("Nothing was deleted")');
      }
      await page.fill('input[name=confirm]', slug);
      await page.locator('button:has-text("Delete endpoint")').click();
      await page.waitForSelector('h1:has-text("Endpoint deleted")');
      await page.close();
    });

  test('the key holder’s page asks before revoking, naming the apps', async () => {
    const setup = await withJs.newPage();
    const { endpoint } = await create(setup, 'Echo mine');
    await setup.close();
    const granted = await authorize(server, endpoint, KEY);
    const page = await withoutJs.newPage();
    await page.goto(`${server.url}/access?endpoint=${encodeURIComponent(endpoint)}`);
    await page.fill('input[name=credential_0]', KEY);
    await page.click('button:has-text("Show my accesses")');
    await page.click('button:has-text("Revoke all")');
    await page.waitForSelector('h1:has-text("Revoke all")');
    assert.equal((await mcpPost(endpoint, granted.accessToken, INITIALIZE)).status, 200, 'nothing revoked yet');
    await page.click('button.danger');
    await page.waitForSelector('.ok');
    assert.equal((await mcpPost(endpoint, granted.accessToken, INITIALIZE)).status, 401);
    await page.close();
  });

  test('the created page on a phone: snippets keep their lines whole and copy; the manage link stands out; the footer links the self-host page', async () => {
    const page = await withJs.newPage();
    await page.setViewportSize(PHONE);
    await create(page, 'Echo phone');
    const snippets = page.locator('pre.snippet');
    assert.ok((await snippets.count()) >= 3, 'the JSON and the command are snippets');
    for (const snippet of await snippets.all()) {
      assert.equal(await snippet.evaluate((node) => getComputedStyle(node).whiteSpace), 'pre', 'never wrapped mid-word');
      const id = await snippet.getAttribute('id');
      assert.equal(await page.locator(`button[data-copy="${id}"]`).count(), 1, `a copy button for ${id}`);
    }
    const first = snippets.first();
    await page.click(`button[data-copy="${await first.getAttribute('id')}"]`);
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), await first.innerText());
    // The one-time link is the thing to save: in its own marked box, with a heading that says so.
    const box = page.locator('.save-this');
    assert.equal(await box.locator('#manage-link').count(), 1);
    assert.match(await box.locator('h2').innerText(), /Save your manage link/);
    assert.equal(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), true);
    assert.equal(await page.locator('footer a:has-text("here is how")').getAttribute('href'), '/self-host');
    await page.close();
  });
});
