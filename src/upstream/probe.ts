import type { Platform } from '../platform.ts';
import { upstreamRequestHeaders } from './headers.ts';
import { describeUpstreamError } from './network-error.ts';
import { keyHeader, type UpstreamTarget } from './target.ts';

export type ProbeResult =
  | { ok: true }
  | { ok: false; kind: 'rejected'; status: number }
  | { ok: false; kind: 'unreachable'; reason: string }
  | { ok: false; kind: 'unexpected'; status: number };

const PROBE_TIMEOUT_MS = 15_000;
const PROTOCOL_VERSION = '2025-06-18';

/**
 * Checks a key against the upstream before any grant is issued: the MCP handshake a client would
 * start with, sent with the key. Streamable HTTP gets an `initialize` POST (and the session it
 * opens is deleted again); legacy SSE gets the stream's GET, closed as soon as it answers.
 */
export async function probeKey(platform: Platform, target: UpstreamTarget, apiKey: string): Promise<ProbeResult> {
  const auth = keyHeader(target, apiKey);
  const signal = AbortSignal.timeout(Math.min(PROBE_TIMEOUT_MS, platform.config.upstreamFirstByteTimeoutMs));
  let response: Response;
  try {
    response =
      target.transport === 'sse'
        ? await platform.fetchUpstream(target.url, {
            method: 'GET',
            headers: upstreamRequestHeaders(new Headers({ accept: 'text/event-stream' }), auth),
            redirect: 'manual',
            signal,
          })
        : await platform.fetchUpstream(target.url, {
            method: 'POST',
            headers: upstreamRequestHeaders(
              new Headers({ accept: 'application/json, text/event-stream', 'content-type': 'application/json' }),
              auth,
            ),
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
    return { ok: false, kind: 'unreachable', reason: signal.aborted ? 'no answer within 15 seconds' : describeUpstreamError(error) };
  }
  await response.body?.cancel().catch(() => {});

  if (response.status === 401 || response.status === 403) return { ok: false, kind: 'rejected', status: response.status };
  if (!response.ok) return { ok: false, kind: 'unexpected', status: response.status };

  const session = response.headers.get('mcp-session-id');
  if (session && target.transport !== 'sse') {
    // Leave nothing behind on the upstream; a failure here changes nothing for the user.
    const headers = upstreamRequestHeaders(new Headers({ 'mcp-session-id': session }), auth);
    platform.waitUntil(
      platform
        .fetchUpstream(target.url, { method: 'DELETE', headers, redirect: 'manual', signal: AbortSignal.timeout(5000) })
        .then((r) => r.body?.cancel())
        .catch(() => {}),
    );
  }
  return { ok: true };
}
