/**
 * What Redis costs against SQLite: each store operation, then the proxied request path (token
 * validation as the engine does it, and a whole MCP request through the app), on both stores.
 * Not a test: it prints figures. Run:
 *   ./node_modules/.bin/node --import ./src/adapters/node/hooks.ts scripts/bench-storage.ts
 * Redis is a redis-server this script starts on a free loopback port (AOF on, fsync every second,
 * as the README advises), or the one at REDIS_URL (keys under a throwaway prefix, removed after).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRedisStorage } from '../src/adapters/node/redis.ts';
import { createSqliteStorage } from '../src/adapters/node/sqlite.ts';
import { engine } from '../src/oauth/engine.ts';
import type { Storage } from '../src/storage/contract.ts';
import { INITIALIZE, startApp } from '../test/support/in-process.ts';
import { type RedisServer, startRedis } from '../test/support/redis-server.ts';

const N = Number(process.env.BENCH_N ?? 5000);
// About the size of an access-token record from the OAuth engine.
const value = JSON.stringify({ id: 'x'.repeat(64), grantId: 'g'.repeat(16), userId: 'slug', expiresAt: 0, wrappedKey: 'k'.repeat(200) });
const key = (i: number) => `token:slug:grant:${String(i).padStart(8, '0')}`;

type Results = Map<string, number>;

async function time(results: Results, label: string, count: number, run: (i: number) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < Math.min(200, count); i++) await run(i); // warm up (JIT, script cache, statements)
  const start = process.hrtime.bigint();
  for (let i = 0; i < count; i++) await run(i);
  results.set(label, Number(process.hrtime.bigint() - start) / 1000 / count);
}

async function storeOperations(storage: Storage): Promise<Results> {
  const results: Results = new Map();
  await time(results, 'put (new key, ttl)', N, (i) => storage.kv.put(key(i), value, { expirationTtl: 3600 }));
  await time(results, 'put (overwrite, ttl + metadata)', N, (i) =>
    storage.kv.put(key(i), value, { expirationTtl: 3600, metadata: { n: i } }),
  );
  await time(results, 'get (json)', N, (i) => storage.kv.get(key((i * 7919) % N), 'json'));
  await time(results, 'get (missing)', N, (i) => storage.kv.get(`missing:${i}`));
  await time(results, 'delete', N, (i) => storage.kv.delete(`missing:${i}`));
  await time(results, 'counters.increment', N, (i) => storage.counters.increment(`rl:${i % 100}`, 60));
  await time(results, 'list (prefix, limit 10)', N, () => storage.kv.list({ prefix: 'token:slug:grant:0000', limit: 10 }));
  return results;
}

/** The proxied request path on this store: a real grant, then its token validated and used. */
async function requestPath(storage: Storage): Promise<Results> {
  const results: Results = new Map();
  const k = await startApp({ platform: { kv: storage.kv, counters: storage.counters } });
  try {
    const created = await k.mustCreateEndpoint();
    const endpoint = created.mcp_endpoint!;
    const slug = created.slug!;
    const { accessToken } = await k.authorize(endpoint);
    const request = () =>
      new Request(endpoint, { method: 'POST', headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' } });
    // Exactly what every MCP request costs before forwarding: the engine's token check (one store read, a decryption).
    await time(results, 'token validation (engine protect)', N, async () => {
      const response = await engine(k.platform, slug).protect(request(), async () => new Response('ok'));
      if (response.status !== 200) throw new Error(`validation answered ${response.status}`);
    });
    // A whole MCP request through the app to an in-process MCP SDK server (the same on both stores).
    await time(results, 'MCP initialize through the app', Math.ceil(N / 5), async () => {
      const response = await k.mcp(endpoint, accessToken, INITIALIZE);
      await response.arrayBuffer();
      if (response.status !== 200) throw new Error(`MCP answered ${response.status}`);
    });
  } finally {
    await k.close();
  }
  return results;
}

const dir = mkdtempSync(join(tmpdir(), 'key2oauth-bench-'));
let redisServer: RedisServer | undefined;
const sqlite = createSqliteStorage(join(dir, 'bench.sqlite'), { sweepIntervalMs: 0 });
let redis: Awaited<ReturnType<typeof createRedisStorage>> | undefined;
const prefix = `bench-${randomBytes(4).toString('hex')}:`;
try {
  if (!process.env.REDIS_URL) redisServer = await startRedis({ appendfsync: 'everysec' });
  const url = process.env.REDIS_URL ?? redisServer!.url;
  redis = await createRedisStorage({ url, keyPrefix: prefix, sweepIntervalMs: 0 });
  const version = /redis_version:(\S+)/.exec(String(await redis.client.sendCommand(['INFO', 'server'])))?.[1];
  console.log(
    `node ${process.version}; SQLite file in ${dir}; Redis ${version} on ${process.env.REDIS_URL ? 'REDIS_URL' : 'loopback (AOF, fsync every second)'}`,
  );
  console.log(`${N.toLocaleString('en')} operations each (MCP requests: ${Math.ceil(N / 5).toLocaleString('en')}), one at a time\n`);

  const rows: [string, Results, Results][] = [
    ['store operations', await storeOperations(sqlite), await storeOperations(redis)],
    ['proxied request path', await requestPath(sqlite), await requestPath(redis)],
  ];
  const cell = (micros: number | undefined) => (micros === undefined ? '' : `${micros.toFixed(1)} µs`).padStart(11);
  console.log(`${'operation'.padEnd(36)}${'SQLite'.padStart(11)}${'Redis'.padStart(11)}${'Redis − SQLite'.padStart(16)}`);
  for (const [title, left, right] of rows) {
    console.log(`-- ${title}`);
    for (const [label, micros] of left) {
      const other = right.get(label)!;
      console.log(
        `${label.padEnd(36)}${cell(micros)}${cell(other)}${`${other - micros >= 0 ? '+' : ''}${(other - micros).toFixed(1)} µs`.padStart(16)}`,
      );
    }
  }
} finally {
  if (redis) {
    // Leave a shared Redis as it was.
    for await (const keys of redis.client.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) if (keys.length) await redis.client.del(keys);
    await redis.close();
  }
  await redisServer?.stop();
  await sqlite.close();
  rmSync(dir, { recursive: true, force: true });
}
