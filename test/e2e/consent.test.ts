import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { parse } from 'node-html-parser';
import { Browser, Page } from '../support/browser.ts';
import { TestOAuthProvider } from '../support/oauth-client.ts';
import { authorize, cookieHeader, createEndpoint, mcpPost, NamedClient, postForm, startAuthorization } from '../support/security.ts';
import { type Running, targets } from '../support/targets.ts';
import { startUpstream, type Upstream } from '../support/upstream.ts';

const KEY = 'sk-consent-0123456789abcdef';

/** Closes a test's own HTTP server, cutting connections still open (a request held on purpose). */
function closeServer(http: Server): Promise<void> {
  http.closeAllConnections();
  return new Promise<void>((resolve) => http.close(() => resolve()));
}

function assertPageHeaders(response: Response, where: string) {
  const csp = response.headers.get('content-security-policy') ?? '';
  assert.match(csp, /frame-ancestors 'none'/, `${where}: CSP forbids framing`);
  assert.match(csp, /default-src 'none'/, `${where}: CSP defaults to nothing`);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/, `${where}: no inline script`);
  assert.equal(response.headers.get('x-frame-options'), 'DENY', `${where}: X-Frame-Options`);
  assert.equal(response.headers.get('referrer-policy'), 'no-referrer', `${where}: Referrer-Policy`);
  assert.equal(response.headers.get('x-content-type-options'), 'nosniff', `${where}: nosniff`);
}

