import { createHash } from 'node:crypto';
import { createClient, ErrorReply, type RedisClientType } from '@redis/client';
import type { KVGetType, KVListKey, KVListOptions, KVListResult, KVPutOptions, Storage } from '../../storage/contract.ts';
import { currentWindow, windowEnd } from '../../storage/fixed-window.ts';
import {
  checkKey,
  compareKeys,
  decodeCursor,
  decodeValue,
  encodeCursor,
  isExpired,
  listLimit,
  prefixEnd,
  preparePut,
  readsJson,
  toSeconds,
} from '../../storage/rules.ts';
import { StorageUnavailableError } from '../../storage/unavailable.ts';

/**
 * The store for several replicas: one Redis (or Valkey) that every process shares, through
 * node-redis (`@redis/client`, the client Redis itself maintains). Every operation is one round trip
 * and atomic: a Lua script or a single command, so no replica ever sees half of another's write.
 *
 * Layout under the key prefix P (README, "State in Redis"):
 * - `P kv:{key}`: a hash per entry: `v` value, `e` expiry (Unix seconds), `m` metadata JSON, with
 *   Redis's own expiry at `e`, so expired entries leave memory by themselves;
 * - `P kv-index`: a sorted set of every key name, all with score 0, so ZRANGEBYLEX walks them in
 *   byte order (UTF-8 order, as Workers KV lists), and a cursor is simply the last name returned:
 *   stable while other replicas write;
 * - `P kv-expiry`: key names by expiry time, so the sweep can take expired names out of the index;
 * - `P rate:{key}`: a rate-limit window (`c` count, `r` end), expiring when the window ends;
 * - `P secret`: the deployment secret, when `KEY2OAUTH_SECRET` is not set (secret.ts).
 *
 * Expiry is also checked against `now` on every read and listing, so an entry is absent the second
 * it expires even before Redis removes it, and tests can move the clock instead of sleeping.
 *
 * Reads without a round trip: the connection speaks RESP3 with `CLIENT TRACKING` on (node-redis's
 * client-side cache), so an entry read once is answered from memory until Redis says it changed.
 * Redis queues that invalidation for every replica that read the entry while it executes the write
 * and sends it in the same pass as the writer's answer, so it normally arrives within a millisecond,
 * before any request the writer's answer could cause reaches another replica (test/e2e/replicas.test.ts
 * revokes on one and is refused on another at once). It is certainly read before the answer to any
 * command this replica sends after the write (one connection, answers in order). What the cache
 * cannot hear, it does not trust:
 * - a dropped connection empties it (node-redis clears it on error and close);
 * - a connection that has heard nothing from Redis for `commandTimeoutMs` (a frozen Redis, a
 *   partition that leaves the socket open) stops answering from memory: a PING every
 *   `commandTimeoutMs / 4` proves, by its answer, that every invalidation sent before it has arrived.
 * Not for Redis Cluster: listing reads entries named inside the index, which a cluster cannot route.
 */
export interface RedisStorageOptions {
  url: string;
  /** Prepended to every key, so several deployments can share one Redis. */
  keyPrefix: string;
  now?: () => number;
  /** How long one command may take before the request gets a 503 instead of waiting. */
  commandTimeoutMs?: number;
  /** How long start-up tries to reach Redis before giving up. */
  connectTimeoutMs?: number;
  /** How often the index is swept of expired names; 0 turns the timer off. */
  sweepIntervalMs?: number;
  /** Called on connection trouble (deduplicated); the caller logs it. */
  onConnectionError?: (message: string) => void;
  /** How many entries the client-side cache holds (least recently used go first); 0 turns it off. */
  cacheEntries?: number;
}

export interface RedisStorage extends Storage {
  /** Takes expired names out of the index now; returns how many went. */
  sweep(): Promise<number>;
  /** The deployment secret shared by every replica: the stored one, or `candidate` if none was stored yet. */
  sharedSecret(candidate: string): Promise<string>;
  /** The raw client, for tests and the benchmark. */
  client: RedisClientType;
}

const SWEEP_BATCH = 500;
const SWEEP_MAX_BATCHES = 20;
/** Names read per step while listing; expired names in the index are skipped, so a page may need several. */
const LIST_STEP = 256;

