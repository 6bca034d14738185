import { jsonRpcError } from '../http/errors.ts';
import { observeUpstreamLatency } from '../metrics.ts';
import type { Platform } from '../platform.ts';
import { clientResponseHeaders, upstreamRequestHeaders } from './headers.ts';
import { describeUpstreamError, isUpstreamTimeout } from './network-error.ts';
import { keyHeader, type UpstreamTarget } from './target.ts';

export type ForwardOutcome =
  | { kind: 'response'; response: Response }
  /** The upstream refused the key (401/403): the grant holding it is useless now. */
  | { kind: 'key-rejected'; status: number };

/**
 * Sends one client request to `to` (the target's URL, or a URL on its origin) with the key injected and streams the answer back.
 * Bodies are never buffered in either direction: the request body is piped as it arrives and the
 * response body (JSON or an SSE stream) is handed to the client as the upstream produces it.
 * The client's abort signal is passed on, so a client that leaves ends the upstream request.
 */
export async function forward(
  platform: Platform,
  request: Request,
  target: UpstreamTarget,
  key: string,
  to: { url: string; method?: string },
): Promise<ForwardOutcome> {
  const { config } = platform;
  const headers = upstreamRequestHeaders(request.headers, keyHeader(target, key));
  const method = to.method ?? request.method;
  const host = new URL(to.url).host;
  const hasBody = method !== 'GET' && method !== 'HEAD' && method !== 'DELETE' && request.body !== null;

  // The first-byte timer runs until the upstream answers with headers; a stream that then stays
  // open for hours is not cut by it.
  const firstByte = new AbortController();
  const timer = setTimeout(() => firstByte.abort(new FirstByteTimeout()), config.upstreamFirstByteTimeoutMs);
  const signal = AbortSignal.any([request.signal, firstByte.signal]);

  let upstream: Response;
  const sent = performance.now();
  try {
    upstream = await platform.fetchUpstream(to.url, {
      method,
      headers,
      body: hasBody ? request.body : null,
      redirect: 'manual',
      signal,
      ...(hasBody ? { duplex: 'half' } : {}),
    } as RequestInit);
  } catch (error) {
    if (firstByte.signal.aborted) {
      return {
        kind: 'response',
        response: jsonRpcError(504, `The upstream MCP server did not answer within ${config.upstreamFirstByteTimeoutMs} ms`),
      };
    }
    if (request.signal.aborted) return { kind: 'response', response: new Response(null, { status: 499 }) };
    const reason = describeUpstreamError(error);
    if (isUpstreamTimeout(error)) {
      platform.log.warn('upstream timed out', { upstream_host: host, reason });
      return { kind: 'response', response: jsonRpcError(504, `The upstream MCP server did not answer in time: ${reason}`) };
    }
    platform.log.warn('upstream unreachable', { upstream_host: host, reason });
    return { kind: 'response', response: jsonRpcError(502, `The upstream MCP server could not be reached: ${reason}`) };
  } finally {
    clearTimeout(timer);
  }
  const upstreamMs = performance.now() - sent;
  observeUpstreamLatency(upstreamMs / 1000);

  if (upstream.status === 401 || upstream.status === 403) {
    await upstream.body?.cancel();
    return { kind: 'key-rejected', status: upstream.status };
  }
  if (upstream.status >= 300 && upstream.status < 400) {
    // Redirects are never followed (the key must not travel to a host nobody checked) and
    // never passed on (the client would carry its OAuth token there).
    await upstream.body?.cancel();
    return {
      kind: 'response',
      response: jsonRpcError(502, `The upstream MCP server answered with a redirect (${upstream.status}), which is not followed`),
    };
  }
  // 204, 205 and 304 carry no body; a Response with one (even an empty stream) cannot be built.
  const nullBody = upstream.status === 204 || upstream.status === 205 || upstream.status === 304;
  if (nullBody) await upstream.body?.cancel();
  const answer = clientResponseHeaders(upstream.headers);
  // The upstream's share of the wait, for the access log and for anyone debugging a slow tool call.
  answer.set('server-timing', `upstream;dur=${Math.round(upstreamMs)}`);
  return {
    kind: 'response',
    response: new Response(nullBody ? null : upstream.body, { status: upstream.status, statusText: upstream.statusText, headers: answer }),
  };
}

class FirstByteTimeout extends Error {
  override name = 'TimeoutError';
}
