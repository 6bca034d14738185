import { isEventStream } from '../http/event-stream.ts';
import { placeCredentials, templateOf } from './credentials.ts';
import { EXPOSED_RESPONSE_HEADERS, forwardsRequestHeader, relayedResponseHeader, UPSTREAM_ACCEPT_ENCODING } from './headers.ts';
import type { UpstreamTarget } from './target.ts';

/**
 * The rules of one proxied MCP exchange, written once: data in, decisions out. Two carriers move
 * the bytes: the web one (src/upstream/forward.ts with fetch and web streams: the app on Node and
 * the Worker) and the Node server's own (src/adapters/node/relay.ts, raw node:http and undici's
 * dispatch). Neither decides anything this module decides; test/e2e/one-exchange.test.ts runs one
 * table of cases against all three and compares what the client and the upstream see.
 */

/** The request line and headers that go upstream. */
export interface UpstreamRequest {
  /**
   * The endpoint's upstream URL as stored (or, for legacy SSE messages, a URL the upstream named
   * on its origin) with the credential's query parameters set over any same-named ones: the
   * client's own query string on `/{slug}/mcp` is never appended (it could carry a guessed key
   * parameter or steer the upstream). It may hold a key: never log it, log the stored URL's host.
   */
  url: string;
  headers: Record<string, string>;
}

/**
 * What goes upstream for a client's request: the allowlisted headers (headers.ts), identity
 * coding, each credential value where the template puts it (credentials.ts: headers, query,
 * Basic), and the declared body length when there is one (so the upstream gets the same framing
 * from every carrier; fetch would otherwise stream it chunked). `each` visits the client's header
 * lines, names lower-cased; a name the runtime joined from several lines arrives once. `url` is
 * the target's own unless a legacy message goes to another path on its origin.
 */
export function upstreamRequest(
  target: UpstreamTarget,
  values: readonly string[],
  each: (visit: (name: string, value: string) => void) => void,
  declaredLength: string | null | undefined,
  url: string = target.url,
): UpstreamRequest {
  const headers: Record<string, string> = {};
  each((name, value) => {
    if (forwardsRequestHeader(name)) headers[name] = value;
  });
  headers['accept-encoding'] = UPSTREAM_ACCEPT_ENCODING;
  if (declaredLength != null) headers['content-length'] = declaredLength;
  const placed = placeCredentials(templateOf(target), values, url);
  for (const [name, value] of placed.headers) headers[name] = value;
  return { url: placed.url, headers };
}

/** 204, 205 and 304 carry no body (RFC 9110 §6.4.1); a web Response with one cannot be built. */
export function isNullBodyStatus(status: number): boolean {
  return status === 204 || status === 205 || status === 304;
}

/** Heartbeats and the idle timeout of an answer's body (mcp/stream-keepalive.ts runs them). */
export interface StreamTiming {
  /** 0 for none: only event streams get heartbeats. */
  heartbeatMs: number;
  /** 0 for none. */
  idleMs: number;
}

export interface AnswerRules {
  heartbeatMs: number;
  idleMs: number;
}

/**
 * What the proxy does with the upstream's answer, from its status and headers:
 * - `key-rejected`: 401 or 403 means the upstream refused the key (MCP servers answer a bad key
 *   so); the grant that holds it is revoked and the client is sent to authorize again.
 * - `redirect-refused`: never followed (the key must not travel to a host nobody checked) and
 *   never passed on (the client would carry its token there): 502.
 * - `relay`: everything else, with the headers below, the body event by event.
 */
export type Verdict =
  | { kind: 'key-rejected'; status: number }
  | { kind: 'redirect-refused'; status: number }
  | {
      kind: 'relay';
      status: number;
      /** The answer's headers from the upstream's, as flat pairs (a repeated name repeats). */
      headers: [string, string][];
      /** No body may follow (204, 205, 304): the upstream's, if any, is discarded. */
      nullBody: boolean;
      /** Counted as an open stream for /metrics while its body is open. */
      eventStream: boolean;
      /** The body's timers, or null for none. */
      timing: StreamTiming | null;
      /** The declared length when the body is read whole before it is sent (`wholeAnswerLength`), else null. */
      wholeLength: number | null;
    };

/** Visits every header line of an answer (lower-case names; a repeated name is visited per line). */
export type EachHeader = (visit: (name: string, value: string) => void) => void;

export function judgeAnswer(
  status: number,
  each: EachHeader,
  get: (name: string) => string | null | undefined,
  upstreamMs: number,
  rules: AnswerRules,
): Verdict {
  if (status === 401 || status === 403) return { kind: 'key-rejected', status };
  if (status >= 300 && status < 400) return { kind: 'redirect-refused', status };
  const nullBody = isNullBodyStatus(status);
  const contentType = get('content-type');
  const eventStream = !nullBody && isEventStream(contentType);
  const timing = nullBody ? null : streamTiming(eventStream, rules);
  // Heartbeats add bytes: a length the upstream declared would no longer hold.
  const dropLength = timing !== null && timing.heartbeatMs > 0;
  const relayed = relayedResponseHeader(get('connection'));
  const headers: [string, string][] = [];
  each((name, value) => {
    if (relayed(name) && !(dropLength && name === 'content-length')) headers.push([name, value]);
  });
  headers.push(['access-control-expose-headers', EXPOSED_RESPONSE_HEADERS], ['server-timing', serverTiming(upstreamMs)]);
  const wholeLength = nullBody || eventStream ? null : declaredWholeLength(get);
  return { kind: 'relay', status, headers, nullBody, eventStream, timing, wholeLength };
}

