import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createRedisStorage, type RedisStorage } from '../../src/adapters/node/redis.ts';
import { StorageUnavailableError } from '../../src/storage/unavailable.ts';
import { type RedisServer, redisAvailable, startRedis } from '../support/redis-server.ts';
import { manualClock, storageContract } from './kv-contract.ts';

/**
 * The Redis store against a real redis-server: the shared storage contract (each test in a key
 * prefix of its own), then what only Redis has: native expiry, the key prefix, the index sweep,
 * the shared secret, and outages.
 */

const skip = redisAvailable() ? false : 'redis-server is not installed (apt-get install redis-server)';
let redis: RedisServer | undefined;
let starting: Promise<RedisServer> | undefined;
const server = () => (starting ??= startRedis().then((started) => (redis = started)));
after(() => redis?.stop());

const freshPrefix = () => `test-${randomBytes(6).toString('hex')}:`;

if (!skip)
  storageContract('redis', {
    persistent: true,
    shared: true,
    readsNow: false,
    settle: (reader) => (reader as RedisStorage).client.sendCommand(['PING']),
    async createBackend() {
      const { url } = await server();
      const keyPrefix = freshPrefix();
      return {
        connect: ({ now }) => createRedisStorage({ url, keyPrefix, now, sweepIntervalMs: 0 }),
        async dispose() {},
      };
    },
  });

