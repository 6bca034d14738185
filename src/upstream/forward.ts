import { jsonRpcError } from '../http/errors.ts';
import { observeUpstreamLatency } from '../metrics.ts';
import type { Platform } from '../platform.ts';
import { judgeAnswer, upstreamRequest } from './exchange.ts';
import { describeUpstreamError, isUpstreamTimeout } from './network-error.ts';
import type { UpstreamTarget } from './target.ts';

export type ForwardOutcome =
  | { kind: 'response'; response: Response }
  /** The upstream refused the key (401/403): the grant holding it is useless now. */
  | { kind: 'key-rejected'; status: number };

/**
 * The web carrier of a proxied exchange (the app on Node, the Worker): sends one client request to
 * `to` (the target's URL, or a URL on its origin, never with the client's query) with the headers
 * and answer the exchange decides (exchange.ts), and streams the answer back. The request body is
 * piped as it arrives, or sent as the bytes the carrier read (`to.body`: an MCP message, bounded); the
 * response body (JSON or an SSE stream) is handed to the client as the upstream produces it.
 * The client's abort signal is passed on, so a client that leaves ends the upstream request.
 */
export async function forward(
  platform: Platform,
  request: Request,
  target: UpstreamTarget,
  values: readonly string[],
  to: { url: string; method?: string; body?: Uint8Array<ArrayBuffer> | undefined },
): Promise<ForwardOutcome> {
  const { config } = platform;
  const method = to.method ?? request.method;
  // `to.body`: the body the carrier already read whole (src/mcp/message-body.ts), sent as bytes.
  const read = to.body !== undefined && method !== 'GET' && method !== 'HEAD' && method !== 'DELETE';
  const hasBody = read || (method !== 'GET' && method !== 'HEAD' && method !== 'DELETE' && request.body !== null);
  // `url` may carry a query key: only `to.url` (the stored URL or a signed path) is ever logged.
  const { url, headers } = upstreamRequest(
    target,
    values,
    (visit) => {
      for (const [name, value] of request.headers) visit(name, value);
    },
    read ? String(to.body!.byteLength) : hasBody ? request.headers.get('content-length') : null,
    to.url,
  );

  // The first-byte timer runs until the upstream answers with headers; a stream that then stays
  // open for hours is not cut by it.
  const firstByte = new AbortController();
  const timer = setTimeout(() => firstByte.abort(new FirstByteTimeout()), config.upstreamFirstByteTimeoutMs);
  const signal = AbortSignal.any([request.signal, firstByte.signal]);

  let upstream: Response;
  const sent = performance.now();
  try {
    upstream = await platform.fetchUpstream(url, {
      method,
      headers,
      body: read ? to.body : hasBody ? request.body : null,
      redirect: 'manual',
      signal,
      ...(hasBody && !read ? { duplex: 'half' } : {}),
    } as RequestInit);
  } catch (error) {
    return {
      kind: 'response',
      response: upstreamFailure(platform, new URL(to.url).host, error, firstByte.signal.aborted, request.signal.aborted),
    };
  } finally {
    clearTimeout(timer);
  }
  const upstreamMs = performance.now() - sent;
  observeUpstreamLatency(upstreamMs / 1000);

  const verdict = judgeAnswer(
    upstream.status,
    (visit) =>
      upstream.headers.forEach((value, name) => {
        visit(name, value);
      }),
    (name) => upstream.headers.get(name),
    upstreamMs,
    NO_TIMERS,
  );
  if (verdict.kind !== 'relay' || verdict.nullBody) await upstream.body?.cancel().catch(() => {});
  if (verdict.kind === 'key-rejected') return { kind: 'key-rejected', status: verdict.status };
  if (verdict.kind === 'redirect-refused') return { kind: 'response', response: redirectRefused(verdict.status) };
  const answer = new Headers();
  for (const [name, value] of verdict.headers) answer.append(name, value);
  return {
    kind: 'response',
    response: new Response(verdict.nullBody ? null : upstream.body, {
      status: upstream.status,
      statusText: upstream.statusText,
      headers: answer,
    }),
  };
}

/** The body's timers are the guard's (keepStreamAlive, from the same rules); here only the headers are decided. */
const NO_TIMERS = { heartbeatMs: 0, idleMs: 0 };

/**
 * The answer to an upstream request that failed before its headers came: 504 when our first-byte
 * timer or the network timed out, 499 (never seen) when the client left, 502 otherwise, each
 * with a secret-free reason. Every carrier answers a failed upstream request here.
 */
export function upstreamFailure(
  platform: Platform,
  host: string,
  error: unknown,
  firstByteTimedOut: boolean,
  clientLeft: boolean,
): Response {
  const { upstreamFirstByteTimeoutMs } = platform.config;
  if (firstByteTimedOut) return jsonRpcError(504, `The upstream MCP server did not answer within ${upstreamFirstByteTimeoutMs} ms`);
  if (clientLeft) return new Response(null, { status: 499 });
  const reason = describeUpstreamError(error);
  if (isUpstreamTimeout(error)) {
    platform.log.warn('upstream timed out', { upstream_host: host, reason });
    return jsonRpcError(504, `The upstream MCP server did not answer in time: ${reason}`);
  }
  platform.log.warn('upstream unreachable', { upstream_host: host, reason });
  return jsonRpcError(502, `The upstream MCP server could not be reached: ${reason}`);
}

/**
 * The answer when a body read whole (exchange.ts `wholeAnswerLength`) did not come whole: 504 when
 * the upstream sent nothing for the idle timeout (UPSTREAM_IDLE_TIMEOUT_SECONDS), 502 when it broke
 * off, each saying so. Every carrier answers a cut-short body here; the log names the endpoint.
 */
export function answerCutShort(platform: Platform, slug: string, stalled: boolean, error?: unknown): Response {
  if (stalled) {
    const seconds = Math.round(platform.config.upstreamIdleTimeoutMs / 1000);
    platform.log.warn('upstream answer cut short', { slug, reason: `nothing for ${seconds} s` });
    return jsonRpcError(504, `The upstream MCP server stopped sending its answer for ${seconds} s`);
  }
  platform.log.warn('upstream answer cut short', {
    slug,
    reason: error === undefined ? 'shorter than declared' : describeUpstreamError(error),
  });
  return jsonRpcError(502, 'The upstream MCP server broke off its answer');
}

/**
 * Redirects are never followed (the key must not travel to a host nobody checked) and never
 * passed on (the client would carry its OAuth token there).
 */
export function redirectRefused(status: number): Response {
  return jsonRpcError(502, `The upstream MCP server answered with a redirect (${status}), which is not followed`);
}

class FirstByteTimeout extends Error {
  override name = 'TimeoutError';
}
