/**
 * What Redis costs against SQLite: each store operation, then the proxied request path (token
 * validation as the engine does it, and a whole MCP request through the app), on both stores.
 * Not a test: it prints figures. Run:
 *   ./node_modules/.bin/node --import ./src/adapters/node/hooks.ts scripts/bench-storage.ts
 * Redis is a redis-server this script starts on a free loopback port (AOF on, fsync every second,
 * as docs/replicas.md advises), or the one at REDIS_URL (keys under a throwaway prefix, removed after).
 * The two stores take turns in several rounds and each figure is the median round, so a machine
 * busy with other work skews both alike rather than whichever ran during the busy spell.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRedisStorage, type RedisStorage } from '../src/adapters/node/redis.ts';
import { createSqliteStorage } from '../src/adapters/node/sqlite.ts';
import { engine } from '../src/oauth/engine.ts';
import type { Storage } from '../src/storage/contract.ts';
import { INITIALIZE, type InProcess, startApp } from '../test/support/in-process.ts';
import { type RedisServer, startRedis } from '../test/support/redis-server.ts';

const N = Number(process.env.BENCH_N ?? 5000);
const ROUNDS = 5;
// About the size of an access-token record from the OAuth engine.
const value = JSON.stringify({ id: 'x'.repeat(64), grantId: 'g'.repeat(16), userId: 'slug', expiresAt: 0, wrappedKey: 'k'.repeat(200) });
const key = (i: number) => `token:slug:grant:${String(i).padStart(8, '0')}`;

/** One backend as the benchmark sees it: the store, and an app on it with a live grant. */
interface Subject {
  storage: Storage;
  app: InProcess;
  endpoint: string;
  slug: string;
  accessToken: string;
}

type Operation = (subject: Subject, i: number) => Promise<unknown>;

const storeOperations: [string, Operation][] = [
  ['put (new key, ttl)', (s, i) => s.storage.kv.put(key(i), value, { expirationTtl: 3600 })],
  ['put (overwrite, ttl + metadata)', (s, i) => s.storage.kv.put(key(i % 1000), value, { expirationTtl: 3600, metadata: { n: i } })],
  ['get (json)', (s, i) => s.storage.kv.get(key((i * 7919) % 1000), 'json')],
  ['get (missing)', (s, i) => s.storage.kv.get(`missing:${i}`)],
  ['delete', (s, i) => s.storage.kv.delete(`missing:${i}`)],
  ['counters.increment', (s, i) => s.storage.counters.increment(`rl:${i % 100}`, 60)],
  ['list (prefix, limit 10)', (s) => s.storage.kv.list({ prefix: 'token:slug:grant:0000', limit: 10 })],
];

const requestPath: [string, Operation][] = [
  // Exactly what every MCP request costs before forwarding: the engine's token check (one store read, a decryption).
  [
    'token validation (engine verify)',
    async (s) => {
      if (!(await engine(s.app.platform, s.slug).verify(s.accessToken))) throw new Error('the token was refused');
    },
  ],
  // A whole MCP request through the app to an in-process MCP SDK server (the same on both stores).
  [
    'MCP initialize through the app',
    async (s) => {
      const response = await s.app.mcp(s.endpoint, s.accessToken, INITIALIZE);
      await response.arrayBuffer();
      if (response.status !== 200) throw new Error(`MCP answered ${response.status}`);
    },
  ],
];

async function subject(storage: Storage): Promise<Subject> {
  const app = await startApp({ platform: { kv: storage.kv, counters: storage.counters } });
  const created = await app.mustCreateEndpoint();
  const { accessToken } = await app.authorize(created.mcp_endpoint!);
  return { storage, app, endpoint: created.mcp_endpoint!, slug: created.slug!, accessToken };
}

/** Microseconds per operation in one round of `count`. */
async function round(s: Subject, run: Operation, count: number, offset: number): Promise<number> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < count; i++) await run(s, offset + i);
  return Number(process.hrtime.bigint() - start) / 1000 / count;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

async function compare(label: string, run: Operation, count: number, sqlite: Subject, redis: Subject): Promise<void> {
  for (let i = 0; i < 100; i++) {
    await run(sqlite, i); // warm up: JIT, prepared statements, the script cache
    await run(redis, i);
  }
  const left: number[] = [];
  const right: number[] = [];
  const perRound = Math.ceil(count / ROUNDS);
  for (let r = 0; r < ROUNDS; r++) {
    left.push(await round(sqlite, run, perRound, r * perRound));
    right.push(await round(redis, run, perRound, r * perRound));
  }
  const [a, b] = [median(left), median(right)];
  const cell = (micros: number) => `${micros.toFixed(1)} µs`.padStart(11);
  console.log(`${label.padEnd(36)}${cell(a)}${cell(b)}${`${b - a >= 0 ? '+' : ''}${(b - a).toFixed(1)} µs`.padStart(16)}`);
}

const dir = mkdtempSync(join(tmpdir(), 'key2oauth-bench-'));
let redisServer: RedisServer | undefined;
let redisStorage: RedisStorage | undefined;
const subjects: Subject[] = [];
const prefix = `bench-${randomBytes(4).toString('hex')}:`;
try {
  if (!process.env.REDIS_URL) redisServer = await startRedis({ appendfsync: 'everysec' });
  redisStorage = await createRedisStorage({ url: process.env.REDIS_URL ?? redisServer!.url, keyPrefix: prefix, sweepIntervalMs: 0 });
  const sqlite = await subject(createSqliteStorage(join(dir, 'bench.sqlite'), { sweepIntervalMs: 0 }));
  subjects.push(sqlite);
  const redis = await subject(redisStorage);
  subjects.push(redis);
  for (let i = 0; i < 1000; i++) for (const s of subjects) await s.storage.kv.put(key(i), value, { expirationTtl: 3600 });

  const version = /redis_version:(\S+)/.exec(String(await redisStorage.client.sendCommand(['INFO', 'server'])))?.[1];
  const where = process.env.REDIS_URL ? 'REDIS_URL' : 'loopback (AOF, fsync every second)';
  console.log(`node ${process.version}; SQLite file in ${dir}; Redis ${version} on ${where}`);
  console.log(`${N.toLocaleString('en')} operations each (MCP requests: ${Math.ceil(N / 5).toLocaleString('en')}), one at a time;`);
  console.log(`median of ${ROUNDS} rounds, the stores taking turns\n`);
  console.log(`${'operation'.padEnd(36)}${'SQLite'.padStart(11)}${'Redis'.padStart(11)}${'Redis − SQLite'.padStart(16)}`);
  console.log('-- store operations');
  for (const [label, run] of storeOperations) await compare(label, run, N, sqlite, redis);
  console.log('-- proxied request path');
  await compare(requestPath[0]![0], requestPath[0]![1], N, sqlite, redis);
  await compare(requestPath[1]![0], requestPath[1]![1], Math.ceil(N / 5), sqlite, redis);
} finally {
  for (const s of subjects) await s.app.close();
  if (redisStorage) {
    // Leave a shared Redis as it was.
    for await (const keys of redisStorage.client.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 }))
      if (keys.length) await redisStorage.client.del(keys);
  }
  for (const s of subjects) await s.storage.close();
  await redisServer?.stop();
  rmSync(dir, { recursive: true, force: true });
}
