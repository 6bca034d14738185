import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { mustCreateEndpoint } from '../support/api.ts';
import { type Running, targets } from '../support/targets.ts';
import { startUpstream, type Upstream } from '../support/upstream.ts';

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

/** `/access` as the key holder page's form posts it (same origin), with a key to try. */
function revoke(server: Running, endpoint: string, apiKey: string) {
  return fetch(`${server.url}/access`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': 'same-origin', origin: 'null' },
    body: new URLSearchParams({ action: 'find', endpoint, credential_0: apiKey }),
    redirect: 'manual',
  });
}

for (const target of targets())
  describe(`rate limits (${target.name})`, () => {
    let server: Running;
    let upstream: Upstream;
    before(async () => {
      upstream = await startUpstream({ key: 'sk-rate-limits-0123456789' });
      server = await target.start({ RATE_LIMIT_REGISTER: '2/3600', RATE_LIMIT_AUTHORIZE_ENDPOINT: '2/600' });
    });
    after(async () => {
      await server?.stop();
      await upstream?.close();
    });

    test('client registrations beyond the limit get 429 with Retry-After', async () => {
      for (let i = 0; i < 2; i++) assert.equal((await register(server)).status, 201);
      const refused = await register(server);
      assert.equal(refused.status, 429);
      const retryAfter = Number(refused.headers.get('retry-after'));
      assert.ok(retryAfter >= 1 && retryAfter <= 3600, `Retry-After ${retryAfter} lies within the window`);
      assert.equal(((await refused.json()) as { error: string }).error, 'rate_limited');
    });

    test('/access counts key attempts per endpoint, like the consent page: the third on one endpoint gets 429, another endpoint still answers', async () => {
      const a = (await mustCreateEndpoint(server, { upstream_url: upstream.url })).mcp_endpoint!;
      const b = (await mustCreateEndpoint(server, { upstream_url: upstream.url })).mcp_endpoint!;
      for (let i = 0; i < 2; i++) assert.equal((await revoke(server, a, `sk-guess-${i}`)).status, 403);
      const refused = await revoke(server, a, 'sk-guess-2');
      assert.equal(refused.status, 429);
      assert.ok(Number(refused.headers.get('retry-after')) >= 1);
      // The per-address limit (RATE_LIMIT_AUTHORIZE, 10) is far off: this is the endpoint's own count.
      assert.match(await refused.text(), /keys were tried on this endpoint/);
      assert.equal((await revoke(server, b, 'sk-guess')).status, 403);
    });
  });
