import { randomToken } from '../crypto.ts';
import { countMcpMessage } from '../metrics.ts';
import type { Platform } from '../platform.ts';

/**
 * The activity record: one entry per MCP message through a grant, kept ACTIVITY_RETENTION_DAYS
 * (the store's own expiry) and at most MAX_PER_ENDPOINT per endpoint. An entry says when, which
 * access (grant), the JSON-RPC method, the tool for `tools/call`, the outcome (HTTP status,
 * JSON-RPC error code), the duration and the bytes each way — never arguments, results, keys or
 * tokens: nothing here is handed any of them.
 *
 * Written in pages, off the request's path: each process (each Worker isolate) keeps the entries
 * of an endpoint in memory and writes them as one store key when PAGE_SIZE have gathered or
 * FLUSH_MS after the first, whichever comes first (a store write per message cost about a quarter
 * of the proxy's CPU per message). The flush is handed to `platform.waitUntil`, so a slow store
 * never slows a message and, on Workers, the request that opened the page keeps its isolate alive
 * until it is written. What may be lost (docs/tools-and-activity.md): the entries of a page not yet
 * written when a process dies without a clean shutdown (a Node server flushes on SIGTERM and on
 * close; a Worker isolate killed before its flush), at most FLUSH_MS of messages per endpoint.
 *
 * A page is a key under the endpoint's prefix with the inverted time of its newest entry, so a
 * listing reads newest pages first; its entries ride as the key's metadata when small enough
 * (under Workers KV's 1 KiB, so a quiet endpoint's record is read with a listing alone), else as
 * its value. On SQLite, Redis and Workers KV alike (the KV contract).
 */

export interface ActivityEntry {
  at: string;
  access_id: string;
  method: string;
  tool: string | null;
  status: number;
  error_code: number | null;
  duration_ms: number;
  /** The request body's bytes (null: none was sent, or it was not counted). */
  bytes_in: number | null;
  /** The answer body's bytes as the client received them; for an event stream, until it ended. */
  bytes_out: number | null;
}

/** A new entry as a carrier notes it: `at` in milliseconds since the epoch (readers get the ISO time). */
export type NewEntry = Omit<ActivityEntry, 'at'> & { at: number };

const PREFIX = 'k2o:activity:';
export const MAX_PER_ENDPOINT = 1000;
/** Entries per page at most; a full page is written at once. */
export const PAGE_SIZE = 100;
/** A page is written this long after its first entry at the latest. */
export const FLUSH_MS = 1000;
/** Entries waiting (gathered or being written) per process; beyond, entries are dropped and counted. */
const MAX_PENDING = 10_000;
/** Trimmed to MAX_PER_ENDPOINT after this many entries written by a process, and on one flush in TRIM_CHANCE anyway. */
const TRIM_AFTER = PAGE_SIZE;
const TRIM_CHANCE = 20;
/** Workers KV keeps at most 1024 bytes of metadata per key. */
const MAX_METADATA = 1000;
/** Inverted milliseconds sort newest first; 15 digits last until the year 33658. */
const LATEST = 10 ** 15;

/** An entry as stored: a tuple, a third of the object's size, so small pages fit in the key's metadata. */
type Stored = [
  at: number,
  access: string,
  method: string,
  tool: string | null,
  status: number,
  error: number | null,
  ms: number,
  bytesIn: number | null,
  bytesOut: number | null,
];

interface PageMeta {
  /** How many entries the page holds. */
  n: number;
  /** The entries, when they fit here. */
  e?: Stored[];
}

interface Page {
  entries: Stored[];
  timer: ReturnType<typeof setTimeout> | undefined;
  /** Resolves the waitUntil promise the page was opened with, once written. */
  written: () => void;
}

interface Recorder {
  pages: Map<string, Page>;
  /** Entries gathered or being written. */
  pending: number;
  /** Writes under way, so a flush can wait for them (a clean shutdown, a reader). */
  writes: Set<Promise<void>>;
  sinceTrim: Map<string, number>;
}

/** One recorder per platform: per process on Node, per isolate on Workers (tests run several apps in one process). */
const recorders = new WeakMap<Platform, Recorder>();

function recorderOf(platform: Platform): Recorder {
  let recorder = recorders.get(platform);
  if (!recorder) {
    recorder = { pages: new Map(), pending: 0, writes: new Set(), sinceTrim: new Map() };
    recorders.set(platform, recorder);
  }
  return recorder;
}

