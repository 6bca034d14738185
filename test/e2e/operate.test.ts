import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parse } from 'node-html-parser';
import { Browser } from '../support/browser.ts';
import { authorize, mcpPost, startAuthorization } from '../support/security.ts';
import { type Running, targets } from '../support/targets.ts';
import { startUpstream, type Upstream } from '../support/upstream.ts';

/**
 * Operating it, on each runtime: the created page after the form (shown once), the manage page
 * with its cookie (revoke one app: it is refused), /api/access/revoke with the key, request ids, and /metrics
 * (served by the Node server; on Workers, a 501 that says why).
 */

const KEY = 'sk-operate-0123456789abcdef';
const METRICS_TOKEN = 'metrics-token-for-e2e-0123456789';
const INITIALIZE = JSON.stringify({
  jsonrpc: '2.0',
  id: 0,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'operate', version: '1' } },
});
const FORM = { 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': 'same-origin', origin: 'null' };

async function status(endpoint: string, token: string): Promise<number> {
  const response = await mcpPost(endpoint, token, INITIALIZE);
  await response.body?.cancel();
  return response.status;
}

for (const target of targets())
  describe(`operating it (${target.name})`, () => {
    let upstream: Upstream;
    let server: Running;
    before(async () => {
      upstream = await startUpstream({ key: KEY });
      server = await target.start({ METRICS_TOKEN });
    });
    after(async () => {
      await server?.stop();
      await upstream?.close();
    });

    test('form → created page once → manage page → revoke one app → /api/access/revoke with the key → metrics', async () => {
      const posted = await fetch(`${server.url}/`, {
        method: 'POST',
        headers: FORM,
        body: new URLSearchParams({ upstream_url: upstream.url, display_name: 'Operated' }),
        redirect: 'manual',
      });
      assert.equal(posted.status, 303);
      assert.match(posted.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
      const createdUrl = new URL(posted.headers.get('location')!, server.url);
      const created = parse(await (await fetch(createdUrl)).text());
      const endpoint = created.querySelector('#endpoint')!.getAttribute('value')!;
      const manageLink = new URL(created.querySelector('#manage-link')!.getAttribute('value')!);
      assert.equal(parse(await (await fetch(createdUrl)).text()).querySelector('#manage-link'), null, 'shown once');

      const claude = await authorize(server, endpoint, KEY);
      const other = await authorize(server, endpoint, KEY);

      // The manage page: the script would post the fragment's token; this is that post.
      const token = new URLSearchParams(manageLink.hash.slice(1)).get('token')!;
      const opened = await fetch(new URL(manageLink.pathname, server.url), {
        method: 'POST',
        headers: FORM,
        body: new URLSearchParams({ action: 'open', token }),
        redirect: 'manual',
      });
      assert.equal(opened.status, 303);
      const cookie = opened.headers.getSetCookie()[0]!.split(';')[0]!;
      const page = parse(await (await fetch(new URL(manageLink.pathname, server.url), { headers: { cookie } })).text());
      const grantIds = page.querySelectorAll('table.grants input[name="grant"]').map((input) => input.getAttribute('value')!);
      assert.equal(grantIds.length, 2);
      const listed = (await (
        await fetch(`${server.url}/api/slugs/${manageLink.pathname.split('/')[2]}/grants`, {
          headers: { authorization: `Bearer ${token}` },
        })
      ).json()) as { grants: { id: string; client_id: string }[] };
      const claudeGrant = listed.grants.find((grant) => grant.client_id === claude.clientId)!.id;
      const revoked = await fetch(new URL(manageLink.pathname, server.url), {
        method: 'POST',
        headers: { ...FORM, cookie },
        body: new URLSearchParams({ action: 'revoke', grant: claudeGrant, confirm: 'yes' }),
        redirect: 'manual',
      });
      assert.equal(revoked.status, 303);
      // Workers KV: revocation may take up to a minute in another location; here it is one location.
      assert.equal(await status(endpoint, claude.accessToken), 401, 'the revoked app is refused');
      assert.equal(await status(endpoint, other.accessToken), 200, 'the other app goes on');

      // The person who pasted the key takes the rest back, from the consent page's link.
      const consent = await new Browser().get(await startAuthorization(endpoint));
      const link = parse(consent.body).querySelector('a[href^="/access?"]')!.getAttribute('href')!;
      assert.equal(new URL(link, server.url).searchParams.get('endpoint'), endpoint);
      const mine = await fetch(`${server.url}/api/access/revoke`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ endpoint, credentials: [KEY] }),
      });
      assert.equal(mine.status, 200);
      assert.equal(((await mine.json()) as { revoked: number }).revoked, 1);
      assert.equal(await status(endpoint, other.accessToken), 401);

      const metrics = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
      if (target.name === 'workers') {
        assert.equal(metrics.status, 501);
        assert.match(((await metrics.json()) as { message: string }).message, /Workers Analytics/);
        return;
      }
      assert.equal(metrics.status, 200);
      const text = await metrics.text();
      assert.match(text, /^key2oauth_grants_issued_total 2$/m);
      assert.match(text, /^key2oauth_grants_revoked_total 2$/m);
      assert.match(text, /^key2oauth_http_requests_total\{route="\/:slug\/mcp",method="POST",status="401"\} [1-9]/m);
      assert.match(text, /^key2oauth_upstream_latency_seconds_count [1-9]/m);
    });
  });