/** Writes an entry: value, expiry and metadata replace the old ones together, and the index learns the name. */
const PUT = `
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'v', ARGV[2])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'm', ARGV[4]) end
if ARGV[3] ~= '' then
  redis.call('HSET', KEYS[1], 'e', ARGV[3])
  redis.call('EXPIREAT', KEYS[1], ARGV[3])
  redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
else
  redis.call('ZREM', KEYS[3], ARGV[1])
end
redis.call('ZADD', KEYS[2], 0, ARGV[1])
return 1`;

const DELETE = `
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1`;

/**
 * One page of names from the index, in byte order, skipping entries that are gone or expired
 * (names whose entry Redis already removed are taken out of the index on the way). Returns
 * name, expiry, metadata triples; at most ARGV[5] of them.
 */
const LIST = `
local want = tonumber(ARGV[5])
local now = tonumber(ARGV[4])
local out = {}
local found = 0
local from = ARGV[2]
while found < want do
  local names = redis.call('ZRANGEBYLEX', KEYS[1], from, ARGV[3], 'LIMIT', 0, ${LIST_STEP})
  for _, name in ipairs(names) do
    local entry = ARGV[1] .. name
    if redis.call('EXISTS', entry) == 1 then
      local fields = redis.call('HMGET', entry, 'e', 'm')
      if not fields[1] or tonumber(fields[1]) > now then
        found = found + 1
        out[#out + 1] = name
        out[#out + 1] = fields[1] or ''
        out[#out + 1] = fields[2] or ''
        if found >= want then break end
      end
    else
      redis.call('ZREM', KEYS[1], name)
    end
  end
  if #names < ${LIST_STEP} then break end
  from = '(' .. names[#names]
end
return out`;

/** storage/fixed-window.ts's countOne in one atomic step: count on in the stored window unless it is older. */
const INCREMENT = `
local stored = redis.call('HMGET', KEYS[1], 'c', 'r')
local reset = tonumber(ARGV[1])
if stored[2] and tonumber(stored[2]) >= reset then
  return { redis.call('HINCRBY', KEYS[1], 'c', 1), tonumber(stored[2]) }
end
redis.call('HSET', KEYS[1], 'c', 1, 'r', reset)
redis.call('EXPIREAT', KEYS[1], reset + 1)
return { 1, reset }`;

/** Takes expired names out of the index (their entries are gone, or go now). */
const SWEEP = `
local names = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
for _, name in ipairs(names) do
  local entry = ARGV[1] .. name
  local expiry = redis.call('HGET', entry, 'e')
  if not expiry or tonumber(expiry) <= tonumber(ARGV[2]) then
    redis.call('DEL', entry)
    redis.call('ZREM', KEYS[1], name)
  end
  redis.call('ZREM', KEYS[2], name)
end
return #names`;

interface Script {
  source: string;
  sha: string;
}

function script(source: string): Script {
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

const SCRIPTS = {
  put: script(PUT),
  delete: script(DELETE),
  list: script(LIST),
  increment: script(INCREMENT),
  sweep: script(SWEEP),
};

/** `redis://user:***@host:port/db`: the URL without its password, for messages and logs. */
export function describeRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'the Redis URL';
  }
}

/**
 * Connects, or fails within `connectTimeoutMs` with an error that names Redis (start-up stops
 * there). After the first connection the client reconnects by itself, forever; meanwhile commands
 * fail at once (no offline queue), so requests get a quick 503 rather than waiting.
 */
