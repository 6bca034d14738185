import { forgetActivity } from '../activity/store.ts';
import { checkUpstream } from '../endpoints/create.ts';
import { displayNameProblem } from '../endpoints/display-name.ts';
import type { Endpoint } from '../endpoints/endpoint.ts';
import type { UpdateEndpointInput } from '../endpoints/input.ts';
import { createEndpointStore } from '../endpoints/store.ts';
import { forgetToolCeiling } from '../endpoints/tool-ceiling.ts';
import { engine } from '../oauth/engine.ts';
import type { Platform } from '../platform.ts';
import { detectTransport } from '../upstream/detect.ts';

export type ChangeResult =
  | { ok: true; endpoint: Endpoint; revoked: number; warnings: string[] }
  | { ok: false; error: string; message: string };

/**
 * Applies a change to an endpoint, for the JSON API and the manage page alike. Changing where or
 * how the key is sent (upstream_url, auth_header_name, auth_header_prefix, transport) revokes every
 * grant: users entrusted their keys to the old destination, and each grant carries that destination
 * in its encrypted props, so every user must see the new one and approve again.
 */
export async function changeEndpoint(platform: Platform, endpoint: Endpoint, input: UpdateEndpointInput): Promise<ChangeResult> {
  const updated: Endpoint = { ...endpoint };
  if (input.upstream_url !== undefined) {
    const checked = await checkUpstream(platform, input.upstream_url);
    if (!checked.ok) return { ok: false, error: 'invalid_upstream_url', message: checked.reason };
    updated.upstreamUrl = checked.url.href;
  }
  if (input.display_name !== undefined) updated.displayName = input.display_name || new URL(updated.upstreamUrl).host;
  else if (updated.upstreamUrl !== endpoint.upstreamUrl && endpoint.displayName === new URL(endpoint.upstreamUrl).host) {
    // The default name was the old host: it would now name a destination the key no longer goes to.
    updated.displayName = new URL(updated.upstreamUrl).host;
  }
  const nameProblem = displayNameProblem(updated.displayName, new URL(updated.upstreamUrl).hostname);
  if (nameProblem) return { ok: false, error: 'invalid_request', message: nameProblem };
  if (input.auth_header_name !== undefined) updated.authHeaderName = input.auth_header_name;
  if (input.auth_header_prefix !== undefined) updated.authHeaderPrefix = input.auth_header_prefix.trim();
  else if (input.auth_header_name !== undefined)
    updated.authHeaderPrefix = input.auth_header_name.toLowerCase() === 'authorization' ? 'Bearer' : '';
  // The tool ceiling narrows every grant from its next message on (endpoints/tool-ceiling.ts); nothing is revoked.
  if (input.tool_policy !== undefined) {
    const { allow = [], deny = [] } = input.tool_policy ?? {};
    if (allow.length || deny.length) updated.toolPolicy = { ...(allow.length ? { allow } : {}), ...(deny.length ? { deny } : {}) };
    else delete updated.toolPolicy;
  }
  const warnings: string[] = [];
  // A new upstream speaks whatever it speaks: detected again, as at creation, unless named.
  if (input.transport !== undefined || input.upstream_url !== undefined) {
    const detected = await detectTransport(platform, new URL(updated.upstreamUrl), input.transport ?? 'auto');
    updated.transport = detected.transport;
    if (detected.warning) warnings.push(detected.warning);
  }

  // A legacy HTTP+SSE server answers on its own stream, where no answer can be filtered (docs/tools-and-activity.md).
  if (updated.toolPolicy && updated.transport === 'sse') {
    return {
      ok: false,
      error: 'invalid_request',
      message:
        'tool_policy needs a Streamable HTTP upstream: a legacy HTTP+SSE server answers on its own stream, where tools cannot be filtered',
    };
  }
  const destinationChanged =
    updated.upstreamUrl !== endpoint.upstreamUrl ||
    updated.authHeaderName !== endpoint.authHeaderName ||
    updated.authHeaderPrefix !== endpoint.authHeaderPrefix ||
    updated.transport !== endpoint.transport;
  await createEndpointStore(platform.kv).put(updated);
  forgetToolCeiling(platform, endpoint.slug);
  const revoked = destinationChanged ? await engine(platform, endpoint.slug).revokeAllGrants() : 0;
  platform.log.info('endpoint changed', { slug: endpoint.slug, destination_changed: destinationChanged, revoked_grants: revoked });
  return { ok: true, endpoint: updated, revoked, warnings };
}

/** Deletes the endpoint: the record first, so no new authorization can start or finish; then its grants. */
export async function deleteEndpoint(platform: Platform, slug: string): Promise<number> {
  await createEndpointStore(platform.kv).delete(slug);
  const revoked = await engine(platform, slug).revokeAllGrants();
  // Its activity record goes with it, off the request's path.
  platform.waitUntil(forgetActivity(platform, slug).catch(() => {}));
  platform.log.info('endpoint deleted', { slug, revoked_grants: revoked });
  return revoked;
}
