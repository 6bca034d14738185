import { jsonRpcError } from '../http/errors.ts';
import { onPublicOrigin } from '../http/request.ts';
import type { Platform } from '../platform.ts';
import { forwardWithKey, guard, type McpClient } from './guard.ts';
import { legacyStream } from './legacy-sse.ts';

const MCP_METHODS = new Set(['GET', 'POST', 'DELETE', 'OPTIONS']);

/**
 * `/{slug}/mcp`: the hot path. One token lookup and one decrypt (inside the engine's
 * validateToken, never cached, so a revoked token fails on its next request), then one upstream
 * request streamed both ways.
 *
 * A legacy HTTP+SSE upstream is served here too: clients that try Streamable HTTP first (the SDK's
 * documented fallback, Claude, …) get a 405 for their POST and then open a GET event stream on
 * the same URL, which is the legacy stream with its `endpoint` event rewritten.
 */
export async function mcpRoute(platform: Platform, incoming: Request, slug: string, client: McpClient): Promise<Response> {
  if (!MCP_METHODS.has(incoming.method)) {
    return jsonRpcError(405, `Method ${incoming.method} is not supported on an MCP endpoint`, -32000, {
      allow: [...MCP_METHODS].join(', '),
    });
  }
  const request = onPublicOrigin(incoming, platform.config.publicUrl);
  return guard(platform, slug, request, client, (props, auth) => {
    if (props.upstream.transport !== 'sse') return forwardWithKey(platform, request, props, auth, { url: props.upstream.url });
    if (request.method === 'GET') return legacyStream(platform, request, props, auth);
    return Promise.resolve(
      jsonRpcError(405, 'This server speaks the legacy HTTP+SSE transport: open a GET event stream on this URL, or on /sse', -32000, {
        allow: 'GET',
      }),
    );
  });
}
