import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parse } from 'node-html-parser';
import { Browser } from '../support/browser.ts';
import { authorize, createEndpoint, mcpPost, startAuthorization } from '../support/security.ts';
import { type Running, targets } from '../support/targets.ts';
import { startUpstream, type Upstream } from '../support/upstream.ts';

const KEY = 'sk-operator-0123456789abcdef';
const ADMIN = 'admin-token-for-tests-0123456789';

function manage(server: Running, slug: string, token: string | undefined, method: string, body?: unknown, type = 'application/json') {
  return fetch(`${server.url}/api/slugs/${slug}`, {
    method,
    headers: {
      ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'content-type': type } : {}),
    },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
}

const LIST = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' });

/** Whether the token still opens the endpoint (the upstream answers) or is refused with a challenge. */
async function tokenWorks(endpoint: string, token: string): Promise<boolean> {
  // A fresh initialize each time: the upstream keeps sessions, the proxy does not need one.
  const init = JSON.stringify({
    jsonrpc: '2.0',
    id: 0,
    method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } },
  });
  const response = await mcpPost(endpoint, token, init);
  await response.body?.cancel();
  if (response.status === 401) {
    assert.match(response.headers.get('www-authenticate') ?? '', /invalid_token/);
    return false;
  }
  assert.equal(response.status, 200);
  return true;
}

