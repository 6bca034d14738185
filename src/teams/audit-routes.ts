import { type AuditFilter, MAX_EVENTS, readEvents } from '../audit/trail.ts';
import { timingSafeEqual } from '../crypto.ts';
import { bearerToken } from '../http/bearer.ts';
import { answers, jsonError, pageError } from '../http/errors.ts';
import { rateLimit } from '../http/rate-limit.ts';
import { htmlResponse, redirect } from '../http/responses.ts';
import { auditPage as auditTemplate } from '../pages/teams.ts';
import type { Platform } from '../platform.ts';
import { signInUrl } from '../signin/routes.ts';
import { signedInPerson } from '../signin/session.ts';

/**
 * The audit trail for admins: `GET /api/audit` (a signed-in admin, or `Authorization: Bearer
 * <ADMIN_TOKEN>`) answers `{"events": [{at, actor, action, slug, detail}]}`, newest first, filtered
 * by `actor`, `action` (a whole action or its first part: `endpoint`), `slug`, `since` and `until`
 * (ISO times) and `limit` (100 unless said, at most 1000); `/audit` is the same for a signed-in
 * admin as a page. Neither exists on a deployment with neither sign-in nor ADMIN_TOKEN.
 */
export async function auditApi(platform: Platform, request: Request, clientAddress: string): Promise<Response> {
  const { adminToken, signIn } = platform.config;
  if (!adminToken && !signIn) return answers.notFound();
  // Counted before any token is looked at, as for the manage API: it also stops guessing ADMIN_TOKEN.
  const limited = await rateLimit(platform, 'manage', platform.config.rateLimits.manage, clientAddress);
  if (limited) return limited.json('requests');
  const presented = bearerToken(request.headers.get('authorization'));
  const byToken = Boolean(adminToken && presented && presented.length <= 512 && timingSafeEqual(presented, adminToken));
  if (!byToken && !(await signedInPerson(platform, request))?.admin) {
    return jsonError(
      401,
      'unauthorized',
      'The audit trail is for admins: sign in with an ADMIN_EMAILS account, or send Authorization: Bearer <ADMIN_TOKEN>',
      {
        'www-authenticate': 'Bearer realm="key2oauth-admin"',
      },
    );
  }
  const filter = parseFilter(new URL(request.url).searchParams);
  if (typeof filter === 'string') return jsonError(400, 'invalid_request', filter);
  return Response.json({ events: await readEvents(platform, filter) }, { headers: { 'cache-control': 'no-store' } });
}

export async function auditPage(platform: Platform, request: Request): Promise<Response> {
  if (!platform.config.signIn) return answers.notFound();
  const person = await signedInPerson(platform, request);
  if (!person) return redirect(signInUrl('/audit'), new Headers(), 303);
  if (!person.admin)
    return pageError(
      403,
      'For admins only',
      'The audit trail is shown to the people in ADMIN_EMAILS.',
      'Your own endpoints are at /endpoints.',
    );
  const params = new URL(request.url).searchParams;
  const filter = parseFilter(params);
  if (typeof filter === 'string') return pageError(400, 'Filter not understood', filter);
  const shown = Object.fromEntries(['actor', 'action', 'slug'].map((name) => [name, params.get(name) ?? '']));
  return htmlResponse(auditTemplate({ email: person.email, filter: shown, events: await readEvents(platform, { limit: 200, ...filter }) }));
}

/** The filters from a query string, or why one is not understood. */
export function parseFilter(params: URLSearchParams): AuditFilter | string {
  const filter: AuditFilter = {};
  for (const name of ['actor', 'action', 'slug'] as const) {
    const value = params.get(name)?.trim();
    if (value) filter[name] = value.slice(0, 320);
  }
  for (const name of ['since', 'until'] as const) {
    const value = params.get(name);
    if (!value) continue;
    const time = Date.parse(value);
    if (Number.isNaN(time)) return `${name} must be a time such as 2026-01-31 or 2026-01-31T12:00:00Z`;
    filter[name] = time;
  }
  const limit = params.get('limit');
  if (limit) {
    if (!/^\d+$/.test(limit) || Number(limit) < 1 || Number(limit) > MAX_EVENTS)
      return `limit must be a whole number from 1 to ${MAX_EVENTS}`;
    filter.limit = Number(limit);
  }
  return filter;
}
