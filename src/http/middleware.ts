import type { MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import { errorPage } from '../pages/error.ts';
import { htmlResponse, jsonError } from './responses.ts';

/**
 * Cross-cutting HTTP rules, applied to every route in `createApp` before any handler runs:
 * security headers on every response, one access-log line per request, and body size limits.
 */

/** Paths under an endpoint (`/{slug}/…`): MCP traffic, streamed to the upstream. */
const ENDPOINT_PATH = /^\/[A-Za-z0-9]{12}\//;

/** What a response that is not one of our pages gets: nothing may load in it or frame it. */
const API_CSP = "default-src 'none'; frame-ancestors 'none'";
/** What comes back from an upstream through the proxy: on top, no script may run as our origin. */
const PROXIED_CSP = `${API_CSP}; sandbox`;

/**
 * Every response carries `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY`,
 * `Referrer-Policy: no-referrer` and a Content-Security-Policy with `frame-ancestors 'none'`.
 * Our pages set their own, fuller CSP (kept); JSON from the engine gets the locked-down one; and
 * whatever an upstream sends back through the proxy always gets a sandboxing one, replacing the
 * upstream's: a hostile upstream must not be able to serve active content from our origin.
 * Redirects (nothing renders them) get no CSP.
 */
export function securityHeaders(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    let headers = c.res.headers;
    try {
      headers.set('x-content-type-options', 'nosniff');
    } catch {
      // Immutable headers (a fetch() response passed through): copy into a mutable response.
      c.res = new Response(c.res.body, c.res);
      headers = c.res.headers;
      headers.set('x-content-type-options', 'nosniff');
    }
    headers.set('x-frame-options', 'DENY');
    headers.set('referrer-policy', 'no-referrer');
    if (c.res.status >= 300 && c.res.status < 400) return;
    if (ENDPOINT_PATH.test(c.req.path)) headers.set('content-security-policy', PROXIED_CSP);
    else if (!headers.has('content-security-policy')) headers.set('content-security-policy', API_CSP);
  };
}

/**
 * Every error answer says what went wrong in a body a client can show: an error without one (the
 * engine's `401` challenges carry only `WWW-Authenticate`) gets `{error, error_description,
 * message}` taken from the challenge. Headers, the challenge included, stay as they were.
 */
export function errorBodies(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    const response = c.res;
    if (response.status < 400 || response.body !== null || c.req.method === 'HEAD') return;
    const challenge = response.headers.get('www-authenticate') ?? '';
    const error = /\berror="([^"]*)"/.exec(challenge)?.[1] ?? (response.status === 401 ? 'unauthorized' : 'error');
    const description =
      /\berror_description="([^"]*)"/.exec(challenge)?.[1] ??
      (response.status === 401 ? 'This endpoint needs an OAuth access token; the WWW-Authenticate header says where to get one' : `HTTP ${response.status}`);
    const headers = new Headers(response.headers);
    headers.set('content-type', 'application/json');
    headers.delete('content-length');
    c.res = new Response(JSON.stringify({ error, error_description: description, message: description }), { status: response.status, headers });
  };
}

/**
 * One line per request: method, path, status and the time to the response headers (a stream may
 * go on after). Never the query string (codes, state and resource travel there on /authorize and
 * redirects), never a header, never a body. Health checks are logged at debug level only.
 */
export function requestLog(log: Logger): MiddlewareHandler {
  return async (c, next) => {
    const started = performance.now();
    await next();
    const path = rawPath(c.req.url);
    const fields = {
      method: c.req.method.slice(0, 16),
      path: path.length > 200 ? `${path.slice(0, 200)}…` : path,
      status: c.res.status,
      ms: Math.round(performance.now() - started),
    };
    if (path === '/healthz') log.debug('request', fields);
    else log.info('request', fields);
  };
}

function rawPath(url: string): string {
  const start = url.indexOf('/', url.indexOf('//') + 2);
  if (start === -1) return '/';
  const end = url.search(/[?#]/);
  return url.slice(start, end === -1 ? undefined : end);
}

/**
 * Body size limits. MCP traffic (`/{slug}/…`) is streamed to the upstream and must stay
 * streamed: a declared `Content-Length` over MAX_MCP_BODY_BYTES is refused with 413 up front,
 * and otherwise the body is counted as it flows and cut off past the limit (the upstream request
 * is aborted and the client gets 413). Every other route reads small bodies whole: Hono's
 * bodyLimit caps them at MAX_BODY_BYTES.
 */
export function bodyLimits(config: Pick<Config, 'maxBodyBytes' | 'maxMcpBodyBytes'>): MiddlewareHandler {
  const buffered = bodyLimit({
    maxSize: config.maxBodyBytes,
    onError: (c) => tooLarge(c.req.raw, config.maxBodyBytes),
  });
  return async (c, next) => {
    if (!ENDPOINT_PATH.test(c.req.path)) return buffered(c, next);
    const body = c.req.raw.body;
    if (!body) return next();
    const max = config.maxMcpBodyBytes;
    const declared = c.req.raw.headers.get('content-length');
    if (declared !== null && Number(declared) > max) return mcpTooLarge(max);
    let exceeded = false;
    let size = 0;
    // Past the limit the upstream request is aborted, not just its body ended: workerd would
    // otherwise close the chunked body cleanly, and the upstream would take a prefix for the whole.
    const cutOff = new AbortController();
    const counted = body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          size += chunk.byteLength;
          if (size > max) {
            exceeded = true;
            const error = new PayloadTooLargeError(max);
            cutOff.abort(error);
            controller.error(error);
          } else {
            controller.enqueue(chunk);
          }
        },
      }),
    );
    const signal = AbortSignal.any([c.req.raw.signal, cutOff.signal]);
    c.req.raw = new Request(c.req.raw, { body: counted, duplex: 'half', signal } as RequestInit);
    await next();
    if (exceeded) {
      await c.res.body?.cancel().catch(() => {});
      c.res = mcpTooLarge(max);
    }
  };
}

export class PayloadTooLargeError extends Error {
  override name = 'PayloadTooLargeError';
  constructor(max: number) {
    super(`The request body is larger than ${max} bytes`);
  }
}

function mcpTooLarge(max: number): Response {
  return Response.json(
    { jsonrpc: '2.0', id: null, error: { code: -32600, message: `The request body is larger than ${max} bytes` } },
    { status: 413, headers: { 'cache-control': 'no-store' } },
  );
}

async function tooLarge(request: Request, max: number): Promise<Response> {
  if ((request.headers.get('accept') ?? '').includes('text/html')) {
    return htmlResponse(errorPage('Request too large', `The form sent more than ${max} bytes.`), { status: 413 });
  }
  return jsonError(413, 'payload_too_large', `The request body is larger than ${max} bytes`);
}
