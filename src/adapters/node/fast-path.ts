import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { namedByHeaders, noteMessage } from '../../activity/note.ts';
import { endpointOfTarget } from '../../endpoint-urls.ts';
import { requestIdFor } from '../../http/access-log.ts';
import { bearerToken } from '../../http/bearer.ts';
import { bodyPlan, mcpTooLarge } from '../../http/body-limits.ts';
import { answers, storageUnavailable } from '../../http/errors.ts';
import { admit } from '../../mcp/admission.ts';
import type { StreamLimits } from '../../mcp/stream-limits.ts';
import { needsToolRules } from '../../mcp/tool-exchange.ts';
import type { VerifiedToken } from '../../oauth/engine.ts';
import type { Platform } from '../../platform.ts';
import { isStorageUnavailable } from '../../storage/unavailable.ts';
import type { UpstreamDispatch } from './guarded-fetch.ts';
import { relay } from './relay.ts';
import { type Answering, sendResponse } from './send-response.ts';

/**
 * The Node server's own carrier for the request that is the product's hot path: an MCP message
 * on `/{slug}/mcp` with a valid token, for a Streamable HTTP upstream. It moves the bytes on raw
 * node:http and undici's `dispatch` (relay.ts), without the web Request/Response each hop costs in
 * the app (conversion by @hono/node-server, the middleware chain, fetch and web streams): about
 * five times less CPU per message (README, Performance).
 *
 * It decides nothing of its own: admission is src/mcp/admission.ts's, the exchange's rules are
 * src/upstream/exchange.ts's, the answers are src/http/'s, as on the web carrier, and
 * test/e2e/one-exchange.test.ts holds the two to one table of cases. What admission does not
 * admit goes to the app untouched, which answers it as always: another URL or method, no single
 * bearer token, a token that is not valid here (the challenge), and a legacy HTTP+SSE upstream
 * (its endpoint rewriting is the app's). A store outage is answered here at once (503), not
 * waited for twice. The Worker has no such carrier: workerd's Request and Response are native.
 */

const METHODS = new Set(['GET', 'POST', 'DELETE']);

export interface FastPathOptions {
  platform: Platform;
  /** The app's stream counts (the same object), so the limits stay exact across both carriers. */
  streams: StreamLimits;
  upstreamDispatch: UpstreamDispatch;
}

export function withFastPath(options: FastPathOptions, app: RequestListener): RequestListener {
  const { platform } = options;
  const countStreams = Boolean(platform.config.metricsToken && platform.processMetrics);
  return (req, res) => {
    // `/{slug}/mcp`, with or without a query (which, as on every carrier, is not passed on).
    const named = METHODS.has(req.method!) ? endpointOfTarget(req.url!) : undefined;
    const slug = named?.kind === 'mcp' ? named.slug : undefined;
    const token = slug ? soleBearerToken(req) : undefined;
    if (!slug || !token) return app(req, res);
    serve(options, countStreams, slug, token, req, res, app).catch((error) => {
      // As the app's own error handler: logged, and a 500 that says so when nothing was sent yet.
      platform.log.error('request failed', { error });
      if (res.headersSent) res.destroy();
      else void sendResponse(res, answers.serverError(), answeringFor(platform, req));
    });
  };
}

/**
 * The bearer token when the request has exactly one `Authorization` line. Node keeps only the
 * first of several in `req.headers`; the web carrier sees them joined and refuses them, so two
 * lines go to the app, which answers the challenge.
 */
function soleBearerToken(req: IncomingMessage): string | undefined {
  const authorization = req.headers.authorization;
  if (authorization === undefined) return undefined;
  let lines = 0;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.length === 13 && raw[i]!.toLowerCase() === 'authorization') lines++;
  return lines === 1 ? bearerToken(authorization) : undefined;
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
  const max = platform.config.maxMcpBodyBytes;
  const address = platform.clientAddress({ headers: nodeHeaders(req), socketAddress: req.socket.remoteAddress });
  let admitted: Awaited<ReturnType<typeof admit>> = null;
  // A legacy upstream's endpoint rewriting, a stdio server's process and a grant whose tools are
  // restricted are the app's.
  let theApps = false;
  try {
    admitted = await admit(platform, slug, { streams: options.streams, address }, token);
    if (admitted && !(admitted instanceof Response))
      theApps = admitted.props.upstream.transport !== 'streamable-http' || (await needsToolRules(platform, admitted.props));
  } catch (error) {
    if (admitted && !(admitted instanceof Response)) admitted.lease.release();
    if (!isStorageUnavailable(error)) throw error;
    platform.log.warn('storage unavailable', { error: error.message, cause: String(error.cause ?? '') });
    return sendResponse(res, storageUnavailable(error.retryAfter), answering);
  }
  if (admitted === null) return app(req, res);
  if (admitted instanceof Response) return sendResponse(res, admitted, answering);
  if (theApps) {
    admitted.lease.release();
    return app(req, res);
  }
  if (bodyPlan(req.method!, req.headers['content-length'], max).kind === 'refuse') {
    admitted.lease.release();
    return sendResponse(res, mcpTooLarge(max), answering);
  }
  noteWhenAnswered(platform, slug, admitted.auth, req, res);
  relay({ ...answering, slug, ...admitted, countStreams, upstreamDispatch: options.upstreamDispatch }, req, res);
}

/** The activity record's entry for a relayed message (src/activity/), once its answer is over. */
function noteWhenAnswered(platform: Platform, slug: string, auth: VerifiedToken, req: IncomingMessage, res: ServerResponse): void {
  const started = performance.now();
  res.once('close', () =>
    noteMessage(platform, slug, auth, {
      ...namedByHeaders(req.method!, (name) => nodeHeaders(req).get(name)),
      status: res.statusCode,
      errorCode: null,
      started,
    }),
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
    origin: req.headers.origin,
  };
}

/** Node's parsed headers read as the platform reads a request's (one value, or null). */
function nodeHeaders(req: IncomingMessage): { get(name: string): string | null } {
  return {
    get(name) {
      const value = req.headers[name];
      return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
    },
  };
}
