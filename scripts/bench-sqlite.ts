/**
 * Rough cost of the SQLite store's hot operations: 10,000 of each on a real file, printed.
 * Not a test. Run: ./node_modules/.bin/node scripts/bench-sqlite.ts [directory]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSqliteStorage } from '../src/adapters/node/sqlite.ts';

const N = 10_000;
const dir = mkdtempSync(join(process.argv[2] ?? tmpdir(), 'key2oauth-bench-'));
const storage = createSqliteStorage(join(dir, 'bench.sqlite'));
// About the size of an access-token record from the OAuth engine.
const value = JSON.stringify({ id: 'x'.repeat(64), grantId: 'g'.repeat(16), userId: 'slug', expiresAt: 0, wrappedKey: 'k'.repeat(200) });
const key = (i: number) => `token:slug:grant:${String(i).padStart(8, '0')}`;

async function time(label: string, run: (i: number) => Promise<unknown>): Promise<void> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < N; i++) await run(i);
  const micros = Number(process.hrtime.bigint() - start) / 1000 / N;
  console.log(`${label.padEnd(34)} ${micros.toFixed(1).padStart(7)} µs/op  (${Math.round(1e6 / micros).toLocaleString('en')} ops/s)`);
}

try {
  console.log(`node ${process.version}, ${N.toLocaleString('en')} operations each, file in ${dir}`);
  await time('put (new key, ttl)', (i) => storage.kv.put(key(i), value, { expirationTtl: 3600 }));
  await time('put (overwrite, ttl + metadata)', (i) => storage.kv.put(key(i), value, { expirationTtl: 3600, metadata: { n: i } }));
  await time('get (text)', (i) => storage.kv.get(key((i * 7919) % N)));
  await time('get (json)', (i) => storage.kv.get(key((i * 7919) % N), 'json'));
  await time('get (missing)', (i) => storage.kv.get(`missing:${i}`));
  await time('counters.increment', (i) => storage.counters.increment(`rl:${i % 100}`, 60));
  await time('list (prefix, limit 10)', () => storage.kv.list({ prefix: 'token:slug:grant:0000', limit: 10 }));
} finally {
  await storage.close();
  rmSync(dir, { recursive: true, force: true });
}
