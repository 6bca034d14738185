import assert from 'node:assert/strict';
import { hash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { engine } from '../../src/oauth/engine.ts';
import { INITIALIZE, type InProcess, startApp } from '../support/in-process.ts';
import { serveMcp } from '../support/in-process-upstream.ts';

/**
 * Token checks are remembered (src/oauth/token-cache.ts); what a user depends on must not change:
 * a revoked token or grant stops working at the very next request, and each token brings its own
 * grant's key, never another's.
 */
describe('remembered token checks', () => {
  let k: InProcess;
  before(async () => {
    k = await startApp({ env: { RATE_LIMIT_CREATE: '0' } });
  });
  after(() => k.close());

  const slugOf = (endpoint: string) => new URL(endpoint).pathname.split('/')[1]!;

  test('a revoked grant is refused at the next request, after its token was checked before', async () => {
    const { mcp_endpoint: endpoint } = await k.mustCreateEndpoint();
    const grant = await k.authorize(endpoint!);
    for (let i = 0; i < 2; i++) assert.equal((await k.mcp(endpoint!, grant.accessToken, INITIALIZE)).status, 200);
    const grantId = grant.accessToken.split(':')[1]!;
    await engine(k.platform, slugOf(endpoint!)).helpers().revokeGrant(grantId, slugOf(endpoint!));
    assert.equal((await k.mcp(endpoint!, grant.accessToken, INITIALIZE)).status, 401);
  });

  test('an access token whose record alone is deleted (token revocation) is refused at the next request', async () => {
    const { mcp_endpoint: endpoint } = await k.mustCreateEndpoint();
    const grant = await k.authorize(endpoint!);
    assert.equal((await k.mcp(endpoint!, grant.accessToken, INITIALIZE)).status, 200);
    const [slug, grantId] = grant.accessToken.split(':');
    const records = await k.platform.kv.list({ prefix: `token:${slug}:${grantId}:` });
    assert.ok(records.keys.length > 0);
    for (const { name } of records.keys) await k.platform.kv.delete(name);
    assert.equal((await k.mcp(endpoint!, grant.accessToken, INITIALIZE)).status, 401);
  });

  test('deleting the endpoint refuses its remembered tokens at once', async () => {
    const created = await k.mustCreateEndpoint();
    const grant = await k.authorize(created.mcp_endpoint!);
    assert.equal((await k.mcp(created.mcp_endpoint!, grant.accessToken, INITIALIZE)).status, 200);
    const deleted = await k.fetch(`/api/slugs/${created.slug}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${created.manage_token}` },
    });
    assert.equal(deleted.status, 200);
    assert.notEqual((await k.mcp(created.mcp_endpoint!, grant.accessToken, INITIALIZE)).status, 200);
  });

  test('two endpoints with different keys: each remembered token sends its own key', async () => {
    serveMcp(k.upstreams, { url: 'https://other.example.com/mcp', key: 'sk-other-key-abcdef0123' });
    const first = await k.mustCreateEndpoint();
    const second = await k.mustCreateEndpoint({ upstream_url: 'https://other.example.com/mcp' });
    const a = await k.authorize(first.mcp_endpoint!);
    const b = await k.authorize(second.mcp_endpoint!, { key: 'sk-other-key-abcdef0123' });
    for (let i = 0; i < 3; i++) {
      assert.equal((await k.mcp(first.mcp_endpoint!, a.accessToken, INITIALIZE)).status, 200);
      assert.equal((await k.mcp(second.mcp_endpoint!, b.accessToken, INITIALIZE)).status, 200);
    }
    // A token is never valid on another endpoint, remembered or not.
    assert.equal((await k.mcp(second.mcp_endpoint!, a.accessToken, INITIALIZE)).status, 401);
  });
});

/**
 * On Node the cache hashes with the platform's synchronous SHA-256 (Platform.sha256Hex) instead of
 * WebCrypto's: it must name the very record the engine writes, or a remembered token would be
 * refused (or, worse, a revoked one still found).
 */
describe("remembered token checks with the Node platform's synchronous hash", () => {
  let k: InProcess;
  before(async () => {
    k = await startApp({ env: { RATE_LIMIT_CREATE: '0' }, platform: { sha256Hex: (text) => hash('sha256', text, 'hex') } });
  });
  after(() => k.close());

  test('a remembered token keeps working, and is refused at the next request once its record is deleted', async () => {
    const { mcp_endpoint: endpoint } = await k.mustCreateEndpoint();
    const grant = await k.authorize(endpoint!);
    for (let i = 0; i < 3; i++) assert.equal((await k.mcp(endpoint!, grant.accessToken, INITIALIZE)).status, 200);
    const [slug, grantId] = grant.accessToken.split(':');
    const records = await k.platform.kv.list({ prefix: `token:${slug}:${grantId}:` });
    for (const { name } of records.keys) await k.platform.kv.delete(name);
    assert.equal((await k.mcp(endpoint!, grant.accessToken, INITIALIZE)).status, 401);
  });
});