/** Notes one message; returns at once. */
export function recordActivity(platform: Platform, slug: string, entry: NewEntry): void {
  countMcpMessage(outcomeOf(entry));
  // ACTIVITY_RETENTION_DAYS=0: no record, and no store write (docs/tools-and-activity.md).
  if (platform.config.activityRetentionDays === 0) return;
  const recorder = recorderOf(platform);
  if (recorder.pending >= MAX_PENDING) {
    countMcpMessage('not_recorded');
    return;
  }
  recorder.pending++;
  let page = recorder.pages.get(slug);
  if (!page) {
    const opened: Page = { entries: [], timer: undefined, written: () => {} };
    page = opened;
    recorder.pages.set(slug, opened);
    platform.waitUntil(
      new Promise<void>((resolve) => {
        opened.written = resolve;
        opened.timer = setTimeout(() => void writePage(platform, recorder, slug, opened), FLUSH_MS);
        // A gathering page never keeps a Node process alive by itself: shutdown flushes it.
        (opened.timer as { unref?: () => void }).unref?.();
      }),
    );
  }
  page.entries.push([
    entry.at,
    entry.access_id,
    entry.method,
    entry.tool,
    entry.status,
    entry.error_code,
    entry.duration_ms,
    entry.bytes_in,
    entry.bytes_out,
  ]);
  if (page.entries.length >= PAGE_SIZE) void writePage(platform, recorder, slug, page);
}

/** Writes one endpoint's gathered page (once: the page leaves the recorder first). */
function writePage(platform: Platform, recorder: Recorder, slug: string, page: Page): Promise<void> {
  if (recorder.pages.get(slug) !== page) return Promise.resolve();
  recorder.pages.delete(slug);
  if (page.timer !== undefined) clearTimeout(page.timer);
  const { entries } = page;
  const newest = entries.reduce((latest, entry) => Math.max(latest, entry[0]), 0);
  const key = `${PREFIX}${slug}:${String(LATEST - newest).padStart(15, '0')}:${randomToken(6)}`;
  const inline = JSON.stringify(entries);
  const metadata: PageMeta = inline.length <= MAX_METADATA ? { n: entries.length, e: entries } : { n: entries.length };
  const write = platform.kv
    .put(key, metadata.e ? '' : inline, { expirationTtl: platform.config.activityRetentionDays * 86_400, metadata })
    .then(() => {
      const since = (recorder.sinceTrim.get(slug) ?? 0) + entries.length;
      // Workers isolates are short-lived: the chance keeps endpoints trimmed that no isolate serves for long.
      if (since >= TRIM_AFTER || Math.random() * TRIM_CHANCE < 1) {
        recorder.sinceTrim.delete(slug);
        return trimActivity(platform, slug);
      }
      recorder.sinceTrim.set(slug, since);
    })
    .catch((error: unknown) => {
      for (let i = 0; i < entries.length; i++) countMcpMessage('not_recorded');
      platform.log.warn('activity not recorded', { slug, entries: entries.length, reason: String((error as Error)?.message ?? error) });
    })
    .finally(() => {
      recorder.pending -= entries.length;
      recorder.writes.delete(write);
      page.written();
    });
  recorder.writes.add(write);
  return write;
}

/**
 * Writes what this process gathered (every endpoint's, or one's) now, and waits for writes under
 * way: the Node server's clean shutdown, and every reader first, so a reader on the process that
 * served the messages sees them all at once (others see them within FLUSH_MS).
 */
export async function flushActivity(platform: Platform, slug?: string): Promise<void> {
  const recorder = recorders.get(platform);
  if (!recorder) return;
  for (const [name, page] of [...recorder.pages]) if (slug === undefined || name === slug) void writePage(platform, recorder, name, page);
  await Promise.all(recorder.writes);
}

/** What a message came to, for the counters: a bounded set. */
export function outcomeOf(entry: Pick<ActivityEntry, 'status' | 'error_code'>): string {
  if (entry.error_code === -32602 && entry.status === 200) return 'refused';
  if (entry.status >= 500) return 'upstream_error';
  if (entry.status >= 400) return 'client_error';
  if (entry.error_code !== null) return 'jsonrpc_error';
  return 'ok';
}

export interface ActivityFilter {
  /** Only these accesses (the key holder's own). */
  accessIds?: Set<string>;
  tool?: string;
  outcome?: string;
  limit?: number;
}

/** Values read at once while listing (Workers KV runs them in parallel). */
const READ_AHEAD = 10;

/**
 * The endpoint's entries, newest first, filtered, at most MAX_PER_ENDPOINT. Pages of several
 * processes overlap in time: pages are read newest first until no unread page can hold an entry
 * newer than the oldest one kept, so the answer is exact.
 */