export async function createRedisStorage(options: RedisStorageOptions): Promise<RedisStorage> {
  const now = options.now ?? Date.now;
  const prefix = options.keyPrefix;
  const commandTimeoutMs = options.commandTimeoutMs ?? 2000;
  const connectTimeoutMs = options.connectTimeoutMs ?? 5000;
  const where = describeRedisUrl(options.url);
  let connected = false;
  const startedAt = Date.now();

  const cacheEntries = options.cacheEntries ?? 10_000;
  const client = createClient({
    url: options.url,
    ...(cacheEntries > 0 ? { RESP: 3 as const, clientSideCache: { ttl: 0, maxEntries: cacheEntries, evictPolicy: 'LRU' as const } } : {}),
    disableOfflineQueue: true,
    commandOptions: { timeout: commandTimeoutMs },
    socket: {
      connectTimeout: Math.min(connectTimeoutMs, 2000),
      // Before the first connection: give up once connectTimeoutMs is spent, so start-up fails
      // fast. After it: retry quickly and forever, so service resumes when Redis is back.
      reconnectStrategy: (retries: number, cause: Error) => {
        if (!connected && Date.now() - startedAt >= connectTimeoutMs) return cause;
        return Math.min(50 * 2 ** retries, 1000);
      },
    },
  }) as RedisClientType;

  let lastReported = '';
  client.on('error', (error: Error) => {
    // node-redis emits every failed attempt; one line per distinct problem is enough.
    const message = error.message || error.name;
    if (message !== lastReported) options.onConnectionError?.(`Redis at ${where}: ${message}`);
    lastReported = message;
  });
  client.on('ready', () => {
    lastReported = '';
  });

  try {
    await client.connect();
  } catch (error) {
    client.destroy();
    throw new Error(`cannot reach Redis at ${where} (REDIS_URL): ${(error as Error).message || (error as Error).name}`, { cause: error });
  }
  connected = true;

  /**
   * When the newest answered command was sent: every invalidation Redis sent before then has been
   * read (one connection, answers in order). Reads from memory are trusted only while it is recent.
   */
  let heardAt = Date.now();

  /**
   * Every call to Redis goes through here (`fromRedis` false for a read the cache may answer, which
   * proves nothing about the connection): any failure is an outage to the caller (a 503), and so
   * is a call still unanswered after commandTimeoutMs. node-redis's own timeout stops counting once
   * a command is written, so a Redis that hangs with the connection open (a frozen host, a network
   * partition) would otherwise hold the request forever; its late answer is simply dropped.
   *
   * One interval checks every waiting call's deadline (a quarter of the timeout apart) instead of
   * a timer per call and a race: that halved the cost of a read answered from memory (33 to 16 µs).
   */
  const waiting = new Set<{ due: number; fail: (error: Error) => void }>();
  const deadlines = setInterval(
    () => {
      const now = Date.now();
      for (const call of waiting) if (call.due <= now) call.fail(new Error(`no answer within ${commandTimeoutMs} ms`));
    },
    Math.max(10, commandTimeoutMs / 4),
  );
  deadlines.unref();

  function call<T>(run: () => Promise<T>, fromRedis = true): Promise<T> {
    const sentAt = Date.now();
    return new Promise<T>((resolve, reject) => {
      const waiter = {
        due: sentAt + commandTimeoutMs,
        fail(error: Error) {
          waiting.delete(waiter);
          reject(new StorageUnavailableError(`Redis is unavailable: ${error.message || error.name}`, { cause: error }));
        },
      };
      waiting.add(waiter);
      let pending: Promise<T>;
      try {
        pending = run();
      } catch (error) {
        waiter.fail(error as Error);
        return;
      }
      pending.then(
        (answer) => {
          if (!waiting.delete(waiter)) return; // already failed as late
          if (fromRedis) heardAt = Math.max(heardAt, sentAt);
          resolve(answer);
        },
        (error: Error) => {
          if (waiting.has(waiter)) waiter.fail(error);
        },
      );
    });
  }

  /** EVALSHA, loading the script on first use and again after Redis restarts without it. */
  function evaluate<T>(which: Script, keys: string[], args: (string | number)[]): Promise<T> {
    const tail = [String(keys.length), ...keys, ...args.map(String)];
    return call(async () => {
      try {
        return (await client.sendCommand(['EVALSHA', which.sha, ...tail])) as T;
      } catch (error) {
        if (error instanceof ErrorReply && error.message.startsWith('NOSCRIPT')) {
          return (await client.sendCommand(['EVAL', which.source, ...tail])) as T;
        }
        throw error;
      }
    });
  }

  const cache = client.clientSideCache;
  const pinger = cache
    ? setInterval(() => call(() => client.sendCommand(['PING'])).catch(() => {}), Math.max(50, commandTimeoutMs / 4))
    : undefined;
  pinger?.unref();
  /** A read that may be answered from memory: only while the invalidations are known to be flowing. */
  const cachedRead = (key: string) => {
    if (cache && Date.now() - heardAt > commandTimeoutMs) cache.clear();
    return client.hmGet(key, ['v', 'e']);
  };

  const entry = (key: string) => `${prefix}kv:${key}`;
  const index = `${prefix}kv-index`;
  const expiry = `${prefix}kv-expiry`;

  async function sweep(): Promise<number> {
    let removed = 0;
    for (let batch = 0; batch < SWEEP_MAX_BATCHES; batch++) {
      const count = await evaluate<number>(SCRIPTS.sweep, [index, expiry], [`${prefix}kv:`, toSeconds(now()), SWEEP_BATCH]);
      removed += count;
      if (count < SWEEP_BATCH) break;
    }
    return removed;
  }

  const sweepIntervalMs = options.sweepIntervalMs ?? 60_000;
  const timer = sweepIntervalMs > 0 ? setInterval(() => sweep().catch(() => {}), sweepIntervalMs) : undefined;
  timer?.unref();

  let closed = false;

  return {
    client,
    kv: {
      async get(key: string, type?: KVGetType) {
        const json = readsJson(type);
        checkKey('GET', key);
        const [value, expiration] = (await call(() => cachedRead(entry(key)), false)) as [string | null, string | null];
        if (value === null || value === undefined) return null;
        if (isExpired(expiration ? Number(expiration) : null, toSeconds(now()))) return null;
        return decodeValue(value, json);
      },

      async put(key: string, value: string, putOptions?: KVPutOptions) {
        const { expiration, metadata } = preparePut(key, value, putOptions, now());
        await evaluate(SCRIPTS.put, [entry(key), index, expiry], [key, value, expiration ?? '', metadata ?? '']);
      },

      async delete(key: string) {
        checkKey('DELETE', key);
        await evaluate(SCRIPTS.delete, [entry(key), index, expiry], [key]);
      },

      async list(listOptions: KVListOptions = {}): Promise<KVListResult> {
        const limit = listLimit(listOptions.limit);
        const listPrefix = listOptions.prefix ?? '';
        const end = prefixEnd(listPrefix);
        const after = listOptions.cursor ? decodeCursor(listOptions.cursor) : undefined;
        const resume = after !== undefined && compareKeys(after, listPrefix) >= 0;
        const from = resume ? `(${after}` : listPrefix === '' ? '-' : `[${listPrefix}`;
        const to = end === undefined ? '+' : `(${end}`;
        // One more than asked tells whether another page exists (as the SQLite store does).
        const flat = await evaluate<string[]>(SCRIPTS.list, [index], [`${prefix}kv:`, from, to, toSeconds(now()), limit + 1]);
        const keys: KVListKey[] = [];
        for (let i = 0; i < flat.length && keys.length < limit; i += 3) {
          const key: KVListKey = { name: flat[i]! };
          if (flat[i + 1]) key.expiration = Number(flat[i + 1]);
          if (flat[i + 2]) key.metadata = JSON.parse(flat[i + 2]!);
          keys.push(key);
        }
        const last = keys.at(-1);
        return flat.length / 3 > limit && last !== undefined
          ? { keys, list_complete: false, cursor: encodeCursor(last.name) }
          : { keys, list_complete: true };
      },
    },

    counters: {
      async increment(key: string, windowSeconds: number) {
        const resetAt = windowEnd(now(), windowSeconds);
        const [count, reset] = await evaluate<[number, number]>(SCRIPTS.increment, [`${prefix}rate:${key}`], [resetAt]);
        return { count: Number(count), resetAt: Number(reset) };
      },
      async peek(key: string, windowSeconds: number) {
        const [count, reset] = (await call(() => client.sendCommand(['HMGET', `${prefix}rate:${key}`, 'c', 'r']))) as [
          string | null,
          string | null,
        ];
        const stored = count !== null && reset !== null ? { count: Number(count), resetAt: Number(reset) } : undefined;
        return currentWindow(stored, windowEnd(now(), windowSeconds));
      },
    },

    sweep,

    async sharedSecret(candidate: string) {
      // SET NX: of replicas starting together, the first write wins and every one reads that one.
      const key = `${prefix}secret`;
      await call(() => client.sendCommand(['SET', key, candidate, 'NX']));
      const stored = (await call(() => client.sendCommand(['GET', key]))) as string | null;
      if (!stored) throw new StorageUnavailableError('Redis lost the deployment secret just written');
      return stored;
    },

    async close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      clearInterval(pinger);
      clearInterval(deadlines);
      try {
        await client.close();
      } catch {
        client.destroy();
      }
    },
  };
}
