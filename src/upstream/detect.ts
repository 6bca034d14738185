import type { Platform } from '../platform.ts';
import { describeUpstreamError, FAILURE_WORDS, failureKind } from './network-error.ts';
import type { UpstreamTransport } from './target.ts';

/** Long enough for a slow server's keyless answer: creation waits for it, and refuses without one. */
const DETECT_TIMEOUT_MS = 10_000;

/** Seconds a creator is asked to wait before trying again when the upstream did not answer. */
export const RETRY_AFTER_SECONDS = 30;

/**
 * Which MCP transport an upstream speaks, asked without a key (the creator has none to give us),
 * and whether it is an MCP server at all: nothing is created for one that is not, or that cannot
 * be reached (docs/json-api.md lists the refusals).
 *
 * Without a key most servers answer 401 to everything, so the answers are read for what they can
 * tell: a keyless `initialize` POST that gets 2xx JSON or an event stream, 401 or 403, or a JSON
 * error (an MCP server refusing something of a keyless handshake) is taken as Streamable HTTP (a
 * legacy server has no POST on its stream URL and answers 404 or 405 there, unless it checks the
 * key before routing); anything else is followed by a GET with `Accept: text/event-stream`, and an
 * event stream (or a 401/403 for it) means legacy HTTP+SSE. A URL path ending in `/sse` is the
 * convention of legacy servers and decides whenever the answers cannot. `transport` in the request
 * overrides what was detected, never the check that something MCP answers.
 *
 * Refused: a web page or any other answer no MCP server gives (`upstream_not_mcp`), and a host that
 * cannot be reached: connection refused, host not found, a TLS certificate that does not verify
 * (`upstream_unreachable`). A server that is there but not answering now (a timeout, a 5xx) is
 * `upstream_unavailable`, with a time to try again: an endpoint is only made for a server that
 * answered once.
 */
export async function detectTransport(platform: Platform, url: URL, requested: 'auto' | UpstreamTransport | undefined): Promise<Detected> {
  const named = requested === 'streamable-http' || requested === 'sse' ? requested : undefined;
  const hint: UpstreamTransport | undefined = /\/sse\/?$/i.test(url.pathname) ? 'sse' : undefined;
  const found = await detect(platform, url);
  if ('refusal' in found) return found.refusal;
  return { ok: true, transport: named ?? found.transport ?? hint ?? 'streamable-http' };
}

export type Detected =
  | { ok: true; transport: UpstreamTransport }
  | {
      ok: false;
      status: 422 | 503;
      error: 'upstream_not_mcp' | 'upstream_unreachable' | 'upstream_unavailable';
      message: string;
      retryAfter?: number;
      /** For the log: the failure as the runtime reported it (network-error.ts, secret-free). */
      detail?: string;
    };

type Answer = { transport: UpstreamTransport | undefined } | { refusal: Extract<Detected, { ok: false }> };

async function detect(platform: Platform, url: URL): Promise<Answer> {
  const signal = AbortSignal.timeout(
    Math.min(DETECT_TIMEOUT_MS, platform.config.upstreamConnectTimeoutMs + platform.config.upstreamFirstByteTimeoutMs),
  );
  try {
    const post = await platform.fetchUpstream(url.href, {
      method: 'POST',
      headers: { accept: 'application/json, text/event-stream', 'content-type': 'application/json', 'accept-encoding': 'identity' },
      body: JSON.stringify({
        jsonrpc: '2.0',
        id: 0,
        method: 'initialize',
        params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'key2oauth-transport-check', version: '1' } },
      }),
      redirect: 'manual',
      signal,
    });
    await post.body?.cancel().catch(() => {});
    const type = (post.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    const speaksJson = type === 'application/json' || type === 'text/event-stream';
    if (post.ok) {
      endSession(platform, url, post.headers.get('mcp-session-id'));
      if (speaksJson) return { transport: 'streamable-http' };
      // A website answers 200 to anything; an MCP server answers JSON or an event stream.
      return notMcp(url, type === 'text/html' ? 'a web page' : `${type || 'an answer with no content type'}`);
    }
    if (post.status === 401 || post.status === 403 || (speaksJson && post.status >= 400 && post.status < 500 && post.status !== 404))
      return { transport: undefined };

    const get = await platform.fetchUpstream(url.href, {
      method: 'GET',
      headers: { accept: 'text/event-stream', 'accept-encoding': 'identity' },
      redirect: 'manual',
      signal,
    });
    // Closing the stream at once ends the session the server opened for it.
    await get.body?.cancel().catch(() => {});
    if (get.ok && /^text\/event-stream/i.test(get.headers.get('content-type') ?? '')) return { transport: 'sse' };
    if (get.status === 401 || get.status === 403) return { transport: 'sse' };
    if (post.status >= 500) return unavailable(url, `it answered HTTP ${post.status}, as a server that is down for a moment does`);
    return notMcp(url, type === 'text/html' ? `a web page (HTTP ${post.status})` : `HTTP ${post.status}`);
  } catch (error) {
    const kind = signal.aborted ? 'timeout' : failureKind(error);
    const detail = describeUpstreamError(error);
    if (kind === 'timeout' || kind === 'network') {
      const answer = unavailable(
        url,
        kind === 'timeout' ? `it did not answer within ${DETECT_TIMEOUT_MS / 1000} seconds` : FAILURE_WORDS[kind],
      );
      return 'refusal' in answer ? { refusal: { ...answer.refusal, detail } } : answer;
    }
    return {
      refusal: {
        ok: false,
        status: 422,
        error: 'upstream_unreachable',
        detail,
        message: `${url.host} cannot be reached: ${FAILURE_WORDS[kind]}. Nothing was created. Check the URL's host and port (and that the server runs), then create the endpoint again.`,
      },
    };
  }
}

function notMcp(url: URL, what: string): Answer {
  return {
    refusal: {
      ok: false,
      status: 422,
      error: 'upstream_not_mcp',
      message: `${url.host} answered with ${what}, not as an MCP server, so nothing was created. Use the URL of the server's MCP endpoint (often ending in /mcp or /sse), not its website.`,
    },
  };
}

function unavailable(url: URL, why: string): Answer {
  return {
    refusal: {
      ok: false,
      status: 503,
      error: 'upstream_unavailable',
      message: `${url.host} could not be checked just now: ${why}. Nothing was created; try again in ${RETRY_AFTER_SECONDS} seconds. If it keeps failing, check that the server is up.`,
      retryAfter: RETRY_AFTER_SECONDS,
    },
  };
}

/** A server that answered without a key opened a session for us; leave nothing behind. */
function endSession(platform: Platform, url: URL, session: string | null): void {
  if (!session) return;
  platform.waitUntil(
    platform
      .fetchUpstream(url.href, {
        method: 'DELETE',
        headers: { 'mcp-session-id': session },
        redirect: 'manual',
        signal: AbortSignal.timeout(5000),
      })
      .then((response) => response.body?.cancel())
      .catch(() => {}),
  );
}
