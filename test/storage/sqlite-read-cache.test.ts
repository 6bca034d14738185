import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { SqliteReadCache } from '../../src/adapters/node/sqlite-read-cache.ts';

/**
 * The read cache answers from memory only while the wal-index header (the first 96 bytes of the
 * `-shm` file: two copies of 48 bytes) is the one its rows were read under. Here the header is a
 * file the test writes byte by byte, as a writer in another process would, so each rule that makes
 * a cached read as exact as a read of the file is held on its own: any change, a header caught
 * half-written (copies that differ), one not yet initialised, a short one.
 */

const HEADER = 48;

function header(change: number, options: { init?: number; second?: number } = {}): Buffer {
  const bytes = Buffer.alloc(2 * HEADER + 32);
  for (const [at, value] of [
    [0, change],
    [HEADER, options.second ?? change],
  ] as const) {
    bytes.writeUInt32LE(3007000, at); // iVersion
    bytes.writeUInt32LE(value, at + 8); // iChange
    bytes[at + 12] = options.init ?? 1; // isInit
    bytes.writeUInt32LE(value * 7, at + 16); // mxFrame
    bytes.writeUInt32LE(0xdeadbeef, at + 40); // a checksum word, at the end of the copy
  }
  return bytes;
}

function withShm(run: (write: (bytes: Buffer) => void, cache: SqliteReadCache) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'k2o-read-cache-'));
  const database = join(dir, 'store.db');
  const write = (bytes: Buffer) => writeFileSync(`${database}-shm`, bytes);
  // The cache opens `{real path of the database}-shm`: the database file must exist.
  writeFileSync(database, '');
  write(header(1));
  const cache = SqliteReadCache.open(database, 10_000)!;
  try {
    run(write, cache);
  } finally {
    cache.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function counting(value: string) {
  const reader = {
    reads: 0,
    read: () => {
      reader.reads++;
      return { value, expiration: null };
    },
  };
  return reader;
}

test('a row is read once while the header stays the same, and again after any commit', () =>
  withShm((write, cache) => {
    const file = counting('v1');
    assert.equal(cache.get('token:a', file.read)?.value, 'v1');
    assert.equal(cache.get('token:a', file.read)?.value, 'v1');
    assert.equal(file.reads, 1, 'the second read is answered from memory');

    write(header(2));
    cache.get('token:a', file.read);
    assert.equal(file.reads, 2, 'a new change counter: read again');

    // Only the last word of the copies differs (the checksum's second half, bytes 44 to 47).
    const checksum = header(2);
    checksum.writeUInt32LE(0x0badf00d, 44);
    checksum.writeUInt32LE(0x0badf00d, HEADER + 44);
    write(checksum);
    cache.get('token:a', file.read);
    assert.equal(file.reads, 3, 'a change in the last word of the header counts too');
    cache.get('token:a', file.read);
    assert.equal(file.reads, 3);
  }));

test('a header caught half-written (its two copies differ) is never trusted', () =>
  withShm((write, cache) => {
    const file = counting('v1');
    cache.get('token:a', file.read);
    write(header(1, { second: 2 }));
    cache.get('token:a', file.read);
    cache.get('token:a', file.read);
    assert.equal(file.reads, 3, 'every read goes to the file while the copies differ');
    write(header(2));
    cache.get('token:a', file.read);
    cache.get('token:a', file.read);
    assert.equal(file.reads, 4, 'remembered again once the header is whole');
  }));

test('a header not yet initialised, or shorter than two copies, is never trusted', () =>
  withShm((write, cache) => {
    const file = counting('v1');
    write(header(1, { init: 0 }));
    cache.get('token:a', file.read);
    cache.get('token:a', file.read);
    assert.equal(file.reads, 2, 'isInit is 0');
    write(header(1).subarray(0, 2 * HEADER - 1));
    cache.get('token:a', file.read);
    cache.get('token:a', file.read);
    assert.equal(file.reads, 4, 'a short header');
  }));
