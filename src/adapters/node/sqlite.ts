import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
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
import { type RememberedRow, SqliteReadCache } from './sqlite-read-cache.ts';

/**
 * The embedded default store: one SQLite file, through Node's built-in `node:sqlite` (no native
 * addon to rebuild for the Node that runs us). Several processes may share the file: every
 * operation is a single statement, so SQLite's locking makes each one atomic across them.
 */
export interface SqliteStorageOptions {
  /** Clock in milliseconds; tests move it instead of sleeping. */
  now?: () => number;
  /** How long a statement waits for another connection's write lock before failing. */
  busyTimeoutMs?: number;
  /** How often expired rows are deleted from the file; 0 turns the timer off. */
  sweepIntervalMs?: number;
  /** Characters of values remembered between commits (sqlite-read-cache.ts); 0 turns it off. */
  readCacheChars?: number;
}

export interface SqliteStorage extends Storage {
  /** Deletes expired entries and finished counter windows now; returns how many rows went. */
  sweep(): number;
  /** Reads that went to the file rather than to the rows remembered since the last commit: for tests and the benchmark. */
  fileReads(): number;
}

const SCHEMA_VERSION = 1;
/** 4 Mi characters: a few thousand token records, the rows every MCP message reads. */
const READ_CACHE_CHARS = 4 * 1024 * 1024;
const SWEEP_BATCH = 500;
/** Caps one sweep, so a backlog is worked off over several ticks instead of blocking the event loop. */
const SWEEP_MAX_BATCHES = 20;

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL,
    expiration INTEGER,
    metadata TEXT
  );
  CREATE INDEX IF NOT EXISTS kv_expiration ON kv (expiration) WHERE expiration IS NOT NULL;
  CREATE TABLE IF NOT EXISTS counters (
    key TEXT PRIMARY KEY NOT NULL,
    count INTEGER NOT NULL,
    reset_at INTEGER NOT NULL
  );
  CREATE INDEX IF NOT EXISTS counters_reset_at ON counters (reset_at);
  PRAGMA user_version = ${SCHEMA_VERSION};
