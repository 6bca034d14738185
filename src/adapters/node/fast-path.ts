import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { ExchangeRecord } from '../../activity/note.ts';
import { endpointOfTarget } from '../../endpoint-urls.ts';
import { requestIdFor } from '../../http/access-log.ts';
import { bearerToken } from '../../http/bearer.ts';
import { bodyPlan, mcpTooLarge } from '../../http/body-limits.ts';
import { answers, storageUnavailable } from '../../http/errors.ts';
import { type Admitted, admit } from '../../mcp/admission.ts';
import type { StreamLimits } from '../../mcp/stream-limits.ts';
import { judgeOnNodeCarrier, needsToolRules } from '../../mcp/tool-exchange.ts';
import type { Platform } from '../../platform.ts';
import { isStorageUnavailable } from '../../storage/unavailable.ts';
import type { UpstreamDispatch } from './guarded-fetch.ts';
import { nodeHeaders } from './header-record.ts';
import { noteAnswered, relay } from './relay.ts';
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
 * (its endpoint rewriting is the app's); so do a restricted grant's messages whose answer must be
 * filtered (src/mcp/tool-exchange.ts decides which), with the body already read. A store outage is
 * answered here at once (503), not waited for twice. The Worker has no such carrier: workerd's Request and Response are native.
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
  let admitted: Admitted | null = null;
  // A legacy upstream's endpoint rewriting and a stdio server's process are the app's; so are the
  // messages of a grant whose tools are restricted that need more than a verdict on their name
  // (src/mcp/tool-exchange.ts `judgeOnNodeCarrier`).
  let theApps = false;
  let restricted = false;
  try {
    const admitting = admit(platform, slug, { streams: options.streams, address }, token);
    // A remembered token check is answered without a promise: no microtask turn for it.
    const verdict = admitting instanceof Promise ? await admitting : admitting;
    if (verdict === null) return app(req, res);
    // One `instanceof` per message: each looks up Response's Symbol.hasInstance.
    if (verdict instanceof Response) return sendResponse(res, verdict, answering);
    admitted = verdict;
    theApps = admitted.props.upstream.transport !== 'streamable-http';
    if (!theApps) {
      const needs = needsToolRules(platform, admitted.props);
      restricted = typeof needs === 'boolean' ? needs : await needs;
    }
  } catch (error) {
    admitted?.lease.release();
    if (!isStorageUnavailable(error)) throw error;
    platform.log.warn('storage unavailable', { error: error.message, cause: String(error.cause ?? '') });
    return sendResponse(res, storageUnavailable(error.retryAfter), answering);
  }
  if (theApps) {
    admitted.lease.release();
    return app(req, res);
  }
  const plan = bodyPlan(req.method!, req.headers['content-length'], max);
  if (plan.kind === 'refuse') {
    admitted.lease.release();
    return sendResponse(res, mcpTooLarge(max), answering);
  }
  if (restricted && plan.kind === 'count') {
    admitted.lease.release();
    return app(req, res);
  }
  const record = new ExchangeRecord();
  // A declared body is read whole before it goes up (at most MAX_MCP_BODY_BYTES, as Node's parser
  // delivers no more than declared): undici then writes it with the headers in one go, which costs
  // less than piping a stream, and the activity record holds the message (its names are read once
  // the answer has ended). A body of undeclared length is counted and kept as it flows (relay.ts).
  if (plan.kind === 'declared') {
    const whole = readWhole(req);
    const body = whole instanceof Promise ? await whole : whole;
    if (!body) {
      // The client left before its message was whole: nothing goes upstream.
      admitted.lease.release();
      res.destroy();
      return;
    }
    record.body = body;
    record.bytesIn = body.byteLength;
    if (restricted) {
      const sessionId = nodeHeaders(req).get('mcp-session-id') ?? undefined;
      const verdict = await judgeOnNodeCarrier(platform, admitted.props, admitted.auth.grantId, body, sessionId);
      if (verdict.kind === 'app') {
        admitted.lease.release();
        // The body is read: @hono/node-server takes it from `rawBody` instead of the spent stream.
        (req as IncomingMessage & { rawBody?: Buffer }).rawBody = body;
        return app(req, res);
      }
      record.judged = verdict.judged;
      if (verdict.kind === 'refuse') {
        admitted.lease.release();
        const { auth } = admitted;
        res.on('close', () => noteAnswered(platform, slug, auth, record, req, res));
        return sendResponse(res, verdict.answer, answering, record);
      }
    }
  }
  const { props, auth, lease } = admitted;
  relay({ ...answering, slug, props, auth, lease, record, countStreams, upstreamDispatch: options.upstreamDispatch }, req, res);
}

/** The request's body, once it has all arrived; undefined when the client went away first. */
function readWhole(req: IncomingMessage): Buffer | undefined | Promise<Buffer | undefined> {
  // A body that came with its headers is in the same read, but Node's parser reaches it only after
  // the request listener and the microtasks it queued have run. So it is taken at once (no flowing
  // stream, no listeners) only when admission waited for the store (a token check not remembered);
  // after a remembered one it comes as 'data' and 'end' later in that same read, with no turn of
  // the event loop lost (measured: 0 of 15,000 messages complete one microtask after the request).
  if (req.complete && !req.readableDidRead) {
    const body = req.read() as Buffer | null;
    return body ?? Buffer.alloc(0);
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    // `on`, not `once` (each fires at most once here, and once's wrapper costs per message); a
    // promise settles once, so whichever comes first decides.
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    // After 'end' this changes nothing; before it, the body will never be whole.
    req.on('close', () => resolve(undefined));
    req.on('error', () => resolve(undefined));
  });
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
    path: pathOf(req.url!),
    origin: req.headers.origin,
  };
}

/** The request target without its query (no array made for it, as `split` would). */
function pathOf(target: string): string {
  const query = target.indexOf('?');
  return query === -1 ? target : target.slice(0, query);
}
