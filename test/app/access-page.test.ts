import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parse } from 'node-html-parser';
import { CookieJar, INITIALIZE, type InProcess, KEY, startApp } from '../support/in-process.ts';

/**
 * `/access`, the key holder's page: paste the endpoint and the key, see the accesses, revoke one or
 * all, or replace the key; POST/redirect/GET, never a key in a URL. Replaces `/revoke`.
 */

const NEW_KEY = 'sk-page-replacement-00112233445566';
const SAME_ORIGIN = { 'sec-fetch-site': 'same-origin', origin: 'null', accept: 'text/html' };

async function tokenWorks(k: InProcess, endpoint: string, token: string): Promise<boolean> {
  const response = await k.mcp(endpoint, token, INITIALIZE);
  await response.body?.cancel();
  return response.status === 200;
}

describe('the key holder page, in-process', () => {
  let k: InProcess;
  before(async () => {
    k = await startApp({ env: { RATE_LIMIT_AUTHORIZE: '1000/600', RATE_LIMIT_AUTHORIZE_ENDPOINT: '1000/600' } });
  });
  after(() => k.close());

  /** A browser: keeps the page's cookie, follows the 303 back to the page, never puts a key in a URL. */
  const browser = () => {
    const jar = new CookieJar();
    const seen: string[] = [];
    const get = async (path: string) => {
      seen.push(path);
      const response = await k.fetch(path, { headers: { ...jar.header(), accept: 'text/html' } });
      jar.keep(response);
      return { status: response.status, root: parse(await response.text()) };
    };
    const post = async (fields: Record<string, string>) => {
      const response = await k.fetch('/access', {
        method: 'POST',
        headers: { ...SAME_ORIGIN, ...jar.header() },
        body: new URLSearchParams(fields),
        redirect: 'manual',
      });
      jar.keep(response);
      if (response.status === 303) {
        await response.body?.cancel();
        return get(response.headers.get('location')!);
      }
      return { status: response.status, root: parse(await response.text()) };
    };
    return { get, post, seen, jar };
  };

  test('linked from the start page, every footer and the consent page, which fills in the endpoint', async () => {
    const home = parse(await (await k.fetch('/')).text());
    assert.ok(home.querySelector('main a[href="/access"]'), 'the start page links it');
    assert.ok(home.querySelector('footer a[href="/access"]'), 'the footer links it');
    const a = (await k.mustCreateEndpoint()).mcp_endpoint!;
    const consent = parse((await k.openConsent(a, await k.register())).html);
    const link = consent.querySelector('main a[href^="/access?"]')?.getAttribute('href') ?? '';
    assert.equal(new URL(link, k.url).searchParams.get('endpoint'), a);
    const page = parse(await (await k.fetch(link)).text());
    assert.equal(page.querySelector('form[action="/access"] input[name="endpoint"]')?.getAttribute('value'), a);
    const moved = await k.fetch(`/revoke?endpoint=${encodeURIComponent(a)}`, { redirect: 'manual' });
    assert.equal(moved.status, 301, 'old /revoke links land on the new page');
    assert.equal(moved.headers.get('location'), `/access?endpoint=${encodeURIComponent(a)}`);
  });

  test('shows the accesses, replaces the key, revokes one then all; the key never in a URL', async () => {
    const a = (await k.mustCreateEndpoint()).mcp_endpoint!;
    const first = await k.authorize(a);
    const second = await k.authorize(a);
    const b = browser();

    const wrong = await b.post({ action: 'find', endpoint: a, credential_0: 'sk-wrong' });
    assert.equal(wrong.status, 403);
    assert.match(wrong.root.querySelector('.error')?.text ?? '', /No access on that endpoint/);

    const shown = await b.post({ action: 'find', endpoint: a, credential_0: KEY });
    assert.equal(shown.status, 200);
    assert.equal(shown.root.querySelectorAll('table.grants tbody tr').length, 2);
    assert.match(shown.root.querySelector('table.grants')!.text, /In-process Client[\s\S]*client\.example\.net/);

    k.upstream.acceptedKey = NEW_KEY;
    const refused = await b.post({ action: 'replace', new_credential_0: 'sk-refused' });
    assert.equal(refused.status, 422);
    assert.match(refused.root.querySelector('.error')?.text ?? '', /rejected the new key/);
    const replaced = await b.post({ action: 'replace', new_credential_0: NEW_KEY });
    assert.equal(replaced.status, 200);
    assert.match(replaced.root.querySelector('.ok')?.text ?? '', /2 apps will send the new key/);
    assert.equal(replaced.root.querySelectorAll('table.grants tbody tr').length, 2, 'still listed, now under the new key');
    const sent = k.upstreams.requests.length;
    assert.ok(await tokenWorks(k, a, first.accessToken));
    assert.equal(k.upstreams.requests.at(sent)!.headers.authorization, `Bearer ${NEW_KEY}`);

    const id = replaced.root.querySelector('input[name="id"]')!.getAttribute('value')!;
    // Each revocation is asked once more, naming the app (pages/confirm.ts); only the answer acts.
    const asked = await b.post({ action: 'revoke', id });
    assert.match(asked.root.querySelector('h1')?.text ?? '', /^Revoke .+’s access\?$/);
    assert.equal(asked.root.querySelectorAll('table.grants tbody tr').length, 0, 'nothing revoked yet');
    assert.ok(await tokenWorks(k, a, first.accessToken), 'nothing revoked before the confirmation');
    const one = await b.post({ action: 'revoke', id, confirm: 'yes' });
    assert.match(one.root.querySelector('.ok')?.text ?? '', /Done: revoked In-process Client\. It can no longer use/);
    assert.equal(one.root.querySelectorAll('table.grants tbody tr').length, 1);
    const askedAll = await b.post({ action: 'revoke-all' });
    assert.match(askedAll.root.querySelector('h1')?.text ?? '', /^Revoke all one access your key gave\?$/);
    const all = await b.post({ action: 'revoke-all', confirm: 'yes' });
    assert.match(all.root.querySelector('.ok')?.text ?? '', /Done: revoked In-process Client\. It can no longer use/);
    assert.equal(await tokenWorks(k, a, first.accessToken), false);
    assert.equal(await tokenWorks(k, a, second.accessToken), false);

    const done = await b.post({ action: 'done' });
    assert.ok(done.root.querySelector('input[name="credential_0"]'), 'back to the form');
    assert.equal(b.jar.cookies.size, 0, 'the cookie is gone');
    for (const url of b.seen) for (const key of [KEY, NEW_KEY]) assert.ok(!url.includes(key), `no key in ${url}`);
    assert.ok(!k.logs.join('\n').includes(NEW_KEY));
    k.upstream.acceptedKey = KEY;
  });

  test('a form the old /revoke page posted still finds the accesses; a cross-site post is refused', async () => {
    const a = (await k.mustCreateEndpoint()).mcp_endpoint!;
    await k.authorize(a);
    const old = await k.fetch('/revoke', {
      method: 'POST',
      headers: SAME_ORIGIN,
      body: new URLSearchParams({ endpoint: a, api_key: KEY }),
      redirect: 'manual',
    });
    assert.equal(old.status, 303);
    const crossSite = await k.fetch('/access', {
      method: 'POST',
      headers: { 'sec-fetch-site': 'cross-site' },
      body: new URLSearchParams({ endpoint: a, credential_0: KEY }),
    });
    assert.equal(crossSite.status, 403);
  });
});

