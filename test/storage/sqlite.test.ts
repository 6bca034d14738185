import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
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
  readsNow: true,
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

describe('sqlite: reads remembered between commits', () => {
  // What another process does to the file: a child node with its own connection, as the CLI is.
  function inAnotherProcess(path: string, sql: string): void {
    const script = `const { DatabaseSync } = require('node:sqlite');
      const db = new DatabaseSync(process.argv[1], { timeout: 5000 });
      db.exec(process.argv[2]);
      db.close();`;
    const run = spawnSync(process.execPath, ['-e', script, path, sql], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
  }

  // A store on a fresh file with a clock the test moves, closed and removed afterwards.
  async function withStorage(
    run: (storage: ReturnType<typeof createSqliteStorage>, clock: ReturnType<typeof manualClock>, path: string) => Promise<void>,
  ): Promise<void> {
    const database = tempDatabase();
    const clock = manualClock();
    const storage = createSqliteStorage(database.path, { now: clock.now, sweepIntervalMs: 0 });
    try {
      await run(storage, clock, database.path);
    } finally {
      await storage.close();
      database.dispose();
    }
  }

  test('an unchanged row is read from the file once; another process deleting or changing it is seen on the next read', () =>
    withStorage(async (storage, _clock, path) => {
      await storage.kv.put('token:a', 'first', { expirationTtl: 60 });
      await storage.kv.put('token:b', 'other');
      assert.equal(await storage.kv.get('token:a'), 'first');
      const reads = storage.fileReads();
      for (let i = 0; i < 5; i++) assert.equal(await storage.kv.get('token:a'), 'first');
      assert.equal(storage.fileReads(), reads, 'no commit in between: no read of the file');

      inAnotherProcess(path, "DELETE FROM kv WHERE key = 'token:a'");
      assert.equal(await storage.kv.get('token:a'), null, 'a delete by another process is seen at once');
      inAnotherProcess(path, "INSERT INTO kv (key, value) VALUES ('token:a', 'second')");
      assert.equal(await storage.kv.get('token:a'), 'second');
      inAnotherProcess(path, "UPDATE kv SET value = 'third' WHERE key = 'token:a'");
      assert.equal(await storage.kv.get('token:a'), 'third');

      // A checkpoint moves the WAL into the database and restarts it: nothing a reader sees changes.
      inAnotherProcess(path, 'PRAGMA wal_checkpoint(TRUNCATE)');
      assert.equal(await storage.kv.get('token:a'), 'third');
      inAnotherProcess(path, "UPDATE kv SET value = 'fourth' WHERE key = 'token:a'");
      assert.equal(await storage.kv.get('token:a'), 'fourth', 'a commit into the restarted WAL is seen');

      // This connection's own writes count as commits too.
      assert.equal(await storage.kv.get('token:b'), 'other');
      await storage.kv.delete('token:b');
      assert.equal(await storage.kv.get('token:b'), null);
    }));

  test('a remembered row still expires on time', () =>
    withStorage(async (storage, clock) => {
      await storage.kv.put('token:a', 'v', { expirationTtl: 60 });
      assert.equal(await storage.kv.get('token:a'), 'v');
      assert.equal(await storage.kv.get('token:a'), 'v');
      clock.advance(60);
      assert.equal(await storage.kv.get('token:a'), null);
    }));
});
