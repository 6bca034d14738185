import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { postForm } from '../../src/cli/oauth-client.ts';
import { ConfigError, parseConfig } from '../../src/config.ts';
import { CookieJar, type InProcess, KEY, PUBLIC_URL, startApp, UPSTREAM_URL } from '../support/in-process.ts';
import { signInHeadless, startProvider, type TestProvider } from '../support/oidc-provider.ts';

/**
 * Teams (docs/teams.md), in-process against a real OpenID provider on loopback (oidc-provider):
 * sign-in and its refusals, who may create, owners and admins, sign-in to authorize, which apps
 * may register, and the audit trail of all of it, with no secret in it.
 */

const ADMIN_TOKEN = 'admin-token-0123456789abcdef';
const ACCOUNTS = {
  alice: { email: 'alice@corp.example', verified: true },
  dave: { email: 'dave@corp.example', verified: true },
  root: { email: 'root@corp.example', verified: true },
  bob: { email: 'bob@elsewhere.example', verified: true },
  carol: { email: 'carol@corp.example', verified: false },
};

async function auditEvents(k: InProcess, query = ''): Promise<Array<Record<string, string | null>>> {
  const response = await k.fetch(`/api/audit${query}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  assert.equal(response.status, 200);
  return ((await response.json()) as { events: Array<Record<string, string | null>> }).events;
}

describe('settings for sign-in', () => {
  const parse = (env: Record<string, string>) => parseConfig({ PUBLIC_URL, ...env }, { publicUrl: PUBLIC_URL });
  const oidc = { OIDC_ISSUER: 'https://id.example.com', OIDC_CLIENT_ID: 'k2o', OIDC_CLIENT_SECRET: 'shh' };
  test('unset: no sign-in, and nothing else changes', () => {
    const config = parse({});
    assert.equal(config.signIn, undefined);
    assert.deepEqual(config.allowedClientRedirectHosts, []);
    assert.equal(config.auditRetentionDays, 365);
  });
  test('clear errors that name the setting', () => {
    assert.throws(() => parse({ OIDC_ISSUER: 'https://id.example.com' }), /OIDC_CLIENT_ID and OIDC_CLIENT_SECRET missing/);
    assert.throws(() => parse(oidc), /ALLOWED_EMAILS/);
    assert.throws(() => parse({ ...oidc, ALLOWED_EMAILS: 'alice' }), /ALLOWED_EMAILS takes addresses/);
    assert.throws(
      () => parse({ ...oidc, OIDC_ISSUER: 'http://id.example.com', ALLOWED_EMAILS: '*@x.example' }),
      /OIDC_ISSUER must use https/,
    );
    assert.throws(() => parse({ SIGN_IN_TO_AUTHORIZE: 'true' }), /SIGN_IN_TO_AUTHORIZE need sign-in/);
    assert.throws(() => parse({ ALLOWED_CLIENT_REDIRECT_HOSTS: 'https://claude.ai' }), /ALLOWED_CLIENT_REDIRECT_HOSTS takes host names/);
    assert.throws(() => parse({ AUDIT_RETENTION_DAYS: '0' }), ConfigError);
  });
  test('addresses and *@domain patterns, lower-cased', () => {
    const config = parse({ ...oidc, ALLOWED_EMAILS: 'Alice@Corp.example, *@team.example', ADMIN_EMAILS: 'root@corp.example' });
    assert.deepEqual(config.signIn?.allowedEmails, ['alice@corp.example', '*@team.example']);
    assert.deepEqual(config.signIn?.adminEmails, ['root@corp.example']);
  });
});

describe('without sign-in settings, nothing new appears', () => {
  let k: InProcess;
  before(async () => {
    k = await startApp();
  });
  after(() => k.close());
  test('/login, /endpoints, /audit and /api/audit do not exist; the home page is the form', async () => {
    for (const path of ['/login', '/login/callback', '/logout', '/endpoints', '/audit', '/api/audit']) {
      assert.equal((await k.fetch(path)).status, 404, path);
    }
    const home = await k.fetch('/');
    assert.equal(home.status, 200);
    assert.match(await home.text(), /name="upstream_url"/);
  });
});

describe('sign-in through a real OpenID provider, in-process', () => {
  let k: InProcess;
  let idp: TestProvider;
  const app = (url: string, init?: RequestInit) => k.fetch(url, init);
  before(async () => {
    idp = await startProvider(PUBLIC_URL, ACCOUNTS);
    k = await startApp({
      env: {
        ...idp.env,
        ALLOWED_EMAILS: 'alice@corp.example, dave@corp.example, *@team.example',
        ADMIN_EMAILS: 'root@corp.example',
        ADMIN_TOKEN,
        SIGN_IN_TO_AUTHORIZE: 'true',
        ALLOWED_CLIENT_REDIRECT_HOSTS: 'client.example.net, claude.ai',
        RATE_LIMIT_MANAGE: '0',
      },
    });
  });
  after(async () => {
    await k.close();
    await idp.close();
  });

  test('before signing in: the page sends to sign-in, the API answers 401', async () => {
    const home = await k.fetch('/', { redirect: 'manual' });
    assert.equal(home.status, 303);
    assert.equal(home.headers.get('location'), '/login?next=%2F');
    const api = await k.createEndpoint({ upstream_url: UPSTREAM_URL });
    assert.equal(api.status, 401);
    assert.match(api.body.message!, /signing in/);
  });

  test('an allowed person signs in: a session cookie, HttpOnly, Secure, SameSite=Lax, expiring', async () => {
    const jar = new CookieJar();
    const done = await signInHeadless(app, PUBLIC_URL, 'alice', jar, '/endpoints');
    assert.equal(done.status, 303);
    assert.equal(done.headers.get('location'), '/endpoints');
    const line = done.headers.getSetCookie().find((cookie) => cookie.startsWith('k2o_session='))!;
    assert.match(line, /HttpOnly/);
    assert.match(line, /Secure/);
    assert.match(line, /SameSite=Lax/);
    assert.match(line, /Max-Age=43200/);
    // Nothing of the ID token: the cookie is the email, an expiry and a MAC.
    const payload = JSON.parse(Buffer.from(jar.cookies.get('k2o_session')!.split('.')[0]!, 'base64url').toString());
    assert.deepEqual(Object.keys(payload).sort(), ['email', 'exp']);
  });

  test('a person outside ALLOWED_EMAILS and an unverified email are refused', async () => {
    for (const login of ['bob', 'carol']) {
      const jar = new CookieJar();
      const refused = await signInHeadless(app, PUBLIC_URL, login, jar);
      assert.equal(refused.status, 403, login);
      assert.match(await refused.text(), /Sign-in refused/);
      assert.equal(jar.cookies.get('k2o_session'), undefined);
      const api = await k.createEndpoint({ upstream_url: UPSTREAM_URL }, jar.header());
      assert.equal(api.status, 401);
    }
    const refusals = await auditEvents(k, '?action=sign-in.refused');
    assert.ok(refusals.some((event) => event.actor === 'bob@elsewhere.example' && event.detail === 'the email is not allowed'));
    assert.ok(refusals.some((event) => event.actor === 'carol@corp.example' && event.detail === 'the email is not verified'));
  });

  test('an allowed person creates and manages endpoints; others do not see them; an admin sees all', async () => {
    const alice = new CookieJar();
    await signInHeadless(app, PUBLIC_URL, 'alice', alice);
    const home = await (await k.fetch('/', { headers: alice.header() })).text();
    assert.match(home, /Signed in as <strong>alice@corp\.example<\/strong>/);
    assert.match(home, /href="\/endpoints"/);
    assert.doesNotMatch(home, /name="admin_token"/, 'signed in, no admin token is asked for');
    // The form, with the session: a 303 to the created page.
    const form = await postForm(app, `${PUBLIC_URL}/`, alice, { upstream_url: UPSTREAM_URL, display_name: 'Alice form' });
    assert.equal(form.status, 303, await form.clone().text());
    // The API, with the session.
    const created = await k.createEndpoint({ upstream_url: UPSTREAM_URL, display_name: 'Alice API' }, alice.header());
    assert.equal(created.status, 201);
    const slug = created.body.slug!;

    const mine = await (await k.fetch('/endpoints', { headers: alice.header() })).text();
    assert.match(mine, /Alice form/);
    assert.match(mine, /Alice API/);
    // The manage page opens without the manage link, and its buttons work.
    const manage = await k.fetch(`/manage/${slug}`, { headers: alice.header() });
    assert.match(await manage.text(), /name="display_name"/);
    const saved = await postForm(app, `${PUBLIC_URL}/manage/${slug}`, alice, {
      action: 'save',
      display_name: 'Alice renamed',
      upstream_url: UPSTREAM_URL,
      auth_header_name: 'Authorization',
      auth_header_prefix: 'Bearer',
      transport: 'streamable-http',
    });
    assert.equal(saved.status, 303);

    const dave = new CookieJar();
    await signInHeadless(app, PUBLIC_URL, 'dave', dave);
    const daves = await (await k.fetch('/endpoints', { headers: dave.header() })).text();
    assert.doesNotMatch(daves, /Alice renamed/);
    assert.match(await (await k.fetch(`/manage/${slug}`, { headers: dave.header() })).text(), /Paste the manage token/);

    const root = new CookieJar();
    await signInHeadless(app, PUBLIC_URL, 'root', root);
    const all = await (await k.fetch('/endpoints', { headers: root.header() })).text();
    assert.match(all, /All endpoints/);
    assert.match(all, /Alice renamed/);
    assert.match(all, /alice@corp\.example/);
    const deleted = await postForm(app, `${PUBLIC_URL}/manage/${slug}`, root, { action: 'delete', confirm: slug });
    assert.equal(deleted.status, 303);

    // ADMIN_TOKEN keeps working for scripts.
    assert.equal((await k.createEndpoint({ upstream_url: UPSTREAM_URL }, { authorization: `Bearer ${ADMIN_TOKEN}` })).status, 201);

    const events = await auditEvents(k);
    const has = (actor: string, action: string, at?: string) =>
      assert.ok(
        events.some((event) => event.actor === actor && event.action === action && (at === undefined || event.slug === at)),
        `${actor} ${action}`,
      );
    has('alice@corp.example', 'sign-in');
    has('alice@corp.example', 'endpoint.created', slug);
    has('alice@corp.example', 'endpoint.changed', slug);
    has('root@corp.example', 'endpoint.deleted', slug);
    has('admin token', 'endpoint.created');
  });

  test('sign-in to authorize holds, and records who authorized', async () => {
    const created = await k.createEndpoint({ upstream_url: UPSTREAM_URL }, { authorization: `Bearer ${ADMIN_TOKEN}` });
    const endpoint = created.body.mcp_endpoint!;
    const client = await k.register();
    const anonymous = await k.openConsent(endpoint, client);
    assert.equal(anonymous.status, 303);
    assert.match(anonymous.response.headers.get('location')!, /^\/login\?next=%2Fauthorize%3F/);

    const jar = new CookieJar();
    const back = await signInHeadless(
      app,
      PUBLIC_URL,
      'alice',
      jar,
      new URL(anonymous.response.headers.get('location')!, PUBLIC_URL).searchParams.get('next')!,
    );
    assert.equal(back.status, 303);
    const page = await k.openConsent(endpoint, client, { jar });
    assert.equal(page.status, 200, page.text);
    const approved = await k.submitConsent(page, { api_key: KEY, action: 'approve' });
    assert.equal(approved.status, 302);
    // The app comes for its tokens: only then is the grant an access that lists.
    const exchanged = await k.token({
      grant_type: 'authorization_code',
      code: new URL(approved.headers.get('location')!).searchParams.get('code')!,
      redirect_uri: client.redirect_uris[0]!,
      client_id: client.client_id,
      code_verifier: client.verifier,
      resource: endpoint,
      ...(client.client_secret ? { client_secret: client.client_secret } : {}),
    });
    assert.equal(exchanged.status, 200);
    const events = await auditEvents(k, `?slug=${created.body.slug}`);
    assert.ok(events.some((event) => event.action === 'access.granted' && event.actor === 'alice@corp.example'));

    // A grant taken back from the manage API is recorded as the admin token's doing.
    const grants = await k.fetch(`/api/slugs/${created.body.slug}/grants`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const [grant] = ((await grants.json()) as { grants: Array<{ id: string; authorized_by?: string }> }).grants;
    assert.equal(grant!.authorized_by, 'alice@corp.example', 'the grant records who authorized');
    const revoked = await k.fetch(`/api/slugs/${created.body.slug}/grants/${grant!.id}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    assert.equal(revoked.status, 200);
    const after = await auditEvents(k, `?slug=${created.body.slug}&action=access`);
    assert.deepEqual(
      after.map((event) => [event.actor, event.action]),
      [
        ['admin token', 'access.revoked'],
        ['alice@corp.example', 'access.granted'],
      ],
    );
  });

  test('an app whose redirect host is not allowed cannot register, nor present a metadata document', async () => {
    const refused = await k.fetch('/oauth/register', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_name: 'Stranger', redirect_uris: ['https://stranger.example/callback'] }),
    });
    assert.equal(refused.status, 400);
    assert.match(((await refused.json()) as { error_description: string }).error_description, /ALLOWED_CLIENT_REDIRECT_HOSTS/);

    const documentUrl = 'https://apps.example.com/client.json';
    k.upstreams.serve('https://apps.example.com', () =>
      Response.json({
        client_id: documentUrl,
        client_name: 'Stranger',
        redirect_uris: ['https://stranger.example/callback'],
        token_endpoint_auth_method: 'none',
      }),
    );
    const jar = new CookieJar();
    await signInHeadless(app, PUBLIC_URL, 'alice', jar);
    const created = await k.createEndpoint({ upstream_url: UPSTREAM_URL }, jar.header());
    const page = await k.openConsent(
      created.body.mcp_endpoint!,
      { client_id: documentUrl, redirect_uris: ['https://stranger.example/callback'], verifier: 'v', challenge: 'c'.repeat(43) },
      { jar },
    );
    assert.equal(page.status, 400, page.text);
    assert.match(page.text, /could not be fetched, or is not a valid client metadata document/);
  });

  test('a provider that cannot be reached, and a callback without its flow, each get a page that says what to do', async () => {
    const closed = await startProvider(PUBLIC_URL, {});
    const env = { ...closed.env, ALLOWED_EMAILS: '*@corp.example' };
    await closed.close();
    const unreachable = await startApp({ env });
    try {
      const page = await unreachable.fetch('/login', { redirect: 'manual' });
      assert.equal(page.status, 502);
      assert.match(await page.text(), /Sign-in is unavailable/);
    } finally {
      await unreachable.close();
    }
    const stray = await k.fetch('/login/callback?code=abc&state=xyz');
    assert.equal(stray.status, 400);
    assert.match(await stray.text(), /Sign-in expired/);
  });

  test('starting sign-in is limited per address (each start is kept ten minutes)', async () => {
    const limited = await startApp({ env: { ...idp.env, ALLOWED_EMAILS: '*@corp.example', RATE_LIMIT_AUTHORIZE_PAGE: '2/600' } });
    try {
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await limited.fetch('/login', { redirect: 'manual' })).status);
      assert.deepEqual(statuses, [302, 302, 429]);
      assert.equal((await limited.fetch('/login', { redirect: 'manual', clientAddress: '203.0.113.9' })).status, 302);
    } finally {
      await limited.close();
    }
  });

  test('the audit API is for admins; filters; no secret anywhere in the store', async () => {
    const alice = new CookieJar();
    await signInHeadless(app, PUBLIC_URL, 'alice', alice);
    assert.equal((await k.fetch('/api/audit', { headers: alice.header() })).status, 401);
    assert.equal((await k.fetch('/api/audit')).status, 401);
    const root = new CookieJar();
    await signInHeadless(app, PUBLIC_URL, 'root', root);
    const bySession = await k.fetch('/api/audit?action=endpoint&limit=2', { headers: root.header() });
    assert.equal(bySession.status, 200);
    const { events } = (await bySession.json()) as { events: Array<Record<string, unknown>> };
    assert.equal(events.length, 2);
    for (const event of events) {
      assert.deepEqual(Object.keys(event).sort(), ['action', 'actor', 'at', 'detail', 'slug']);
      assert.match(String(event.action), /^endpoint\./);
    }
    assert.equal((await k.fetch('/api/audit?since=yesterday-ish', { headers: root.header() })).status, 400);
    const page = await k.fetch('/audit', { headers: root.header() });
    assert.match(await page.text(), /Audit trail/);
    assert.equal((await k.fetch('/audit', { headers: alice.header() })).status, 403);

    // Every key and value in the store, against every secret this test handed out or saw.
    const secrets = [KEY, ADMIN_TOKEN, idp.clientSecret, alice.cookies.get('k2o_session')!, root.cookies.get('k2o_session')!];
    const created = await k.createEndpoint({ upstream_url: UPSTREAM_URL }, alice.header());
    secrets.push(created.body.manage_token!);
    let dump = '';
    let cursor: string | undefined;
    do {
      const listed = await k.platform.kv.list({ ...(cursor ? { cursor } : {}) });
      for (const key of listed.keys) dump += `${key.name}\n${JSON.stringify(key.metadata ?? null)}\n`;
      cursor = listed.list_complete ? undefined : listed.cursor;
    } while (cursor);
    const audit = JSON.stringify(await auditEvents(k, '?limit=1000'));
    assert.ok(audit.length > 100);
    for (const secret of secrets) {
      assert.ok(!dump.includes(secret), 'no secret in a key name or metadata');
      assert.ok(!audit.includes(secret), 'no secret in the audit trail');
    }
  });
});
