import { sha256Hex, timingSafeEqual } from '../crypto.ts';
import { checkUpstream } from '../endpoints/create.ts';
import { displayNameProblem } from '../endpoints/display-name.ts';
import { describeEndpoint, type Endpoint } from '../endpoints/endpoint.ts';
import { firstIssue, updateEndpointInput } from '../endpoints/input.ts';
import { isSlug } from '../endpoints/slug.ts';
import { createEndpointStore } from '../endpoints/store.ts';
import { jsonError } from '../http/errors.ts';
import { rateLimit } from '../http/rate-limit.ts';
import { engine } from '../oauth/engine.ts';
import type { Platform } from '../platform.ts';
import { detectTransport } from '../upstream/detect.ts';

/**
 * `GET/PATCH/DELETE /api/slugs/:slug`: the creator's controls, authenticated by
 * `Authorization: Bearer <manage_token>` (compared as hashes, in constant time), or by the
 * deployment's ADMIN_TOKEN when one is set, so an operator can take down an abusive endpoint.
 *
 * Deleting an endpoint revokes every grant on it. Changing where or how the key is sent
 * (upstream_url, auth_header_name, auth_header_prefix, transport) also revokes them: users
 * entrusted their keys to the old destination, and each grant carries that destination in its
 * encrypted props, so every user must see the new one and approve again.
 */
export async function manageEndpoint(platform: Platform, request: Request, slug: string, clientAddress: string): Promise<Response> {
  // Every request counts, before any token is looked at: the admin token may be weaker than a manage token.
  const limited = await rateLimit(platform, 'manage', platform.config.rateLimits.manage, clientAddress);
  if (limited) return limited.json('requests');
  const store = createEndpointStore(platform.kv);
  const endpoint = isSlug(slug) ? await store.get(slug) : null;
  if (!endpoint) return jsonError(404, 'not_found', 'No endpoint with this URL exists on this server');
  if (!(await authorized(platform, request, endpoint))) {
    return jsonError(401, 'unauthorized', 'Send the manage token returned at creation: Authorization: Bearer <manage_token>', {
      'www-authenticate': 'Bearer realm="key2oauth-manage"',
    });
  }
  const { publicUrl } = platform.config;

  if (request.method === 'GET') return ok(describeEndpoint(endpoint, publicUrl));

  if (request.method === 'DELETE') {
    // The record goes first, so no new authorization can start or finish; then its grants.
    await store.delete(slug);
    const revoked = await engine(platform, slug).revokeAllGrants();
    platform.log.info('endpoint deleted', { slug, revoked_grants: revoked });
    return ok({ deleted: true, slug, revoked_grants: revoked });
  }

  // PATCH
  if (!(request.headers.get('content-type') ?? '').toLowerCase().startsWith('application/json')) {
    return jsonError(415, 'unsupported_media_type', 'Send a JSON body with Content-Type: application/json');
  }
  let body: unknown;
  try {
    body = await request.json();
  } catch {
    return jsonError(400, 'invalid_json', 'The body is not valid JSON');
  }
  const parsed = updateEndpointInput.safeParse(body);
  if (!parsed.success) return jsonError(400, 'invalid_request', firstIssue(parsed.error));
  const input = parsed.data;

  const updated: Endpoint = { ...endpoint };
  if (input.upstream_url !== undefined) {
    const checked = await checkUpstream(platform, input.upstream_url);
    if (!checked.ok) return jsonError(400, 'invalid_upstream_url', checked.reason);
    updated.upstreamUrl = checked.url.href;
  }
  if (input.display_name !== undefined) updated.displayName = input.display_name || new URL(updated.upstreamUrl).host;
  else if (updated.upstreamUrl !== endpoint.upstreamUrl && endpoint.displayName === new URL(endpoint.upstreamUrl).host) {
    // The default name was the old host: it would now name a destination the key no longer goes to.
    updated.displayName = new URL(updated.upstreamUrl).host;
  }
  const nameProblem = displayNameProblem(updated.displayName, new URL(updated.upstreamUrl).hostname);
  if (nameProblem) return jsonError(400, 'invalid_request', nameProblem);
  if (input.auth_header_name !== undefined) updated.authHeaderName = input.auth_header_name;
  if (input.auth_header_prefix !== undefined) updated.authHeaderPrefix = input.auth_header_prefix.trim();
  else if (input.auth_header_name !== undefined)
    updated.authHeaderPrefix = input.auth_header_name.toLowerCase() === 'authorization' ? 'Bearer' : '';
  // A new upstream speaks whatever it speaks: detected again, as at creation, unless named.
  if (input.transport !== undefined || input.upstream_url !== undefined) {
    updated.transport = await detectTransport(platform, new URL(updated.upstreamUrl), input.transport ?? 'auto');
  }

  const destinationChanged =
    updated.upstreamUrl !== endpoint.upstreamUrl ||
    updated.authHeaderName !== endpoint.authHeaderName ||
    updated.authHeaderPrefix !== endpoint.authHeaderPrefix ||
    updated.transport !== endpoint.transport;
  await store.put(updated);
  const revoked = destinationChanged ? await engine(platform, slug).revokeAllGrants() : 0;
  platform.log.info('endpoint changed', { slug, destination_changed: destinationChanged, revoked_grants: revoked });
  return ok({ ...describeEndpoint(updated, publicUrl), revoked_grants: revoked });
}

async function authorized(platform: Platform, request: Request, endpoint: Endpoint): Promise<boolean> {
  const match = /^Bearer[ \t]+(\S{1,512})[ \t]*$/i.exec(request.headers.get('authorization') ?? '');
  if (!match) return false;
  const presented = match[1]!;
  const { adminToken } = platform.config;
  if (adminToken && timingSafeEqual(presented, adminToken)) return true;
  return Boolean(endpoint.manageTokenHash) && timingSafeEqual(await sha256Hex(presented), endpoint.manageTokenHash!);
}

function ok(body: unknown): Response {
  return Response.json(body, { headers: { 'cache-control': 'no-store' } });
}