for (const target of targets())
  describe(`consent cannot be forged (${target.name})`, () => {
    let upstream: Upstream;
    let server: Running;
    let endpoint: string;

    before(async () => {
      upstream = await startUpstream({ key: KEY });
      server = await target.start();
      const created = await createEndpoint(server, { upstream_url: upstream.url, display_name: 'Echo' });
      assert.equal(created.status, 201);
      endpoint = created.body.mcp_endpoint!;
    });
    after(async () => {
      await server?.stop();
      await upstream?.close();
    });

    test('the consent page shows the upstream host prominently, forbids framing and binds a __Host- cookie', async () => {
      const browser = new Browser();
      const page = await browser.get(await startAuthorization(endpoint));
      assert.equal(page.status, 200);
      assertPageHeaders(page.response, 'consent page');
      assert.equal(page.response.headers.get('cache-control'), 'no-store');

      const host = new URL(upstream.url).host;
      const root = parse(page.body);
      assert.equal(root.querySelector('.destination .host')?.text, host, 'the host the key goes to stands out');
      assert.match(root.querySelector('h1')?.text ?? '', /wants to use your key$/, 'the app is the heading');
      assert.match(root.text, /Echo[^·]*· a name chosen by whoever created this endpoint/);

      const cookies = page.response.headers.getSetCookie();
      assert.equal(cookies.length, 1);
      const [cookie] = cookies;
      assert.match(cookie!, /^__Host-/);
      assert.match(cookie!, /;\s*Secure/i);
      assert.match(cookie!, /;\s*HttpOnly/i);
      assert.match(cookie!, /;\s*SameSite=Lax/i);
      assert.match(cookie!, /;\s*Path=\//i);
      assert.doesNotMatch(cookie!, /Domain=/i, 'host-only');
    });

    test('a POST without the browser cookie is refused and issues nothing', async () => {
      const browser = new Browser();
      const page = await browser.get(await startAuthorization(endpoint));
      const forged = await postForm(
        page,
        { api_key: KEY, action: 'approve' },
        { origin: new URL(server.url).origin, 'sec-fetch-site': 'same-origin' },
      );
      assert.equal(forged.status, 400);
      assert.equal(forged.headers.get('location'), null);
      assert.match(await forged.text(), /not started in this browser/);
      // The real browser still can: the handle was not consumed by the forgery.
      const real = await browser.submit(page, { api_key: KEY }, { name: 'action', value: 'approve' });
      assert.equal(real.status, 302);
    });

    test('cross-site posts (Origin or Sec-Fetch-Site) are refused before the handle is touched', async () => {
      const browser = new Browser();
      const page = await browser.get(await startAuthorization(endpoint));
      const cookie = cookieHeader(browser);
      const attempts: Record<string, string>[] = [
        { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' },
        { 'sec-fetch-site': 'cross-site' },
        { 'sec-fetch-site': 'same-site' },
        { origin: 'https://evil.example' },
        { origin: 'null' },
      ];
      for (const headers of attempts) {
        const response = await postForm(page, { api_key: KEY, action: 'approve' }, { cookie, ...headers });
        assert.equal(response.status, 403, JSON.stringify(headers));
        assert.equal(response.headers.get('location'), null);
        assertPageHeaders(response, 'refusal page');
      }
      const real = await browser.submit(page, { api_key: KEY }, { name: 'action', value: 'approve' });
      assert.equal(real.status, 302, 'the refused attempts did not spend the handle');
    });

    test('a form approves once: replaying the approved form is told so, and nothing is issued', async () => {
      const browser = new Browser();
      const page = await browser.get(await startAuthorization(endpoint));
      const cookie = cookieHeader(browser);
      const first = await browser.submit(page, { api_key: KEY }, { name: 'action', value: 'approve' });
      assert.equal(first.status, 302);
      const replay = await postForm(
        page,
        { api_key: KEY, action: 'approve' },
        { cookie, origin: new URL(server.url).origin, 'sec-fetch-site': 'same-origin' },
      );
      assert.equal(replay.status, 409);
      assert.equal(replay.headers.get('location'), null);
      assert.match(await replay.text(), /already approved/);
    });

    test('the handle is bound to its request: posted redirect_uri, client_id or state are ignored, and a non-Latin-1 state round-trips', async () => {
      const provider = new TestOAuthProvider();
      const browser = new Browser();
      const page = await browser.get(await startAuthorization(endpoint, provider));
      const response = await postForm(
        page,
        {
          api_key: KEY,
          action: 'approve',
          redirect_uri: 'https://evil.example/cb',
          client_id: 'someone-else',
          state: 'forged',
          resource: 'https://evil.example/mcp',
        },
        { cookie: cookieHeader(browser), origin: new URL(server.url).origin, 'sec-fetch-site': 'same-origin' },
      );
      assert.equal(response.status, 302);
      const location = new URL(response.headers.get('location')!);
      assert.equal(`${location.origin}${location.pathname}`, provider.redirectUrl);
      assert.equal(location.searchParams.get('state'), 'state-ünicode-✓');
      assert.equal(location.searchParams.get('iss'), server.url);
      assert.ok(location.searchParams.get('code'));
    });

    test('an authorization request without PKCE S256 is refused before any page is shown', async () => {
      const url = await startAuthorization(endpoint);
      assert.equal((await new Browser().get(url)).status, 200);
      const variants: [string, (params: URLSearchParams) => void][] = [
        [
          'no code_challenge',
          (params) => {
            params.delete('code_challenge');
            params.delete('code_challenge_method');
          },
        ],
        ['plain method', (params) => params.set('code_challenge_method', 'plain')],
        ['no method', (params) => params.delete('code_challenge_method')],
      ];
      for (const [name, change] of variants) {
        const changed = new URL(url);
        change(changed.searchParams);
        const page = await new Browser().get(changed);
        assert.equal(page.status, 400, name);
        assert.match(page.text(), /code_challenge/, name);
        assert.equal(page.response.headers.getSetCookie().length, 0, `${name}: no consent transaction was started`);
      }
    });

    test('a handle from one browser cannot be used with another browser’s cookie', async () => {
      const alice = new Browser();
      const mallory = new Browser();
      const alicePage = await alice.get(await startAuthorization(endpoint));
      await mallory.get(await startAuthorization(endpoint));
      const response = await postForm(
        alicePage,
        { api_key: KEY, action: 'approve' },
        { cookie: cookieHeader(mallory), origin: new URL(server.url).origin },
      );
      assert.equal(response.status, 400);
      assert.equal(response.headers.get('location'), null);
    });

    test('names from the endpoint creator and from the registering client are escaped, never markup', async () => {
      const evilName = '<script>alert("name")</script><img src=x onerror=alert(1)>';
      const created = await createEndpoint(server, { upstream_url: upstream.url, display_name: evilName });
      assert.equal(created.status, 201);
      const browser = new Browser();
      const clientName = '"><script>alert("client")</script><iframe src="https://evil.example">';
      const page = await browser.get(await startAuthorization(created.body.mcp_endpoint!, new NamedClient(clientName)));
      assert.equal(page.status, 200);
      const root = parse(page.body);
      assert.deepEqual(
        root.querySelectorAll('script').map((s) => s.getAttribute('src')),
        ['/assets/app.js'],
        'only our own script',
      );
      assert.equal(root.querySelectorAll('img').length, 0);
      assert.equal(root.querySelectorAll('iframe').length, 0);
      assert.ok(page.text().includes(evilName), 'the display name is shown as text');
      assert.ok(page.text().includes(clientName), 'the client name is shown as text');
      assert.ok(page.body.includes('&lt;script&gt;'));

      // The page after creation escapes the name too.
      const form = new URLSearchParams({ upstream_url: upstream.url, display_name: evilName });
      const createdPage = await fetch(`${server.url}/`, { method: 'POST', body: form, headers: { origin: server.url } });
      assert.equal(createdPage.status, 200);
      assert.ok(createdPage.redirected, 'the form redirects to the created page (POST/redirect/GET)');
      const createdRoot = parse(await createdPage.text());
      assert.deepEqual(
        createdRoot.querySelectorAll('script').map((s) => s.getAttribute('src')),
        ['/assets/app.js'],
      );
      assert.equal(createdRoot.querySelectorAll('img').length, 0);
    });

    test('every page and every error carries the security headers; every response carries nosniff', async () => {
      const pages: [string, Promise<Response>][] = [
        ['home', fetch(`${server.url}/`)],
        [
          'home form error',
          fetch(`${server.url}/`, { method: 'POST', body: new URLSearchParams({ upstream_url: 'ftp://example.com/mcp' }) }),
        ],
        [
          'cross-site home post',
          fetch(`${server.url}/`, {
            method: 'POST',
            body: new URLSearchParams({ upstream_url: 'x' }),
            headers: { 'sec-fetch-site': 'cross-site' },
          }),
        ],
        ['authorize: unknown endpoint', fetch(`${server.url}/authorize?resource=${encodeURIComponent(`${server.url}/AAAAAAAAAAAA/mcp`)}`)],
        ['authorize: no resource', fetch(`${server.url}/authorize?client_id=x`)],
        [
          'authorize: bad client',
          fetch(`${server.url}/authorize?resource=${encodeURIComponent(endpoint)}&client_id=nope&response_type=code`),
        ],
        [
          'authorize POST without handle',
          fetch(`${server.url}/authorize`, { method: 'POST', body: new URLSearchParams({ action: 'approve' }) }),
        ],
      ];
      for (const [name, pending] of pages) {
        const response = await pending;
        assert.match(response.headers.get('content-type') ?? '', /^text\/html/, name);
        assertPageHeaders(response, name);
        assert.ok(response.status < 500, `${name}: ${response.status}`);
      }

      const others: [string, Promise<Response>][] = [
        ['healthz', fetch(`${server.url}/healthz`)],
        ['404', fetch(`${server.url}/no/such/page`)],
        ['stylesheet', fetch(`${server.url}/assets/style.css`)],
        ['AS metadata', fetch(`${server.url}/.well-known/oauth-authorization-server`)],
        ['PR metadata', fetch(`${server.url}/.well-known/oauth-protected-resource${new URL(endpoint).pathname}`)],
        [
          'register error',
          fetch(`${server.url}/oauth/register`, { method: 'POST', body: '{', headers: { 'content-type': 'application/json' } }),
        ],
        [
          'token error',
          fetch(`${server.url}/oauth/token`, {
            method: 'POST',
            body: 'grant_type=nope',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
          }),
        ],
        ['MCP challenge', fetch(endpoint, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })],
        ['API error', fetch(`${server.url}/api/slugs`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })],
      ];
      for (const [name, pending] of others) {
        const response = await pending;
        assert.equal(response.headers.get('x-content-type-options'), 'nosniff', name);
        assert.match(response.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/, name);
        await response.body?.cancel();
      }
    });

    test('a change to the endpoint while the page is open is caught before the key is sent', async () => {
      const created = await createEndpoint(server, { upstream_url: upstream.url });
      const other = await startUpstream({ key: KEY });
      try {
        const browser = new Browser();
        const page = await browser.get(await startAuthorization(created.body.mcp_endpoint!));
        assert.equal(parse(page.body).querySelector('.destination .host')?.text, new URL(upstream.url).host);
        const patched = await fetch(`${server.url}/api/slugs/${created.body.slug}`, {
          method: 'PATCH',
          headers: { authorization: `Bearer ${created.body.manage_token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ upstream_url: other.url }),
        });
        assert.equal(patched.status, 200);

        const response = await browser.submit(page, { api_key: KEY }, { name: 'action', value: 'approve' });
        assert.equal(response.status, 409);
        assert.equal(response.headers.get('location'), null);
        assert.ok(
          other.requests.every(({ headers }) => !JSON.stringify(headers).includes(KEY)),
          'the key did not travel to the new destination',
        );
        const again = new Page(page.url, response, await response.text());
        assert.equal(
          parse(again.body).querySelector('.destination .host')?.text,
          new URL(other.url).host,
          'the page now names the new host',
        );
        const approved = await browser.submit(again, { api_key: KEY }, { name: 'action', value: 'approve' });
        assert.equal(approved.status, 302, 'approving what is shown now works');
      } finally {
        await other.close();
      }
    });
  });

for (const target of targets())
  describe(`a hostile upstream cannot act as our origin (${target.name})`, () => {
    test('HTML, script, cookies and a permissive CSP from the upstream arrive inert', async (t) => {
      const http = createServer((req, res) => {
        if (req.headers.authorization !== `Bearer ${KEY}`) return void res.writeHead(401).end();
        let body = '';
        req.on('data', (chunk: Buffer) => {
          body += chunk;
        });
        req.on('end', () => {
          // It answers the key check's handshake like an MCP server, then turns hostile.
          if (body.includes('"initialize"')) {
            res.writeHead(200, { 'content-type': 'application/json' });
            return void res.end(JSON.stringify({ jsonrpc: '2.0', id: 0, result: { protocolVersion: '2025-06-18', capabilities: {} } }));
          }
          res.writeHead(200, {
            'content-type': 'text/html',
            'content-security-policy': "script-src * 'unsafe-inline'",
            'x-frame-options': 'ALLOWALL',
            'set-cookie': '__Host-oauth-consent-x=stolen; Path=/; Secure',
          });
          res.end('<script>document.cookie</script>');
        });
      });
      await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
      t.after(() => closeServer(http));
      const server = await target.start();
      try {
        const port = (http.address() as { port: number }).port;
        const created = await createEndpoint(server, { upstream_url: `http://127.0.0.1:${port}/mcp`, transport: 'streamable-http' });
        const { accessToken } = await authorize(server, created.body.mcp_endpoint!, KEY);
        const response = await mcpPost(created.body.mcp_endpoint!, accessToken, '{}');
        assert.equal(response.status, 200);
        const csp = response.headers.get('content-security-policy') ?? '';
        assert.match(csp, /sandbox/, 'our CSP replaces the upstream’s');
        assert.match(csp, /default-src 'none'/);
        assert.doesNotMatch(csp, /unsafe-inline/);
        assert.equal(response.headers.get('x-frame-options'), 'DENY');
        assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
        assert.equal(response.headers.get('set-cookie'), null, 'no cookie of the upstream lands on our origin');
        await response.body?.cancel();
      } finally {
        await server.stop();
      }
    });
  });

for (const target of targets())
  describe(`an endpoint changed while a key is being checked (${target.name})`, () => {
    test('the grant made meanwhile is revoked and the browser gets no code', async (t) => {
      let hold: Promise<void> | undefined;
      let arrived!: () => void;
      const probing = new Promise<void>((resolve) => (arrived = resolve));
      const http = createServer((req, res) => {
        if (req.headers.authorization !== `Bearer ${KEY}`) return void res.writeHead(401).end();
        req.resume();
        req.on('end', async () => {
          if (hold) {
            arrived();
            await hold;
          }
          res.writeHead(200, { 'content-type': 'application/json' }).end('{"jsonrpc":"2.0","id":0,"result":{}}');
        });
      });
      await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
      t.after(() => closeServer(http));
      const server = await target.start();
      try {
        const url = `http://127.0.0.1:${(http.address() as { port: number }).port}/mcp`;
        const created = await createEndpoint(server, { upstream_url: url, transport: 'streamable-http' });
        const { slug, manage_token: token } = created.body as Record<string, string>;
        const browser = new Browser();
        const page = await browser.get(await startAuthorization(created.body.mcp_endpoint!));

        let release!: () => void;
        hold = new Promise<void>((resolve) => (release = resolve));
        const submitted = browser.submit(page, { api_key: KEY }, { name: 'action', value: 'approve' });
        await probing;
        const patch = (body: unknown) =>
          fetch(`${server.url}/api/slugs/${slug}`, {
            method: 'PATCH',
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
            body: JSON.stringify(body),
          });
        const moved = await patch({ auth_header_name: 'X-Api-Key' });
        assert.equal(moved.status, 200);
        release();
        hold = undefined;

        const response = await submitted;
        assert.equal(response.status, 409);
        assert.equal(response.headers.get('location'), null, 'no code reaches the client');
        // Had the grant made during the check survived, this change would find and revoke it.
        const again = await patch({ auth_header_name: 'Authorization' });
        assert.equal(((await again.json()) as { revoked_grants: number }).revoked_grants, 0);
      } finally {
        await server.stop();
      }
    });
  });
