import type { MiddlewareHandler } from 'hono';
import { routePath } from 'hono/route';
import type { Logger } from '../log.ts';
import { countRequest, streamClosed, streamOpened } from '../metrics.ts';
import { isEventStream } from './event-stream.ts';

/** What an incoming X-Request-Id may look like to be kept: an id, not a place to smuggle text into logs. */
const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{8,128}$/;

/**
 * One line per request: its id, method, route pattern, path, status, the time to the response
 * headers (a stream may go on after) and, for proxied requests, the upstream's share of it. Never
 * the query string (codes, state and resource travel there on /authorize and redirects), never a
 * header, never a body. Health checks are logged at debug level only.
 *
 * The request id is the caller's `X-Request-Id` when it looks like one (a proxy in front may have
 * set it, and its logs then join ours), else a fresh one; it goes back in the response's
 * `X-Request-Id`, so a user reporting a problem can quote it. Each request is also counted for
 * /metrics by its route pattern (`/:slug/mcp`): a slug per label would grow without bound.
 */
export function accessLog(log: Logger, options: { countStreams?: boolean } = {}): MiddlewareHandler {
  return async (c, next) => {
    // Logging off costs nothing: no clock, no path parsing, no fields (health checks log at debug, below info).
    if (!log.enabled('info')) return next();
    const started = performance.now();
    const requestId = requestIdFor(c.req.header('x-request-id'));
    await next();
    try {
      c.res.headers.set('x-request-id', requestId);
    } catch {
      // Immutable headers (a fetch() response passed through): copy into a mutable response.
      c.res = new Response(c.res.body, c.res);
      c.res.headers.set('x-request-id', requestId);
    }
    const route = routeOf(c);
    // Counting open streams wraps each one; only worth it when someone reads /metrics.
    if (options.countStreams && c.res.body && isEventStream(c.res.headers.get('content-type'))) c.res = tracked(c.res);
    logRequest(log, {
      requestId,
      method: c.req.method,
      route,
      path: rawPath(c.req.url),
      status: c.res.status,
      started,
      serverTiming: c.res.headers.get('server-timing'),
    });
  };
}

/** The caller's `X-Request-Id` when it looks like one, else a fresh one. */
export function requestIdFor(incoming: string | null | undefined): string {
  return incoming && SAFE_REQUEST_ID.test(incoming) ? incoming : crypto.randomUUID();
}

/**
 * The access log line and the request's count for /metrics, from what every server knows of a
 * request: the Hono middleware above and the Node adapter's fast path both write it here.
 */
export function logRequest(
  log: Logger,
  request: {
    requestId: string;
    method: string;
    route: string;
    path: string;
    status: number;
    started: number;
    serverTiming?: string | null;
  },
): void {
  const { path } = request;
  const upstream = /\bupstream;dur=(\d+)/.exec(request.serverTiming ?? '');
  const fields = {
    request_id: request.requestId,
    method: request.method.slice(0, 16),
    route: request.route,
    path: path.length > 200 ? `${path.slice(0, 200)}…` : path,
    status: request.status,
    ms: Math.round(performance.now() - request.started),
    ...(upstream ? { upstream_ms: Number(upstream[1]) } : {}),
  };
  countRequest(request.route, knownMethod(request.method), request.status);
  // Probes arrive every few seconds from every balancer; they are not worth a line each.
  if (path === '/healthz' || path === '/readyz') log.debug('request', fields);
  else log.info('request', fields);
}

/** The pattern that answered (`/:slug/mcp`), or `unmatched` for a 404 no route claimed. */
function routeOf(c: Parameters<MiddlewareHandler>[0]): string {
  const pattern = routePath(c, -1);
  return pattern && pattern !== '*' && pattern !== '/*' ? pattern : 'unmatched';
}

function knownMethod(method: string): string {
  return ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'].includes(method) ? method : 'OTHER';
}

/** An event stream counted as open until it ends or the client leaves. */
function tracked(response: Response): Response {
  streamOpened();
  let open = true;
  const close = () => {
    if (open) streamClosed();
    open = false;
  };
  const reader = response.body!.getReader();
  const stream = new ReadableStream({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) {
          close();
          controller.close();
        } else controller.enqueue(value);
      } catch (error) {
        close();
        controller.error(error);
      }
    },
    cancel(reason) {
      close();
      return reader.cancel(reason);
    },
  });
  return new Response(stream, response);
}

function rawPath(url: string): string {
  const start = url.indexOf('/', url.indexOf('//') + 2);
  if (start === -1) return '/';
  const end = url.search(/[?#]/);
  return url.slice(start, end === -1 ? undefined : end);
}
