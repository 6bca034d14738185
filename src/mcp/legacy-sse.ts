import type { ExchangeRecord } from '../activity/note.ts';
import { hmacHex, timingSafeEqual } from '../crypto.ts';
import { type EndpointKind, endpointUrl, messagesUrl } from '../endpoint-urls.ts';
import { jsonRpcError } from '../http/errors.ts';
import { onPublicOrigin } from '../http/request.ts';
import type { GrantProps, VerifiedToken } from '../oauth/engine.ts';
import type { Platform } from '../platform.ts';
import { templateOf, withoutCredentialParams } from '../upstream/credentials.ts';
import type { McpClient } from './admission.ts';
import { forwardWithKey, guard } from './guard.ts';
import { carryMessageBody } from './message-body.ts';
import { endpointRewriter } from './sse-endpoint-rewriter.ts';
import { stdioLegacy } from './stdio-route.ts';

/**
 * The legacy HTTP+SSE transport (MCP 2024-11-05): `GET /{slug}/sse` opens the upstream's event
 * stream; its first `endpoint` event names the URL the client must POST its messages to. That URL
 * is the upstream's (usually origin-relative, such as `/messages?sessionId=…`), so we rewrite it to
 * `{PUBLIC_URL}/{slug}/messages?to=<upstream path and query>&sig=<mac>`, and POSTs there go to the
 * upstream's message URL for the same session, with the key.
 *
 * Why this mapping: it is stateless. The upstream session lives on the upstream and our URL
 * carries everything needed to reach it, so the stream and its POSTs may land on different
 * replicas (or Worker isolates) with no shared session table and nothing to expire. The `to` part
 * is only a path and query, always resolved against the upstream's own origin, and an `endpoint`
 * event that names another origin is refused: the key never goes anywhere but the origin the user
 * gave it to. The `sig` (HMAC under the deployment secret, bound to the slug, the grant and the
 * path) means the POST goes only to a URL the upstream itself named for this grant, so a token
 * holder cannot use the key on other paths of the upstream's host (say, its REST API). Replicas
 * must share the deployment secret for this, as they already share the store.
 *
 * Both routes check the token as the resource `/{slug}/sse` (endpoint-urls.ts `EndpointKind`: the same endpoint under
 * the identifier SDK clients connected to it accept), so a client without a valid token is sent
 * to metadata naming `/sse`. The message URL is not a resource of its own: `guard()` is given a
 * request for the URL the stream was opened on (`/sse`, or `/mcp` when `via=mcp`), with the same
 * headers, and the original request is served inside.
 */

export type LegacyRoute = 'sse' | 'messages';

/** Upper bound on the `to` path we accept back (URLs of real servers are far shorter). */
const MAX_TARGET_LENGTH = 4096;

const ALLOWED: Record<LegacyRoute, string[]> = { sse: ['GET', 'OPTIONS'], messages: ['POST', 'OPTIONS'] };

export async function legacyRoute(
  platform: Platform,
  incoming: Request,
  slug: string,
  route: LegacyRoute,
  client: McpClient,
): Promise<Response> {
  if (!ALLOWED[route].includes(incoming.method)) {
    return jsonRpcError(405, `Method ${incoming.method} is not supported here`, -32000, { allow: ALLOWED[route].join(', ') });
  }
  const request = onPublicOrigin(incoming, platform.config.publicUrl);
  const path: EndpointKind = route === 'messages' && new URL(request.url).searchParams.get('via') === 'mcp' ? 'mcp' : 'sse';
  const resource = new Request(endpointUrl(platform.config.publicUrl, slug, path), { method: request.method, headers: request.headers });
  return guard(
    platform,
    slug,
    resource,
    client,
    async (props, auth, record) => {
      if (props.upstream.transport === 'stdio') return stdioLegacy(platform, request, props, auth, route, record);
      if (props.upstream.transport !== 'sse') {
        return jsonRpcError(
          404,
          `This endpoint's server speaks Streamable HTTP; connect to ${endpointUrl(platform.config.publicUrl, slug)}`,
        );
      }
      return route === 'sse'
        ? legacyStream(platform, request, props, auth, 'sse')
        : legacyMessage(platform, request, props, auth, path, record);
    },
    path,
  );
}

