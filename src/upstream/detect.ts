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
export async function detectTransport(platform: Platform, url: URL, requested: 'auto' | UpstreamTransport | undefined): Promise<Detected> {
  const found = await detect(platform, url, requested);
  return found.warning ? found : { transport: found.transport };
}

/**
 * What creation learned: the transport, and a warning for the creator when the upstream could not
 * be reached or answered unlike an MCP server (a website, a 404). A warning never refuses: the
 * server may be down for a moment, or reachable only with the key.
 */
export interface Detected {
  transport: UpstreamTransport;
  warning?: string;
}

async function detect(platform: Platform, url: URL, requested: 'auto' | UpstreamTransport | undefined): Promise<Detected> {
  const named = requested === 'streamable-http' || requested === 'sse' ? requested : undefined;
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
      const type = post.headers.get('content-type') ?? '';
      if (/^(application\/json|text\/event-stream)/i.test(type)) return { transport: named ?? 'streamable-http' };
      // A website answers 200 to anything; an MCP server answers JSON or an event stream.
      return {
        transport: named ?? hint ?? 'streamable-http',
        warning: notMcp(url, `it answered with ${type.split(';')[0] || 'no content type'}`),
      };
    }
    if (post.status === 401 || post.status === 403) return { transport: named ?? hint ?? 'streamable-http' };

    const get = await platform.fetchUpstream(url.href, {
      method: 'GET',
      headers: { accept: 'text/event-stream', 'accept-encoding': 'identity' },
      redirect: 'manual',
      signal,
    });
    // Closing the stream at once ends the session the server opened for it.
    await get.body?.cancel().catch(() => {});
    if (get.ok && /^text\/event-stream/i.test(get.headers.get('content-type') ?? '')) return { transport: named ?? 'sse' };
    if (get.status === 401 || get.status === 403) return { transport: named ?? 'sse' };
    return { transport: named ?? hint ?? 'streamable-http', warning: notMcp(url, `it answered HTTP ${post.status}`) };
  } catch {
    return {
      transport: named ?? hint ?? 'streamable-http',
      warning: `${url.host} could not be reached just now, so it is not known whether it speaks MCP. The endpoint works once the server is up.`,
    };
  }
}

function notMcp(url: URL, what: string): string {
  return `${url.host} did not answer like an MCP server (${what}). Check that the URL is the server's MCP endpoint (often ending in /mcp or /sse), not its website.`;
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
