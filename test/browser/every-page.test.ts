import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { serve } from '@hono/node-server';
import type { Browser, BrowserContext, Page, Response } from 'playwright-core';
import { haveChromium, launchChromium } from '../support/chromium.ts';
import { startApp } from '../support/in-process.ts';
import { consentPageUrl } from '../support/oauth-client.ts';
import { type ListeningProvider, listenProvider } from '../support/oidc-provider.ts';
import { authorize, mcpPost } from '../support/security.ts';
import { switchableStorage } from '../support/switchable-storage.ts';
import { nodeTarget, type Running } from '../support/targets.ts';
import { startUpstream, type Upstream } from '../support/upstream.ts';

/**
 * Every page a person can reach, measured in real Chromium at a phone width (360 px) and a desktop
 * width (1280 px): the document never scrolls sideways (`scrollWidth <= innerWidth`), axe-core (Deque's
 * accessibility rules, run inside the page) finds no violation of serious or critical impact, the
 * page's Content-Security-Policy is the strict one, and the browser refused nothing the page itself
 * asked for (a CSP that blocks our own stylesheet shows up here as a console error).
 *
 * One deployment with sign-in (a real OpenID provider on loopback), so the team pages are reached
 * the way a person reaches them; each row of the table opens its page from the state the rows
 * before it left.
 */

const KEY = 'sk-every-page-4242';
const CALLBACK = 'https://claude.ai/api/mcp/auth_callback';
const WIDTHS = [360, 1280] as const;
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
/** What src/http/responses.ts `pageHeaders` sends; the consent page adds the client's origin to form-action. */
const STRICT_CSP =
  /^default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'[^;]*; frame-ancestors 'none'; base-uri 'none'$/;
const INITIALIZE = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'every-page', version: '1' } },
});
const CALL = JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { text: 'hi' } } });

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