describe('redis: what only Redis has', { skip }, () => {
  let url: string;
  before(async () => {
    url = (await server()).url;
  });

  test('the sweep takes expired names out of the index, and prefixes keep deployments apart', async () => {
    const clock = manualClock(Date.now());
    const a = await createRedisStorage({ url, keyPrefix: freshPrefix(), now: clock.now, sweepIntervalMs: 0 });
    const b = await createRedisStorage({ url, keyPrefix: freshPrefix(), now: clock.now, sweepIntervalMs: 0 });
    try {
      await a.kv.put('token:t1', 'short', { expirationTtl: 60 });
      await a.kv.put('client:c1', 'kept');
      assert.equal(await b.kv.get('client:c1'), null, 'another prefix sees nothing');
      assert.deepEqual((await b.kv.list()).keys, []);
      clock.advance(61);
      assert.equal(await a.kv.get('token:t1'), null);
      assert.equal(await a.sweep(), 1, 'the expired name leaves the index');
      assert.equal(await a.sweep(), 0);
      assert.deepEqual(
        (await a.kv.list()).keys.map((key) => key.name),
        ['client:c1'],
      );
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('Redis itself removes an expired entry (native expiry), and listing drops its name', async () => {
    const keyPrefix = freshPrefix();
    const store = await createRedisStorage({ url, keyPrefix, sweepIntervalMs: 0 });
    try {
      await store.kv.put('code:1', 'v', { expirationTtl: 60 });
      const ttl = Number(await store.client.sendCommand(['TTL', `${keyPrefix}kv:code:1`]));
      assert.ok(ttl > 55 && ttl <= 60, `Redis holds the expiry (TTL ${ttl})`);
      // Make Redis expire it now, as it would after 60 s.
      await store.client.sendCommand(['PEXPIRE', `${keyPrefix}kv:code:1`, '1']);
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(await store.kv.get('code:1'), null);
      assert.deepEqual((await store.kv.list()).keys, []);
      assert.equal(Number(await store.client.sendCommand(['ZCARD', `${keyPrefix}kv-index`])), 0, 'listing removed the dead name');
    } finally {
      await store.close();
    }
  });

  const hmgetCalls = async (store: { client: { sendCommand(args: string[]): Promise<unknown> } }) => {
    const stats = String(await store.client.sendCommand(['INFO', 'commandstats']));
    return Number(/cmdstat_hmget:calls=(\d+)/.exec(stats)?.[1] ?? 0);
  };

  test('reads are answered from memory while nothing changes, and a change through another replica is seen on the next read', async () => {
    const keyPrefix = freshPrefix();
    const a = await createRedisStorage({ url, keyPrefix, sweepIntervalMs: 0 });
    const b = await createRedisStorage({ url, keyPrefix, sweepIntervalMs: 0 });
    try {
      await a.kv.put('token:t1', 'first');
      assert.equal(await a.kv.get('token:t1'), 'first');
      const before = await hmgetCalls(a);
      for (let i = 0; i < 50; i++) assert.equal(await a.kv.get('token:t1'), 'first');
      assert.equal((await hmgetCalls(a)) - before, 0, 'no round trip for a value Redis has not changed');

      // Redis sends the reading connection its invalidation when it executes the write (CLIENT
      // TRACKING); a round trip of the reader's that starts later is answered after it (kv-contract.ts).
      const settle = () => a.client.sendCommand(['PING']);
      await b.kv.put('token:t1', 'second');
      await settle();
      assert.equal(await a.kv.get('token:t1'), 'second');
      await b.kv.delete('token:t1');
      await settle();
      assert.equal(await a.kv.get('token:t1'), null, 'a revocation on another replica holds at once');
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('a connection that is dropped forgets what it remembered: a change it could not hear about is never hidden', async () => {
    const keyPrefix = freshPrefix();
    const a = await createRedisStorage({ url, keyPrefix, sweepIntervalMs: 0 });
    const b = await createRedisStorage({ url, keyPrefix, sweepIntervalMs: 0 });
    try {
      await a.kv.put('token:t1', 'kept');
      assert.equal(await a.kv.get('token:t1'), 'kept');
      const id = String(await a.client.sendCommand(['CLIENT', 'ID']));
      await b.client.sendCommand(['CLIENT', 'KILL', 'ID', id]);
      await b.kv.delete('token:t1');
      const deadline = Date.now() + 10_000;
      for (;;) {
        try {
          assert.equal(await a.kv.get('token:t1'), null);
          break;
        } catch (error) {
          if (!(error instanceof StorageUnavailableError) || Date.now() > deadline) throw error;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('a Redis that stops answering: remembered reads stop within the command timeout too', async () => {
    const a = await createRedisStorage({ url, keyPrefix: freshPrefix(), sweepIntervalMs: 0, commandTimeoutMs: 1000 });
    try {
      await a.kv.put('token:t1', 'kept');
      assert.equal(await a.kv.get('token:t1'), 'kept');
      redis!.freeze();
      const frozenAt = Date.now();
      try {
        // Invalidations cannot arrive now: reads keep coming, and within the command timeout (and
        // a ping's interval) memory stops being trusted and they fail as an outage.
        for (;;) {
          const read = await a.kv.get('token:t1').then(
            () => 'remembered',
            (error: unknown) => error,
          );
          if (read !== 'remembered') {
            assert.ok(read instanceof StorageUnavailableError, String(read));
            break;
          }
          assert.ok(Date.now() - frozenAt < 2500, 'remembered reads stop within the command timeout');
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      } finally {
        redis!.thaw();
      }
      const deadline = Date.now() + 10_000;
      for (;;) {
        try {
          assert.equal(await a.kv.get('token:t1'), 'kept');
          break;
        } catch (error) {
          if (!(error instanceof StorageUnavailableError) || Date.now() > deadline) throw error;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
    } finally {
      await a.close();
    }
  });

  test('the shared secret: the first replica to start stores it, every other one reads that one', async () => {
    const keyPrefix = freshPrefix();
    const stores = await Promise.all(Array.from({ length: 3 }, () => createRedisStorage({ url, keyPrefix, sweepIntervalMs: 0 })));
    try {
      const secrets = await Promise.all(stores.map((store, i) => store.sharedSecret(`candidate-${i}-${'x'.repeat(40)}`)));
      assert.equal(new Set(secrets).size, 1);
      assert.match(secrets[0]!, /^candidate-\d-x{40}$/);
    } finally {
      for (const store of stores) await store.close();
    }
  });

  test('start-up against a Redis that is not there fails fast, naming Redis and not the password', async () => {
    const started = Date.now();
    await assert.rejects(
      createRedisStorage({ url: 'redis://:hunter2-password@127.0.0.1:1/0', keyPrefix: 'x:', connectTimeoutMs: 1000 }),
      (error: Error) => {
        assert.match(error.message, /cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:1\/0/);
        assert.doesNotMatch(error.message, /hunter2/);
        return true;
      },
    );
    assert.ok(Date.now() - started < 5000, 'within seconds');
  });

  test('a Redis that hangs (connections open, no answers): calls fail within the command timeout, then recover', async () => {
    const store = await createRedisStorage({ url, keyPrefix: freshPrefix(), sweepIntervalMs: 0, commandTimeoutMs: 1000 });
    try {
      await store.kv.put('grant:g1', 'kept');
      redis!.freeze();
      const started = Date.now();
      try {
        await assert.rejects(store.kv.get('grant:g1'), StorageUnavailableError);
      } finally {
        redis!.thaw();
      }
      const waited = Date.now() - started;
      assert.ok(waited >= 900 && waited < 3000, `failed after the timeout, not hanging (${waited} ms)`);
      assert.equal(await store.kv.get('grant:g1'), 'kept');
    } finally {
      await store.close();
    }
  });

  test('an outage: calls fail at once as unavailable, then work again once Redis is back, data intact', async () => {
    const keyPrefix = freshPrefix();
    const store = await createRedisStorage({ url, keyPrefix, sweepIntervalMs: 0 });
    try {
      await store.kv.put('grant:g1', 'kept');
      await redis!.stop();
      const started = Date.now();
      await assert.rejects(store.kv.get('grant:g1'), StorageUnavailableError);
      await assert.rejects(store.counters.increment('rl:x', 60), StorageUnavailableError);
      assert.ok(Date.now() - started < 3000, 'no hang');
      await redis!.start();
      const deadline = Date.now() + 10_000;
      for (;;) {
        try {
          assert.equal(await store.kv.get('grant:g1'), 'kept', 'the AOF kept it');
          break;
        } catch (error) {
          if (!(error instanceof StorageUnavailableError) || Date.now() > deadline) throw error;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
    } finally {
      await store.close();
    }
  });
});
