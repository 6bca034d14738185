/**
 * Whether a body is a server-sent event stream, by its media type compared case-insensitively
 * (RFC 9110 §8.3.1: type and subtype names are case-insensitive), whatever parameters follow.
 * The one test for it: the proxy's heartbeats and stream counts (src/upstream/exchange.ts) and
 * the access log's open-stream gauge ask here.
 */
export function isEventStream(contentType: string | null | undefined): boolean {
  return /^text\/event-stream(?:[\t ;]|$)/i.test(contentType ?? '');
}
