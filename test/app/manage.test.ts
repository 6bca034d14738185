import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parse } from 'node-html-parser';
import { INITIALIZE, type InProcess, KEY, startApp, UPSTREAM_URL } from '../support/in-process.ts';
import { serveMcp } from '../support/in-process-upstream.ts';

/** The creator's controls, `GET/PATCH/DELETE /api/slugs/:slug`, and what they do to grants. */

const ADMIN = 'admin-token-in-process-0123456789';
const OTHER_URL = 'https://other.example.net/v2/mcp';

function manage(k: InProcess, slug: string, token: string | undefined, method: string, body?: unknown, type = 'application/json') {
  return k.fetch(`/api/slugs/${slug}`, {
    method,
    headers: {
      ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'content-type': type } : {}),
    },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });
}

/** Whether the token still opens the endpoint, or is refused with an invalid_token challenge. */
async function tokenWorks(k: InProcess, endpoint: string, token: string): Promise<boolean> {
  const response = await k.mcp(endpoint, token, INITIALIZE);
  await response.body?.cancel();
  if (response.status === 401) {
    assert.match(response.headers.get('www-authenticate') ?? '', /invalid_token/);
    return false;
  }
  assert.equal(response.status, 200);
  return true;
}

async function refreshStatus(k: InProcess, clientId: string, refreshToken: string): Promise<number> {
  const response = await k.token({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: clientId });
  await response.body?.cancel();
  return response.status;
}

