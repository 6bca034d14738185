import type { Platform } from '../platform.ts';

/**
 * The audit trail: who did what to which endpoint, and who signed in or was refused. One KV key per
 * event, so it lives in whatever store the deployment has (SQLite, Redis, Workers KV) through the
 * one storage contract, and each key expires after AUDIT_RETENTION_DAYS by the store's own TTL.
 *
 * Keys sort newest first (the time is stored inverted), so the latest events are the first page of
 * a `list()`. The event itself rides in the key's metadata, which `list()` returns: reading the
 * trail is one list call per thousand events, no read per event.
 *
 * An event never carries a key, a token or a secret: callers pass who (an email, or one of the
 * ACTORS), what (an action) and a short detail (a host, an app's name, a count).
 */

export interface AuditEvent {
  at: string;
  actor: string;
  action: AuditAction;
  slug: string | null;
  detail: string;
}

export type AuditAction =
  | 'endpoint.created'
  | 'endpoint.changed'
  | 'endpoint.deleted'
  | 'access.granted'
  | 'access.revoked'
  | 'access.replaced'
  | 'sign-in'
  | 'sign-in.refused';

/** Who acted, when it was not a signed-in person. */
export const ACTORS = {
  manageLink: 'manage link',
  adminToken: 'admin token',
  keyHolder: 'key holder',
  anyone: 'anyone',
  operator: 'operator',
} as const;

export interface AuditFilter {
  actor?: string;
  action?: string;
  slug?: string;
  /** ISO times or anything Date parses; inclusive. */
  since?: number;
  until?: number;
  limit?: number;
}

const PREFIX = 'k2o:audit:';
/** Larger than any millisecond time this code will see, so `LATEST - now` stays 14 digits. */
const LATEST = 99_999_999_999_999;
const DETAIL_CHARACTERS = 200;
export const MAX_EVENTS = 1000;

export async function recordEvent(
  platform: Platform,
  event: { actor: string; action: AuditAction; slug?: string | null; detail?: string },
): Promise<void> {
  const now = Date.now();
  const stored: AuditEvent = {
    at: new Date(now).toISOString(),
    actor: event.actor.slice(0, 254),
    action: event.action,
    slug: event.slug ?? null,
    detail: (event.detail ?? '').slice(0, DETAIL_CHARACTERS),
  };
  const random = crypto.getRandomValues(new Uint32Array(1))[0]!.toString(36);
  const key = `${PREFIX}${String(LATEST - now).padStart(14, '0')}:${random}`;
  await platform.kv.put(key, '', { expirationTtl: platform.config.auditRetentionDays * 86400, metadata: stored });
}

/** Events newest first, those matching every filter given, at most `limit` (100 unless said, 1000 at most). */
export async function readEvents(platform: Platform, filter: AuditFilter = {}): Promise<AuditEvent[]> {
  const limit = Math.min(Math.max(filter.limit ?? 100, 1), MAX_EVENTS);
  const events: AuditEvent[] = [];
  let cursor: string | undefined;
  do {
    const page = await platform.kv.list({ prefix: PREFIX, ...(cursor ? { cursor } : {}) });
    for (const key of page.keys) {
      const event = key.metadata as AuditEvent | undefined;
      if (!event) continue;
      const at = Date.parse(event.at);
      if (filter.until !== undefined && at > filter.until) continue;
      if (filter.since !== undefined && at < filter.since) return events;
      if (filter.actor !== undefined && event.actor.toLowerCase() !== filter.actor.toLowerCase()) continue;
      if (filter.action !== undefined && event.action !== filter.action && !event.action.startsWith(`${filter.action}.`)) continue;
      if (filter.slug !== undefined && event.slug !== filter.slug) continue;
      events.push(event);
      if (events.length >= limit) return events;
    }
    cursor = page.list_complete ? undefined : page.cursor;
  } while (cursor);
  return events;
}
