import { createParser } from 'eventsource-parser';
import type { Platform } from '../platform.ts';
import { upstreamRequest } from './exchange.ts';
import { describeUpstreamError, type FailureKind, failureKind } from './network-error.ts';
import type { UpstreamTarget, UpstreamTransport } from './target.ts';

export type ProbeResult =
  | { ok: true }
  | { ok: false; kind: 'rejected'; status: number }
  /** `failure`: what kind of failure, said to the person (network-error.ts); `reason`: the detail, for the log. */
  | { ok: false; kind: 'unreachable'; reason: string; failure: FailureKind }
  | { ok: false; kind: 'unexpected'; status: number }
  /** It answered 2xx, but not with an MCP handshake: a website, or the wrong path on the server. */
  | { ok: false; kind: 'not-mcp'; what: string };

/** How much of an answer is read looking for the handshake; an `initialize` result is a few KB. */
const MAX_READ_BYTES = 256 * 1024;

const PROBE_TIMEOUT_MS = 15_000;
const PROTOCOL_VERSION = '2025-06-18';

/**
 * Checks a credential against the upstream before any grant is issued: the MCP handshake a client
 * would start with, sent with every value where the template puts it. Streamable HTTP gets an `initialize` POST (and the session it
 * opens is deleted again); legacy SSE gets the stream's GET, closed as soon as it answers.
 */
export async function probeKey(platform: Platform, target: UpstreamTarget, values: readonly string[]): Promise<ProbeResult> {
  // The same placement as every proxied request (exchange.ts); `url` may hold a query key and is never logged.
  const request = (these: Record<string, string>) =>
    upstreamRequest(
      target,
      values,
      (visit) => {
        for (const [name, value] of Object.entries(these)) visit(name, value);
      },
      null,
    );
  const headers = (these: Record<string, string>) => request(these).headers;
  const { url } = request({});
  const signal = AbortSignal.timeout(Math.min(PROBE_TIMEOUT_MS, platform.config.upstreamFirstByteTimeoutMs));
  let response: Response;
  try {
    response =
      target.transport === 'sse'
        ? await platform.fetchUpstream(url, {
            method: 'GET',
            headers: headers({ accept: 'text/event-stream' }),
            redirect: 'manual',
            signal,
          })
        : await platform.fetchUpstream(url, {
            method: 'POST',
            headers: headers({ accept: 'application/json, text/event-stream', 'content-type': 'application/json' }),
            body: JSON.stringify({
              jsonrpc: '2.0',
              id: 0,
              method: 'initialize',
              params: { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'key2oauth-key-check', version: '1' } },
            }),
            redirect: 'manual',
            signal,
          });
  } catch (error) {
    return signal.aborted
      ? { ok: false, kind: 'unreachable', reason: 'no answer within 15 seconds', failure: 'timeout' }
      : { ok: false, kind: 'unreachable', reason: describeUpstreamError(error), failure: failureKind(error) };
  }
  if (!response.ok) {
    await response.body?.cancel().catch(() => {});
    const rejected = response.status === 401 || response.status === 403;
    return { ok: false, kind: rejected ? 'rejected' : 'unexpected', status: response.status };
  }
  // Any web server answers 200; only an MCP server answers the handshake. Only that approves a key.
  const spoke = await readHandshake(response, target.transport).catch(() => false);
  if (!spoke) {
    const type = (response.headers.get('content-type') ?? '').split(';')[0]!.trim();
    return { ok: false, kind: 'not-mcp', what: type === 'text/html' ? 'a web page' : type || 'an answer with no content type' };
  }

  const session = response.headers.get('mcp-session-id');
  if (session && target.transport !== 'sse') {
    // Leave nothing behind on the upstream; a failure here changes nothing for the user.
    platform.waitUntil(
      platform
        .fetchUpstream(url, {
          method: 'DELETE',
          headers: headers({ 'mcp-session-id': session }),
          redirect: 'manual',
          signal: AbortSignal.timeout(5000),
        })
        .then((r) => r.body?.cancel())
        .catch(() => {}),
    );
  }
  return { ok: true };
}

/**
 * Whether the answer is the MCP handshake: for Streamable HTTP, a JSON-RPC result (to our
 * `initialize`, the only request sent; its id is not insisted on, since telling an MCP server from
 * a website is the point), as JSON or as an event on an SSE stream; for legacy HTTP+SSE, the stream's
 * `endpoint` event. Reads at most MAX_READ_BYTES and stops (closing the stream) as soon as it knows.
 */
async function readHandshake(response: Response, transport: UpstreamTransport): Promise<boolean> {
  const type = (response.headers.get('content-type') ?? '').toLowerCase();
  const body = response.body;
  if (!body) return false;
  const isStream = type.startsWith('text/event-stream');
  if (!isStream && (transport === 'sse' || !type.startsWith('application/json'))) {
    await body.cancel().catch(() => {});
    return false;
  }
  let found = false;
  let json = '';
  const parser = createParser({
    onEvent(event) {
      if (transport === 'sse') found ||= event.event === 'endpoint' && event.data.trim().length > 0;
      else found ||= isInitializeResult(event.data);
    },
  });
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let read = 0;
  try {
    while (!found && read < MAX_READ_BYTES) {
      const { done, value } = await reader.read();
      if (done) break;
      read += value.length;
      if (isStream) parser.feed(value);
      else json += value;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return found || (!isStream && isInitializeResult(json));
}

function isInitializeResult(text: string): boolean {
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch {
    return false;
  }
  const messages = Array.isArray(message) ? message : [message];
  return messages.some(
    (item) =>
      typeof item === 'object' && item !== null && item.jsonrpc === '2.0' && typeof item.result === 'object' && item.result !== null,
  );
}
