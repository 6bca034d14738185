/**
 * Which headers cross the proxy, in each direction.
 *
 * Towards the upstream we forward an allowlist: what MCP needs and nothing that identifies the
 * client's credentials (its OAuth token, cookies), its browser (Origin, Sec-Fetch-*), or the
 * connection (hop-by-hop headers). The upstream then sees the user's key and nothing else of ours.
 */
const FORWARDED_REQUEST_HEADERS = new Set(['accept', 'accept-language', 'content-type', 'last-event-id', 'user-agent']);

/** MCP's own headers (`Mcp-Session-Id`, `MCP-Protocol-Version`, 2026's `Mcp-Method`, `Mcp-Name`, …). */
const isMcpHeader = (name: string) => name.startsWith('mcp-');

export function upstreamRequestHeaders(incoming: Headers, auth: { name: string; value: string }): Headers {
  const headers = new Headers();
  for (const [name, value] of incoming) {
    if (FORWARDED_REQUEST_HEADERS.has(name) || isMcpHeader(name)) headers.set(name, value);
  }
  // Compressed bodies would be decoded by fetch and re-framed; asking for none keeps SSE events
  // flowing one by one and the bytes we relay identical to what the upstream sent.
  headers.set('accept-encoding', 'identity');
  headers.set(auth.name, auth.value);
  return headers;
}

/**
 * Back to the client: everything except hop-by-hop headers, cookies (the upstream's cookies
 * would land on our origin, shared by every endpoint), the upstream's own auth challenge and
 * CORS (we answer those ourselves), and HSTS/Alt-Svc, which would bind our origin to its policy.
 */
const DROPPED_RESPONSE_HEADERS = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'trailer',
  'te',
  'set-cookie',
  'www-authenticate',
  'strict-transport-security',
  'alt-svc',
  'access-control-allow-origin',
  'access-control-allow-credentials',
  'access-control-allow-headers',
  'access-control-allow-methods',
  'access-control-expose-headers',
  'access-control-max-age',
]);

export function clientResponseHeaders(upstream: Headers): Headers {
  const headers = new Headers();
  for (const [name, value] of upstream) {
    if (!DROPPED_RESPONSE_HEADERS.has(name)) headers.append(name, value);
  }
  if (headers.has('content-encoding')) {
    // fetch already decoded the body despite our `identity`: its length and encoding no longer hold.
    headers.delete('content-encoding');
    headers.delete('content-length');
  }
  // Browser clients (MCP Inspector) must be able to read the session id and protocol version.
  headers.set('access-control-expose-headers', 'Mcp-Session-Id, MCP-Protocol-Version, WWW-Authenticate');
  return headers;
}