`;

interface ListRow {
  key: string;
  expiration: number | null;
  metadata: string | null;
}

export function createSqliteStorage(path: string, options: SqliteStorageOptions = {}): SqliteStorage {
  const now = options.now ?? Date.now;
  if (path !== ':memory:') createPrivateFile(path);

  // The constructor's `timeout` sets SQLite's busy timeout before anything else runs, so even
  // switching to WAL waits for a process that is busy with the file instead of failing.
  const db = new DatabaseSync(path, { timeout: options.busyTimeoutMs ?? 5000 });
  let cache: SqliteReadCache | null;
  try {
    // WAL lets readers proceed while a writer commits; NORMAL sync is safe with WAL (no corruption,
    // only the last commits can be lost on power failure) and saves an fsync per write.
    const { journal_mode: journal } = db.prepare('PRAGMA journal_mode = WAL').get() as { journal_mode: string };
    db.exec('PRAGMA synchronous = NORMAL;');
    migrate(db, path);
    // After the first statements, so the -shm file exists; only in WAL mode (a filesystem without
    // shared memory keeps another journal mode, and an in-memory database has no file to share).
    const chars = options.readCacheChars ?? READ_CACHE_CHARS;
    cache = journal === 'wal' && chars > 0 ? SqliteReadCache.open(path, chars) : null;
  } catch (error) {
    db.close();
    throw error;
  }

  const statements = {
    get: db.prepare('SELECT value, expiration FROM kv WHERE key = ?'),
    put: db.prepare(`
      INSERT INTO kv (key, value, expiration, metadata) VALUES (?, ?, ?, ?)
      ON CONFLICT (key) DO UPDATE SET value = excluded.value, expiration = excluded.expiration, metadata = excluded.metadata`),
    delete: db.prepare('DELETE FROM kv WHERE key = ?'),
    // Guarded by the expiry, so it cannot remove a fresh value another process has just written.
    deleteIfExpired: db.prepare('DELETE FROM kv WHERE key = ? AND expiration <= ?'),
    // One list statement per shape of key range: start at the prefix (>=) or after the cursor (>),
    // with or without an end. Keeping the bounds as plain range terms lets SQLite walk the primary
    // key index; ORDER BY key is the index order, i.e. UTF-8 byte order.
    listFrom: db.prepare(listSql('>=', false)),
    listFromTo: db.prepare(listSql('>=', true)),
    listAfter: db.prepare(listSql('>', false)),
    listAfterTo: db.prepare(listSql('>', true)),
    // A fixed window in one statement: start at 1, or add 1 while the window is the same. If another
    // process has already moved the row to a later window (its clock runs ahead), count there rather
    // than resetting it back and forth. RETURNING reads the result inside the same write.
    // storage/fixed-window.ts's countOne, as one atomic statement shared by every process.
    increment: db.prepare(`
      INSERT INTO counters (key, count, reset_at) VALUES (?, 1, ?)
      ON CONFLICT (key) DO UPDATE SET
        count = CASE WHEN counters.reset_at < excluded.reset_at THEN 1 ELSE counters.count + 1 END,
        reset_at = max(counters.reset_at, excluded.reset_at)
      RETURNING count, reset_at`),
    peek: db.prepare('SELECT count, reset_at FROM counters WHERE key = ?'),
    sweepKv: db.prepare(`DELETE FROM kv WHERE rowid IN (
      SELECT rowid FROM kv WHERE expiration IS NOT NULL AND expiration <= ? LIMIT ${SWEEP_BATCH})`),
    sweepCounters: db.prepare(`DELETE FROM counters WHERE rowid IN (
      SELECT rowid FROM counters WHERE reset_at <= ? LIMIT ${SWEEP_BATCH})`),
  };

  function sweepTable(statement: StatementSync): number {
    let removed = 0;
    for (let batch = 0; batch < SWEEP_MAX_BATCHES; batch++) {
      const changes = Number(statement.run(toSeconds(now())).changes);
      removed += changes;
      if (changes < SWEEP_BATCH) break;
    }
    return removed;
  }

  function sweep(): number {
    return sweepTable(statements.sweepKv) + sweepTable(statements.sweepCounters);
  }

  // Reads skip expired rows but leave them; this timer deletes them so the file does not grow
  // without bound. Unref'd: it must never keep the process alive on its own.
  const sweepIntervalMs = options.sweepIntervalMs ?? 60_000;
  const timer = sweepIntervalMs > 0 ? setInterval(sweepQuietly, sweepIntervalMs) : undefined;
  timer?.unref();

  function sweepQuietly(): void {
    try {
      sweep();
    } catch {
      // Another process holding the write lock past the busy timeout: the next tick tries again.
    }
  }

  let fileReads = 0;
  function readRow(key: string): RememberedRow | undefined {
    fileReads++;
    return statements.get.get(key) as RememberedRow | undefined;
  }

  /** A live value, read synchronously (node:sqlite is): `get` and `getNow` both read through here. */
  function readValue(key: string): string | null {
    checkKey('GET', key);
    // `readRow` itself, not a closure over the key: no allocation per read on the hot path.
    const row = cache ? cache.get(key, readRow) : readRow(key);
    if (!row) return null;
    const nowSeconds = toSeconds(now());
    if (isExpired(row.expiration, nowSeconds)) {
      try {
        statements.deleteIfExpired.run(key, nowSeconds);
      } catch {
        // Purging is a courtesy; a read must not fail because the file is busy. The sweep will do it.
      }
      return null;
    }
    return row.value;
  }

  let closed = false;

  return {
    kv: {
      async get(key: string, type?: KVGetType) {
        const json = readsJson(type);
        const value = readValue(key);
        return value === null ? null : decodeValue(value, json);
      },

      getNow: readValue,

      async put(key: string, value: string, putOptions?: KVPutOptions) {
        const { expiration, metadata } = preparePut(key, value, putOptions, now());
        statements.put.run(key, value, expiration, metadata);
      },

      async delete(key: string) {
        checkKey('DELETE', key);
        statements.delete.run(key);
      },

      async list(listOptions: KVListOptions = {}): Promise<KVListResult> {
        const limit = listLimit(listOptions.limit);
        const prefix = listOptions.prefix ?? '';
        const end = prefixEnd(prefix);
        const after = listOptions.cursor ? decodeCursor(listOptions.cursor) : undefined;
        // A cursor from before the prefix (or from another listing) just means "from the prefix".
        const resume = after !== undefined && compareKeys(after, prefix) >= 0;
        const start = resume ? after : prefix;
        const nowSeconds = toSeconds(now());
        // One row more than asked tells whether another page exists, so the last page says
        // list_complete instead of handing out a cursor to an empty page.
        const rows = (end === undefined
          ? (resume ? statements.listAfter : statements.listFrom).all(start, nowSeconds, limit + 1)
          : (resume ? statements.listAfterTo : statements.listFromTo).all(start, end, nowSeconds, limit + 1)) as unknown as ListRow[];
        const page = rows.slice(0, limit);
        const keys = page.map((row): KVListKey => {
          const key: KVListKey = { name: row.key };
          if (row.expiration !== null) key.expiration = row.expiration;
          if (row.metadata !== null) key.metadata = JSON.parse(row.metadata);
          return key;
        });
        const last = page.at(-1);
        return rows.length > limit && last !== undefined
          ? { keys, list_complete: false, cursor: encodeCursor(last.key) }
          : { keys, list_complete: true };
      },
    },

    counters: {
      async increment(key: string, windowSeconds: number) {
        const resetAt = windowEnd(now(), windowSeconds);
        const row = statements.increment.get(key, resetAt) as { count: number; reset_at: number };
        return { count: row.count, resetAt: row.reset_at };
      },
      async peek(key: string, windowSeconds: number) {
        const row = statements.peek.get(key) as { count: number; reset_at: number } | undefined;
        return currentWindow(row && { count: row.count, resetAt: row.reset_at }, windowEnd(now(), windowSeconds));
      },
    },

    sweep,

    fileReads: () => fileReads,

    async close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      cache?.close();
      db.close();
    },
  };
}

function listSql(lower: '>=' | '>', bounded: boolean): string {
  const upper = bounded ? 'AND key < ?' : '';
  return `SELECT key, expiration, metadata FROM kv
    WHERE key ${lower} ? ${upper} AND (expiration IS NULL OR expiration > ?)
    ORDER BY key LIMIT ?`;
}

/**
 * Creates the schema on a new file and refuses a file written by a newer release, whose schema
 * this code would misread. Every statement is idempotent, so processes starting together are fine.
 */
function migrate(db: DatabaseSync, path: string): void {
  const { user_version: version } = db.prepare('PRAGMA user_version').get() as { user_version: number };
  if (version === SCHEMA_VERSION) return;
  if (version > SCHEMA_VERSION) {
    throw new Error(`${path} uses storage schema ${version}, newer than this release understands (${SCHEMA_VERSION}); upgrade Key2OAuth`);
  }
  db.exec(`BEGIN IMMEDIATE; ${SCHEMA} COMMIT;`);
}

/**
 * Makes the parent directory and an empty database file accessible to this user only: the store
 * holds OAuth grants, client records and endpoint records, which are nobody else's business.
 * SQLite gives its -wal and -shm files the same mode as the database. An existing file keeps the
 * mode its owner chose.
 */
function createPrivateFile(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  try {
    closeSync(openSync(path, 'wx', 0o600));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
}