describe('the manage API, in-process', () => {
  let k: InProcess;
  before(async () => {
    k = await startApp({ env: { RATE_LIMIT_CREATE: '0', RATE_LIMIT_MANAGE: '0' } });
    serveMcp(k.upstreams, { url: OTHER_URL, key: KEY });
  });
  after(() => k.close());

  test('GET shows the endpoint to its manage token only, never the token or its hash', async () => {
    const a = await k.mustCreateEndpoint({ upstream_url: UPSTREAM_URL, display_name: 'A' });
    const b = await k.mustCreateEndpoint({ upstream_url: UPSTREAM_URL, display_name: 'B' });
    const shown = await manage(k, a.slug!, a.manage_token, 'GET');
    assert.equal(shown.status, 200);
    assert.equal(shown.headers.get('cache-control'), 'no-store');
    const body = (await shown.json()) as Record<string, unknown>;
    assert.equal(body.slug, a.slug);
    assert.equal(body.mcp_endpoint, a.mcp_endpoint);
    assert.equal(body.upstream_url, UPSTREAM_URL);
    assert.equal(body.display_name, 'A');
    assert.ok(!JSON.stringify(body).includes(a.manage_token!));
    assert.ok(!('manage_token' in body) && !('manageTokenHash' in body));

    for (const token of [undefined, '', 'wrong', b.manage_token, `${a.manage_token}x`, a.manage_token!.slice(0, -1)]) {
      const refused = await manage(k, a.slug!, token, 'GET');
      assert.equal(refused.status, 401, `token ${JSON.stringify(token)}`);
      assert.equal(refused.headers.get('www-authenticate'), 'Bearer realm="key2oauth-manage"');
      const error = (await refused.json()) as { error: string; message: string };
      assert.equal(error.error, 'unauthorized');
      assert.match(error.message, /manage token/);
    }
    for (const method of ['PATCH', 'DELETE']) {
      const refused = await manage(k, a.slug!, b.manage_token, method, method === 'PATCH' ? { display_name: 'taken' } : undefined);
      assert.equal(refused.status, 401, `${method} with another endpoint's token`);
    }
    assert.equal((await manage(k, 'AAAAAAAAAAAA', a.manage_token, 'GET')).status, 404);
    assert.equal((await manage(k, 'not-a-slug', a.manage_token, 'GET')).status, 404);
    assert.equal(
      ((await (await manage(k, a.slug!, a.manage_token, 'GET')).json()) as { display_name: string }).display_name,
      'A',
      'nothing changed',
    );
  });

  test('PATCH of the name keeps grants; PATCH of the upstream revokes them all, and new grants go to the new upstream', async () => {
    const { slug, manage_token: token, mcp_endpoint: endpoint } = await k.mustCreateEndpoint();
    const first = await k.authorize(endpoint!);
    const second = await k.authorize(endpoint!);

    const renamed = await manage(k, slug!, token, 'PATCH', { display_name: 'Renamed' });
    assert.equal(renamed.status, 200);
    assert.deepEqual(((await renamed.json()) as Record<string, unknown>).revoked_grants, 0);
    assert.ok(await tokenWorks(k, endpoint!, first.accessToken), 'a new name changes nothing for users');

    const moved = await manage(k, slug!, token, 'PATCH', { upstream_url: OTHER_URL });
    assert.equal(moved.status, 200);
    const movedBody = (await moved.json()) as { upstream_url: string; display_name: string; revoked_grants: number };
    assert.equal(movedBody.upstream_url, OTHER_URL);
    assert.equal(movedBody.display_name, 'Renamed');
    assert.equal(movedBody.revoked_grants, 2);
    assert.equal(await tokenWorks(k, endpoint!, first.accessToken), false, 'old access tokens stop at once');
    assert.equal(await tokenWorks(k, endpoint!, second.accessToken), false);
    assert.equal(await refreshStatus(k, first.client.client_id, first.refreshToken), 400, 'old refresh tokens are dead too');

    const page = await k.openConsent(endpoint!, await k.register());
    assert.equal(parse(page.html).querySelector('.destination .host')?.text, 'other.example.net', 'users see the new destination');
    await k.settle();
    k.upstreams.requests.length = 0;
    const again = await k.authorize(endpoint!);
    assert.ok(await tokenWorks(k, endpoint!, again.accessToken));
    const keyed = k.upstreams.requests.filter((request) => request.headers.authorization === `Bearer ${KEY}`);
    assert.ok(keyed.length > 0);
    assert.ok(
      keyed.every((request) => request.url === OTHER_URL),
      'the key goes to the new upstream only',
    );
  });

  test('PATCH of how the key is sent revokes grants; refused changes change nothing', async () => {
    const { slug, manage_token: token, mcp_endpoint: endpoint } = await k.mustCreateEndpoint();
    const grant = await k.authorize(endpoint!);
    const invalid: [unknown, string, number, string][] = [
      [{}, 'application/json', 400, 'invalid_request'],
      [{ colour: 'red' }, 'application/json', 400, 'invalid_request'],
      [{ auth_header_name: 'Host' }, 'application/json', 400, 'invalid_request'],
      [{ upstream_url: 'https://169.254.169.254/latest/meta-data/' }, 'application/json', 400, 'invalid_upstream_url'],
      ['{"display_name":', 'application/json', 400, 'invalid_json'],
      [{ display_name: 'ok' }, 'text/plain', 415, 'unsupported_media_type'],
    ];
    for (const [body, type, status, error] of invalid) {
      const response = await manage(k, slug!, token, 'PATCH', body, type);
      assert.equal(response.status, status, JSON.stringify(body));
      const json = (await response.json()) as { error: string; message: string };
      assert.equal(json.error, error, JSON.stringify(body));
      assert.ok(json.message.length > 0);
    }
    assert.ok(await tokenWorks(k, endpoint!, grant.accessToken), 'refused changes revoked nothing');

    const rekeyed = await manage(k, slug!, token, 'PATCH', { auth_header_name: 'X-API-Key' });
    assert.equal(rekeyed.status, 200);
    const body = (await rekeyed.json()) as Record<string, unknown>;
    assert.equal(body.auth_header_name, 'X-API-Key');
    assert.equal(body.auth_header_prefix, '');
    assert.equal(body.revoked_grants, 1);
    assert.equal(await tokenWorks(k, endpoint!, grant.accessToken), false);
  });

  test('DELETE removes the endpoint and revokes its grants only', async () => {
    const { slug, manage_token: token, mcp_endpoint: endpoint } = await k.mustCreateEndpoint();
    const grants = [await k.authorize(endpoint!), await k.authorize(endpoint!)];
    const keep = await k.mustCreateEndpoint();
    const kept = await k.authorize(keep.mcp_endpoint!);

    const deleted = await manage(k, slug!, token, 'DELETE');
    assert.equal(deleted.status, 200);
    assert.deepEqual(await deleted.json(), { deleted: true, slug, revoked_grants: 2 });
    for (const grant of grants) {
      assert.equal((await k.mcp(endpoint!, grant.accessToken, INITIALIZE)).status, 401);
      assert.equal(await refreshStatus(k, grant.client.client_id, grant.refreshToken), 400);
    }
    // A deleted endpoint reads the same on the API, the MCP URL and the consent page (http/errors.ts).
    const gone = 'No endpoint with this URL exists on this server';
    const api = await manage(k, slug!, token, 'GET');
    assert.equal(api.status, 404);
    assert.equal(((await api.json()) as { message: string }).message, gone);
    const mcp = await k.mcp(endpoint!, undefined, INITIALIZE);
    assert.equal(mcp.status, 404);
    assert.equal(((await mcp.json()) as { message: string }).message, gone);
    const consent = await k.openConsent(endpoint!, grants[0]!.client);
    assert.equal(consent.status, 404, 'no new authorization can start');
    assert.ok(consent.html.includes(gone), consent.html);
    assert.ok(await tokenWorks(k, keep.mcp_endpoint!, kept.accessToken), 'other endpoints keep their grants');
  });
});

