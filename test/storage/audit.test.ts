import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { createRedisStorage } from '../../src/adapters/node/redis.ts';
import { createSqliteStorage } from '../../src/adapters/node/sqlite.ts';
import { readEvents, recordEvent } from '../../src/audit/trail.ts';
import type { Platform } from '../../src/platform.ts';
import type { Storage } from '../../src/storage/contract.ts';
import { createMemoryStorage } from '../../src/storage/memory.ts';
import { type RedisServer, redisAvailable, startRedis } from '../support/redis-server.ts';
import { manualClock } from './kv-contract.ts';

/**
 * The audit trail on each store the Node server can use (memory, SQLite, a real redis-server),
 * through the storage contract alone: newest first, filtered, and gone after AUDIT_RETENTION_DAYS
 * by the store's own expiry. (The Worker's KV runs it in test/e2e/teams.test.ts.)
 */

let redis: RedisServer | undefined;
after(() => redis?.stop());

const backends: Array<[string, (now: () => number) => Promise<Storage>, string | false]> = [
  ['memory', async (now) => createMemoryStorage({ now }), false],
  ['sqlite', async (now) => createSqliteStorage(':memory:', { now }), false],
  [
    'redis',
    async (now) => {
      redis ??= await startRedis();
      return createRedisStorage({ url: redis.url, keyPrefix: `audit-${randomBytes(4).toString('hex')}:`, now, sweepIntervalMs: 0 });
    },
    redisAvailable() ? false : 'redis-server is not installed',
  ],
];

for (const [name, open, skip] of backends)
  describe(`the audit trail on ${name}`, { skip }, () => {
    test('newest first, filtered, and expired after the retention', async () => {
      const clock = manualClock(Date.now());
      const storage = await open(clock.now);
      const platform = { kv: storage.kv, config: { auditRetentionDays: 1 } } as unknown as Platform;
      try {
        await recordEvent(platform, {
          actor: 'alice@corp.example',
          action: 'endpoint.created',
          slug: 'AAAAAAAAAAAA',
          detail: 'upstream a.example',
        });
        await new Promise((resolve) => setTimeout(resolve, 5));
        await recordEvent(platform, { actor: 'manage link', action: 'endpoint.changed', slug: 'AAAAAAAAAAAA', detail: 'display_name' });
        await new Promise((resolve) => setTimeout(resolve, 5));
        await recordEvent(platform, { actor: 'bob@elsewhere.example', action: 'sign-in.refused', detail: 'the email is not allowed' });
        const all = await readEvents(platform);
        assert.deepEqual(
          all.map((event) => event.action),
          ['sign-in.refused', 'endpoint.changed', 'endpoint.created'],
        );
        assert.deepEqual(Object.keys(all[0]!).sort(), ['action', 'actor', 'at', 'detail', 'slug']);
        assert.deepEqual(
          (await readEvents(platform, { action: 'endpoint' })).map((event) => event.actor),
          ['manage link', 'alice@corp.example'],
        );
        assert.equal((await readEvents(platform, { actor: 'ALICE@corp.example' })).length, 1);
        assert.equal((await readEvents(platform, { slug: 'AAAAAAAAAAAA', limit: 1 }))[0]!.action, 'endpoint.changed');
        assert.equal((await readEvents(platform, { since: Date.now() + 60_000 })).length, 0);
        clock.advance(86_400 + 1);
        assert.deepEqual(await readEvents(platform), [], 'gone after AUDIT_RETENTION_DAYS');
      } finally {
        await storage.close();
      }
    });
  });
