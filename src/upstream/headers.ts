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

/** Whether a client's request header (lower-case name) goes on to the upstream. */
export function forwardsRequestHeader(name: string): boolean {
  return FORWARDED_REQUEST_HEADERS.has(name) || isMcpHeader(name);
}

/**
 * Compressed bodies would be buffered and re-framed by whoever decodes them; asking for none keeps
 * SSE events flowing one by one and the bytes we relay identical to what the upstream sent.
 */
export const UPSTREAM_ACCEPT_ENCODING = 'identity';

/**
 * Back to the client: an allowlist, because the response is served from our origin, which every
 * endpoint shares. Anything not listed (`Set-Cookie`, `Clear-Site-Data`, `Refresh`, `Link`
 * preloads, `Service-Worker-Allowed`, HSTS, `Permissions-Policy`, `Content-Location`, the
 * upstream's auth challenges and CORS, unknown headers) would act on our origin or on the client
 * for the upstream, so it stays behind. What crosses is what MCP and SSE need: the body's type
 * and framing, MCP's own headers, caching and validators, and how long to wait before retrying.
 */
const RELAYED_RESPONSE_HEADERS = new Set([
  'content-type',
  'content-length',
  // We ask for `identity`; an upstream that encodes anyway has its bytes relayed as they came,
  // so its coding (and the length of the coded body) goes with them.
  'content-encoding',
  'content-language',
  'cache-control',
  'expires',
  'pragma',
  'etag',
  'last-modified',
  'vary',
  'date',
  'retry-after',
  // A 405 says which methods the URL takes (RFC 9110 §15.5.6): Streamable HTTP servers without a
  // GET stream answer it, and clients read it to stop trying.
  'allow',
  // Rate-limit information clients use to back off (the IETF draft's fields and the common x- ones).
  'ratelimit',
  'ratelimit-policy',
  'ratelimit-limit',
  'ratelimit-remaining',
  'ratelimit-reset',
  'x-ratelimit-limit',
  'x-ratelimit-remaining',
  'x-ratelimit-reset',
  // Asks a reverse proxy in front of us not to buffer an SSE stream.
  'x-accel-buffering',
]);

/** Hop-by-hop by definition (RFC 9110 §7.6.1), whatever the allowlist says. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'trailer', 'te']);

/** `Connection` values that name no header the rule below would relay: `keep-alive` is hop-by-hop, `close` names no header. */
const CONNECTION_OPTIONS_ONLY = new Set(['keep-alive', 'close']);

/** Browser clients (MCP Inspector) must be able to read the session id and protocol version. */
export const EXPOSED_RESPONSE_HEADERS = 'Mcp-Session-Id, MCP-Protocol-Version, WWW-Authenticate';

/**
 * Whether an upstream response header (lower-case name) crosses to the client; `connection` is
 * the upstream's own Connection header, whose listed fields belong to that connection only.
 */
export function relayedResponseHeader(connection: string | null | undefined): (name: string) => boolean {
  // The usual values name only options that are hop-by-hop anyway: no list to build per answer.
  if (!connection || CONNECTION_OPTIONS_ONLY.has(connection.toLowerCase())) return relayedWithoutConnection;
  const named = new Set(
    connection
      .split(',')
      .map((name) => name.trim().toLowerCase())
      .filter(Boolean),
  );
  return (name) => !named.has(name) && relayedWithoutConnection(name);
}

/** The rule when the upstream's Connection header names nothing: one function, not one per answer. */
function relayedWithoutConnection(name: string): boolean {
  return !HOP_BY_HOP.has(name) && (RELAYED_RESPONSE_HEADERS.has(name) || isMcpHeader(name));
}