describe('the operator and guessing, in-process', () => {
  test('ADMIN_TOKEN reads, changes and deletes any endpoint', async () => {
    const k = await startApp({ env: { ADMIN_TOKEN: ADMIN } });
    try {
      const created = await k.createEndpoint({ upstream_url: UPSTREAM_URL }, { authorization: `Bearer ${ADMIN}` });
      const slug = created.body.slug!;
      const grant = await k.authorize(created.body.mcp_endpoint!);
      assert.equal((await manage(k, slug, ADMIN, 'GET')).status, 200);
      assert.equal((await manage(k, slug, ADMIN, 'PATCH', { display_name: 'Checked by the operator' })).status, 200);
      const deleted = await manage(k, slug, ADMIN, 'DELETE');
      assert.equal(deleted.status, 200);
      assert.equal(((await deleted.json()) as { revoked_grants: number }).revoked_grants, 1);
      assert.equal(await tokenWorks(k, created.body.mcp_endpoint!, grant.accessToken), false);
    } finally {
      await k.close();
    }
  });

  test('wrong tokens use up the manage limit: then even the right one waits', async () => {
    const k = await startApp({ env: { RATE_LIMIT_MANAGE: '3/600' } });
    try {
      const created = await k.mustCreateEndpoint();
      for (let attempt = 0; attempt < 3; attempt++)
        assert.equal((await manage(k, created.slug!, `guess-${attempt}`, 'DELETE')).status, 401);
      const limited = await manage(k, created.slug!, created.manage_token, 'GET');
      assert.equal(limited.status, 429);
      const retryAfter = Number(limited.headers.get('retry-after'));
      assert.ok(retryAfter >= 1 && retryAfter <= 600, `Retry-After ${retryAfter}`);
      assert.equal(((await limited.json()) as { error: string }).error, 'rate_limited');
    } finally {
      await k.close();
    }
  });
});

