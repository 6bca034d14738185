import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { getPlatformProxy } from 'wrangler';
import type { KVStore } from '../../src/storage/contract.ts';
import { createMemoryStorage } from '../../src/storage/memory.ts';
import { OFFLINE_WRANGLER_ENV } from '../support/worker-process.ts';

/**
 * Our stores follow Workers KV's rules (src/storage/rules.ts) so that a call Workers would refuse
 * fails on Node too. Here the same calls go to workerd's own KV (through wrangler's
 * getPlatformProxy, local and in memory) and to our memory store: whatever workerd refuses, ours
 * must refuse as well, and whatever both accept must read back the same.
 */
Object.assign(process.env, OFFLINE_WRANGLER_ENV);

type Call = (kv: KVStore) => Promise<unknown>;

describe('Workers KV rules: our store against workerd KV', () => {
  let dir: string;
  let proxy: Awaited<ReturnType<typeof getPlatformProxy<{ KV: KVStore }>>>;
  let workers: KVStore;
  let ours: KVStore;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'key2oauth-kv-parity-'));
    const config = join(dir, 'wrangler.jsonc');
    writeFileSync(config, JSON.stringify({ name: 'kv-parity', compatibility_date: '2026-11-17', kv_namespaces: [{ binding: 'KV' }] }));
    proxy = await getPlatformProxy<{ KV: KVStore }>({ configPath: config, persist: false });
    workers = proxy.env.KV;
    ours = createMemoryStorage().kv;
  });
  after(async () => {
    await proxy?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function outcome(kv: KVStore, call: Call): Promise<{ ok: true; value: unknown } | { ok: false; message: string }> {
    try {
      return { ok: true, value: await call(kv) };
    } catch (error) {
      return { ok: false, message: (error as Error).message };
    }
  }

  const now = () => Math.floor(Date.now() / 1000);
  const refusedByWorkers: [string, Call][] = [
    ['expirationTtl below 60 seconds', (kv) => kv.put('ttl', 'v', { expirationTtl: 59 })],
    ['expiration less than 60 seconds ahead', (kv) => kv.put('exp', 'v', { expiration: now() + 30 })],
    ['expiration in the past', (kv) => kv.put('past', 'v', { expiration: 1 })],
    ['a key of 513 bytes', (kv) => kv.put('k'.repeat(513), 'v')],
    ['a key of 513 bytes in three-byte characters', (kv) => kv.put('€'.repeat(171), 'v')],
    ['an empty key', (kv) => kv.put('', 'v')],
    ['the key "."', (kv) => kv.put('.', 'v')],
    ['the key ".."', (kv) => kv.get('..')],
    ['metadata over 1024 bytes', (kv) => kv.put('meta', 'v', { metadata: 'x'.repeat(1023) })],
    ['list limit over 1000', (kv) => kv.list({ limit: 1001 })],
  ];
  for (const [name, call] of refusedByWorkers) {
    test(`refused by both: ${name}`, async () => {
      const theirs = await outcome(workers, call);
      assert.equal(theirs.ok, false, `workerd accepted it, so this case no longer says anything: ${JSON.stringify(theirs)}`);
      const mine = await outcome(ours, call);
      assert.equal(mine.ok, false, `workerd refuses it (${'message' in theirs ? theirs.message : ''}) but our store accepted it`);
    });
  }

  test('accepted by both at the limits: 60-second TTL, 512-byte key, 1024-byte metadata, list limit 1000', async () => {
    const calls: Call[] = [
      (kv) => kv.put('limit:ttl', 'v', { expirationTtl: 60 }),
      (kv) => kv.put('limit:exp', 'v', { expiration: now() + 120 }),
      (kv) => kv.put('k'.repeat(512), 'v'),
      (kv) => kv.put('limit:meta', 'v', { metadata: 'x'.repeat(1022) }),
      (kv) => kv.list({ limit: 1000 }),
    ];
    for (const call of calls) {
      assert.deepEqual((await outcome(ours, call)).ok, true);
      assert.deepEqual((await outcome(workers, call)).ok, true);
    }
  });

  test('list order, prefixes, pages, metadata and JSON reads agree', async () => {
    // Keys whose order differs between UTF-16 and UTF-8 comparison (U+E000.. vs emoji), and a prefix.
    const names = ['p:a', 'p:b', 'p:\u{e000}', 'p:\u{1f600}', 'p:ä', 'p:Z', 'p:a:1', 'q:a'];
    for (const kv of [ours, workers]) {
      for (const [i, name] of names.entries()) await kv.put(name, JSON.stringify({ i }), { metadata: { i }, expiration: 2_000_000_000 });
    }
    const pages = async (kv: KVStore) => {
      const seen: unknown[] = [];
      let cursor: string | undefined;
      do {
        const page = await kv.list({ prefix: 'p:', limit: 3, ...(cursor ? { cursor } : {}) });
        seen.push(page.keys.map(({ name, metadata, expiration }) => ({ name, metadata, expiration })));
        cursor = page.list_complete ? undefined : page.cursor;
      } while (cursor);
      return seen;
    };
    assert.deepEqual(await pages(ours), await pages(workers));
    assert.deepEqual(await ours.get('p:ä', 'json'), await workers.get('p:ä', { type: 'json' }));
    assert.deepEqual(await ours.get('p:ä', { type: 'json' }), { i: 4 });
    assert.equal(await ours.get('missing'), await workers.get('missing'));
  });
});
