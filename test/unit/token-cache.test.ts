import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { TokenCheckCache } from '../../src/oauth/token-cache.ts';
import { createMemoryStorage } from '../../src/storage/memory.ts';

/** The cache's own promises: a decrypted key is not held past its token's expiry, and the store decides. */

const TOKEN = 'slug-a:grant1:secretsecretsecret';
const PARTS = { slug: 'slug-a', grantId: 'grant1' };
const RECORD = 'token:slug-a:grant1:';

async function recordKey(): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(TOKEN)));
  return `${RECORD}${[...digest].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
}

test('an entry is used while its token lives and its record exists, and forgotten when the token expires', async () => {
  const { kv } = createMemoryStorage();
  await kv.put(await recordKey(), '{}');
  let clock = 1_000_000;
  const cache = new TokenCheckCache<{ expiresAt: number; key: string }>(kv, { now: () => clock });
  let checks = 0;
  const check = async () => {
    checks++;
    return { expiresAt: (clock + 60_000) / 1000, key: 'sk-secret' };
  };
  assert.equal((await cache.validate('aud', TOKEN, PARTS, check))?.key, 'sk-secret');
  assert.equal((await cache.validate('aud', TOKEN, PARTS, check))?.key, 'sk-secret');
  assert.equal(checks, 1, 'the second check is remembered');
  assert.equal(cache.size, 1);

  // Another audience never gets the remembered answer.
  await cache.validate('other', TOKEN, PARTS, async () => null);
  assert.equal(checks, 1);

  clock += 60_001;
  await cache.validate('aud', TOKEN, PARTS, async () => null);
  assert.equal(cache.size, 0, 'the expired entry and its key are gone');
});

test('a remembered token whose record is gone from the store is refused and forgotten', async () => {
  const { kv } = createMemoryStorage();
  const key = await recordKey();
  await kv.put(key, '{}');
  const cache = new TokenCheckCache<{ expiresAt: number }>(kv);
  const valid = async () => ({ expiresAt: Date.now() / 1000 + 60 });
  assert.ok(await cache.validate('aud', TOKEN, PARTS, valid));
  await kv.delete(key);
  assert.equal(await cache.validate('aud', TOKEN, PARTS, valid), null);
  assert.equal(cache.size, 0);
});

test('the cache holds at most max entries, the oldest going first', async () => {
  const { kv } = createMemoryStorage();
  const cache = new TokenCheckCache<{ expiresAt: number }>(kv, { max: 2 });
  for (let i = 0; i < 5; i++) {
    await cache.validate('aud', `slug-a:grant${i}:secretsecretsecret`, { slug: 'slug-a', grantId: `grant${i}` }, async () => ({
      expiresAt: Date.now() / 1000 + 60,
    }));
  }
  assert.equal(cache.size, 2);
});

test('on a store that reads synchronously, a remembered check answers without a promise, and a revoke is refused at once', async () => {
  const { kv } = createMemoryStorage();
  assert.ok(kv.getNow, 'the memory store reads synchronously, as Node’s SQLite does');
  const key = await recordKey();
  await kv.put(key, '{}');
  const cache = new TokenCheckCache<{ expiresAt: number; key: string }>(kv, { sha256Hex: nodeSha256Hex });
  const valid = async () => ({ expiresAt: Date.now() / 1000 + 60, key: 'sk-secret' });
  // The first check is the engine's own (asynchronous); from the second on, no promise.
  const first = cache.validate('aud', TOKEN, PARTS, valid);
  assert.ok(first instanceof Promise);
  assert.equal((await first)?.key, 'sk-secret');
  const remembered = cache.validate('aud', TOKEN, PARTS, valid);
  assert.ok(!(remembered instanceof Promise), 'a remembered check settles no promise');
  assert.equal(remembered?.key, 'sk-secret');
  // Another audience is still checked in full.
  assert.ok(cache.validate('other', TOKEN, PARTS, async () => null) instanceof Promise);
  await kv.delete(key);
  assert.equal(cache.validate('aud', TOKEN, PARTS, valid), null, 'the deleted record refuses the token on the next check');
  assert.equal(cache.size, 0);
});

test('on a store that only reads asynchronously (Workers KV, Redis), a remembered check still confirms its record first', async () => {
  const memory = createMemoryStorage().kv;
  let reads = 0;
  const kv = {
    get: (key: string) => {
      reads++;
      return memory.get(key);
    },
    put: memory.put,
    delete: memory.delete,
    list: memory.list,
  };
  const key = await recordKey();
  await kv.put(key, '{}');
  const cache = new TokenCheckCache<{ expiresAt: number }>(kv, { sha256Hex: nodeSha256Hex });
  const valid = async () => ({ expiresAt: Date.now() / 1000 + 60 });
  assert.ok(await cache.validate('aud', TOKEN, PARTS, valid));
  const remembered = cache.validate('aud', TOKEN, PARTS, valid);
  assert.ok(remembered instanceof Promise, 'the record is read before the answer');
  assert.ok(await remembered);
  assert.equal(reads, 1);
  await kv.delete(key);
  assert.equal(await cache.validate('aud', TOKEN, PARTS, valid), null);
  assert.equal(reads, 2);
});

function nodeSha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
