import { createEndpointStore } from '../endpoints/store.ts';
import { jsonError } from '../http/errors.ts';
import { countGrantsRevoked } from '../metrics.ts';
import { engine, type GrantProps, invalidTokenChallenge, type ProtectedHandler, type VerifiedToken } from '../oauth/engine.ts';
import { noteGrantUse } from '../oauth/grant-usage.ts';
import type { ResourcePath } from '../oauth/resource.ts';
import type { Platform } from '../platform.ts';
import { forward } from '../upstream/forward.ts';
import { type KeepaliveOptions, keepStreamAlive } from './stream-keepalive.ts';
import type { StreamLimits } from './stream-limits.ts';

/**
 * What every MCP route (`/{slug}/mcp`, and the legacy `/{slug}/sse` and `/{slug}/messages`) does
 * around its own work: refuse an unknown slug, check the token, and send the key upstream through
 * one door that handles the upstream refusing it.
 */

/**
 * Runs `handler` for a request whose bearer token is valid for the endpoint; otherwise the engine
 * answers (401 challenge naming the resource metadata, CORS preflight, …). The request must be on
 * the resource URL `{PUBLIC_URL}/{slug}/{path}` (the legacy message route hands in a copy).
 *
 * Without a token, the endpoint record is read to answer 404 for an unknown slug instead of a
 * challenge. With one, the token check alone decides (no token is valid for an unknown slug),
 * which keeps the hot path at one store read.
 */
export async function guard(
  platform: Platform,
  slug: string,
  request: Request,
  client: McpClient,
  handler: ProtectedHandler,
  path: ResourcePath = 'mcp',
): Promise<Response> {
  if (!request.headers.has('authorization') && !(await createEndpointStore(platform.kv).get(slug))) {
    return jsonError(404, 'not_found', 'No endpoint with this URL exists on this server');
  }
  return engine(platform, slug).protect(
    request,
    async (props, auth) => {
      const lease = admit(platform, slug, client, auth);
      if (lease instanceof Response) return lease;
      let response: Response;
      try {
        response = await handler(props, auth);
      } catch (error) {
        lease.release();
        throw error;
      }
      return keepStreamAlive(response, { ...streamKeepalive(platform, slug), onClose: lease.release });
    },
    path,
  );
}

/**
 * What every request with a valid token goes through before its handler, here and in the Node
 * adapter's fast path: its grant's use is noted, and it takes a lease on the stream limits, held
 * while its answer is open (a stream holds a client and an upstream connection), or is refused.
 */
export function admit(platform: Platform, slug: string, client: McpClient, auth: VerifiedToken): { release(): void } | Response {
  noteGrantUse(platform, slug, auth.grantId);
  const lease = client.streams.open(auth.grantId, client.address);
  if ('release' in lease) return lease;
  platform.log.info('stream limit reached', { slug });
  return lease.jsonRpc('requests are open on this authorization or from your network');
}

/** Heartbeats and the idle timeout for an answer's body (stream-keepalive.ts), from the settings. */
export function streamKeepalive(platform: Platform, slug: string): KeepaliveOptions {
  return {
    heartbeatMs: platform.config.sseHeartbeatMs,
    idleMs: platform.config.upstreamIdleTimeoutMs,
    onIdle: () => platform.log.info('upstream stream idle; closed', { slug }),
  };
}

/** Who is asking, for the stream limits: the app's counts and the client's address. */
export interface McpClient {
  streams: StreamLimits;
  address: string;
}

/**
 * Forwards with the grant's key. When the upstream refuses the key (401/403), the grant that holds
 * it is useless: it is revoked, and the client gets the engine's `invalid_token` challenge, so it
 * authorizes again and the user can paste a new key. Every route that sends the key goes here.
 */
export async function forwardWithKey(
  platform: Platform,
  request: Request,
  props: GrantProps,
  auth: VerifiedToken,
  to: { url: string; method?: string },
  path: ResourcePath = 'mcp',
): Promise<Response> {
  const outcome = await forward(platform, request, props.upstream, props.apiKey, to);
  if (outcome.kind === 'response') return outcome.response;
  return keyRejected(platform, props, auth, outcome.status, path);
}

/**
 * The upstream refused the grant's key (401/403): the grant is revoked and the answer is the
 * engine's `invalid_token` challenge. Shared with the Node adapter's fast path.
 */
export async function keyRejected(
  platform: Platform,
  props: GrantProps,
  auth: VerifiedToken,
  status: number,
  path: ResourcePath = 'mcp',
): Promise<Response> {
  platform.log.info('upstream rejected the key; revoking its grant', { slug: props.slug, status });
  await engine(platform, props.slug).helpers().revokeGrant(auth.grantId, props.slug);
  countGrantsRevoked(1);
  return invalidTokenChallenge(
    platform.config.publicUrl,
    props.slug,
    'The upstream MCP server rejected the key; authorize again with a valid one',
    path,
  );
}
