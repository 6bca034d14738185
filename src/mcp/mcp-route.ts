import { createEndpointStore } from '../endpoints/store.ts';
import { jsonError } from '../http/responses.ts';
import { onPublicOrigin } from '../http/request.ts';
import { authorizationServer, engineEnv, executionContext, grantIdOf, resourceServer, type GrantProps, type VerifiedToken } from '../oauth/engine.ts';
import { resourceUrl } from '../oauth/resource.ts';
import type { Platform } from '../platform.ts';
import { jsonRpcError } from '../http/errors.ts';
import { forward } from '../upstream/forward.ts';
import { legacyStream } from './legacy-sse.ts';

const MCP_METHODS = new Set(['GET', 'POST', 'DELETE', 'OPTIONS']);

/**
 * `/{slug}/mcp`: the hot path. One token lookup and one decrypt (inside the engine's
 * validateToken, never cached, so a revoked token fails on its next request), then one upstream
 * request streamed both ways. The endpoint record is read only for requests without a token,
 * to answer 404 for an unknown slug instead of an OAuth challenge.
 */
export async function mcpRoute(platform: Platform, incoming: Request, slug: string): Promise<Response> {
  if (!MCP_METHODS.has(incoming.method)) {
    return jsonRpcError(405, `Method ${incoming.method} is not supported on an MCP endpoint`);
  }
  const request = onPublicOrigin(incoming, platform.config.publicUrl);
  const unknown = await unknownEndpoint(platform, request, slug);
  if (unknown) return unknown;
  return protect(platform, slug, request, (props, auth) => {
    if (props.upstream.transport === 'sse') return legacyOnMcpUrl(platform, slug, request, props, auth);
    return forwardWithKey(platform, slug, request, props, auth, { url: props.upstream.url });
  });
}

/**
 * 404 for a slug that does not exist, instead of an OAuth challenge. Only requests without a
 * token pay for the endpoint read; with one, the token check alone decides (no token is valid
 * for an unknown slug), which keeps the hot path at one store read.
 */
export async function unknownEndpoint(platform: Platform, request: Request, slug: string): Promise<Response | null> {
  if (request.headers.has('authorization') || (await createEndpointStore(platform.kv).get(slug))) return null;
  return jsonError(404, 'not_found', 'No endpoint with this URL exists on this server');
}

/**
 * A legacy HTTP+SSE upstream reached at `/{slug}/mcp`: clients that try Streamable HTTP first
 * (the SDK's documented fallback, Claude, …) get a 405 for their POST and then open a GET event
 * stream on the same URL, which is the legacy stream with its `endpoint` event rewritten.
 */
function legacyOnMcpUrl(platform: Platform, slug: string, request: Request, props: GrantProps, auth: VerifiedToken): Promise<Response> {
  if (request.method === 'GET') return legacyStream(platform, slug, request, props, auth);
  const response = jsonRpcError(405, 'This server speaks the legacy HTTP+SSE transport: open a GET event stream on this URL, or on /sse');
  response.headers.set('allow', 'GET');
  return Promise.resolve(response);
}

/**
 * Runs `handler` for a request whose bearer token is valid for the endpoint; otherwise the
 * engine answers (401 challenge naming the resource metadata, CORS preflight, …).
 */
export function protect(
  platform: Platform,
  slug: string,
  request: Request,
  handler: (props: GrantProps, auth: VerifiedToken) => Promise<Response>,
): Promise<Response> {
  return resourceServer(platform, slug, handler).fetch(request, engineEnv(platform) as never, executionContext(platform) as never);
}

/**
 * Forwards and handles the upstream refusing the key: the grant that holds it is revoked, and
 * the client gets our own 401 `invalid_token` challenge, so it re-authorizes and the user can
 * paste a new key. Every route that sends the key upstream goes through here.
 */
export async function forwardWithKey(
  platform: Platform,
  slug: string,
  request: Request,
  props: GrantProps,
  auth: VerifiedToken,
  target: { url: string; method?: string },
): Promise<Response> {
  const outcome = await forward(platform, request, props, target);
  if (outcome.kind === 'response') return outcome.response;
  return keyRejected(platform, slug, request, auth, outcome.status);
}

async function keyRejected(platform: Platform, slug: string, request: Request, auth: VerifiedToken, status: number): Promise<Response> {
  const grantId = grantIdOf(auth.token);
  platform.log.info('upstream rejected the key; revoking its grant', { slug, status });
  if (grantId) await authorizationServer(platform, slug).getOAuthApi(engineEnv(platform)).revokeGrant(grantId, slug);
  // With the grant gone, the engine itself answers this token with its invalid_token challenge,
  // asked on the canonical resource URL (legacy routes live beside it, not under it).
  const headers = new Headers({ authorization: `Bearer ${auth.token}` });
  const origin = request.headers.get('origin');
  if (origin) headers.set('origin', origin);
  const retry = new Request(resourceUrl(platform.config.publicUrl, slug), { method: 'GET', headers });
  return protect(platform, slug, retry, async () => jsonRpcError(401, 'The upstream MCP server rejected the key'));
}
