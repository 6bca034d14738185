import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { mustCreateEndpoint } from '../support/api.ts';
import { Browser, Page } from '../support/browser.ts';
import { TestOAuthProvider } from '../support/oauth-client.ts';
import { NO_RATE_LIMITS } from '../support/oauth-raw.ts';
import { startAuthorization } from '../support/security.ts';
import { type Running, targets } from '../support/targets.ts';
import { startUpstream, type Upstream } from '../support/upstream.ts';

const KEY = 'sk-consent-errors-0123456789abcdef';
const BAD_CHARACTERS = /characters an HTTP header cannot carry/;

/**
 * Keys that cannot safely become a header value: each must be refused before anything is sent.
 * fetch's Headers would accept and send all but the line breaks and the NUL, so only the key
 * check stands between them and the upstream.
 */
const UNSENDABLE: [string, string][] = [
  ['a tab', 'sk-tab\tinside'],
  ['a Latin-1 letter', 'sk-caf\u00e9'],
  ['a line feed', 'sk-line\nfeed'],
  ['a carriage return and line feed', 'sk-header\r\nX-Injected: yes'],
  ['a NUL', 'sk-nul\u0000inside'],
  ['another control character', 'sk-bell\u0007inside'],
  ['DEL', 'sk-del\u007finside'],
  ['a no-break space', 'sk-no\u00a0break'],
  ['Cyrillic', 'sk-\u043a\u043b\u044e\u0447'],
  ['an emoji', 'sk-\u{1f511}'],
];

/** The page as it comes back after a refusal: same URL, new body (with a fresh handle). */
async function pageFrom(previous: Page, response: Response): Promise<Page> {
  return new Page(previous.url, response, await response.text());
}

for (const target of targets())
  describe(`the consent page's error paths (${target.name})`, () => {
    let upstream: Upstream;
    let server: Running;
    let endpoint: string;

    before(async () => {
      upstream = await startUpstream({ key: KEY });
      server = await target.start(NO_RATE_LIMITS);
      endpoint = (await mustCreateEndpoint(server, { upstream_url: upstream.url, transport: 'streamable-http' })).mcp_endpoint!;
    });
    after(async () => {
      await server?.stop();
      await upstream?.close();
    });

    async function open(provider = new TestOAuthProvider()) {
      const browser = new Browser();
      const page = await browser.get(await startAuthorization(endpoint, provider));
      assert.equal(page.status, 200, page.text());
      return { browser, page, provider };
    }

    /** Submits `key`, expects a refusal page with `status` and `message`, no code, and no upstream request. */
    async function refused(browser: Browser, page: Page, key: string, status: number, message: RegExp, what: string): Promise<Page> {
      const before = upstream.requests.length;
      const response = await browser.submit(page, { api_key: key }, { name: 'action', value: 'approve' });
      const again = await pageFrom(page, response);
      if (status === 400) assert.equal(upstream.requests.length, before, `${what}: nothing was sent upstream`);
      assert.equal(response.status, status, `${what}: ${again.text()}`);
      assert.equal(response.headers.get('location'), null, `${what}: no redirect, so no code`);
      assert.match(again.text(), message, what);
      assert.match(again.body, /name="api_key"/, `${what}: the form is shown again`);
      return again;
    }

    test('an empty key is refused with a message, and nothing is sent upstream', async () => {
      const { browser, page } = await open();
      let current = await refused(browser, page, '', 400, /Paste your API key/, 'empty');
      current = await refused(browser, current, '   ', 400, /Paste your API key/, 'only spaces');
      const approved = await browser.submit(current, { api_key: KEY }, { name: 'action', value: 'approve' });
      assert.equal(approved.status, 302, 'the page that came back still works');
    });

    test('a key with a line break, control or non-ASCII character is refused, and nothing is sent upstream', async () => {
      const { browser, page } = await open();
      let current = page;
      for (const [what, key] of UNSENDABLE) current = await refused(browser, current, key, 400, BAD_CHARACTERS, what);
      const approved = await browser.submit(current, { api_key: KEY }, { name: 'action', value: 'approve' });
      assert.equal(approved.status, 302);
    });

    test('a key longer than 8192 characters is refused, and nothing is sent upstream', async () => {
      const { browser, page } = await open();
      const current = await refused(browser, page, 'k'.repeat(8193), 400, /too long/, '8193 characters');
      // At the limit the key is checked with the upstream, which refuses it: the limit is 8192, no lower.
      const before = upstream.requests.length;
      await refused(browser, current, 'k'.repeat(8192), 401, /rejected this key/, '8192 characters');
      assert.equal(upstream.requests.length, before + 1, 'the 8192-character key was checked upstream');
    });

    test('the wrong key: 401, the host named, no code, the key not echoed', async () => {
      const { browser, page } = await open();
      const wrong = 'sk-wrong-key-9876543210';
      const before = upstream.requests.length;
      const again = await refused(browser, page, wrong, 401, /rejected this key \(HTTP 401\)/, 'wrong key');
      assert.equal(upstream.requests.length, before + 1, 'the key was checked with the upstream');
      assert.ok(again.text().includes(new URL(upstream.url).host));
      assert.ok(!again.body.includes(wrong), 'the key is not in the page');
    });

    test('an upstream that cannot be reached at key-check time: 502, no code, and the page says it is not reachable', async (t) => {
      // Up when the endpoint is created (creation refuses a closed port), gone by the key check.
      const gone = await startUpstream({ key: KEY });
      t.after(() => gone.close());
      const created = await mustCreateEndpoint(server, { upstream_url: gone.url, transport: 'streamable-http' });
      await gone.close();
      const browser = new Browser();
      const page = await browser.get(await startAuthorization(created.mcp_endpoint!));
      assert.equal(page.status, 200);
      const response = await browser.submit(page, { api_key: KEY }, { name: 'action', value: 'approve' });
      const again = await pageFrom(page, response);
      assert.equal(response.status, 502, again.text());
      assert.equal(response.headers.get('location'), null);
      assert.match(again.text(), /The key could not be checked: .* is not reachable \(/);
      assert.doesNotMatch(again.text(), /website/);
      assert.match(again.text(), /Nothing was saved/);
    });

    test('Deny sends the browser to the client with error=access_denied, and nothing upstream', async () => {
      const { browser, page, provider } = await open();
      const before = upstream.requests.length;
      const denied = await browser.submit(page, { api_key: KEY }, { name: 'action', value: 'deny' });
      assert.equal(denied.status, 302);
      const location = new URL(denied.headers.get('location')!);
      assert.equal(`${location.origin}${location.pathname}`, provider.redirectUrl);
      assert.equal(location.searchParams.get('error'), 'access_denied');
      assert.equal(location.searchParams.get('state'), provider.state());
      assert.equal(location.searchParams.get('code'), null);
      assert.equal(upstream.requests.length, before, 'denying checks no key');
      // The handle is spent: approving with the same form now issues nothing.
      const replay = await browser.submit(page, { api_key: KEY }, { name: 'action', value: 'approve' });
      assert.equal(replay.status, 400);
      assert.equal(replay.headers.get('location'), null);
    });
  });
