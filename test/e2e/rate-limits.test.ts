import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Running, targets } from '../support/targets.ts';

/**
 * Rate limits, on every platform: Node counts in SQLite, Workers in a Durable Object. Both must
 * refuse the request after the limit, say when to come back, and keep counting across requests.
 */
function register(server: Running) {
  return fetch(`${server.url}/oauth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      client_name: 'rate limit test',
      redirect_uris: ['http://127.0.0.1:9/callback'],
      token_endpoint_auth_method: 'none',
    }),
  });
}

for (const target of targets())
  describe(`rate limits (${target.name})`, () => {
    let server: Running;
    before(async () => {
      server = await target.start({ RATE_LIMIT_REGISTER: '2/3600' });
    });
    after(async () => {
      await server?.stop();
    });

    test('client registrations beyond the limit get 429 with Retry-After', async () => {
      for (let i = 0; i < 2; i++) assert.equal((await register(server)).status, 201);
      const refused = await register(server);
      assert.equal(refused.status, 429);
      const retryAfter = Number(refused.headers.get('retry-after'));
      assert.ok(retryAfter >= 1 && retryAfter <= 3600, `Retry-After ${retryAfter} lies within the window`);
      assert.equal(((await refused.json()) as { error: string }).error, 'rate_limited');
    });
  });
