import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { INITIALIZE, type InProcess, startApp } from '../support/in-process.ts';

/**
 * Refresh token reuse (RFC 9700 §4.14.2): a refresh token that was already exchanged and comes
 * back after a short grace window (clients such as Claude refresh twice in parallel) means two
 * parties hold it, so the whole grant is revoked.
 */

const GRACE_SECONDS = 1;

describe('refresh token reuse, in-process', () => {
  let k: InProcess;
  let endpoint: string;
  before(async () => {
    k = await startApp({ env: { REFRESH_REUSE_GRACE_SECONDS: String(GRACE_SECONDS) } });
    endpoint = (await k.mustCreateEndpoint()).mcp_endpoint!;
  });
  after(() => k.close());

  const refresh = (clientId: string, refreshToken: string) =>
    k.token({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: clientId });

  async function works(accessToken: string): Promise<number> {
    const response = await k.mcp(endpoint, accessToken, INITIALIZE);
    await response.body?.cancel();
    return response.status;
  }

  test('an old refresh token used again after the grace window revokes the grant: every token of it stops working', async () => {
    const grant = await k.authorize(endpoint);
    const first = await refresh(grant.client.client_id, grant.refreshToken);
    assert.equal(first.status, 200, await first.clone().text());
    const rotated = (await first.json()) as { access_token: string; refresh_token: string };
    assert.equal(await works(rotated.access_token), 200);

    await new Promise((resolve) => setTimeout(resolve, GRACE_SECONDS * 1000 + 300));
    const reused = await refresh(grant.client.client_id, grant.refreshToken);
    assert.equal(reused.status, 400);
    const body = (await reused.json()) as { error: string; error_description: string };
    assert.equal(body.error, 'invalid_grant');
    assert.match(body.error_description, /already used/);
    assert.equal(reused.headers.get('cache-control'), 'no-store');

    assert.equal(await works(rotated.access_token), 401, 'the legitimate client’s access token is revoked too');
    assert.equal((await refresh(grant.client.client_id, rotated.refresh_token)).status, 400, 'and its refresh token');
    assert.ok(k.logs.some((line) => /refresh token reused/.test(line)));
  });

  test('two refreshes with the same token within the grace window both work and revoke nothing', async () => {
    const grant = await k.authorize(endpoint);
    const [a, b] = await Promise.all([
      refresh(grant.client.client_id, grant.refreshToken),
      refresh(grant.client.client_id, grant.refreshToken),
    ]);
    assert.equal(a.status, 200);
    assert.equal(b.status, 200);
    // A third, a moment later (a retry), still inside the window.
    const c = await refresh(grant.client.client_id, grant.refreshToken);
    assert.equal(c.status, 200);
    const latest = (await c.json()) as { access_token: string; refresh_token: string };
    assert.equal(await works(latest.access_token), 200);
    const next = await refresh(grant.client.client_id, latest.refresh_token);
    assert.equal(next.status, 200, 'the newest refresh token rotates normally');
  });

  test('a refresh token that was never ours for this grant is refused without revoking anything', async () => {
    const grant = await k.authorize(endpoint);
    const [slug, grantId] = grant.refreshToken.split(':');
    const forged = await refresh(grant.client.client_id, `${slug}:${grantId}:not-a-real-secret`);
    assert.equal(forged.status, 400);
    assert.equal(await works(grant.accessToken), 200, 'guessing at a grant cannot end it');
  });
});
