import { ACTORS } from '../audit/trail.ts';
import { sha256Hex, timingSafeEqual } from '../crypto.ts';
import { isSlug } from '../endpoint-urls.ts';
import { describeEndpoint, type Endpoint } from '../endpoints/endpoint.ts';
import { firstIssue, updateEndpointInput } from '../endpoints/input.ts';
import { createEndpointStore } from '../endpoints/store.ts';
import { bearerToken } from '../http/bearer.ts';
import { answers, jsonError } from '../http/errors.ts';
import { rateLimit } from '../http/rate-limit.ts';
import { readJsonBody } from '../http/request.ts';
import { listGrants, revokeAllGrants, revokeGrant } from '../oauth/grants.ts';
import type { Platform } from '../platform.ts';
import { activityFilter, activityRows } from './activity-view.ts';
import { changeEndpoint, deleteEndpoint } from './change.ts';

/**
 * The creator's controls, authenticated by `Authorization: Bearer <manage_token>` (compared as
 * hashes, in constant time), or by the deployment's ADMIN_TOKEN when one is set, so an operator can
 * take down an abusive endpoint:
 * - `GET/PATCH/DELETE /api/slugs/:slug`: the endpoint (change.ts says what a change revokes);
 * - `GET /api/slugs/:slug/grants`: who was given access (client, redirect host, created, last used);
 * - `DELETE /api/slugs/:slug/grants/:grantId`, or `…/grants` for all: take access back;
 * - `GET /api/slugs/:slug/activity` (`?tool=&outcome=&access_id=`): the activity record, newest first.
 */
export async function manageEndpoint(
  platform: Platform,
  request: Request,
  slug: string,
  clientAddress: string,
  grants?: { grantId?: string } | 'activity',
): Promise<Response> {
  // Every request counts, before any token is looked at: the admin token may be weaker than a manage token.
  const limited = await rateLimit(platform, 'manage', platform.config.rateLimits.manage, clientAddress);
  if (limited) return limited.json('requests');
  const endpoint = isSlug(slug) ? await createEndpointStore(platform.kv).get(slug) : null;
  if (!endpoint) return answers.unknownEndpoint();
  const actor = await manageActor(platform, bearerToken(request.headers.get('authorization')), endpoint);
  if (!actor) {
    return jsonError(401, 'unauthorized', 'Send the manage token returned at creation: Authorization: Bearer <manage_token>', {
      'www-authenticate': 'Bearer realm="key2oauth-manage"',
    });
  }
  const { publicUrl } = platform.config;

  if (grants === 'activity') {
    const query = new URL(request.url).searchParams;
    return ok({
      activity: await activityRows(
        platform,
        slug,
        await listGrants(platform, slug),
        activityFilter((name) => query.get(name)),
      ),
    });
  }
  if (grants) {
    if (request.method === 'GET' && !grants.grantId) return ok({ grants: await listGrants(platform, slug) });
    if (request.method !== 'DELETE')
      return jsonError(405, 'method_not_allowed', 'Use GET to list grants or DELETE to revoke', { allow: 'GET, DELETE' });
    if (!grants.grantId) {
      const revoked = await revokeAllGrants(platform, slug, actor);
      platform.log.info('grants revoked', { slug, revoked_grants: revoked });
      return ok({ revoked_grants: revoked });
    }
    if (!(await revokeGrant(platform, slug, grants.grantId, actor)))
      return jsonError(404, 'not_found', 'This endpoint has no grant with that id');
    platform.log.info('grant revoked', { slug });
    return ok({ revoked_grants: 1 });
  }

  if (request.method === 'GET') return ok(describeEndpoint(endpoint, publicUrl));

  if (request.method === 'DELETE') return ok({ deleted: true, slug, revoked_grants: await deleteEndpoint(platform, slug, actor) });

  // PATCH
  const body = await readJsonBody(request);
  if (!body.ok) return body.answer;
  const parsed = updateEndpointInput.safeParse(body.value);
  if (!parsed.success) return jsonError(400, 'invalid_request', firstIssue(parsed.error));
  const changed = await changeEndpoint(platform, endpoint, parsed.data, actor);
  if (!changed.ok)
    return jsonError(
      changed.status ?? 400,
      changed.error,
      changed.message,
      changed.retryAfter ? { 'retry-after': String(changed.retryAfter) } : undefined,
    );
  return ok({ ...describeEndpoint(changed.endpoint, publicUrl), revoked_grants: changed.revoked, warnings: changed.warnings });
}

/** Whether `presented` is this endpoint's manage token, or the deployment's ADMIN_TOKEN. */
export async function mayManage(platform: Platform, presented: string | undefined, endpoint: Endpoint): Promise<boolean> {
  return Boolean(await manageActor(platform, presented, endpoint));
}

/** Who `presented` makes the caller, for the audit trail: the admin token, the manage link, or nobody. */
export async function manageActor(platform: Platform, presented: string | undefined, endpoint: Endpoint): Promise<string | undefined> {
  if (!presented || presented.length > 512) return undefined;
  const { adminToken } = platform.config;
  if (adminToken && timingSafeEqual(presented, adminToken)) return ACTORS.adminToken;
  const matches = Boolean(endpoint.manageTokenHash) && timingSafeEqual(await sha256Hex(presented), endpoint.manageTokenHash!);
  return matches ? ACTORS.manageLink : undefined;
}

function ok(body: unknown): Response {
  return Response.json(body, { headers: { 'cache-control': 'no-store' } });
}
