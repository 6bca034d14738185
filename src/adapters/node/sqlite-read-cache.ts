import { closeSync, openSync, readSync, realpathSync } from 'node:fs';

/**
 * Reads of the SQLite store remembered until anything commits to the file, from any connection of
 * any process: the token record that every MCP message reads (src/oauth/token-cache.ts) then costs
 * one `pread` of 96 bytes instead of a read transaction (about 7 µs: two `fcntl` lock calls on the
 * `-shm` file, the B-tree lookup, and the record's 1.3 KB copied into a new string).
 *
 * Why it is as exact as reading the file every time (so revoking a token in the CLI, or in another
 * process sharing the file, is refused on the next message, as before):
 * - In WAL mode a transaction becomes visible to readers when its writer updates the wal-index
 *   header, the first 96 bytes of `{database}-shm`: two copies of a 48-byte header that hold a
 *   counter of changes (`iChange`), the last valid frame (`mxFrame`), the WAL's salts and a checksum
 *   over them (https://www.sqlite.org/walformat.html §2.1, "The WAL-Index Header"). Every commit
 *   changes them; a passive checkpoint (SQLite's automatic one), which moves no data that readers
 *   see, does not; one that restarts the WAL does, which costs only a read from the file. Every
 *   SQLite that opens the same file relies on this layout, so it is stable across versions.
 * - Every read reads the header first. When it is byte for byte the one the remembered rows were
 *   read under, nothing has committed since, and a remembered row is what a read would return.
 *   Otherwise everything remembered is forgotten and the row is read from the file.
 * - The header is read before the row, never after: a commit landing between the two leaves a row
 *   that is newer than its header, which the next read sees as changed and reads again.
 * - A writer writes the second copy, then the first (SQLite's reader compares them to notice a
 *   header being written). A header read in the middle of that has copies that differ, or a first
 *   copy that is not the remembered one: both count as changed. So does a short read or a header
 *   that is not yet initialised (`isInit`, byte 12).
 * - The remembered row keeps its expiry, which is checked against the clock on every read, as for
 *   a row read from the file.
 *
 * What it holds: at most `maxChars` characters of values (the oldest go first) and no value above
 * `maxChars / 16`, so a large activity page does not push out the token records.
 */
export interface RememberedRow {
  value: string;
  expiration: number | null;
}

const HEADER_BYTES = 48;
/** A copy of the header as 32-bit words: compared word by word in JavaScript. */
const HEADER_WORDS = HEADER_BYTES / 4;

export class SqliteReadCache {
  readonly #fd: number;
  /**
   * Both copies as read, as words and as the bytes `readSync` fills (one memory). Compared in a
   * loop of 12 words: `Buffer.compare` checks its arguments and calls into C++, twice per read,
   * which cost about 2,300 instructions per MCP message against about 300 for the loops.
   */
  readonly #words = new Int32Array(2 * HEADER_WORDS);
  readonly #header = Buffer.from(this.#words.buffer);
  /** The header (its first copy) the remembered rows were read under, when `#valid`. */
  readonly #under = new Int32Array(HEADER_WORDS);
  /** False until a whole header has been read, and after a header that was not whole: nothing is remembered then. */
  #valid = false;
  readonly #rows = new Map<string, RememberedRow>();
  readonly #maxChars: number;
  #chars = 0;

  /** `null` when the file has no wal-index to watch (not in WAL mode): every read then goes to the file. */
  static open(databasePath: string, maxChars: number): SqliteReadCache | null {
    let fd: number;
    try {
      // SQLite names the -shm file after the database's real path (it resolves symbolic links).
      fd = openSync(`${realpathSync(databasePath)}-shm`, 'r');
    } catch {
      return null;
    }
    return new SqliteReadCache(fd, maxChars);
  }

  private constructor(fd: number, maxChars: number) {
    this.#fd = fd;
    this.#maxChars = maxChars;
  }

  /**
   * The row for `key`: remembered when nothing has committed since it was read, else from `read`
   * (which then is remembered under the header read just before it).
   */
  get(key: string, read: (key: string) => RememberedRow | undefined): RememberedRow | undefined {
    if (this.#unchanged()) {
      const row = this.#rows.get(key);
      if (row !== undefined) return row;
    }
    const row = read(key);
    if (row !== undefined && this.#valid) this.#remember(key, row);
    return row;
  }

  close(): void {
    closeSync(this.#fd);
  }

  /**
   * Reads the header; true when it is the one the remembered rows were read under. When it is not,
   * they are forgotten and, if the header is whole, rows read from now on are remembered under it.
   */
  #unchanged(): boolean {
    const header = this.#header;
    const words = this.#words;
    const under = this.#under;
    let length = 0;
    try {
      length = readSync(this.#fd, header, 0, header.length, 0);
    } catch {
      // Unreadable counts as changed: the row is read from the file, whose own errors then speak.
    }
    const whole = length === header.length && header[12] === 1 && sameHeader(words, HEADER_WORDS, words);
    if (whole && this.#valid && sameHeader(words, 0, under)) return true;
    this.#rows.clear();
    this.#chars = 0;
    this.#valid = whole;
    if (whole) for (let i = 0; i < HEADER_WORDS; i++) under[i] = words[i]!;
    return false;
  }

  #remember(key: string, row: RememberedRow): void {
    const size = row.value.length;
    if (size > this.#maxChars / 16) return;
    const previous = this.#rows.get(key);
    if (previous !== undefined) this.#chars -= previous.value.length;
    this.#rows.set(key, row);
    this.#chars += size;
    for (const [oldest, old] of this.#rows) {
      if (this.#chars <= this.#maxChars) break;
      this.#rows.delete(oldest);
      this.#chars -= old.value.length;
    }
  }
}

/** Whether the copy of the header at word `from` of `words` is the first copy in `first`, word for word. */
function sameHeader(words: Int32Array, from: number, first: Int32Array): boolean {
  for (let i = 0; i < HEADER_WORDS; i++) if (words[from + i] !== first[i]) return false;
  return true;
}
