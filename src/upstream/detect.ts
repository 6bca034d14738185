import type { Platform } from '../platform.ts';
import type { UpstreamTransport } from './target.ts';

/** Detection is a courtesy at creation time; it must not hold the creator up for long. */
const DETECT_TIMEOUT_MS = 5000;

/**
 * Which MCP transport an upstream speaks, asked without a key (the creator has none to give us).
 *
 * Without a key most servers answer 401 to everything, so the answers are read for what they can
 * tell: a keyless `initialize` POST that gets 2xx, 401 or 403 is taken as Streamable HTTP (a
 * legacy server has no POST on its stream URL and answers 404 or 405 there, unless it checks the
 * key before routing); anything else is followed by a GET with `Accept: text/event-stream`, and an
 * event stream (or a 401/403 for it) means legacy HTTP+SSE. A URL path ending in `/sse` is the
 * convention of legacy servers and decides whenever the answers cannot (401 to both, unreachable,
 * too slow). Otherwise Streamable HTTP, the current transport, is the fallback: detection never
 * refuses a creation, and `transport` in the request overrides it.
 */
export async function detectTransport(
  platform: Platform,
  url: URL,
  requested: 'auto' | UpstreamTransport | undefined,
): Promise<UpstreamTransport> {
  if (requested === 'streamable-http' || requested === 'sse') return requested;
  const hint: UpstreamTransport | undefined = /\/sse\/?$/i.test(url.pathname) ? 'sse' : undefined;
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
    if (post.ok) {
      endSession(platform, url, post.headers.get('mcp-session-id'));
      return 'streamable-http';
    }
    if (post.status === 401 || post.status === 403) return hint ?? 'streamable-http';

    const get = await platform.fetchUpstream(url.href, {
      method: 'GET',
      headers: { accept: 'text/event-stream', 'accept-encoding': 'identity' },
      redirect: 'manual',
      signal,
    });
    // Closing the stream at once ends the session the server opened for it.
    await get.body?.cancel().catch(() => {});
    if (get.ok && /^text\/event-stream/i.test(get.headers.get('content-type') ?? '')) return 'sse';
    if (get.status === 401 || get.status === 403) return 'sse';
    return hint ?? 'streamable-http';
  } catch {
    return hint ?? 'streamable-http';
  }
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