export async function listActivity(platform: Platform, slug: string, filter: ActivityFilter = {}): Promise<ActivityEntry[]> {
  await flushActivity(platform, slug);
  const limit = Math.min(filter.limit ?? MAX_PER_ENDPOINT, MAX_PER_ENDPOINT);
  const kept: ActivityEntry[] = [];
  /** The time of the limit-th newest entry kept so far (none until there are that many). */
  let cutoff = Number.NEGATIVE_INFINITY;
  let cursor: string | undefined;
  do {
    const listed = await platform.kv.list({ prefix: `${PREFIX}${slug}:`, ...(cursor ? { cursor } : {}) });
    for (let at = 0; at < listed.keys.length; at += READ_AHEAD) {
      const group = listed.keys.slice(at, at + READ_AHEAD).filter((key) => newestOf(key.name) >= cutoff);
      if (group.length === 0) return kept;
      const pages = await Promise.all(group.map((key) => entriesOf(platform, key.name, key.metadata as PageMeta | undefined)));
      // A page holds its entries oldest first: read backwards, entries of the same millisecond (a batch) stay newest first.
      for (const stored of pages.flatMap((page) => [...page].reverse())) {
        const entry = fromStored(stored);
        if (filter.accessIds && !filter.accessIds.has(entry.access_id)) continue;
        if (filter.tool && entry.tool !== filter.tool) continue;
        if (filter.outcome && outcomeOf(entry) !== filter.outcome) continue;
        kept.push(entry);
      }
      kept.sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0));
      if (kept.length >= limit) {
        kept.length = limit;
        cutoff = Date.parse(kept[limit - 1]!.at);
      }
    }
    cursor = listed.list_complete ? undefined : listed.cursor;
  } while (cursor);
  return kept;
}

function newestOf(name: string): number {
  return LATEST - Number(name.split(':').at(-2));
}

async function entriesOf(platform: Platform, name: string, metadata: PageMeta | undefined): Promise<Stored[]> {
  if (metadata?.e) return metadata.e;
  // A key written before pages: one entry, as an object in the metadata.
  if (metadata && 'at' in metadata) {
    const old = metadata as unknown as ActivityEntry;
    return [[Date.parse(old.at), old.access_id, old.method, old.tool, old.status, old.error_code, old.duration_ms, null, null]];
  }
  const value = (await platform.kv.get(name)) as string | null;
  if (!value) return [];
  try {
    const parsed = JSON.parse(value) as unknown;
    return Array.isArray(parsed) ? (parsed as Stored[]) : [];
  } catch {
    return [];
  }
}

function fromStored([at, access_id, method, tool, status, error_code, duration_ms, bytes_in, bytes_out]: Stored): ActivityEntry {
  return {
    at: new Date(at).toISOString(),
    access_id,
    method,
    tool,
    status,
    error_code,
    duration_ms,
    bytes_in: bytes_in ?? null,
    bytes_out: bytes_out ?? null,
  };
}

/** Deletes the endpoint's pages beyond the newest MAX_PER_ENDPOINT entries (a page that straddles the line is kept whole). */
export async function trimActivity(platform: Platform, slug: string): Promise<void> {
  let cursor: string | undefined;
  let seen = 0;
  do {
    const page = await platform.kv.list({ prefix: `${PREFIX}${slug}:`, ...(cursor ? { cursor } : {}) });
    for (const { name, metadata } of page.keys) {
      if (seen >= MAX_PER_ENDPOINT) await platform.kv.delete(name);
      else seen += (metadata as PageMeta | undefined)?.n ?? 1;
    }
    cursor = page.list_complete ? undefined : page.cursor;
  } while (cursor);
}

/** Removes an endpoint's whole record (when it is deleted), the entries this process still gathers included. */
export async function forgetActivity(platform: Platform, slug: string): Promise<void> {
  const recorder = recorders.get(platform);
  const page = recorder?.pages.get(slug);
  if (recorder && page) {
    recorder.pages.delete(slug);
    if (page.timer !== undefined) clearTimeout(page.timer);
    recorder.pending -= page.entries.length;
    page.written();
  }
  await Promise.all(recorder?.writes ?? []);
  let cursor: string | undefined;
  do {
    const listed = await platform.kv.list({ prefix: `${PREFIX}${slug}:`, ...(cursor ? { cursor } : {}) });
    for (const { name } of listed.keys) await platform.kv.delete(name);
    cursor = listed.list_complete ? undefined : listed.cursor;
  } while (cursor);
}
