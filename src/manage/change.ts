import { forgetActivity } from '../activity/store.ts';
import { ACTORS, recordEvent } from '../audit/trail.ts';
import { checkUpstream, oneHeaderTemplate } from '../endpoints/create.ts';
import { urlClashProblem } from '../endpoints/credential-template.ts';
import { displayNameProblem } from '../endpoints/display-name.ts';
import { type Endpoint, endpointTemplate } from '../endpoints/endpoint.ts';
import type { UpdateEndpointInput } from '../endpoints/input.ts';
import { createEndpointStore } from '../endpoints/store.ts';
import { forgetToolCeiling } from '../endpoints/tool-ceiling.ts';
import { engine } from '../oauth/engine.ts';
import { type GrantView, listGrants } from '../oauth/grants.ts';
import type { Platform } from '../platform.ts';
import { type CredentialField, headerTemplate, singleHeader } from '../upstream/credentials.ts';
import { detectTransport } from '../upstream/detect.ts';

export type ChangeResult =
  | { ok: true; endpoint: Endpoint; revoked: number; warnings: string[] }
  /** `status` and `retryAfter` when the new upstream was refused (upstream/detect.ts); 400 otherwise. */
  | { ok: false; error: string; message: string; status?: 422 | 503; retryAfter?: number }
  /** With `unlessItRevokes`: nothing was written, because the change would revoke these accesses. */
  | { ok: false; error: 'would_revoke'; message: string; wouldRevoke: GrantView[]; status?: undefined; retryAfter?: undefined };

/**
 * Applies a change to an endpoint, for the JSON API and the manage page alike. Changing where or
 * how the key is sent (upstream_url, the credential template, transport) revokes every
 * grant: users entrusted their keys to the old destination, and each grant carries that destination
 * in its encrypted props, so every user must see the new one and approve again.
 */
export async function changeEndpoint(
  platform: Platform,
  endpoint: Endpoint,
  input: UpdateEndpointInput,
  actor: string = ACTORS.operator,
  options: { unlessItRevokes?: boolean } = {},
): Promise<ChangeResult> {
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
  const template = changedTemplate(endpointTemplate(endpoint), input);
  if (typeof template === 'string') return { ok: false, error: 'invalid_request', message: template };
  // Written in the template's shape from now on; the older one-header fields go.
  updated.credentials = template;
  delete updated.authHeaderName;
  delete updated.authHeaderPrefix;
  const clash = urlClashProblem(template, updated.upstreamUrl);
  if (clash) return { ok: false, error: 'invalid_upstream_url', message: clash };
  // The tool ceiling narrows every grant from its next message on (endpoints/tool-ceiling.ts); nothing is revoked.
  if (input.tool_policy !== undefined) {
    const { allow = [], deny = [] } = input.tool_policy ?? {};
    if (allow.length || deny.length) updated.toolPolicy = { ...(allow.length ? { allow } : {}), ...(deny.length ? { deny } : {}) };
    else delete updated.toolPolicy;
  }
  const warnings: string[] = [];
  // A new upstream speaks whatever it speaks: detected again, as at creation, unless named.
  if (input.transport !== undefined || input.upstream_url !== undefined) {
    // As at creation: no endpoint moves to an upstream that is no MCP server or cannot be reached.
    const detected = await detectTransport(platform, new URL(updated.upstreamUrl), input.transport ?? 'auto');
    if (!detected.ok)
      return {
        ok: false,
        error: detected.error,
        message: detected.message,
        status: detected.status,
        ...(detected.retryAfter ? { retryAfter: detected.retryAfter } : {}),
      };
    updated.transport = detected.transport;
  }

  // A legacy HTTP+SSE server answers on its own stream, and a stdio server through its process,
  // where no answer is filtered (docs/tools-and-activity.md).
  if (updated.toolPolicy && updated.transport !== 'streamable-http') {
    return {
      ok: false,
      error: 'invalid_request',
      message:
        'tool_policy needs a Streamable HTTP upstream: a legacy HTTP+SSE server answers on its own stream, and a stdio server through its process, where tools are not filtered',
    };
  }
  const destinationChanged =
    updated.upstreamUrl !== endpoint.upstreamUrl ||
    placesOf(template) !== placesOf(endpointTemplate(endpoint)) ||
    updated.transport !== endpoint.transport;
  // The manage page asks before a change takes every access away (pages/confirm.ts).
  if (destinationChanged && options.unlessItRevokes) {
    const grants = await listGrants(platform, endpoint.slug);
    if (grants.length > 0) return { ok: false, error: 'would_revoke', message: 'This change revokes every access', wouldRevoke: grants };
  }
  await createEndpointStore(platform.kv).put(updated);
  forgetToolCeiling(platform, endpoint.slug);
  const revoked = destinationChanged ? await engine(platform, endpoint.slug).revokeAllGrants() : 0;
  platform.log.info('endpoint changed', { slug: endpoint.slug, destination_changed: destinationChanged, revoked_grants: revoked });
  const fields = Object.keys(input).filter((name) => input[name as keyof UpdateEndpointInput] !== undefined);
  await recordEvent(platform, {
    actor,
    action: 'endpoint.changed',
    slug: endpoint.slug,
    detail: `${fields.join(', ')}${revoked ? `; ${revoked} access(es) revoked` : ''}`,
  });
  return { ok: true, endpoint: updated, revoked, warnings };
}

/** Where each value goes, labels aside: a new label changes what the page asks, not where a key travels. */
function placesOf(fields: CredentialField[]): string {
  return JSON.stringify(fields.map(({ label: _label, ...place }) => place));
}

/**
 * The template after a change: `credentials` replaces it; `auth_header_name`/`auth_header_prefix`
 * change a one-header template as they always did (a new name resets the prefix to its default),
 * and turn any other template into one header only when a name is given. A string is the refusal.
 */
function changedTemplate(current: CredentialField[], input: UpdateEndpointInput): CredentialField[] | string {
  if (input.credentials !== undefined) return input.credentials;
  if (input.auth_header_name !== undefined) return oneHeaderTemplate(input.auth_header_name, input.auth_header_prefix);
  if (input.auth_header_prefix !== undefined) {
    const header = singleHeader(current);
    if (!header)
      return 'auth_header_prefix changes a one-header template, and this endpoint takes its key another way: send credentials, or auth_header_name with it';
    return headerTemplate(header.name, input.auth_header_prefix).map((field) => ({ ...field, label: current[0]!.label }));
  }
  return current;
}

/** Deletes the endpoint: the record first, so no new authorization can start or finish; then its grants. */
export async function deleteEndpoint(platform: Platform, slug: string, actor: string = ACTORS.operator): Promise<number> {
  await createEndpointStore(platform.kv).delete(slug);
  const revoked = await engine(platform, slug).revokeAllGrants();
  // Its activity record goes with it, off the request's path.
  platform.waitUntil(forgetActivity(platform, slug).catch(() => {}));
  platform.log.info('endpoint deleted', { slug, revoked_grants: revoked });
  await recordEvent(platform, { actor, action: 'endpoint.deleted', slug, detail: `${revoked} access(es) revoked` });
  return revoked;
}