/** The largest answer read whole before it is sent (`wholeAnswerLength`); a larger one is streamed. */
export const WHOLE_ANSWER_MAX_BYTES = 1024 * 1024;

/**
 * Whether an answer is read whole before the client gets any of it, and its length if so: a body
 * of declared length up to WHOLE_ANSWER_MAX_BYTES that is not an event stream and not coded (the
 * common answer to a tool call, a JSON-RPC message). Such a body has nothing for the client before
 * its end (no event, no heartbeat: the client parses it whole), so holding it costs no time, and:
 * - it leaves in one piece with its headers: on the Worker no stream of ours pumps it chunk by
 *   chunk (3–8% of the Worker's CPU per message in paired runs), on Node it is one write;
 * - one that stops halfway for the idle timeout, or breaks off, becomes a JSON-RPC error the client
 *   can read (forward.ts `answerCutShort`) instead of a cut body with a 200 it cannot parse.
 * A coded body is streamed: the web carrier's fetch decodes it, so its declared length is not what
 * is read there. Both carriers read whole exactly what this says, and answer a cut one alike.
 */
export function wholeAnswerLength(status: number, get: (name: string) => string | null | undefined): number | null {
  if (isNullBodyStatus(status) || isEventStream(get('content-type'))) return null;
  return declaredWholeLength(get);
}

/** The rest of that rule, for a body that may follow and is not an event stream (judgeAnswer knows both already). */
function declaredWholeLength(get: (name: string) => string | null | undefined): number | null {
  if (get('content-encoding') != null) return null;
  const declared = get('content-length');
  if (declared == null || !/^\d{1,8}$/.test(declared)) return null;
  const length = Number(declared);
  return length <= WHOLE_ANSWER_MAX_BYTES ? length : null;
}

/** What a body gets: heartbeats only on an event stream; null when neither timer runs. */
export function streamTiming(eventStream: boolean, rules: AnswerRules): StreamTiming | null {
  const heartbeatMs = eventStream ? rules.heartbeatMs : 0;
  if (heartbeatMs === 0 && rules.idleMs === 0) return null;
  return { heartbeatMs, idleMs: rules.idleMs };
}

/** The upstream's share of the wait, for the access log and for anyone debugging a slow tool call. */
export function serverTiming(upstreamMs: number): string {
  return `upstream;dur=${Math.round(upstreamMs)}`;
}

/**
 * CORS on the answer to an MCP request with a valid token (relayed, refused, or an error), so a
 * browser client (the Inspector) can read it: the fields the engine's resource server puts on
 * its own challenges and preflights, so every answer on `/{slug}/mcp` carries the same. Fields
 * already there are kept; `Vary` and `Access-Control-Expose-Headers` are added to. `headers` are
 * lower-case pairs; without an `Origin` nothing changes.
 */
export function withCors(headers: [string, string][], origin: string | null | undefined): [string, string][] {
  if (!origin) return headers;
  const at = (name: string) => headers.findIndex(([have]) => have === name);
  const setUnlessPresent = (name: string, value: string) => {
    if (at(name) === -1) headers.push([name, value]);
  };
  const addTo = (name: string, ...values: string[]) => {
    const index = at(name);
    const list =
      index === -1
        ? []
        : headers[index]![1].split(',')
            .map((item) => item.trim())
            .filter(Boolean);
    for (const value of values) if (!list.some((item) => item.toLowerCase() === value.toLowerCase())) list.push(value);
    if (index === -1) headers.push([name, list.join(', ')]);
    else headers[index] = [name, list.join(', ')];
  };
  setUnlessPresent('access-control-allow-origin', origin);
  setUnlessPresent('access-control-allow-methods', '*');
  setUnlessPresent('access-control-allow-headers', 'Authorization, *');
  setUnlessPresent('access-control-max-age', '86400');
  addTo('vary', 'Origin');
  addTo('access-control-expose-headers', 'WWW-Authenticate', 'Retry-After');
  return headers;
}

/** The same on a web Response the proxy built itself (its headers are mutable). */
export function answerWithCors(response: Response, origin: string | null | undefined): Response {
  if (!origin) return response;
  const pairs: [string, string][] = [];
  response.headers.forEach((value, name) => {
    pairs.push([name, value]);
  });
  const headers = new Headers();
  for (const [name, value] of withCors(pairs, origin)) headers.append(name, value);
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}
