import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { authorizationUrl, pkce, register } from '../../src/cli/oauth-client.ts';
import { haveChromium, launchChromium } from '../support/chromium.ts';
import { type ListeningProvider, listenProvider } from '../support/oidc-provider.ts';
import { nodeTarget, type Running } from '../support/targets.ts';
import { startUpstream, type Upstream } from '../support/upstream.ts';

const KEY = 'sk-browser-teams-42';
const ADMIN_TOKEN = 'admin-token-browser-0123456789';

/**
 * Teams in real headless Chromium: the start page sends a person to the company's OpenID provider
 * (oidc-provider on loopback, its own login and consent screens), they come back signed in, create
 * an endpoint, find it under /endpoints and open its manage page without the manage link; a person
 * outside ALLOWED_EMAILS is told they are refused.
 */
describe('teams sign-in in real Chromium', { skip: !haveChromium && 'Chromium not installed (apt-get install chromium)' }, () => {
  let upstream: Upstream;
  let idp: ListeningProvider;
  let server: Running;
  let browser: Browser;

  before(async () => {
    upstream = await startUpstream({ key: KEY });
    idp = await listenProvider();
    server = await nodeTarget.start({ ...idp.env, ALLOWED_EMAILS: '*@corp.example', ADMIN_TOKEN, SIGN_IN_TO_AUTHORIZE: 'true' });
    idp.serve(server.url, {
      alice: { email: 'alice@corp.example', verified: true },
      bob: { email: 'bob@elsewhere.example', verified: true },
    });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
    await idp?.close();
    await upstream?.close();
  });

  /** The provider's development screens: a login form, then a consent button. */
  async function signInAtProvider(page: Page, login: string): Promise<void> {
    await page.waitForURL((url) => url.origin === idp.issuer);
    await page.fill('input[name=login]', login);
    await page.fill('input[name=password]', 'any');
    await page.click('button[type=submit]');
    await page.waitForSelector('button[autofocus]');
    await page.click('button[autofocus]');
    await page.waitForURL((url) => url.href.startsWith(server.url));
  }

  test('an allowed person signs in, creates an endpoint, and manages it from /endpoints', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(server.url);
    await signInAtProvider(page, 'alice');
    await page.waitForSelector('input[name=upstream_url]');
    await page.fill('input[name=upstream_url]', upstream.url);
    await page.fill('input[name=display_name]', 'Team echo');
    assert.match(await page.locator('main').innerText(), /Signed in as alice@corp\.example/);
    await page.click('form[action="/"] button[type=submit]');
    const endpoint = await page.inputValue('#endpoint');
    const slug = new URL(endpoint).pathname.split('/')[1]!;

    const cookies = await context.cookies(server.url);
    const session = cookies.find((cookie) => cookie.name === 'k2o_session')!;
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Lax');
    assert.ok(session.expires > Date.now() / 1000, 'the session expires');

    await page.goto(`${server.url}/endpoints`);
    assert.match(await page.locator('main').innerText(), /Team echo/);
    await page.click(`a[href="/manage/${slug}"]`);
    assert.equal(await page.inputValue('input[name=display_name]'), 'Team echo', 'the manage page opens without the manage link');

    await page.goto(`${server.url}/endpoints`);
    // Signing out ends our session (the provider's own session is the provider's: signing in
    // again there may need no password, as with any single sign-on).
    const [loggedOut] = await Promise.all([
      page.waitForResponse((response) => response.url().endsWith('/logout')),
      page.click('form[action="/logout"] button'),
    ]);
    assert.match((await loggedOut.allHeaders())['set-cookie'] ?? '', /^k2o_session=; Path=\/; Max-Age=0; HttpOnly; SameSite=Lax/);
    await context.close();

    const audit = (await (
      await fetch(`${server.url}/api/audit?slug=${slug}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
    ).json()) as {
      events: Array<{ actor: string; action: string }>;
    };
    assert.deepEqual(
      audit.events.map((event) => `${event.actor} ${event.action}`),
      ['alice@corp.example endpoint.created'],
    );
  });

  test('a person outside ALLOWED_EMAILS is refused and told what to do', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(server.url);
    await signInAtProvider(page, 'bob');
    const text = await page.locator('main').innerText();
    assert.match(text, /Sign-in refused/);
    assert.match(text, /Ask the operator/);
    assert.equal(
      (await context.cookies(server.url)).find((cookie) => cookie.name === 'k2o_session'),
      undefined,
    );
    await context.close();
  });

  test('with SIGN_IN_TO_AUTHORIZE, an app sends the person to sign in first, then to the consent page', async () => {
    const created = await fetch(`${server.url}/api/slugs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ upstream_url: upstream.url }),
    });
    const { slug, mcp_endpoint: endpoint } = (await created.json()) as { slug: string; mcp_endpoint: string };
    const callback = 'https://claude.ai/api/mcp/auth_callback';
    const claude = await register(fetch, `${server.url}/oauth/register`, {
      client_name: 'Claude',
      redirect_uris: [callback],
      token_endpoint_auth_method: 'none',
    });
    const url = authorizationUrl(`${server.url}/authorize`, {
      clientId: claude.clientId!,
      redirectUri: callback,
      challenge: pkce().challenge,
      scope: 'mcp',
      resource: endpoint,
    });

    const context = await browser.newContext();
    const page = await context.newPage();
    let returned: URL | undefined;
    await page.route('https://claude.ai/**', async (route) => {
      returned = new URL(route.request().url());
      await route.fulfill({ status: 200, contentType: 'text/plain', body: 'back at the client' });
    });
    await page.goto(url.href);
    await signInAtProvider(page, 'alice');
    await page.waitForSelector('input[name=api_key]');
    await page.fill('input[name=api_key]', KEY);
    await page.click('button[value=approve]');
    await page.waitForURL((at) => at.hostname === 'claude.ai');
    assert.ok(returned?.searchParams.get('code'), 'the app got its code');
    await context.close();

    const audit = (await (
      await fetch(`${server.url}/api/audit?slug=${slug}&action=access`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
    ).json()) as {
      events: Array<{ actor: string; action: string }>;
    };
    assert.deepEqual(
      audit.events.map((event) => `${event.actor} ${event.action}`),
      ['alice@corp.example access.granted'],
    );
  });
});
