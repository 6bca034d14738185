import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { describe, test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { createSqliteStorage } from '../../src/adapters/node/sqlite.ts';
import { manualClock, storageContract } from './kv-contract.ts';

/** A temp directory per test; the database goes two levels down so the store must create them. */
function tempDatabase(): { path: string; dispose(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'key2oauth-sqlite-'));
  return { path: join(dir, 'data', 'nested', 'key2oauth.sqlite'), dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

storageContract('sqlite', {
  persistent: true,
  shared: true,
  async createBackend() {
    const database = tempDatabase();
    return {
      async connect({ now }) {
        return createSqliteStorage(database.path, { now });
      },
      async dispose() {
        database.dispose();
      },
    };
  },
});

describe('sqlite: file and housekeeping', () => {
  test('creates missing directories and a database only its owner can read, in WAL mode', {
    skip: process.platform === 'win32' && 'POSIX modes',
  }, async () => {
    const database = tempDatabase();
    try {
      const storage = createSqliteStorage(database.path);
      await storage.kv.put('k', 'v');
      assert.equal(statSync(database.path).mode & 0o777, 0o600);
      assert.ok(existsSync(`${database.path}-wal`));
      assert.equal(statSync(`${database.path}-wal`).mode & 0o777, 0o600, 'SQLite copies the mode to the WAL');
      const raw = new DatabaseSync(database.path, { readOnly: true });
      assert.deepEqual({ ...raw.prepare('PRAGMA journal_mode').get() }, { journal_mode: 'wal' });
      raw.close();
      await storage.close();
    } finally {
      database.dispose();
    }
  });

  test('expired rows are deleted: on reading them, and by the sweep', async () => {
    const database = tempDatabase();
    const clock = manualClock();
    let storage: ReturnType<typeof createSqliteStorage> | undefined;
    let raw: DatabaseSync | undefined;
    try {
      storage = createSqliteStorage(database.path, { now: clock.now, sweepIntervalMs: 0 });
      raw = new DatabaseSync(database.path);
      const rows = (table: string) => (raw!.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
      for (let i = 0; i < 1200; i++) await storage.kv.put(`token:${i}`, 'v', { expirationTtl: 60 });
      await storage.kv.put('client:kept', 'v');
      await storage.kv.put('token:later', 'v', { expirationTtl: 3600 });
      await storage.counters.increment('rl:old', 60);
      clock.advance(60);
      assert.equal(rows('kv'), 1202, 'reads and lists skip expired rows but leave them');
      assert.equal(await storage.kv.get('token:0'), null);
      assert.equal(rows('kv'), 1201, 'a read that meets an expired row deletes it');
      await storage.counters.increment('rl:current', 60);
      // More than one sweep batch (500) of expired rows, plus the finished counter window.
      assert.equal(storage.sweep(), 1199 + 1);
      assert.equal(rows('kv'), 2);
      assert.equal(rows('counters'), 1);
      assert.equal(await storage.kv.get('token:later'), 'v');
      assert.equal(storage.sweep(), 0);
    } finally {
      raw?.close();
      await storage?.close();
      database.dispose();
    }
  });

  test('refuses a file written by a newer schema', async () => {
    const database = tempDatabase();
    try {
      await createSqliteStorage(database.path).close();
      const raw = new DatabaseSync(database.path);
      raw.exec('PRAGMA user_version = 99');
      raw.close();
      assert.throws(() => createSqliteStorage(database.path), /schema 99/);
    } finally {
      database.dispose();
    }
  });

  // The contract's two-connection test runs in one thread, where node:sqlite calls cannot overlap.
  // Here four threads with their own connections increment at the same moment, so SQLite's locks
  // and the busy timeout are really exercised.
  test('counters stay exact when four threads increment the same key at once', async () => {
    const database = tempDatabase();
    const threads = 4;
    const perThread = 500;
    const now = manualClock().now();
    const workers: Worker[] = [];
    try {
      await createSqliteStorage(database.path).close(); // schema in place before the race
      for (let i = 0; i < threads; i++) {
        workers.push(
          new Worker(WORKER_SOURCE, {
            eval: true,
            workerData: { module: new URL('../../src/adapters/node/sqlite.ts', import.meta.url).href, path: database.path, now, perThread },
          }),
        );
      }
      const ready = workers.map(
        (worker) =>
          new Promise((resolve, reject) => {
            worker.once('message', resolve);
            worker.once('error', reject);
          }),
      );
      await Promise.all(ready);
      const done = workers.map(
        (worker) =>
          new Promise<number[]>((resolve, reject) => {
            worker.once('message', resolve);
            worker.once('error', reject);
          }),
      );
      for (const worker of workers) worker.postMessage('go');
      const counts = (await Promise.all(done)).flat().sort((a, b) => a - b);
      assert.deepEqual(
        counts,
        Array.from({ length: threads * perThread }, (_, i) => i + 1),
      );
    } finally {
      // A thread still running (a failed or hung race) would keep this test process alive.
      await Promise.all(workers.map((worker) => worker.terminate()));
      database.dispose();
    }
  });
});

/** Opens its own connection, says ready, increments on 'go', and sends back every count it saw. */
const WORKER_SOURCE = `
  const { parentPort, workerData } = require('node:worker_threads');
  import(workerData.module).then(({ createSqliteStorage }) => {
    const storage = createSqliteStorage(workerData.path, { now: () => workerData.now, sweepIntervalMs: 0 });
    parentPort.once('message', async () => {
      const counts = [];
      for (let i = 0; i < workerData.perThread; i++) counts.push((await storage.counters.increment('rl:race', 3600)).count);
      await storage.close();
      parentPort.postMessage(counts);
    });
    parentPort.postMessage('ready');
  });
`;
