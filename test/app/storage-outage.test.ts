import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { INITIALIZE, type InProcess, startApp } from '../support/in-process.ts';
import { switchableStorage } from '../support/switchable-storage.ts';

/**
 * A store outage (Redis down, restarting, loading its file) seen from the client: every route
 * answers 503 with Retry-After, never a 401 that would make a client drop its tokens, and service
 * comes back by itself. The store here fails as the Redis store fails (StorageUnavailableError);
 * test/e2e/replicas.test.ts stops a real Redis under three real processes.
 */

describe('a storage outage, in-process', () => {
  let k: InProcess;
  let store: ReturnType<typeof switchableStorage>;
  let endpoint: string;
  let slug: string;
  before(async () => {
    store = switchableStorage();
    k = await startApp({ platform: { kv: store.kv, counters: store.counters } });
    const created = await k.mustCreateEndpoint();
    endpoint = created.mcp_endpoint!;
    slug = created.slug!;
  });
  after(() => k.close());

  async function assertUnavailable(response: Response, what: string): Promise<void> {
    assert.equal(response.status, 503, `${what}: 503, not ${response.status}`);
    assert.match(response.headers.get('retry-after') ?? '', /^\d+$/, `${what}: Retry-After`);
    assert.equal(response.headers.get('cache-control'), 'no-store');
    assert.equal(response.headers.get('www-authenticate'), null, `${what}: no challenge, so the client keeps its tokens`);
    const body = await response.text();
    assert.match(body, /temporarily unavailable/i, `${what}: says what happened`);
  }

  test('/readyz answers 503 while the store is down and 200 once it is back; /healthz stays 200 throughout', async () => {
    const ready = await k.fetch('/readyz');
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { ok: true, storage: 'reachable' });
    assert.equal(ready.headers.get('cache-control'), 'no-store');
    store.state.down = true;
    try {
      await assertUnavailable(await k.fetch('/readyz'), '/readyz');
      const live = await k.fetch('/healthz');
      assert.equal(live.status, 200, 'liveness does not depend on the store: restarting the process would not bring Redis back');
    } finally {
      store.state.down = false;
    }
    assert.equal((await k.fetch('/readyz')).status, 200, 'ready again once the store answers');
  });

  test('while the store is down every route answers 503 with Retry-After; afterwards the same tokens work', async () => {
    const grant = await k.authorize(endpoint);
    const client = await k.register();
    const page = await k.openConsent(endpoint, client);
    assert.equal((await k.mcp(endpoint, grant.accessToken, INITIALIZE)).status, 200);

    store.state.down = true;
    try {
      await assertUnavailable(await k.mcp(endpoint, grant.accessToken, INITIALIZE), 'an MCP request with a valid token');
      await assertUnavailable(
        await k.mcp(endpoint, `${slug}:unknown-grant:unknown-secret`, INITIALIZE),
        'an MCP request with a token it cannot check',
      );
      await assertUnavailable(await k.mcp(endpoint, undefined, INITIALIZE), 'an MCP request without a token');
      await assertUnavailable(
        await k.token({ grant_type: 'refresh_token', refresh_token: grant.refreshToken, client_id: grant.client.client_id }),
        'a refresh',
      );
      await assertUnavailable(
        await k.fetch('/oauth/register', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ redirect_uris: ['https://client.example.net/callback'], token_endpoint_auth_method: 'none' }),
        }),
        'a registration',
      );
      await assertUnavailable(await k.fetch(page.url), 'the authorization page');
      await assertUnavailable(await k.submitConsent(page, { api_key: 'sk-anything-0123456789', action: 'approve' }), 'a key submission');
      await assertUnavailable(
        await k.fetch('/api/slugs', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ upstream_url: 'https://echo.example.com/mcp' }),
        }),
        'endpoint creation',
      );
      await assertUnavailable(await k.fetch(`/api/slugs/${slug}`, { headers: { authorization: 'Bearer x' } }), 'the manage API');
    } finally {
      store.state.down = false;
    }

    const after = await k.mcp(endpoint, grant.accessToken, INITIALIZE);
    assert.equal(after.status, 200, 'the same token works once the store is back');
    const refreshed = await k.token({ grant_type: 'refresh_token', refresh_token: grant.refreshToken, client_id: grant.client.client_id });
    assert.equal(refreshed.status, 200, 'and so does its refresh token');
    assert.ok(
      k.logs.some((line) => line.includes('storage unavailable')),
      'the outage is logged',
    );
  });
});
