import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { isSlug } from '../../endpoints/slug.ts';
import { requestIdFor } from '../../http/access-log.ts';
import { mcpTooLarge } from '../../http/body-limits.ts';
import { jsonError } from '../../http/errors.ts';
import { admit, type McpClient } from '../../mcp/guard.ts';
import type { StreamLimits } from '../../mcp/stream-limits.ts';
import { engine } from '../../oauth/engine.ts';
import type { Platform } from '../../platform.ts';
import type { UpstreamDispatch } from './guarded-fetch.ts';
import { addressOf } from './platform.ts';
import { relay } from './relay.ts';
import { type Answering, sendResponse } from './send-response.ts';

/**
 * The Node server's fast path for the request that is the product's hot path: an MCP message on
 * `/{slug}/mcp` with a valid token, for a Streamable HTTP upstream. It is served on raw node:http
 * and undici's `dispatch` (relay.ts), without the web Request/Response each hop costs in the app
 * (conversion by @hono/node-server, the middleware chain, fetch and web streams): about five
 * times less CPU per message (README, Performance).
 *
 * It changes no rule. The token check, the stream limits, the key header, the header allowlists,
 * the heartbeats and idle timeout, the security headers, the errors and the access log are the
 * app's own functions, called from here (src/mcp/guard.ts, src/upstream/, src/http/). Anything it
 * is not sure of goes to the app untouched, which answers it as always:
 * - another URL or method, no bearer token, or an `Origin` header (browser clients, whose CORS
 *   answers the engine writes);
 * - a token the check does not accept (the app answers the challenge), or a store outage (503);
 * - a legacy HTTP+SSE upstream (its endpoint rewriting is the app's).
 * The Worker has no fast path: workerd's Request and Response are native.
 */

/** `/{slug}/mcp`, with or without a query (which, as in the app, is not passed on). */
const MCP_URL = /^\/([^/?#]+)\/mcp(?:\?|$)/;
const METHODS = new Set(['GET', 'POST', 'DELETE']);
/** The engine's own grammar for the header (one token, no parameters). */
const BEARER = /^Bearer[\t ]+([^\s,]+)$/i;

export interface FastPathOptions {
  platform: Platform;
  /** The app's stream counts (the same object), so the limits stay exact across both paths. */
  streams: StreamLimits;
  upstreamDispatch: UpstreamDispatch;
  trustProxy: boolean;
}

export function withFastPath(options: FastPathOptions, app: RequestListener): RequestListener {
  const { platform } = options;
  const countStreams = Boolean(platform.config.metricsToken && platform.processMetrics);
  return (req, res) => {
    const slug = METHODS.has(req.method!) && req.headers.origin === undefined ? MCP_URL.exec(req.url!)?.[1] : undefined;
    const token = slug && isSlug(slug) ? BEARER.exec(req.headers.authorization ?? '')?.[1] : undefined;
    if (!slug || !token) return app(req, res);
    serve(options, countStreams, slug, token, req, res, app).catch((error) => {
      // As the app's own error handler: logged, and a 500 that says so when nothing was sent yet.
      platform.log.error('request failed', { error });
      if (res.headersSent) res.destroy();
      else void sendResponse(res, jsonError(500, 'server_error', 'Something went wrong on our side'), answeringFor(platform, req));
    });
  };
}

async function serve(
  options: FastPathOptions,
  countStreams: boolean,
  slug: string,
  token: string,
  req: IncomingMessage,
  res: ServerResponse,
  app: RequestListener,
): Promise<void> {
  const { platform } = options;
  const answering = answeringFor(platform, req);
  let verified: Awaited<ReturnType<ReturnType<typeof engine>['verify']>>;
  try {
    verified = await engine(platform, slug).verify(token);
  } catch {
    // A store outage: the app meets it again and answers 503 with Retry-After, as on every route.
    verified = null;
  }
  if (!verified || verified.props.upstream.transport === 'sse') return app(req, res);

  const declared = req.headers['content-length'];
  const max = platform.config.maxMcpBodyBytes;
  if (req.method === 'POST' && declared !== undefined && Number(declared) > max) return sendResponse(res, mcpTooLarge(max), answering);
  const client: McpClient = {
    streams: options.streams,
    address: addressOf(req.headers['x-forwarded-for'] as string | undefined, req.socket.remoteAddress, options.trustProxy),
  };
  const lease = admit(platform, slug, client, verified.auth);
  if (lease instanceof Response) return sendResponse(res, lease, answering);
  relay(
    { ...answering, slug, props: verified.props, auth: verified.auth, lease, countStreams, upstreamDispatch: options.upstreamDispatch },
    req,
    res,
  );
}

/** What the access log needs of a request, taken when it arrives (`started` times it). */
function answeringFor(platform: Platform, req: IncomingMessage): Answering {
  const logging = platform.log.enabled('info');
  return {
    platform,
    logging,
    started: logging ? performance.now() : 0,
    requestId: logging ? requestIdFor(req.headers['x-request-id'] as string | undefined) : '',
    method: req.method!,
    path: req.url!.split('?', 1)[0]!,
  };
}