/**
 * Opens the upstream's event stream and relays it with the `endpoint` event rewritten. Also used
 * for `GET /{slug}/mcp` of a legacy endpoint: clients that try Streamable HTTP first fall back to
 * a GET on the same URL. `path` is the URL the stream was opened on; its message URLs send a
 * client without a valid token back to that URL's metadata.
 */
export async function legacyStream(
  platform: Platform,
  request: Request,
  props: GrantProps,
  auth: VerifiedToken,
  path: EndpointKind,
): Promise<Response> {
  const { slug } = props;
  const response = await forwardWithKey(platform, request, props, auth, { url: props.upstream.url, method: 'GET' }, path);
  const type = response.headers.get('content-type') ?? '';
  if (!response.ok || !response.body || !/^text\/event-stream/i.test(type)) return response;

  const upstreamUrl = new URL(props.upstream.url);
  const rewrite = async (data: string): Promise<string> => {
    let target: URL;
    try {
      target = new URL(data, upstreamUrl);
    } catch {
      throw new LegacyEndpointRefused('the endpoint event does not hold a URL');
    }
    if (target.origin !== upstreamUrl.origin) throw new LegacyEndpointRefused('the endpoint event names another origin');
    // An upstream that takes its key in the query may echo it in the message URL: it is dropped
    // here (the client and every log would see it) and set again on each POST (exchange.ts).
    const named = new URL(withoutCredentialParams(templateOf(props.upstream), target.href));
    const to = named.pathname + named.search;
    const sig = await signTarget(platform.secret, slug, auth.grantId, to);
    return messagesUrl(platform.config.publicUrl, slug, new URLSearchParams({ to, sig, ...(path === 'mcp' ? { via: 'mcp' } : {}) }));
  };
  const headers = new Headers(response.headers);
  headers.delete('content-length');
  const body = response.body.pipeThrough(
    endpointRewriter(async (data) => {
      try {
        return await rewrite(data);
      } catch (error) {
        platform.log.warn('legacy SSE endpoint refused', {
          slug,
          reason: error instanceof LegacyEndpointRefused ? error.message : 'error',
        });
        throw error;
      }
    }),
  );
  return new Response(body, { status: response.status, statusText: response.statusText, headers });
}

async function legacyMessage(
  platform: Platform,
  request: Request,
  props: GrantProps,
  auth: VerifiedToken,
  path: EndpointKind,
  record: ExchangeRecord,
): Promise<Response> {
  const { slug } = props;
  const params = new URL(request.url).searchParams;
  const to = params.get('to');
  const sig = params.get('sig');
  if (!to || !sig || to.length > MAX_TARGET_LENGTH) {
    return jsonRpcError(400, 'This message URL is incomplete; open the SSE stream again to get a new one');
  }
  // During a secret rotation, a URL the previous secret signed (a stream opened before) still works.
  const signedBy = async (secret: string | undefined) =>
    secret !== undefined && timingSafeEqual(sig, await signTarget(secret, slug, auth.grantId, to));
  if (!(await signedBy(platform.secret)) && !(await signedBy(platform.previousSecret))) {
    return jsonRpcError(403, 'This message URL was not issued by this server for this endpoint and authorization');
  }
  const origin = new URL(props.upstream.url).origin;
  // Appended to the origin, never resolved against it: a path such as `//other-host/…` (which an
  // upstream may name as `/.//other-host/…`) is a path on the upstream, not another host.
  const target = new URL(origin + to);
  // Signed and appended, so this cannot fail unless the secret leaked; checked anyway, since it guards the key.
  if (!to.startsWith('/') || target.origin !== origin) return jsonRpcError(403, 'This message URL does not point at the upstream server');
  // Held for the activity record, as on `/mcp` (message-body.ts).
  const carried = await carryMessageBody(request, record);
  return forwardWithKey(platform, carried.request, props, auth, { url: target.href, body: carried.body }, path);
}

/**
 * MAC of a message target, bound to its endpoint and to the grant whose token opened the stream
 * (a grant keeps its id across refreshes), so one user's message URL, which names their upstream
 * session, is useless with another user's token. 128 bits, hex.
 */
async function signTarget(secret: string, slug: string, grant: string, to: string): Promise<string> {
  return (await hmacHex(secret, `legacy-sse-endpoint\n${slug}\n${grant}\n${to}`)).slice(0, 32);
}

class LegacyEndpointRefused extends Error {
  override name = 'LegacyEndpointRefused';
}