describe('every page: no sideways scroll, no serious accessibility violation, a strict CSP', {
  skip: !haveChromium && 'Chromium not installed (apt-get install chromium)',
}, () => {
  let upstream: Upstream;
  let idp: ListeningProvider;
  let server: Running;
  let browser: Browser;
  /** Alice, signed in, an admin. */
  let alice: BrowserContext;
  /** Nobody signed in. */
  let stranger: BrowserContext;
  let endpoint = '';
  let slug = '';
  let createdUrl = '';
  let outage: Awaited<ReturnType<typeof outageServer>>;

  before(async () => {
    upstream = await startUpstream({ key: KEY });
    idp = await listenProvider();
    server = await nodeTarget.start({ ...idp.env, ALLOWED_EMAILS: '*@corp.example', ADMIN_EMAILS: 'alice@corp.example' });
    idp.serve(server.url, {
      alice: { email: 'alice@corp.example', verified: true },
      bob: { email: 'bob@elsewhere.example', verified: true },
    });
    outage = await outageServer();
    browser = await launchChromium();
    alice = await browser.newContext({ colorScheme: 'light' });
    stranger = await browser.newContext({ colorScheme: 'light' });
    for (const context of [alice, stranger])
      await context.route('https://claude.ai/**', (route) =>
        route.fulfill({ status: 200, contentType: 'text/plain', body: 'back at the client' }),
      );
    const page = await alice.newPage();
    await page.goto(`${server.url}/login`);
    await signInAtProvider(page, 'alice');
    await page.close();
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
    await idp?.close();
    await upstream?.close();
    await outage?.close();
  });

  async function signInAtProvider(page: Page, login: string): Promise<void> {
    await page.waitForURL((url) => url.origin === idp.issuer);
    await page.fill('input[name=login]', login);
    await page.fill('input[name=password]', 'any');
    await page.click('button[type=submit]');
    await page.waitForSelector('button[autofocus]');
    await page.click('button[autofocus]');
    await page.waitForURL((url) => url.href.startsWith(server.url));
  }

  function consentUrl(clientName: string, withResource = true): Promise<string> {
    return consentPageUrl(server.url, {
      clientName,
      redirectUri: CALLBACK,
      state: 'every-page',
      ...(withResource ? { resource: endpoint } : {}),
    });
  }

  /** Each page, in the order a person meets them; `open` leaves the page showing it. */
  const PAGES: { name: string; context?: () => BrowserContext; open: (page: Page) => Promise<unknown> }[] = [
    { name: 'start page, signed in', open: (page) => page.goto(server.url) },
    {
      name: 'created (manage link shown once)',
      open: async (page) => {
        await page.goto(server.url);
        await page.fill('input[name=upstream_url]', upstream.url);
        await page.fill('input[name=display_name]', 'Echo with a rather long display name for a phone');
        await page.click('form[action="/"] button[type=submit]');
        await page.waitForURL(/\/created\//);
        createdUrl = page.url();
        endpoint = await page.inputValue('#endpoint');
        slug = new URL(endpoint).pathname.split('/')[1]!;
        // Two apps with access, and some activity for the manage page's tables.
        for (let n = 0; n < 2; n++) {
          const granted = await authorize(server, endpoint, KEY);
          await (await mcpPost(endpoint, granted.accessToken, INITIALIZE)).text();
          await (await mcpPost(endpoint, granted.accessToken, CALL)).text();
        }
      },
    },
    { name: 'created, reloaded', open: (page) => page.goto(createdUrl) },
    { name: 'consent', context: () => stranger, open: async (page) => page.goto(await consentUrl('Claude')) },
    {
      name: 'consent, wrong key',
      context: () => stranger,
      open: async (page) => {
        await page.goto(await consentUrl('Claude'));
        await page.fill('input[name=api_key]', 'not-the-key');
        await page.click('button[value=approve]');
        await page.waitForSelector('.error');
      },
    },
    {
      name: 'consent, pick tools',
      context: () => stranger,
      open: async (page) => {
        await page.goto(await consentUrl('Claude'));
        await page.fill('input[name=api_key]', KEY);
        await page.check('input[name=tools][value=chosen]');
        await page.click('button[value=approve]');
        await page.waitForSelector('input[name=tool]');
      },
    },
    { name: 'consent, which endpoint?', context: () => stranger, open: async (page) => page.goto(await consentUrl('Claude', false)) },
    { name: 'consent error', context: () => stranger, open: (page) => page.goto(`${server.url}/authorize?client_id=nobody`) },
    { name: 'endpoint URL in a browser', context: () => stranger, open: (page) => page.goto(endpoint) },
    {
      name: 'mistyped endpoint URL',
      context: () => stranger,
      open: (page) => page.goto(`${server.url}/${'x'.repeat(12)}/mcp`),
    },
    { name: 'unknown path', context: () => stranger, open: (page) => page.goto(`${server.url}/no/such/page`) },
    {
      name: 'self-host (the footer’s link)',
      context: () => stranger,
      open: async (page) => {
        // Reached as a person reaches it, from the footer of a page: the link leads to a page of its own.
        await page.goto(`${server.url}/access`);
        await Promise.all([page.waitForURL(`${server.url}/self-host`), page.click('footer a[href="/self-host"]')]);
        assert.equal(await page.locator('h1').textContent(), 'Run your own Key2OAuth');
      },
    },
    { name: 'created page, unknown', context: () => stranger, open: (page) => page.goto(`${server.url}/created/${'x'.repeat(43)}`) },
    { name: 'manage: token asked', context: () => stranger, open: (page) => page.goto(`${server.url}/manage/${slug}`) },
    { name: 'manage, with accesses and activity', open: (page) => page.goto(`${server.url}/manage/${slug}`) },
    {
      name: 'manage: confirm revoking one app',
      open: async (page) => {
        await page.goto(`${server.url}/manage/${slug}`);
        await page.locator('table.grants tbody tr').first().locator('button:has-text("Revoke")').click();
        await page.waitForSelector('h1:has-text("Revoke")');
      },
    },
    {
      name: 'manage: confirm revoking all',
      open: async (page) => {
        await page.goto(`${server.url}/manage/${slug}`);
        await page.click('button:has-text("Revoke all")');
        await page.waitForSelector('h1:has-text("Revoke all")');
      },
    },
    {
      name: 'manage: confirm a save that revokes',
      open: async (page) => {
        await page.goto(`${server.url}/manage/${slug}`);
        await page.fill('input[name=upstream_url]', `${upstream.url}?moved=1`);
        await page.click('button:has-text("Save")');
        await page.waitForSelector('h1:has-text("Save and revoke")');
      },
    },
    { name: 'my endpoints', open: (page) => page.goto(`${server.url}/endpoints`) },
    { name: 'audit trail', open: (page) => page.goto(`${server.url}/audit`) },
    {
      name: 'sign-in refused',
      context: () => stranger,
      open: async (page) => {
        await page.goto(`${server.url}/login`);
        await signInAtProvider(page, 'bob');
      },
    },
    {
      name: 'your accesses: find',
      context: () => stranger,
      open: (page) => page.goto(`${server.url}/access?endpoint=${encodeURIComponent(endpoint)}`),
    },
    {
      name: 'your accesses: list and activity',
      context: () => stranger,
      open: async (page) => {
        await page.goto(`${server.url}/access?endpoint=${encodeURIComponent(endpoint)}`);
        await page.fill('input[name=credential_0]', KEY);
        await page.click('button:has-text("Show my accesses")');
        await page.waitForSelector('table.grants');
      },
    },
    {
      name: '/revoke (the old address)',
      context: () => stranger,
      open: (page) => page.goto(`${server.url}/revoke?endpoint=${encodeURIComponent(endpoint)}`),
    },
    {
      name: 'your accesses: confirm revoking',
      context: () => stranger,
      open: async (page) => {
        await page.goto(`${server.url}/access`);
        await page.click('button:has-text("Revoke all")');
        await page.waitForSelector('h1:has-text("Revoke all")');
      },
    },
    {
      name: 'manage: deleted',
      open: async (page) => {
        await page.goto(`${server.url}/manage/${slug}`);
        await page.fill('input[name=confirm]', slug);
        await page.click('button:has-text("Delete endpoint")');
        await page.waitForSelector('h1:has-text("Endpoint deleted")');
      },
    },
    {
      name: 'store outage (503)',
      context: () => stranger,
      open: async (page) => {
        outage.down = true;
        try {
          await page.goto(`${outage.url}/manage/abcdefghijkl`);
        } finally {
          outage.down = false;
        }
      },
    },
  ];

  for (const entry of PAGES)
    test(entry.name, async () => {
      const failures: string[] = [];
      const context = entry.context?.() ?? alice;
      const page = await context.newPage();
      page.setDefaultTimeout(8000);
      await page.setViewportSize({ width: 1280, height: 800 });
      let navigation: Response | undefined;
      const refused: string[] = [];
      page.on('response', (response) => {
        if (response.request().isNavigationRequest() && response.frame() === page.mainFrame()) navigation = response;
      });
      page.on('console', (message) => {
        if (message.type() === 'error' && /Content Security Policy|Refused to/i.test(message.text())) refused.push(message.text());
      });
      try {
        await entry.open(page);
        await page.waitForLoadState('load');
        const csp = (await navigation?.allHeaders())?.['content-security-policy'] ?? '(none)';
        if (!STRICT_CSP.test(csp)) failures.push(`CSP is ${csp}`);
        for (const width of WIDTHS) {
          await page.setViewportSize({ width, height: 800 });
          const { scrollWidth, innerWidth } = await page.evaluate(() => ({
            scrollWidth: document.documentElement.scrollWidth,
            innerWidth: window.innerWidth,
          }));
          if (scrollWidth > innerWidth) failures.push(`@${width}: scrolls sideways (${scrollWidth} > ${innerWidth})`);
          for (const violation of await axeViolations(page))
            failures.push(
              `@${width}: ${violation.impact} ${violation.id} (${violation.help}) at ${violation.nodes
                .slice(0, 3)
                .map((node) => node.target.join(' '))
                .join(', ')}`,
            );
        }
        if (refused.length) failures.push(`the browser refused ${refused.join(' | ')}`);
        assert.deepEqual(failures, []);
      } finally {
        await page.close();
      }
    });
});

/** axe-core's serious and critical findings on the page as it is now. */
async function axeViolations(page: Page): Promise<AxeViolation[]> {
  // Through the DevTools protocol, so the page's CSP (rightly) does not stop it.
  await page.evaluate(AXE);
  const run = page.evaluate(async () => {
    // biome-ignore lint/suspicious/noExplicitAny: axe is the global the script above defined.
    const result = await (window as any).axe.run(document, { resultTypes: ['violations'] });
    return result.violations;
  }) as Promise<AxeViolation[]>;
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('axe did not finish in 20 s')), 20_000).unref());
  const violations = await Promise.race([run, timeout]);
  return violations.filter((one) => one.impact === 'serious' || one.impact === 'critical');
}

/**
 * The whole app in this process (test/support/in-process.ts) on a loopback port, over a store that
 * fails as an unreachable Redis does while `down` is set: the store outage page, as a browser gets it.
 */
async function outageServer() {
  const { kv, counters, state } = switchableStorage();
  const k = await startApp({ platform: { kv, counters } });
  const listening = serve({ fetch: (request) => k.app.fetch(request, { clientAddress: '127.0.0.1' }), port: 0, hostname: '127.0.0.1' });
  await new Promise((resolve) => listening.once('listening', resolve));
  return {
    url: `http://127.0.0.1:${(listening.address() as AddressInfo).port}`,
    set down(value: boolean) {
      state.down = value;
    },
    async close() {
      await new Promise((resolve) => listening.close(resolve));
      await k.close();
    },
  };
}
