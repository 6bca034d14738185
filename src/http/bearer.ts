/**
 * The token of an `Authorization: Bearer <token>` header (RFC 6750 §2.1), or undefined.
 *
 * One grammar for every route that reads one (the manage API, /metrics, the creation API, the Node
 * fast path), and the same one the OAuth engine applies on MCP routes, so no road accepts a header
 * another refuses: the scheme in any case, spaces or tabs, then one token and nothing after it.
 * The token is any run of characters other than whitespace and commas, wider than RFC 6750's
 * b64token because the engine's tokens carry `:` and operators choose ADMIN_TOKEN and METRICS_TOKEN.
 * Surrounding whitespace never reaches here (fetch's Headers and Node's parser strip it), and none
 * is accepted, as by the engine.
 *
 * A comma means two credentials: a runtime joins two Authorization headers into `Bearer a, Bearer
 * b`. That is no token at all, rather than either one, so a request is never judged by a token
 * other than the one the next hop would read.
 */
const BEARER = /^Bearer[\t ]+([^\s,]+)$/i;

export function bearerToken(headerValue: string | null | undefined): string | undefined {
  return headerValue ? BEARER.exec(headerValue)?.[1] : undefined;
}
