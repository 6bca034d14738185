import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { KVListKey, KVListResult, KVStore, Storage } from '../../src/storage/contract.ts';

/**
 * The behaviour every store must share, written only against the `Storage` interface so the
 * memory, SQLite and (later) Redis stores all run the very same tests. Time is a manual clock
 * handed to the store, so expiry and counter windows are tested without sleeping.
 */

/** One empty backend (a temp file, a Redis key space, ...) that a test may connect to several times. */
export interface StorageBackend {
  connect(options: { now: () => number }): Promise<Storage>;
  /** Removes what the backend left behind; called after every connection is closed. */
  dispose(): Promise<void>;
}

export interface StorageContractTarget {
  /** A fresh, empty backend for each test. */
  createBackend(): Promise<StorageBackend>;
  /** Data survives closing every connection and connecting again. */
  persistent: boolean;
  /** Connections open at the same time see one another's writes. */
  shared: boolean;
  /** The store reads synchronously (`getNow`: SQLite, memory), and it must agree with `get`. */
  readsNow: boolean;
  /**
   * What a connection (`reader`) needs, after another one's write, before it can rely on seeing
   * it. Nothing for SQLite (one file). For Redis, whose client-side cache learns of a change by an
   * invalidation message Redis sends when it executes the write: any round trip of the reader's
   * that starts after the write (its answer comes after that message, on the same connection).
   * A replica makes one at least every few hundred milliseconds (redis.ts), and the message itself
   * normally arrives within a millisecond of the writer's answer.
   */
  settle?: (reader: Storage) => Promise<unknown>;
}

export interface ManualClock {
  now: () => number;
  advance(seconds: number): void;
  seconds(): number;
}

/**
 * Starts at the next whole hour of real time: whole hours make window arithmetic readable, and a
 * start in the real future keeps stores that add the server's own expiry as a backstop (Redis)
 * from dropping keys the test still expects to read.
 */
export function manualClock(startMs = Math.ceil(Date.now() / 3_600_000) * 3_600_000): ManualClock {
  let current = startMs;
  return {
    now: () => current,
    advance(seconds) {
      current += seconds * 1000;
    },
    seconds: () => Math.floor(current / 1000),
  };
}

interface Session {
  clock: ManualClock;
  open(): Promise<Storage>;
}

