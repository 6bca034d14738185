import { createEndpointStore } from '../endpoints/store.ts';
import { jsonError } from '../http/errors.ts';
import { countGrantsRevoked } from '../metrics.ts';
import { engine, type GrantProps, invalidTokenChallenge, type ProtectedHandler, type VerifiedToken } from '../oauth/engine.ts';
import { noteGrantUse } from '../oauth/grant-usage.ts';
import type { ResourcePath } from '../oauth/resource.ts';
import type { Platform } from '../platform.ts';
import { forward } from '../upstream/forward.ts';
import { keepStreamAlive } from './stream-keepalive.ts';
import { releaseWhenClosed, type StreamLimits } from './stream-limits.ts';

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
      noteGrantUse(platform, slug, auth.grantId);
      // Held while the answer is open: a stream holds a client and an upstream connection.
      const lease = client.streams.open(auth.grantId, client.address);
      if (!('release' in lease)) {
        platform.log.info('stream limit reached', { slug });
        return lease.jsonRpc('requests are open on this authorization or from your network');
      }
      let response: Response;
      try {
        response = await handler(props, auth);
      } catch (error) {
        lease.release();
        throw error;
      }
      const { sseHeartbeatMs, upstreamIdleTimeoutMs } = platform.config;
      const kept = keepStreamAlive(response, {
        heartbeatMs: sseHeartbeatMs,
        idleMs: upstreamIdleTimeoutMs,
        onIdle: () => platform.log.info('upstream stream idle; closed', { slug }),
      });
      return releaseWhenClosed(kept, lease.release);
    },
    path,
  );
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
  platform.log.info('upstream rejected the key; revoking its grant', { slug: props.slug, status: outcome.status });
  await engine(platform, props.slug).helpers().revokeGrant(auth.grantId, props.slug);
  countGrantsRevoked(1);
  return invalidTokenChallenge(
    platform.config.publicUrl,
    props.slug,
    'The upstream MCP server rejected the key; authorize again with a valid one',
    path,
  );
}
