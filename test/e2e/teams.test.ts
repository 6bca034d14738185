import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { authorizationUrl, CookieJar, openConsent, pkce, postForm, register } from '../../src/cli/oauth-client.ts';
import { type ListeningProvider, listenProvider, signInHeadless } from '../support/oidc-provider.ts';
import { type Running, targets } from '../support/targets.ts';
import { startUpstream, type Upstream } from '../support/upstream.ts';

/**
 * Teams on the real server (SQLite) and the Worker (`wrangler dev`, Workers KV), each signing in
 * headlessly through a real OpenID provider on loopback: the relying party (openid-client), the
 * session cookie, owners, refusals and the audit trail work the same on both runtimes.
 */

const KEY = 'sk-teams-0123456789abcdef';
const ADMIN_TOKEN = 'admin-token-teams-0123456789';
const ACCOUNTS = {
  alice: { email: 'alice@corp.example', verified: true },
  root: { email: 'root@corp.example', verified: true },
  bob: { email: 'bob@elsewhere.example', verified: true },
  carol: { email: 'carol@corp.example', verified: false },
};

for (const target of targets())
  describe(`teams sign-in (${target.name})`, () => {
    let idp: ListeningProvider;
    let server: Running;
    let upstream: Upstream;
    const app = (url: string, init?: RequestInit) => fetch(url, init);

    before(async () => {
      upstream = await startUpstream({ key: KEY });
      idp = await listenProvider();
      server = await target.start({
        ...idp.env,
        ALLOWED_EMAILS: '*@corp.example',
        ADMIN_EMAILS: 'root@corp.example',
        ADMIN_TOKEN,
        SIGN_IN_TO_AUTHORIZE: 'true',
        ALLOWED_CLIENT_REDIRECT_HOSTS: 'claude.ai',
      });
      idp.serve(server.url, ACCOUNTS);
    });
    after(async () => {
      await server?.stop();
      await idp?.close();
      await upstream?.close();
    });

    test('an allowed person signs in, creates an endpoint and finds it; the others are refused; the trail has it all', async () => {
      const alice = new CookieJar();
      const signedIn = await signInHeadless(app, server.url, 'alice', alice, '/endpoints');
      assert.equal(signedIn.status, 303, await signedIn.clone().text());
      const cookie = signedIn.headers.getSetCookie().find((line) => line.startsWith('k2o_session='))!;
      assert.match(cookie, /HttpOnly; SameSite=Lax$/, 'on loopback http, no Secure flag');

      const created = await fetch(`${server.url}/api/slugs`, {
        method: 'POST',
        headers: { ...alice.header(), 'content-type': 'application/json' },
        body: JSON.stringify({ upstream_url: upstream.url, display_name: 'Alice on the team' }),
      });
      assert.equal(created.status, 201);
      const { slug, manage_token: manageToken } = (await created.json()) as { slug: string; manage_token: string };
      const mine = await (await fetch(`${server.url}/endpoints`, { headers: alice.header() })).text();
      assert.match(mine, /Alice on the team/);
      assert.match(await (await fetch(`${server.url}/manage/${slug}`, { headers: alice.header() })).text(), /name="display_name"/);

      const anonymous = await fetch(`${server.url}/api/slugs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ upstream_url: upstream.url }),
      });
      assert.equal(anonymous.status, 401);
      for (const login of ['bob', 'carol']) {
        const refused = await signInHeadless(app, server.url, login, new CookieJar());
        assert.equal(refused.status, 403, login);
      }

      const audit = await fetch(`${server.url}/api/audit`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      assert.equal(audit.status, 200);
      const text = await audit.text();
      const { events } = JSON.parse(text) as { events: Array<{ actor: string; action: string; slug: string | null }> };
      const seen = events.map((event) => `${event.actor} ${event.action}${event.slug ? ` ${event.slug}` : ''}`);
      for (const expected of [
        'alice@corp.example sign-in',
        `alice@corp.example endpoint.created ${slug}`,
        'bob@elsewhere.example sign-in.refused',
        'carol@corp.example sign-in.refused',
      ])
        assert.ok(seen.includes(expected), `${expected} in ${JSON.stringify(seen)}`);
      for (const secret of [manageToken, KEY, ADMIN_TOKEN, idp.clientSecret, alice.cookies.get('k2o_session')!])
        assert.ok(!text.includes(secret), 'no secret in the audit trail');
      assert.ok(!server.output().includes(alice.cookies.get('k2o_session')!), 'the session is in no log line');
    });

    test('only allowed apps register; authorizing needs a signed-in person, who is recorded', async () => {
      const stranger = await register(app, `${server.url}/oauth/register`, {
        client_name: 'Stranger',
        redirect_uris: ['https://stranger.example/cb'],
      });
      assert.equal(stranger.status, 400);
      const claude = await register(app, `${server.url}/oauth/register`, {
        client_name: 'Claude',
        redirect_uris: ['https://claude.ai/api/mcp/auth_callback'],
        token_endpoint_auth_method: 'none',
      });
      assert.equal(claude.status, 201);
      const created = await fetch(`${server.url}/api/slugs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ upstream_url: upstream.url }),
      });
      const { slug, mcp_endpoint: endpoint } = (await created.json()) as { slug: string; mcp_endpoint: string };
      const url = authorizationUrl(`${server.url}/authorize`, {
        clientId: claude.clientId!,
        redirectUri: 'https://claude.ai/api/mcp/auth_callback',
        challenge: pkce().challenge,
        scope: 'mcp',
        resource: endpoint,
      });
      const anonymous = await openConsent(app, url);
      assert.equal(anonymous.status, 303);

      const alice = new CookieJar();
      await signInHeadless(app, server.url, 'alice', alice);
      const page = await openConsent(app, url, alice);
      assert.equal(page.status, 200, page.html.slice(0, 300));
      const approved = await postForm(app, page.form!.action, alice, { ...page.form!.hidden, api_key: KEY, action: 'approve' });
      assert.equal(approved.status, 302);
      assert.match(approved.headers.get('location')!, /^https:\/\/claude\.ai\/api\/mcp\/auth_callback\?code=/);
      const audit = await fetch(`${server.url}/api/audit?slug=${slug}&action=access`, {
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      });
      const { events } = (await audit.json()) as { events: Array<{ actor: string; action: string }> };
      assert.deepEqual(
        events.map((event) => `${event.actor} ${event.action}`),
        ['alice@corp.example access.granted'],
      );
    });
  });