export function storageContract(name: string, target: StorageContractTarget): void {
  /** Runs a test against a fresh backend, closing every connection it opened (twice is fine). */
  async function withSession(run: (session: Session) => Promise<void>): Promise<void> {
    const backend = await target.createBackend();
    const clock = manualClock();
    const opened: Storage[] = [];
    try {
      await run({
        clock,
        async open() {
          const storage = await backend.connect({ now: clock.now });
          opened.push(storage);
          return storage;
        },
      });
    } finally {
      try {
        for (const storage of opened) await storage.close();
      } finally {
        await backend.dispose();
      }
    }
  }

  async function withKv(run: (kv: KVStore, clock: ManualClock) => Promise<void>): Promise<void> {
    await withSession(async (session) => run((await session.open()).kv, session.clock));
  }

  describe(`${name}: storage contract`, () => {
    describe('get, put, delete', () => {
      test('a missing key reads as null, in text and in json', () =>
        withKv(async (kv) => {
          assert.equal(await kv.get('missing'), null);
          assert.equal(await kv.get('missing', 'json'), null);
          assert.equal(await kv.get('missing', { type: 'json' }), null);
        }));

      test('put then get returns the value; put again replaces it; delete removes it', () =>
        withKv(async (kv) => {
          await kv.put('greeting', 'hello');
          assert.equal(await kv.get('greeting'), 'hello');
          assert.equal(await kv.get('greeting', 'text'), 'hello');
          assert.equal(await kv.get('greeting', { type: 'text' }), 'hello');
          await kv.put('greeting', 'hello again');
          assert.equal(await kv.get('greeting'), 'hello again');
          await kv.delete('greeting');
          assert.equal(await kv.get('greeting'), null);
          await kv.delete('greeting'); // deleting a missing key is not an error
        }));

      test('the empty string is a value, not absence; unicode round-trips', () =>
        withKv(async (kv) => {
          await kv.put('empty', '');
          assert.equal(await kv.get('empty'), '');
          const text = 'naïve 😀 \u0000 "quoted" \\ \n line';
          await kv.put('unicode:ключ:😀', text);
          assert.equal(await kv.get('unicode:ключ:😀'), text);
        }));

      test("get(key, 'json') and get(key, { type: 'json' }) parse the value", () =>
        withKv(async (kv) => {
          const record = { id: 'c1', scopes: ['read', 'write'], nested: { n: 1, ok: true, none: null } };
          await kv.put('client:c1', JSON.stringify(record));
          assert.deepEqual(await kv.get('client:c1', 'json'), record);
          assert.deepEqual(await kv.get('client:c1', { type: 'json' }), record);
          assert.equal(await kv.get('client:c1'), JSON.stringify(record));
          await kv.put('not-json', 'plain words');
          await assert.rejects(kv.get('not-json', 'json'), SyntaxError);
        }));

      if (target.readsNow)
        test('getNow reads what get reads, without a promise: values, absence, expiry, deletes', () =>
          withKv(async (kv, clock) => {
            assert.ok(kv.getNow, 'this store says it reads synchronously');
            const getNow = (key: string) => kv.getNow!(key);
            assert.equal(getNow('token:t1'), null);
            await kv.put('token:t1', '{"a":1}', { expirationTtl: 60 });
            assert.equal(getNow('token:t1'), '{"a":1}');
            assert.equal(getNow('token:t1'), await kv.get('token:t1'));
            await kv.put('token:t1', 'replaced', { expirationTtl: 60 });
            assert.equal(getNow('token:t1'), 'replaced', 'a write is read at once');
            clock.advance(60);
            assert.equal(getNow('token:t1'), null, 'expired');
            await kv.put('token:t2', 'kept');
            await kv.delete('token:t2');
            assert.equal(getNow('token:t2'), null, 'deleted');
            assert.throws(() => getNow(''), 'keys are checked as by get');
          }));

      test('keys are validated as Workers KV validates them', () =>
        withKv(async (kv) => {
          await assert.rejects(kv.put('', 'v'));
          await assert.rejects(kv.put('.', 'v'));
          await assert.rejects(kv.put('..', 'v'));
          await assert.rejects(kv.get(''));
          await kv.put('k'.repeat(512), 'at the limit');
          assert.equal(await kv.get('k'.repeat(512)), 'at the limit');
          await assert.rejects(kv.put('k'.repeat(513), 'v'), /512/);
          // The limit counts UTF-8 bytes: 171 three-byte characters are 513 bytes.
          await assert.rejects(kv.put('€'.repeat(171), 'v'), /512/);
        }));
    });

    describe('metadata and listing', () => {
      test('metadata round-trips through list(), a copy taken at put time', () =>
        withKv(async (kv) => {
          const metadata = { userId: 'u1', createdAt: 1700000000, tags: ['a', 'b'] };
          await kv.put('grant:u1:g1', '{}', { metadata });
          await kv.put('grant:u1:g2', '{}');
          metadata.tags.push('changed after put');
          const { keys } = await kv.list({ prefix: 'grant:' });
          assert.deepEqual(keys, [
            { name: 'grant:u1:g1', metadata: { userId: 'u1', createdAt: 1700000000, tags: ['a', 'b'] } },
            { name: 'grant:u1:g2' },
          ]);
          await kv.put('grant:u1:g1', 'replaced');
          assert.deepEqual((await kv.list({ prefix: 'grant:u1:g1' })).keys, [{ name: 'grant:u1:g1' }]);
        }));

      test('metadata over 1024 bytes is refused', () =>
        withKv(async (kv) => {
          await assert.rejects(kv.put('big', 'v', { metadata: { blob: 'x'.repeat(1100) } }), /1024/);
          assert.equal(await kv.get('big'), null);
        }));

      test('list() is in lexicographic order of UTF-8 bytes, whatever the insertion order', () =>
        withKv(async (kv) => {
          // U+FFFD sorts before U+1F600 in UTF-8 (and code points), after it in UTF-16 units.
          const sorted = ['A', 'B', 'a', 'a:1', 'a:10', 'a:2', 'ab', 'b', 'z', 'é', '\uFFFD', '😀'];
          for (const name of [...sorted].reverse()) await kv.put(name, name);
          const result = await kv.list();
          assert.deepEqual(names(result), sorted);
          assert.equal(result.list_complete, true);
          assert.equal(result.cursor, undefined);
        }));

      test('prefix listing takes %, _, *, \\ and [ literally', () =>
        withKv(async (kv) => {
          const inside = ['a%b', 'a%b%', 'a%b:1', 'a%b_c', 'a%b\\', 'a%b[x]', 'a%b*'];
          const outside = ['a%c', 'a%', 'aXb', 'a_b', 'a%B', 'A%b', '%', 'a\\b', 'b'];
          for (const name of [...outside, ...inside]) await kv.put(name, 'v');
          assert.deepEqual(names(await kv.list({ prefix: 'a%b' })), [...inside].sort(byUtf8));
          assert.deepEqual(names(await kv.list({ prefix: 'a_' })), ['a_b']);
          assert.deepEqual(names(await kv.list({ prefix: '%' })), ['%']);
          assert.deepEqual(names(await kv.list({ prefix: 'a\\' })), ['a\\b']);
          assert.deepEqual(names(await kv.list({ prefix: 'nothing here' })), []);
          assert.equal((await kv.list({ prefix: '' })).keys.length, inside.length + outside.length);
          assert.equal((await kv.list({ prefix: null })).keys.length, inside.length + outside.length);
        }));

      test('prefixes ending at the edges of Unicode list exactly their keys', () =>
        withKv(async (kv) => {
          const keys = ['x\uD7FF', 'x\uD7FFtail', 'x\uE000', 'x😀', 'y\u{10FFFF}', 'y\u{10FFFF}\u{10FFFF}', 'y\u{10FFFF}z', 'z'];
          for (const name of keys) await kv.put(name, 'v');
          assert.deepEqual(names(await kv.list({ prefix: 'x\uD7FF' })), ['x\uD7FF', 'x\uD7FFtail']);
          assert.deepEqual(names(await kv.list({ prefix: 'x\uE000' })), ['x\uE000']);
          assert.deepEqual(names(await kv.list({ prefix: 'x😀' })), ['x😀']);
          assert.deepEqual(names(await kv.list({ prefix: 'y\u{10FFFF}' })), ['y\u{10FFFF}', 'y\u{10FFFF}z', 'y\u{10FFFF}\u{10FFFF}']);
        }));

      test('more than 1000 keys come in pages of 1000 with a cursor, none lost or repeated', () =>
        withKv(async (kv) => {
          const expected: string[] = [];
          for (let i = 0; i < 2345; i++) {
            const name = `token:${String(i).padStart(5, '0')}`;
            expected.push(name);
            await kv.put(name, String(i));
          }
          await kv.put('tokens-after', 'v');
          await kv.put('token', 'v'); // shorter than the prefix: outside it
          const pages = await listAll(kv, { prefix: 'token:' });
          assert.deepEqual(
            pages.map((page) => page.keys.length),
            [1000, 1000, 345],
          );
          assert.deepEqual(pages.flatMap(names), expected);
        }));

      test('odd limits page exactly, and the last page ends the listing', () =>
        withKv(async (kv) => {
          for (let i = 0; i < 50; i++) await kv.put(`k:${String(i).padStart(2, '0')}`, 'v');
          const bySeven = await listAll(kv, { prefix: 'k:', limit: 7 });
          assert.deepEqual(
            bySeven.map((page) => page.keys.length),
            [7, 7, 7, 7, 7, 7, 7, 1],
          );
          assert.equal(new Set(bySeven.flatMap(names)).size, 50);
          // An exact multiple ends on a full page, not with a cursor to an empty one.
          const byTen = await listAll(kv, { prefix: 'k:', limit: 10 });
          assert.deepEqual(
            byTen.map((page) => page.keys.length),
            [10, 10, 10, 10, 10],
          );
          const byOne = await listAll(kv, { prefix: 'k:', limit: 1 });
          assert.equal(byOne.length, 50);
        }));

      test('a cursor still works after the keys around it change', () =>
        withKv(async (kv) => {
          for (const name of ['p:a', 'p:b', 'p:c', 'p:d', 'p:e']) await kv.put(name, 'v');
          const first = await kv.list({ prefix: 'p:', limit: 2 });
          assert.deepEqual(names(first), ['p:a', 'p:b']);
          assert.equal(first.list_complete, false);
          assert.equal(typeof first.cursor, 'string');
          await kv.delete('p:b');
          await kv.delete('p:c');
          await kv.put('p:bb', 'v');
          const rest = await kv.list({ prefix: 'p:', cursor: first.cursor ?? null });
          assert.deepEqual(names(rest), ['p:bb', 'p:d', 'p:e']);
          assert.equal(rest.list_complete, true);
        }));

      test('limits outside 1..1000 are refused, as on Workers KV', () =>
        withKv(async (kv) => {
          await assert.rejects(kv.list({ limit: 0 }));
          await assert.rejects(kv.list({ limit: 1001 }));
          await kv.list({ limit: 1000 });
        }));
    });

    describe('expiration', () => {
      test('expirationTtl: readable until the TTL has passed, then absent and unlisted', () =>
        withKv(async (kv, clock) => {
          const putAt = clock.seconds();
          await kv.put('code:1', 'secret', { expirationTtl: 60, metadata: { kind: 'code' } });
          await kv.put('code:2', 'kept');
          assert.deepEqual((await kv.list({ prefix: 'code:' })).keys, [
            { name: 'code:1', expiration: putAt + 60, metadata: { kind: 'code' } },
            { name: 'code:2' },
          ]);
          clock.advance(59);
          assert.equal(await kv.get('code:1'), 'secret');
          clock.advance(1);
          assert.equal(await kv.get('code:1'), null);
          assert.equal(await kv.get('code:1', 'json'), null);
          assert.deepEqual(names(await kv.list({ prefix: 'code:' })), ['code:2']);
        }));

      test('expiration: an absolute Unix time in seconds', () =>
        withKv(async (kv, clock) => {
          const at = clock.seconds() + 3600;
          await kv.put('grant', 'g', { expiration: at });
          assert.deepEqual((await kv.list()).keys, [{ name: 'grant', expiration: at }]);
          clock.advance(3599);
          assert.equal(await kv.get('grant'), 'g');
          clock.advance(1);
          assert.equal(await kv.get('grant'), null);
          assert.deepEqual((await kv.list()).keys, []);
        }));

      test('put replaces the expiry too: a plain put makes a key permanent, a new TTL restarts it', () =>
        withKv(async (kv, clock) => {
          await kv.put('a', '1', { expirationTtl: 60 });
          await kv.put('a', '2');
          await kv.put('b', '1', { expirationTtl: 60 });
          clock.advance(30);
          await kv.put('b', '2', { expirationTtl: 60 });
          clock.advance(45);
          assert.equal(await kv.get('a'), '2');
          assert.equal(await kv.get('b'), '2');
          clock.advance(15);
          assert.equal(await kv.get('b'), null);
          clock.advance(365 * 24 * 3600);
          assert.equal(await kv.get('a'), '2');
        }));

      test('an expired key can be written again', () =>
        withKv(async (kv, clock) => {
          await kv.put('session', 'old', { expirationTtl: 60 });
          clock.advance(120);
          assert.equal(await kv.get('session'), null);
          await kv.put('session', 'new', { expirationTtl: 60 });
          assert.equal(await kv.get('session'), 'new');
          assert.deepEqual(names(await kv.list()), ['session']);
        }));

      test('expirationTtl under 60 seconds and expirations under 60 seconds away are refused', () =>
        withKv(async (kv, clock) => {
          await kv.put('k', 'before');
          for (const expirationTtl of [59, 30, 1, 0, -60, Number.NaN]) {
            await assert.rejects(kv.put('k', 'after', { expirationTtl }), /expiration/i, `expirationTtl ${expirationTtl}`);
          }
          for (const offset of [-3600, -1, 0, 1, 59]) {
            await assert.rejects(kv.put('k', 'after', { expiration: clock.seconds() + offset }), /expiration/i, `expiration now${offset}`);
          }
          assert.equal(await kv.get('k'), 'before', 'a refused put writes nothing');
          await kv.put('k', 'ttl 60', { expirationTtl: 60 });
          await kv.put('k', 'in 60 s', { expiration: clock.seconds() + 60 });
          assert.equal(await kv.get('k'), 'in 60 s');
        }));
    });

    describe('counters', () => {
      test('count up within a window and start again at 1 in the next', () =>
        withSession(async ({ clock, open }) => {
          const { counters } = await open();
          const first = await counters.increment('rl:ip1', 60);
          assert.equal(first.count, 1);
          assert.ok(first.resetAt > clock.seconds() && first.resetAt <= clock.seconds() + 60, 'resetAt lies within the window');
          assert.deepEqual(await counters.increment('rl:ip1', 60), { count: 2, resetAt: first.resetAt });
          assert.deepEqual(await counters.increment('rl:ip1', 60), { count: 3, resetAt: first.resetAt });

          clock.advance(first.resetAt - clock.seconds() - 1);
          assert.deepEqual(await counters.increment('rl:ip1', 60), { count: 4, resetAt: first.resetAt });
          clock.advance(1);
          const next = await counters.increment('rl:ip1', 60);
          assert.equal(next.count, 1);
          assert.ok(next.resetAt > first.resetAt && next.resetAt <= clock.seconds() + 60);
        }));

      test('peek reads the current window without counting; an old window reads as empty', () =>
        withSession(async ({ clock, open }) => {
          const { counters } = await open();
          assert.equal((await counters.peek('rl:peek', 60)).count, 0);
          const first = await counters.increment('rl:peek', 60);
          await counters.increment('rl:peek', 60);
          assert.deepEqual(await counters.peek('rl:peek', 60), { count: 2, resetAt: first.resetAt });
          assert.deepEqual(await counters.peek('rl:peek', 60), { count: 2, resetAt: first.resetAt }, 'a peek adds nothing');
          assert.equal((await counters.increment('rl:peek', 60)).count, 3);
          clock.advance(first.resetAt - clock.seconds());
          const next = await counters.peek('rl:peek', 60);
          assert.equal(next.count, 0);
          assert.ok(next.resetAt > first.resetAt);
        }));

      test('keys count independently, each with its own window', () =>
        withSession(async ({ clock, open }) => {
          const { counters } = await open();
          for (let i = 0; i < 5; i++) await counters.increment('rl:a', 3600);
          await counters.increment('rl:b', 60);
          assert.equal((await counters.increment('rl:a', 3600)).count, 6);
          assert.equal((await counters.increment('rl:b', 60)).count, 2);
          clock.advance(60);
          assert.equal((await counters.increment('rl:b', 60)).count, 1);
          const hourly = await counters.increment('rl:a', 3600);
          assert.equal(hourly.count, 7);
          assert.ok(hourly.resetAt > clock.seconds() && hourly.resetAt <= clock.seconds() + 3600);
        }));

      test('counters and KV keys do not collide', () =>
        withSession(async ({ open }) => {
          const { kv, counters } = await open();
          await kv.put('shared-name', 'value');
          assert.equal((await counters.increment('shared-name', 60)).count, 1);
          assert.equal(await kv.get('shared-name'), 'value');
          assert.deepEqual(names(await kv.list()), ['shared-name']);
        }));
    });

    describe('connections', () => {
      test('close() can be called twice', () =>
        withSession(async ({ open }) => {
          const storage = await open();
          await storage.close();
          await storage.close();
        }));

      // Registered only where they apply, so no run reports a test that could not have failed.
      if (target.persistent)
        test('data survives closing and opening again', () =>
          withSession(async ({ clock, open }) => {
            const first = await open();
            await first.kv.put('client:c1', '{"name":"kept"}', { metadata: { v: 1 } });
            await first.kv.put('token:t1', 'short', { expirationTtl: 120 });
            await first.counters.increment('rl:x', 3600);
            await first.close();

            const second = await open();
            assert.deepEqual(await second.kv.get('client:c1', 'json'), { name: 'kept' });
            assert.deepEqual((await second.kv.list({ prefix: 'client:' })).keys, [{ name: 'client:c1', metadata: { v: 1 } }]);
            assert.equal((await second.counters.increment('rl:x', 3600)).count, 2);
            clock.advance(120);
            assert.equal(await second.kv.get('token:t1'), null, 'expiry survives too');
          }));

      if (target.shared)
        test('two connections see each other’s writes', () =>
          withSession(async ({ open }) => {
            const a = await open();
            const b = await open();
            await a.kv.put('endpoint:s1', 'from a', { metadata: { by: 'a' } });
            assert.equal(await b.kv.get('endpoint:s1'), 'from a');
            assert.deepEqual((await b.kv.list({ prefix: 'endpoint:' })).keys, [{ name: 'endpoint:s1', metadata: { by: 'a' } }]);
            await b.kv.put('endpoint:s1', 'from b');
            await target.settle?.(a);
            assert.equal(await a.kv.get('endpoint:s1'), 'from b');
            await b.kv.delete('endpoint:s1');
            await target.settle?.(a);
            assert.equal(await a.kv.get('endpoint:s1'), null);
            if (target.readsNow) {
              // A revoke in another process (the CLI) is refused on the next message, read synchronously.
              await a.kv.put('token:t1', 'valid');
              assert.equal(b.kv.getNow!('token:t1'), 'valid');
              await a.kv.delete('token:t1');
              assert.equal(b.kv.getNow!('token:t1'), null);
            }
          }));

      if (target.shared)
        test('counters stay exact under concurrent increments from two connections', () =>
          withSession(async ({ open }) => {
            const a = await open();
            const b = await open();
            const perConnection = 250;
            const results = await Promise.all(
              Array.from({ length: perConnection * 2 }, (_, i) => (i % 2 === 0 ? a : b).counters.increment('rl:busy', 3600)),
            );
            // Atomic increments hand out every count exactly once.
            const counts = results.map((result) => result.count).sort((x, y) => x - y);
            assert.deepEqual(
              counts,
              Array.from({ length: perConnection * 2 }, (_, i) => i + 1),
            );
            assert.equal(new Set(results.map((result) => result.resetAt)).size, 1);
          }));
    });
  });
}

function names(result: KVListResult): string[] {
  return result.keys.map((key: KVListKey) => key.name);
}

/** Follows cursors to the end; guards against a store that never says list_complete. */
async function listAll(kv: KVStore, options: { prefix?: string; limit?: number }): Promise<KVListResult[]> {
  const pages: KVListResult[] = [];
  let cursor: string | undefined;
  do {
    const page = await kv.list({ ...options, cursor: cursor ?? null });
    pages.push(page);
    if (!page.list_complete) assert.ok(page.cursor, 'an incomplete page carries a cursor');
    cursor = page.list_complete ? undefined : page.cursor;
    assert.ok(pages.length < 10_000, 'listing never completes');
  } while (cursor !== undefined);
  return pages;
}

/** UTF-8 byte order for expected lists (tests only; plain ASCII-or-BMP data here). */
function byUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