async function refresh(server: Running, clientId: string, refreshToken: string): Promise<number> {
  const response = await fetch(`${server.url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: clientId }),
  });
  await response.body?.cancel();
  return response.status;
}

for (const target of targets())
  describe(`operator controls (${target.name})`, () => {
    describe('the manage token', () => {
      let server: Running;
      let upstream: Upstream;
      let other: Upstream;
      before(async () => {
        upstream = await startUpstream({ key: KEY });
        other = await startUpstream({ key: KEY });
        server = await target.start();
      });
      after(async () => {
        await server?.stop();
        await upstream?.close();
        await other?.close();
      });

      test('GET shows the endpoint to its manage token only; the token and its hash are never shown', async () => {
        const a = await createEndpoint(server, { upstream_url: upstream.url, display_name: 'A' });
        const b = await createEndpoint(server, { upstream_url: upstream.url, display_name: 'B' });
        const shown = await manage(server, a.body.slug!, a.body.manage_token, 'GET');
        assert.equal(shown.status, 200);
        assert.equal(shown.headers.get('cache-control'), 'no-store');
        const body = (await shown.json()) as Record<string, unknown>;
        assert.equal(body.slug, a.body.slug);
        assert.equal(body.upstream_url, upstream.url);
        assert.equal(body.display_name, 'A');
        assert.ok(!JSON.stringify(body).includes(a.body.manage_token!));
        assert.ok(!('manage_token' in body) && !('manageTokenHash' in body) && !('manage_token_hash' in body));

        for (const token of [undefined, '', 'wrong', b.body.manage_token, `${a.body.manage_token}x`, a.body.manage_token!.slice(0, -1)]) {
          const refused = await manage(server, a.body.slug!, token, 'GET');
          assert.equal(refused.status, 401, `token ${JSON.stringify(token)}`);
          assert.equal(((await refused.json()) as { error: string }).error, 'unauthorized');
        }
        assert.equal((await manage(server, 'AAAAAAAAAAAA', a.body.manage_token, 'GET')).status, 404);
        for (const method of ['PATCH', 'DELETE']) {
          const refused = await manage(
            server,
            a.body.slug!,
            b.body.manage_token,
            method,
            method === 'PATCH' ? { display_name: 'taken' } : undefined,
          );
          assert.equal(refused.status, 401, `${method} with another endpoint's token`);
        }
        assert.equal(
          ((await (await manage(server, a.body.slug!, a.body.manage_token, 'GET')).json()) as { display_name: string }).display_name,
          'A',
        );
      });

      test('PATCH of the display name keeps grants; PATCH of the upstream revokes them and new grants go to the new upstream', async () => {
        const created = await createEndpoint(server, { upstream_url: upstream.url });
        const { slug, manage_token: token, mcp_endpoint: endpoint } = created.body as Record<string, string>;
        const first = await authorize(server, endpoint!, KEY);
        const second = await authorize(server, endpoint!, KEY);

        const renamed = await manage(server, slug!, token, 'PATCH', { display_name: 'Renamed' });
        assert.equal(renamed.status, 200);
        const renamedBody = (await renamed.json()) as { display_name: string; revoked_grants: number };
        assert.equal(renamedBody.display_name, 'Renamed');
        assert.equal(renamedBody.revoked_grants, 0);
        assert.ok(await tokenWorks(endpoint!, first.accessToken), 'a new name changes nothing for users');

        const moved = await manage(server, slug!, token, 'PATCH', { upstream_url: other.url });
        assert.equal(moved.status, 200);
        const movedBody = (await moved.json()) as { upstream_url: string; revoked_grants: number };
        assert.equal(movedBody.upstream_url, other.url);
        assert.equal(movedBody.revoked_grants, 2);
        assert.equal(await tokenWorks(endpoint!, first.accessToken), false, 'old access tokens stop at once');
        assert.equal(await tokenWorks(endpoint!, second.accessToken), false);
        assert.equal(await refresh(server, first.clientId, first.refreshToken), 400, 'old refresh tokens are dead too');

        const page = await new Browser().get(await startAuthorization(endpoint!));
        assert.equal(parse(page.body).querySelector('.destination .host')?.text, new URL(other.url).host);
        other.requests.length = 0;
        const again = await authorize(server, endpoint!, KEY);
        assert.ok(await tokenWorks(endpoint!, again.accessToken));
        assert.ok(other.requests.length > 0, 'the new grant reaches the new upstream');
      });

      test('PATCH of how the key is sent revokes grants; invalid changes are refused and change nothing', async () => {
        const created = await createEndpoint(server, { upstream_url: upstream.url });
        const { slug, manage_token: token, mcp_endpoint: endpoint } = created.body as Record<string, string>;
        const grant = await authorize(server, endpoint!, KEY);

        const invalid: [unknown, string, number, string][] = [
          [{}, 'application/json', 400, 'invalid_request'],
          [{ colour: 'red' }, 'application/json', 400, 'invalid_request'],
          [{ auth_header_name: 'Host' }, 'application/json', 400, 'invalid_request'],
          [{ auth_header_name: 'X-Key\r\nInjected: 1' }, 'application/json', 400, 'invalid_request'],
          [{ auth_header_prefix: 'Bearer\n' }, 'application/json', 400, 'invalid_request'],
          [{ display_name: 'x'.repeat(101) }, 'application/json', 400, 'invalid_request'],
          [{ upstream_url: 'http://169.254.169.254/latest/meta-data/' }, 'application/json', 400, 'invalid_upstream_url'],
          [{ upstream_url: 'https://user:pass@example.com/mcp' }, 'application/json', 400, 'invalid_upstream_url'],
          [{ upstream_url: 5 }, 'application/json', 400, 'invalid_request'],
          ['{"display_name":', 'application/json', 400, 'invalid_json'],
          ['[]', 'application/json', 400, 'invalid_request'],
          [{ display_name: 'ok' }, 'text/plain', 415, 'unsupported_media_type'],
        ];
        for (const [body, type, status, error] of invalid) {
          const response = await manage(server, slug!, token, 'PATCH', body, type);
          assert.equal(response.status, status, JSON.stringify(body));
          const json = (await response.json()) as { error: string; message: string };
          assert.equal(json.error, error, JSON.stringify(body));
          assert.ok(json.message.length > 0);
        }
        const unchanged = (await (await manage(server, slug!, token, 'GET')).json()) as Record<string, string>;
        assert.equal(unchanged.upstream_url, upstream.url);
        assert.equal(unchanged.auth_header_name, 'Authorization');
        assert.ok(await tokenWorks(endpoint!, grant.accessToken), 'refused changes revoked nothing');

        const rekeyed = await manage(server, slug!, token, 'PATCH', { auth_header_name: 'X-API-Key' });
        assert.equal(rekeyed.status, 200);
        const body = (await rekeyed.json()) as Record<string, unknown>;
        assert.equal(body.auth_header_name, 'X-API-Key');
        assert.equal(body.auth_header_prefix, '', 'a custom header gets the bare key unless a prefix is given');
        assert.equal(body.revoked_grants, 1);
        assert.equal(await tokenWorks(endpoint!, grant.accessToken), false);
      });

      test('DELETE removes the endpoint and revokes every grant on it', async () => {
        const created = await createEndpoint(server, { upstream_url: upstream.url });
        const { slug, manage_token: token, mcp_endpoint: endpoint } = created.body as Record<string, string>;
        const grants = [await authorize(server, endpoint!, KEY), await authorize(server, endpoint!, KEY)];
        const keep = await createEndpoint(server, { upstream_url: upstream.url });
        const kept = await authorize(server, keep.body.mcp_endpoint!, KEY);

        const deleted = await manage(server, slug!, token, 'DELETE');
        assert.equal(deleted.status, 200);
        assert.deepEqual(await deleted.json(), { deleted: true, slug, revoked_grants: 2 });

        for (const grant of grants) {
          assert.equal(await tokenWorks(endpoint!, grant.accessToken), false);
          assert.equal(await refresh(server, grant.clientId, grant.refreshToken), 400);
        }
        assert.equal((await manage(server, slug!, token, 'GET')).status, 404);
        assert.equal((await fetch(endpoint!, { method: 'POST', body: LIST, headers: { 'content-type': 'application/json' } })).status, 404);
        const request = new URLSearchParams({
          resource: endpoint!,
          client_id: grants[0]!.clientId,
          response_type: 'code',
          redirect_uri: grants[0]!.provider.redirectUrl,
          code_challenge: 'c'.repeat(43),
          code_challenge_method: 'S256',
        });
        const page = await fetch(`${server.url}/authorize?${request}`);
        assert.equal(page.status, 404);
        assert.ok(await tokenWorks(keep.body.mcp_endpoint!, kept.accessToken), 'other endpoints keep their grants');
      });
    });

    describe('guessing tokens', () => {
      let server: Running;
      before(async () => {
        server = await target.start({ ADMIN_TOKEN: ADMIN, RATE_LIMIT_CREATE: '3/3600', RATE_LIMIT_MANAGE: '3/600' });
      });
      after(async () => {
        await server?.stop();
      });

      test('wrong admin tokens use up the creation limit: then even the right one waits', async () => {
        const body = { upstream_url: 'http://127.0.0.1:9/mcp' };
        for (let attempt = 0; attempt < 3; attempt++) {
          assert.equal((await createEndpoint(server, body, { authorization: `Bearer guess-${attempt}` })).status, 401);
        }
        const limited = await fetch(`${server.url}/api/slugs`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN}` },
          body: JSON.stringify(body),
        });
        assert.equal(limited.status, 429, 'a correct guess after the limit learns nothing');
        assert.match(limited.headers.get('retry-after') ?? '', /^\d+$/);
        const form = await fetch(`${server.url}/`, { method: 'POST', body: new URLSearchParams({ ...body, admin_token: ADMIN }) });
        assert.equal(form.status, 429, 'the start page shares the limit');
      });

      test('wrong tokens on the manage API use up its limit: then even the right one waits', async () => {
        for (let attempt = 0; attempt < 3; attempt++) {
          assert.equal((await manage(server, 'AAAAAAAAAAAA', `guess-${attempt}`, 'DELETE')).status, 404);
        }
        const limited = await manage(server, 'AAAAAAAAAAAA', ADMIN, 'GET');
        assert.equal(limited.status, 429);
        assert.match(limited.headers.get('retry-after') ?? '', /^\d+$/);
      });
    });

    describe('ADMIN_TOKEN', () => {
      let server: Running;
      let upstream: Upstream;
      before(async () => {
        upstream = await startUpstream({ key: KEY });
        server = await target.start({ ADMIN_TOKEN: ADMIN });
      });
      after(async () => {
        await server?.stop();
        await upstream?.close();
      });

      test('the JSON API creates endpoints only with the admin token', async () => {
        const body = { upstream_url: upstream.url };
        for (const headers of [
          {},
          { authorization: 'Bearer wrong' },
          { authorization: `Bearer ${ADMIN}x` },
          { authorization: `Basic ${ADMIN}` },
        ] as Record<string, string>[]) {
          const refused = await createEndpoint(server, body, headers);
          assert.equal(refused.status, 401, JSON.stringify(headers));
          assert.equal(refused.body.error, 'unauthorized');
        }
        const created = await createEndpoint(server, body, { authorization: `Bearer ${ADMIN}` });
        assert.equal(created.status, 201);
        assert.ok(created.body.manage_token);
      });

      test('the start page asks for the admin token and creates only with it', async () => {
        const home = await fetch(`${server.url}/`);
        const form = parse(await home.text()).querySelector('form');
        assert.ok(form?.querySelector('input[name="admin_token"][type="password"]'), 'the form asks for the token');

        for (const adminToken of [undefined, 'wrong']) {
          const fields = new URLSearchParams({ upstream_url: upstream.url, ...(adminToken ? { admin_token: adminToken } : {}) });
          const refused = await fetch(`${server.url}/`, { method: 'POST', body: fields });
          assert.equal(refused.status, 401);
          const text = await refused.text();
          assert.match(text, /admin token is not right/);
          assert.ok(!text.includes(ADMIN));
        }
        const created = await fetch(`${server.url}/`, {
          method: 'POST',
          body: new URLSearchParams({ upstream_url: upstream.url, admin_token: ADMIN }),
        });
        assert.equal(created.status, 200);
        assert.ok(created.redirected, 'the form redirects to the created page (POST/redirect/GET)');
        assert.match(await created.text(), /Your endpoint/);
      });

      test('the operator can read, change and delete any endpoint with the admin token', async () => {
        const created = await createEndpoint(server, { upstream_url: upstream.url }, { authorization: `Bearer ${ADMIN}` });
        const slug = created.body.slug!;
        const grant = await authorize(server, created.body.mcp_endpoint!, KEY);
        assert.equal((await manage(server, slug, ADMIN, 'GET')).status, 200);
        assert.equal((await manage(server, slug, ADMIN, 'PATCH', { display_name: 'Checked by the operator' })).status, 200);
        const deleted = await manage(server, slug, ADMIN, 'DELETE');
        assert.equal(deleted.status, 200);
        assert.equal(((await deleted.json()) as { revoked_grants: number }).revoked_grants, 1);
        assert.equal(await tokenWorks(created.body.mcp_endpoint!, grant.accessToken), false);
      });
    });
  });
