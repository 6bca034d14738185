import { type ActivityEntry, type ActivityFilter, listActivity } from '../activity/store.ts';
import type { GrantView } from '../oauth/grants.ts';
import type { ActivityLine } from '../pages/activity.ts';
import type { Platform } from '../platform.ts';

/**
 * The activity record as its readers see it (the creator's API and page, the key holder's API
 * and page, the CLI): the shape, each entry naming its app by the access's client name.
 * Only these fields leave the store. Declared once, with the page section that shows it
 * (pages/activity.ts, a lower layer).
 */
export type ActivityRow = ActivityLine;

/** Outcomes a reader may filter by (store.ts `outcomeOf`). */
export const OUTCOMES = ['ok', 'refused', 'jsonrpc_error', 'client_error', 'upstream_error'] as const;

export async function activityRows(platform: Platform, slug: string, grants: GrantView[], filter: ActivityFilter): Promise<ActivityRow[]> {
  const names = new Map(grants.map((grant) => [grant.id, grant.client_name]));
  const entries = await listActivity(platform, slug, filter);
  return entries.map((entry: ActivityEntry) => ({
    at: entry.at,
    access_id: entry.access_id,
    client_name: names.get(entry.access_id) ?? '(access revoked)',
    method: entry.method,
    tool: entry.tool,
    status: entry.status,
    error_code: entry.error_code,
    duration_ms: entry.duration_ms,
    bytes_in: entry.bytes_in,
    bytes_out: entry.bytes_out,
  }));
}

/** Filters from a query or a JSON body: a tool name, an outcome, an access; anything else is ignored. */
export function activityFilter(get: (name: string) => unknown): ActivityFilter {
  const filter: ActivityFilter = {};
  const tool = get('tool');
  if (typeof tool === 'string' && tool) filter.tool = tool.slice(0, 128);
  const outcome = get('outcome');
  if (typeof outcome === 'string' && (OUTCOMES as readonly string[]).includes(outcome)) filter.outcome = outcome;
  const access = get('access_id');
  if (typeof access === 'string' && access) filter.accessIds = new Set([access]);
  return filter;
}