describe('grants on the manage API, in-process', () => {
  let k: InProcess;
  before(async () => {
    k = await startApp({ env: { RATE_LIMIT_CREATE: '0', RATE_LIMIT_MANAGE: '0' } });
  });
  after(() => k.close());

  test('the creator lists grants (client, redirect host, created, last used) and revokes one or all; revoked clients are refused', async () => {
    const created = await k.mustCreateEndpoint();
    const endpoint = created.mcp_endpoint!;
    const claude = await k.authorize(endpoint, { client: await k.register({ client_name: 'Claude' }) });
    const cursor = await k.authorize(endpoint, {
      client: await k.register({ client_name: 'Cursor', redirect_uris: ['http://127.0.0.1:33418/callback'] }),
    });
    assert.ok(await tokenWorks(k, endpoint, claude.accessToken));
    await k.settle();

    const list = (await (
      await k.fetch(`/api/slugs/${created.slug}/grants`, { headers: { authorization: `Bearer ${created.manage_token}` } })
    ).json()) as {
      grants: { id: string; client_name: string; redirect_host: string; created_at: string; last_used_at: string | null }[];
    };
    assert.deepEqual(list.grants.map((grant) => grant.client_name).sort(), ['Claude', 'Cursor']);
    const byName = Object.fromEntries(list.grants.map((grant) => [grant.client_name, grant]));
    assert.equal(byName.Claude!.redirect_host, 'client.example.net');
    assert.equal(byName.Cursor!.redirect_host, '127.0.0.1:33418');
    assert.ok(Date.parse(byName.Claude!.created_at) > Date.now() - 60_000);
    assert.ok(byName.Claude!.last_used_at, 'a used grant shows when');
    assert.equal(byName.Cursor!.last_used_at, null, 'an unused one shows none');
    assert.ok(!JSON.stringify(list).includes(KEY), 'never the key');

    const refused = await k.fetch(`/api/slugs/${created.slug}/grants`, { headers: { authorization: 'Bearer wrong' } });
    assert.equal(refused.status, 401);

    const one = await k.fetch(`/api/slugs/${created.slug}/grants/${byName.Claude!.id}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${created.manage_token}` },
    });
    assert.equal(one.status, 200);
    assert.equal(((await one.json()) as { revoked_grants: number }).revoked_grants, 1);
    assert.equal(await tokenWorks(k, endpoint, claude.accessToken), false, 'the revoked client is refused');
    assert.equal(await refreshStatus(k, claude.client.client_id, claude.refreshToken), 400, 'and cannot refresh');
    assert.ok(await tokenWorks(k, endpoint, cursor.accessToken), 'the other client still works');

    const again = await k.fetch(`/api/slugs/${created.slug}/grants/${byName.Claude!.id}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${created.manage_token}` },
    });
    assert.equal(again.status, 404);

    const all = await k.fetch(`/api/slugs/${created.slug}/grants`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${created.manage_token}` },
    });
    assert.equal(((await all.json()) as { revoked_grants: number }).revoked_grants, 1);
    assert.equal(await tokenWorks(k, endpoint, cursor.accessToken), false);
  });
});

describe('"last used" writes, in-process', () => {
  test('at most one store write per grant per LAST_USED_WRITE_SECONDS, and none with 0', async () => {
    for (const [seconds, expected] of [
      ['60', 1],
      ['0', 0],
    ] as const) {
      const k = await startApp({ env: { LAST_USED_WRITE_SECONDS: seconds } });
      try {
        const endpoint = (await k.mustCreateEndpoint()).mcp_endpoint!;
        const grant = await k.authorize(endpoint);
        let writes = 0;
        const put = k.platform.kv.put.bind(k.platform.kv);
        k.platform.kv.put = (key, value, options) => {
          if (key.startsWith('k2o:used:')) writes++;
          return put(key, value, options);
        };
        for (let i = 0; i < 5; i++) assert.ok(await tokenWorks(k, endpoint, grant.accessToken));
        await k.settle();
        assert.equal(writes, expected, `LAST_USED_WRITE_SECONDS=${seconds}`);
      } finally {
        await k.close();
      }
    }
  });
});
