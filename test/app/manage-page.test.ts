import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parse } from 'node-html-parser';
import { CookieJar, INITIALIZE, type InProcess, startApp } from '../support/in-process.ts';

/** The manage page, `/manage/:slug`: opened with the manage token, then every button redirects back. */

const SAME_ORIGIN = { 'sec-fetch-site': 'same-origin', origin: 'null', accept: 'text/html' };

async function tokenWorks(k: InProcess, endpoint: string, token: string): Promise<boolean> {
  const response = await k.mcp(endpoint, token, INITIALIZE);
  await response.body?.cancel();
  return response.status === 200;
}

describe('the manage page, in-process', () => {
  let k: InProcess;
  before(async () => {
    k = await startApp({ env: { RATE_LIMIT_MANAGE: '0' } });
  });
  after(() => k.close());

  function post(path: string, jar: CookieJar, fields: Record<string, string>, headers: Record<string, string> = SAME_ORIGIN) {
    return k.fetch(path, {
      method: 'POST',
      headers: { ...jar.header(), ...headers },
      body: new URLSearchParams(fields),
      redirect: 'manual',
    });
  }
  async function get(path: string, jar: CookieJar) {
    const response = await k.fetch(path, { headers: { ...jar.header(), accept: 'text/html' } });
    return { status: response.status, root: parse(await response.text()) };
  }

  test('opened with the token: shows the endpoint and who has access; edit, revoke one (that app is refused), delete', async () => {
    const created = await k.mustCreateEndpoint({ upstream_url: 'https://echo.example.com/mcp', display_name: 'Echo' });
    const path = `/manage/${created.slug}`;
    assert.equal(created.manage_url, `${k.url}${path}#token=${created.manage_token}`);
    const claude = await k.authorize(created.mcp_endpoint!, { client: await k.register({ client_name: 'Claude' }) });
    const other = await k.authorize(created.mcp_endpoint!, { client: await k.register({ client_name: 'Other app' }) });
    const jar = new CookieJar();

    const asked = await get(path, jar);
    assert.equal(asked.status, 200);
    assert.ok(asked.root.querySelector('form#manage-open input[name="token"]'), 'without the token, the page asks for it');
    assert.doesNotMatch(asked.root.text, /Claude/);

    const wrong = await post(path, jar, { action: 'open', token: 'not-the-token' });
    assert.equal(wrong.status, 401);
    assert.match(parse(await wrong.text()).text, /not the manage token/);

    const opened = await post(path, jar, { action: 'open', token: created.manage_token! });
    assert.equal(opened.status, 303);
    assert.equal(opened.headers.get('location'), path);
    const cookie = opened.headers.get('set-cookie') ?? '';
    assert.match(cookie, new RegExp(`Path=${path};`));
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Strict/);
    assert.match(cookie, /Secure/);
    jar.keep(opened);

    const shown = await get(path, jar);
    assert.equal(shown.status, 200);
    assert.match(shown.root.querySelector('h1')?.text ?? '', /Manage Echo/);
    assert.equal(shown.root.querySelector('code.header-line')?.text, 'Authorization: Bearer <your API key>');
    const rows = shown.root.querySelectorAll('table.grants tbody tr');
    assert.deepEqual(rows.map((row) => row.querySelector('td')?.text).sort(), ['Claude', 'Other app']);
    assert.ok(rows.every((row) => row.text.includes('client.example.net')));

    const renamed = await post(path, jar, {
      action: 'save',
      display_name: 'Echo renamed',
      upstream_url: 'https://echo.example.com/mcp',
      auth_header_name: 'Authorization',
      auth_header_prefix: 'Bearer',
      transport: 'streamable-http',
    });
    assert.equal(renamed.status, 303);
    jar.keep(renamed);
    const afterRename = await get(renamed.headers.get('location')!, jar);
    assert.match(afterRename.root.querySelector('h1')?.text ?? '', /Manage Echo renamed/);
    assert.match(afterRename.root.querySelector('.ok')?.text ?? '', /^Saved\.$/);
    assert.ok(await tokenWorks(k, created.mcp_endpoint!, claude.accessToken), 'a new name keeps every access');

    const claudeRow = afterRename.root.querySelectorAll('table.grants tbody tr').find((row) => row.querySelector('td')?.text === 'Claude')!;
    const grantId = claudeRow.querySelector('input[name="grant"]')!.getAttribute('value')!;
    // Asked once more, naming the app; only the confirming post revokes.
    const askedRevoke = await post(path, jar, { action: 'revoke', grant: grantId });
    assert.equal(askedRevoke.status, 200);
    const question = parse(await askedRevoke.text());
    assert.equal(question.querySelector('h1')?.text, 'Revoke Claude’s access?');
    assert.equal(question.querySelector('form input[name="confirm"]')?.getAttribute('value'), 'yes');
    assert.ok(await tokenWorks(k, created.mcp_endpoint!, claude.accessToken), 'nothing revoked before the confirmation');
    const revoked = await post(path, jar, { action: 'revoke', grant: grantId, confirm: 'yes' });
    assert.equal(revoked.status, 303);
    jar.keep(revoked);
    assert.equal(await tokenWorks(k, created.mcp_endpoint!, claude.accessToken), false, 'the revoked app is refused');
    assert.ok(await tokenWorks(k, created.mcp_endpoint!, other.accessToken), 'the other app goes on');
    const afterRevoke = await get(revoked.headers.get('location')!, jar);
    assert.deepEqual(
      afterRevoke.root.querySelectorAll('table.grants tbody tr').map((row) => row.querySelector('td')?.text),
      ['Other app'],
    );

    const crossSite = await post(path, jar, { action: 'delete' }, { 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' });
    assert.equal(crossSite.status, 403);

    // Deleting takes the endpoint's ID, typed.
    for (const typed of [{}, { confirm: 'not-the-id' }] as Record<string, string>[]) {
      const refused = await post(path, jar, { action: 'delete', ...typed });
      assert.equal(refused.status, 400);
      assert.match(parse(await refused.text()).querySelector('.error')?.text ?? '', /Nothing was deleted: .*type its ID/);
    }
    assert.ok(await tokenWorks(k, created.mcp_endpoint!, other.accessToken), 'not deleted');
    const deleted = await post(path, jar, { action: 'delete', confirm: created.slug! });
    assert.equal(deleted.status, 303);
    assert.match(deleted.headers.get('set-cookie') ?? '', /Max-Age=0/);
    const gone = await get(deleted.headers.get('location')!, jar);
    assert.equal(gone.status, 404);
    assert.match(gone.root.querySelector('h1')?.text ?? '', /Endpoint deleted/);
    assert.equal(await tokenWorks(k, created.mcp_endpoint!, other.accessToken), false);
    assert.ok(!k.logs.join('\n').includes(created.manage_token!), 'the token is in no log line');
  });

  test('a cookie for one endpoint opens no other, and actions without it ask for the token', async () => {
    const a = await k.mustCreateEndpoint();
    const b = await k.mustCreateEndpoint();
    const jar = new CookieJar();
    jar.keep(await post(`/manage/${a.slug}`, jar, { action: 'open', token: a.manage_token! }));
    // The cookie is scoped to a's path; even sent to b's page by hand, it is a's token.
    const forged = await k.fetch(`/manage/${b.slug}`, {
      method: 'POST',
      headers: { ...SAME_ORIGIN, cookie: `k2o_manage=${a.manage_token}` },
      body: new URLSearchParams({ action: 'delete' }),
      redirect: 'manual',
    });
    assert.equal(forged.status, 401);
    assert.ok((await k.fetch(`/api/slugs/${b.slug}`, { headers: { authorization: `Bearer ${b.manage_token}` } })).ok, 'b is still there');
  });
});

describe('the credential template on the pages, in-process', () => {
  let k: InProcess;
  before(async () => {
    k = await startApp({ env: { RATE_LIMIT_MANAGE: '0' } });
  });
  after(() => k.close());

  test('the start page previews the upstream request from the Advanced rows, and creates what it previewed', async () => {
    const rows = {
      upstream_url: 'https://echo.example.com/mcp?region=eu',
      credential_in_0: 'query',
      credential_name_0: 'api_key',
      credential_label_0: 'Exa key',
      credential_in_1: 'header',
      credential_name_1: 'X-Account-Id',
      credential_prefix_1: 'Acct',
    };
    const previewed = await k.fetch('/', {
      method: 'POST',
      headers: SAME_ORIGIN,
      body: new URLSearchParams({ ...rows, intent: 'preview' }),
    });
    assert.equal(previewed.status, 200);
    const page = parse(await previewed.text());
    assert.equal(
      page.querySelector('pre.request-preview')?.text,
      'POST https://echo.example.com/mcp?region=eu&api_key=<your Exa key>\nX-Account-Id: Acct <your X-Account-Id>',
    );
    assert.equal(
      page.querySelector('select[name="credential_in_1"] option[selected]')?.getAttribute('value'),
      'header',
      'the rows are kept',
    );
    assert.equal(await endpointCount(k), 0, 'a preview creates nothing');
    assert.equal(
      page.querySelector('form button[type="submit"]')?.text,
      'Create endpoint',
      'the first submit button is the one Enter presses: it creates, the preview comes second',
    );

    const bad = await k.fetch('/', {
      method: 'POST',
      headers: SAME_ORIGIN,
      body: new URLSearchParams({ ...rows, credential_name_1: 'Host', intent: 'preview' }),
    });
    assert.equal(bad.status, 400);
    assert.match(parse(await bad.text()).querySelector('.error')?.text ?? '', /^Field 2 name names a header/);

    const created = await k.fetch('/', { method: 'POST', headers: SAME_ORIGIN, body: new URLSearchParams(rows) });
    assert.equal(created.status, 303);
    const result = parse(await (await k.fetch(created.headers.get('location')!)).text());
    assert.match(result.querySelector('pre.request-preview')?.text ?? '', /api_key=<your Exa key>/);
  });

  test('the manage page shows the template in its rows and saves a changed one', async () => {
    const created = await k.mustCreateEndpoint({
      upstream_url: 'https://echo.example.com/mcp',
      credentials: [{ in: 'basic_user' }, { in: 'basic_password' }],
    });
    const path = `/manage/${created.slug}`;
    const jar = new CookieJar();
    const open = await k.fetch(path, {
      method: 'POST',
      headers: SAME_ORIGIN,
      body: new URLSearchParams({ action: 'open', token: created.manage_token! }),
      redirect: 'manual',
    });
    jar.keep(open);
    const shown = parse(await (await k.fetch(path, { headers: { ...jar.header(), accept: 'text/html' } })).text());
    assert.equal(
      shown.querySelector('pre.request-preview')?.text,
      'POST https://echo.example.com/mcp\nAuthorization: Basic base64(<your User name>:<your Password>)',
    );
    assert.equal(shown.querySelector('select[name="credential_in_1"] option[selected]')?.getAttribute('value'), 'basic_password');

    const saved = await k.fetch(path, {
      method: 'POST',
      headers: { ...jar.header(), ...SAME_ORIGIN },
      body: new URLSearchParams({
        action: 'save',
        display_name: 'Echo',
        upstream_url: 'https://echo.example.com/mcp',
        transport: 'streamable-http',
        credential_in_0: 'header',
        credential_name_0: 'X-Api-Key',
        credential_in_1: '',
      }),
      redirect: 'manual',
    });
    assert.equal(saved.status, 303);
    const api = await k.fetch(`/api/slugs/${created.slug}`, { headers: { authorization: `Bearer ${created.manage_token}` } });
    assert.deepEqual(((await api.json()) as { credentials: unknown }).credentials, [
      { label: 'X-Api-Key', in: 'header', name: 'X-Api-Key', prefix: '' },
    ]);
  });
});

async function endpointCount(k: InProcess): Promise<number> {
  return (await k.platform.kv.list({ prefix: 'k2o:endpoint:' })).keys.length;
}
