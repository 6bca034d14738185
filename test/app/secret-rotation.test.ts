import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { INITIALIZE, type InProcess, KEY, startApp } from '../support/in-process.ts';
import { serveLegacySse } from '../support/in-process-upstream.ts';
import { sseReader } from '../support/transport-helpers.ts';

/**
 * Replacing the deployment secret (docs/key-holders.md): restarted with KEY2OAUTH_SECRET=new and
 * KEY2OAUTH_SECRET_PREVIOUS=old on the same store, every grant, manage link and key holder's lookup
 * keeps working; once the lookups rewrote their hashes, the previous secret can go.
 */

const OLD = randomBytes(32).toString('base64url');
const NEW = randomBytes(32).toString('base64url');
const LIMITS = { RATE_LIMIT_AUTHORIZE: '1000/600', RATE_LIMIT_AUTHORIZE_ENDPOINT: '1000/600' };

describe('rotating the deployment secret, in-process', () => {
  const apps: InProcess[] = [];
  after(async () => {
    for (const app of apps.reverse()) await app.close();
  });
  /** The same deployment restarted on the same store with other secrets. */
  const restart = async (from: InProcess, secret: string, previousSecret?: string) => {
    const app = await startApp({
      env: LIMITS,
      platform: {
        kv: from.platform.kv,
        counters: from.platform.counters,
        fetchUpstream: from.platform.fetchUpstream,
        secret,
        ...(previousSecret ? { previousSecret } : {}),
      },
    });
    apps.unshift(app);
    return app;
  };
  const lookup = async (k: InProcess, endpoint: string) => {
    const response = await k.fetch('/api/access', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ endpoint, credentials: [KEY] }),
    });
    return response.status === 200 ? ((await response.json()) as { accesses: unknown[] }).accesses.length : response.status;
  };

  test('grants, manage links and key lookups survive; the previous secret can go once lookups rewrote their hashes', async () => {
    const before = await startApp({ env: LIMITS, platform: { secret: OLD } });
    apps.push(before);
    const created = await before.mustCreateEndpoint();
    const endpoint = created.mcp_endpoint!;
    const grant = await before.authorize(endpoint);
    const other = await before.authorize(endpoint);
    assert.equal(await lookup(before, endpoint), 2);

    // Without the previous secret, the key holder's lookup would fail: it is what this setting is for.
    const forgetful = await restart(before, NEW);
    assert.equal(await lookup(forgetful, endpoint), 403, 'the hashes are the old secret’s');

    const rotated = await restart(before, NEW, OLD);
    const response = await rotated.mcp(endpoint, grant.accessToken, INITIALIZE);
    await response.body?.cancel();
    assert.equal(response.status, 200, 'the grant works');
    const refreshed = await rotated.token({
      grant_type: 'refresh_token',
      refresh_token: other.refreshToken,
      client_id: other.client.client_id,
      ...(other.client.client_secret ? { client_secret: other.client.client_secret } : {}),
    });
    assert.equal(refreshed.status, 200, 'refresh works');
    const managed = await rotated.fetch(`/api/slugs/${created.slug}`, { headers: { authorization: `Bearer ${created.manage_token}` } });
    assert.equal(managed.status, 200, 'the manage token works');
    const page = await rotated.fetch(
      new URL(created.manage_url!).pathname + new URL(created.manage_url!).search + new URL(created.manage_url!).hash,
    );
    assert.ok(page.status < 400, 'the manage link works');
    assert.equal(await lookup(rotated, endpoint), 2, 'the key holder finds the accesses, by the old secret’s hashes');

    // The lookup rewrote both hashes under the new secret: the previous one is no longer needed.
    const done = await restart(before, NEW);
    assert.equal(await lookup(done, endpoint), 2);
  });

  test('a legacy SSE message URL the old secret signed still reaches its stream', async () => {
    const before = await startApp({ env: LIMITS, platform: { secret: OLD } });
    apps.push(before);
    serveLegacySse(before.upstreams, { url: 'https://legacy.example.com/sse', key: KEY });
    const created = await before.mustCreateEndpoint({ upstream_url: 'https://legacy.example.com/sse' });
    const grant = await before.authorize(created.mcp_endpoint!);
    const stream = await before.fetch(`/${created.slug}/sse`, {
      headers: { accept: 'text/event-stream', authorization: `Bearer ${grant.accessToken}` },
    });
    const events = sseReader(stream.body!);
    try {
      const signed = new URL((await events.next()).data);
      const post = (k: InProcess) =>
        k.fetch(signed.pathname + signed.search, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${grant.accessToken}` },
          body: JSON.stringify({ ...INITIALIZE, params: { ...INITIALIZE.params, protocolVersion: '2024-11-05' } }),
        });
      const refused = await post(await restart(before, NEW));
      assert.equal(refused.status, 403, 'without the previous secret the URL is not ours');
      await refused.body?.cancel();
      const accepted = await post(await restart(before, NEW, OLD));
      assert.equal(accepted.status, 202);
      await accepted.body?.cancel();
      assert.equal((await events.next()).event, 'message', 'the answer travels on the stream opened before the rotation');
    } finally {
      await events.cancel();
    }
  });
});
