import type { Context } from 'hono';
import { jsonError } from '../http/errors.ts';
import { readJsonBody } from '../http/request.ts';
import type { Platform } from '../platform.ts';
import { activityFilter, activityRows } from './activity-view.ts';
import { type Found, findAccess, NO_ACCESS, replaceAccess, revokeAccess } from './key-holder.ts';

/**
 * The key holder's JSON API, for scripts (docs/key-holders.md): the same as the /access page.
 * - `POST /api/access` `{endpoint, credentials}` → `{accesses: [...]}`
 * - `POST /api/access/replace` `{endpoint, credentials, new_credentials}` → `{replaced}`, 422 when the upstream refuses the new key
 * - `POST /api/access/revoke` `{endpoint, credentials, id?}` → `{revoked, revoked_apps}` (the apps' names)
 * - `POST /api/access/activity` `{endpoint, credentials, tool?, outcome?, access_id?}` → `{activity: [...]}`, these accesses' own
 * Credentials that open nothing get one answer (403 `no_access`), whatever failed.
 */

type Action = (found: Found, body: Record<string, unknown>) => Promise<Response>;

const NO_STORE = { 'cache-control': 'no-store' };

export function accessApi(platform: Platform, action: 'list' | 'replace' | 'revoke' | 'activity') {
  const act: Action =
    action === 'activity'
      ? async (found, body) => {
          // Only the accesses these credentials opened: the filter names them, whatever the body says.
          const filter = { ...activityFilter((name) => body[name]), accessIds: new Set(found.grants.map((grant) => grant.id)) };
          if (typeof body.access_id === 'string') filter.accessIds = new Set([...filter.accessIds].filter((id) => id === body.access_id));
          return Response.json({ activity: await activityRows(platform, found.slug, found.grants, filter) }, { headers: NO_STORE });
        }
      : action === 'list'
        ? async (found) =>
            Response.json(
              {
                accesses: found.grants.map(({ id, client_name, redirect_host, created_at, last_used_at }) => ({
                  id,
                  client_name,
                  redirect_host,
                  created_at,
                  last_used_at,
                })),
              },
              { headers: NO_STORE },
            )
        : action === 'revoke'
          ? async (found, body) => {
              if (body.id !== undefined && typeof body.id !== 'string') return jsonError(400, 'invalid_request', 'id must be a string');
              const { revoked, apps } = await revokeAccess(platform, found, body.id);
              return Response.json({ revoked, revoked_apps: apps }, { headers: NO_STORE });
            }
          : async (found, body) => {
              const result = await replaceAccess(platform, found, body.new_credentials);
              if (!result.ok)
                return jsonError(
                  result.status,
                  result.status === 422 ? 'credentials_rejected' : result.status === 400 ? 'invalid_request' : 'upstream_unavailable',
                  result.problem,
                );
              return Response.json({ replaced: result.replaced }, { headers: NO_STORE });
            };
  return async (c: Context, clientAddress: string): Promise<Response> => {
    const read = await readJsonBody(c.req.raw);
    if (!read.ok) return read.answer;
    const body = read.value;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return jsonError(400, 'invalid_request', 'Send a JSON object');
    const fields = body as Record<string, unknown>;
    if (typeof fields.endpoint !== 'string' || fields.endpoint === '')
      return jsonError(400, 'invalid_request', 'endpoint must be the endpoint URL or its slug');
    const lookup = await findAccess(platform, clientAddress, fields.endpoint, fields.credentials);
    if (!lookup.ok) {
      if (lookup.kind === 'limited') return lookup.refusal.json(lookup.tooMany);
      if (lookup.kind === 'invalid') return jsonError(400, 'invalid_request', lookup.problem);
      return noAccess();
    }
    return act(lookup.found, fields);
  };
}

/** The one answer to credentials that open nothing. */
export function noAccess(): Response {
  return jsonError(403, 'no_access', NO_ACCESS);
}
