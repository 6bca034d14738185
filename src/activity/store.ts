import { randomToken } from '../crypto.ts';
import { countMcpMessage } from '../metrics.ts';
import type { Platform } from '../platform.ts';

/**
 * The activity record: one entry per MCP message through a grant, kept ACTIVITY_RETENTION_DAYS
 * (the store's own expiry) and at most MAX_PER_ENDPOINT per endpoint. An entry says when, which
 * access (grant) and app, the JSON-RPC method, the tool for `tools/call`, the outcome (HTTP status,
 * JSON-RPC error code) and the duration — never arguments, results, keys or tokens: nothing here
 * is handed any of them.
 *
 * Written off the request's path (`platform.waitUntil`): a slow store never slows a message, and
 * at most MAX_PENDING writes wait per process (beyond, entries are dropped and counted), so a
 * store outage cannot pile up memory. Entries live under the endpoint's prefix with an inverted
 * time, so a listing reads newest first; on SQLite, Redis and Workers KV alike (the KV contract).
 */

export interface ActivityEntry {
  at: string;
  access_id: string;
  client_id: string;
  method: string;
  tool: string | null;
  status: number;
  error_code: number | null;
  duration_ms: number;
}

const PREFIX = 'k2o:activity:';
export const MAX_PER_ENDPOINT = 1000;
const MAX_PENDING = 1000;
/** One write in this many also trims the endpoint's record to MAX_PER_ENDPOINT. */
const TRIM_EVERY = 250;
/** Inverted milliseconds sort newest first; 15 digits last until the year 33658. */
const LATEST = 10 ** 15;

let pending = 0;
let writes = 0;

/** Notes one message; returns at once. */
export function recordActivity(platform: Platform, slug: string, entry: ActivityEntry): void {
  countMcpMessage(outcomeOf(entry));
  // ACTIVITY_RETENTION_DAYS=0: no record, and no store write per message (docs/tools-and-activity.md).
  if (platform.config.activityRetentionDays === 0) return;
  if (pending >= MAX_PENDING) {
    countMcpMessage('not_recorded');
    return;
  }
  pending++;
  const key = `${PREFIX}${slug}:${String(LATEST - Date.parse(entry.at)).padStart(15, '0')}:${randomToken(6)}`;
  const write = platform.kv
    // The entry rides as the key's metadata (under 1 KB: names are bounded), so a listing reads no values.
    .put(key, '1', { expirationTtl: platform.config.activityRetentionDays * 86_400, metadata: entry })
    .then(() => (++writes % TRIM_EVERY === 0 ? trim(platform, slug) : undefined))
    .catch((error: unknown) => platform.log.warn('activity not recorded', { slug, reason: String((error as Error)?.message ?? error) }))
    .finally(() => pending--);
  platform.waitUntil(write);
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

/** The endpoint's entries, newest first, filtered. */
export async function listActivity(platform: Platform, slug: string, filter: ActivityFilter = {}): Promise<ActivityEntry[]> {
  const limit = Math.min(filter.limit ?? MAX_PER_ENDPOINT, MAX_PER_ENDPOINT);
  const listed = await platform.kv.list({ prefix: `${PREFIX}${slug}:`, limit: MAX_PER_ENDPOINT });
  const entries: ActivityEntry[] = [];
  for (const { metadata } of listed.keys) {
    const entry = metadata as ActivityEntry | undefined;
    if (!entry) continue;
    if (filter.accessIds && !filter.accessIds.has(entry.access_id)) continue;
    if (filter.tool && entry.tool !== filter.tool) continue;
    if (filter.outcome && outcomeOf(entry) !== filter.outcome) continue;
    entries.push(entry);
    if (entries.length >= limit) break;
  }
  return entries;
}

/** Deletes the endpoint's entries beyond the newest MAX_PER_ENDPOINT. */
async function trim(platform: Platform, slug: string): Promise<void> {
  let cursor: string | undefined;
  let seen = 0;
  do {
    const page = await platform.kv.list({ prefix: `${PREFIX}${slug}:`, limit: 1000, ...(cursor ? { cursor } : {}) });
    for (const { name } of page.keys) if (++seen > MAX_PER_ENDPOINT) await platform.kv.delete(name);
    cursor = page.list_complete ? undefined : page.cursor;
  } while (cursor);
}

/** Removes an endpoint's whole record (when it is deleted). */
export async function forgetActivity(platform: Platform, slug: string): Promise<void> {
  let cursor: string | undefined;
  do {
    const page = await platform.kv.list({ prefix: `${PREFIX}${slug}:`, limit: 1000, ...(cursor ? { cursor } : {}) });
    for (const { name } of page.keys) await platform.kv.delete(name);
    cursor = page.list_complete ? undefined : page.cursor;
  } while (cursor);
}