describe('the key holder page counts against the per-endpoint key limit, in-process', () => {
  let k: InProcess;
  before(async () => {
    k = await startApp({ env: { RATE_LIMIT_AUTHORIZE: '100/600', RATE_LIMIT_AUTHORIZE_ENDPOINT: '3/600' } });
  });
  after(() => k.close());

  const find = (clientAddress: string, fields: Record<string, string>) =>
    k.fetch('/access', {
      method: 'POST',
      headers: SAME_ORIGIN,
      body: new URLSearchParams({ action: 'find', ...fields }),
      redirect: 'manual',
      clientAddress,
    });

  test('guesses from many addresses share one endpoint budget with the consent page', async () => {
    const a = (await k.mustCreateEndpoint()).mcp_endpoint!;
    const b = (await k.mustCreateEndpoint()).mcp_endpoint!;
    // An approval costs nothing; a wrong key on the consent page and two here use the three up.
    await k.authorize(a);
    const page = await k.openConsent(a, await k.register());
    assert.equal((await k.submitConsent(page, { api_key: 'sk-wrong-on-the-consent-page', action: 'approve' })).status, 401);
    for (const address of ['203.0.113.1', '203.0.113.2'])
      assert.equal((await find(address, { endpoint: a, credential_0: `sk-guess-${address}` })).status, 403);
    const refused = await find('203.0.113.3', { endpoint: a, credential_0: KEY });
    assert.equal(refused.status, 429);
    assert.ok(Number(refused.headers.get('retry-after')) >= 1);
    assert.match(parse(await refused.text()).text, /Too many wrong keys were tried on this endpoint/);
    assert.equal((await find('203.0.113.4', { endpoint: b, credential_0: 'sk-guess' })).status, 403, 'endpoint b has its own budget');
  });
});
