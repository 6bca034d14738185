import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parse } from 'node-html-parser';
import { INITIALIZE, type InProcess, KEY, startApp } from '../support/in-process.ts';

/** `/revoke`: the person who pasted a key takes back the access it gave, proving it with the key. */

const SAME_ORIGIN = { 'sec-fetch-site': 'same-origin', origin: 'null', accept: 'text/html' };

async function tokenWorks(k: InProcess, endpoint: string, token: string): Promise<boolean> {
  const response = await k.mcp(endpoint, token, INITIALIZE);
  await response.body?.cancel();
  return response.status === 200;
}

describe('revoking your own access, in-process', () => {
  let k: InProcess;
  before(async () => {
    k = await startApp();
  });
  after(() => k.close());

  const revoke = (fields: Record<string, string>) =>
    k.fetch('/revoke', { method: 'POST', headers: SAME_ORIGIN, body: new URLSearchParams(fields), redirect: 'manual' });

  test('the consent page links to it; the same key revokes every access it gave on that endpoint and nothing else', async () => {
    const a = (await k.mustCreateEndpoint()).mcp_endpoint!;
    const b = (await k.mustCreateEndpoint()).mcp_endpoint!;
    const page = await k.openConsent(a, await k.register());
    const link = parse(page.html).querySelector('a[href^="/revoke"]')?.getAttribute('href') ?? '';
    assert.equal(new URL(link, k.url).searchParams.get('endpoint'), a);
    const form = parse(await (await k.fetch(link)).text()).querySelector('form[action="/revoke"]');
    assert.equal(form?.querySelector('input[name="endpoint"]')?.getAttribute('value'), a, 'the endpoint is filled in');

    const first = await k.authorize(a);
    const second = await k.authorize(a);
    const elsewhere = await k.authorize(b);

    const wrong = await revoke({ endpoint: a, api_key: 'sk-not-the-key' });
    assert.equal(wrong.status, 303);
    const nothing = parse(await (await k.fetch(wrong.headers.get('location')!)).text());
    assert.match(nothing.querySelector('.ok')?.text ?? '', /No access made with that key/);
    assert.ok(await tokenWorks(k, a, first.accessToken), 'a wrong key revokes nothing');

    const done = await revoke({ endpoint: a, api_key: `Bearer ${KEY}` });
    assert.equal(done.status, 303, 'POST/redirect/GET');
    const shown = parse(await (await k.fetch(done.headers.get('location')!)).text());
    assert.match(shown.querySelector('.ok')?.text ?? '', /2 apps can no longer use this endpoint/);
    assert.equal(await tokenWorks(k, a, first.accessToken), false);
    assert.equal(await tokenWorks(k, a, second.accessToken), false);
    assert.ok(await tokenWorks(k, b, elsewhere.accessToken), 'another endpoint is untouched');
    assert.ok(!k.logs.join('\n').includes(KEY), 'the key is in no log line');
  });

  test('an unknown endpoint and a cross-site post are refused', async () => {
    const unknown = await revoke({ endpoint: `${k.url}/AAAAAAAAAAAA/mcp`, api_key: KEY });
    assert.equal(unknown.status, 400);
    assert.match(parse(await unknown.text()).text, /not an endpoint of this server/);
    const crossSite = await k.fetch('/revoke', {
      method: 'POST',
      headers: { 'sec-fetch-site': 'cross-site' },
      body: new URLSearchParams({ endpoint: 'x', api_key: KEY }),
    });
    assert.equal(crossSite.status, 403);
  });
});

describe('/revoke counts against the per-endpoint key limit, in-process', () => {
  let k: InProcess;
  before(async () => {
    // Per address generous, per endpoint tight: only the per-endpoint count can refuse here.
    k = await startApp({ env: { RATE_LIMIT_AUTHORIZE: '100/600', RATE_LIMIT_AUTHORIZE_ENDPOINT: '3/600' } });
  });
  after(() => k.close());

  const revokeFrom = (clientAddress: string, fields: Record<string, string>) =>
    k.fetch('/revoke', { method: 'POST', headers: SAME_ORIGIN, body: new URLSearchParams(fields), redirect: 'manual', clientAddress });

  test('guesses from many addresses share one endpoint budget with the consent page; past it nothing is revoked; another endpoint is unaffected', async () => {
    const a = (await k.mustCreateEndpoint()).mcp_endpoint!;
    const b = (await k.mustCreateEndpoint()).mcp_endpoint!;
    // One key submission on the consent page: the first of endpoint a's three.
    const grant = await k.authorize(a);
    for (const address of ['203.0.113.1', '203.0.113.2'])
      assert.equal((await revokeFrom(address, { endpoint: a, api_key: `sk-guess-${address}` })).status, 303);

    const refused = await revokeFrom('203.0.113.3', { endpoint: a, api_key: KEY });
    assert.equal(refused.status, 429);
    assert.ok(Number(refused.headers.get('retry-after')) >= 1, 'says when to come back');
    assert.match(parse(await refused.text()).text, /Too many keys were tried on this endpoint/);
    assert.ok(await tokenWorks(k, a, grant.accessToken), 'the refused attempt revoked nothing, even with the right key');

    assert.equal((await revokeFrom('203.0.113.4', { endpoint: b, api_key: 'sk-guess' })).status, 303, 'endpoint b has its own budget');
  });
});
