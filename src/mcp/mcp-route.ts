import { endpointUrl } from '../endpoint-urls.ts';
import { createEndpointStore } from '../endpoints/store.ts';
import { browserAnswers, jsonRpcError } from '../http/errors.ts';
import { onPublicOrigin, wantsPage } from '../http/request.ts';
import { htmlResponse } from '../http/responses.ts';
import { endpointInfoPage } from '../pages/endpoint-info.ts';
import type { Platform } from '../platform.ts';
import type { McpClient } from './admission.ts';
import { forwardWithKey, guard } from './guard.ts';
import { legacyStream } from './legacy-sse.ts';
import { stdioExchange } from './stdio-route.ts';
import { withinTools } from './tool-exchange.ts';

const MCP_METHODS = new Set(['GET', 'POST', 'DELETE', 'OPTIONS']);

/**
 * `/{slug}/mcp`: the hot path. Admission (mcp/admission.ts: the token's own record read on
 * every request, so a revoked token fails on its next one; the decrypted check cached by
 * oauth/token-cache.ts), then one upstream exchange (upstream/exchange.ts) streamed both ways.
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
  // A person who opened the URL in a browser: a plain GET without a token that asks for HTML. MCP
  // clients send `Accept: text/event-stream` (or a token) on their GET, so they still get the 401
  // challenge that starts OAuth.
  if (incoming.method === 'GET' && wantsPage(incoming)) {
    const endpoint = await createEndpointStore(platform.kv).get(slug);
    if (!endpoint) return browserAnswers.unknownEndpoint();
    return htmlResponse(endpointInfoPage({ mcpEndpoint: endpointUrl(platform.config.publicUrl, slug), displayName: endpoint.displayName }));
  }
  const request = onPublicOrigin(incoming, platform.config.publicUrl);
  return guard(platform, slug, request, client, (props, auth, record) => {
    if (props.upstream.transport === 'stdio') return stdioExchange(platform, request, props, auth, record);
    if (props.upstream.transport !== 'sse')
      return withinTools(platform, request, props, auth, record, (sent, body) =>
        forwardWithKey(platform, sent, props, auth, { url: props.upstream.url, body }),
      );
    if (request.method === 'GET') return legacyStream(platform, request, props, auth, 'mcp');
    return Promise.resolve(
      jsonRpcError(405, 'This server speaks the legacy HTTP+SSE transport: open a GET event stream on this URL, or on /sse', -32000, {
        allow: 'GET',
      }),
    );
  });
}
