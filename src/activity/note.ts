import type { Platform } from '../platform.ts';
import { largeMessageNames } from './large-message.ts';
import { recordActivity } from './store.ts';

/**
 * What a carrier knows of one HTTP exchange through a grant, made into activity entries
 * (store.ts): one per JSON-RPC message it carried. Every carrier (the web one in
 * src/mcp/guard.ts, the Node fast path) fills an `ExchangeRecord` while it moves the bytes and
 * calls `noteExchange` once the answer has ended, so the names are read off the answer's path.
 * Names are cut to a bound (a client chooses them); nothing else of a message is taken.
 */

export interface Named {
  /** The JSON-RPC method; `response` for a client's answer to the server; the HTTP method of a GET stream or DELETE. */
  method: string;
  tool: string | null;
}

export interface JudgedMessage extends Named {
  /** A message answered by the proxy itself (a refused call) has its own status; else the answer's. */
  status?: number;
  errorCode: number | null;
}

/** Filled in by a carrier as the exchange goes. */
export class ExchangeRecord {
  /** `performance.now()` when the request arrived. */
  readonly started = performance.now();
  /** The request body, when the carrier holds it whole (it is bounded by MAX_MCP_BODY_BYTES). */
  body: Uint8Array | undefined;
  bytesIn: number | null = null;
  /** Bytes of the answer body sent to the client (the carrier counts them as they go). */
  bytesOut = 0;
  /** Set by an exchange that judged each message itself (src/mcp/tool-exchange.ts). */
  judged: JudgedMessage[] | undefined;
}

const MAX_NAME = 128;
/** Entries one HTTP message may make (a batch); the rest of a larger batch is not recorded. */
const MAX_MESSAGES = 100;

/**
 * The activity entries of one exchange whose answer has ended with `status`. In a batch, the
 * first message's entry carries the exchange's bytes and the others none (null), so sums add up.
 */
export function noteExchange(
  platform: Platform,
  slug: string,
  access: { grantId: string },
  record: ExchangeRecord,
  httpMethod: string,
  header: (name: string) => string | null | undefined,
  status: number,
): void {
  const messages: (Named & Partial<JudgedMessage>)[] = record.judged ?? messagesOf(httpMethod, record.body, header);
  const at = Date.now();
  const duration = Math.round(performance.now() - record.started);
  for (let i = 0; i < messages.length && i < MAX_MESSAGES; i++) {
    const message = messages[i]!;
    recordActivity(platform, slug, {
      at,
      access_id: access.grantId,
      method: message.method.slice(0, MAX_NAME),
      tool: message.tool?.slice(0, MAX_NAME) ?? null,
      status: message.status ?? status,
      error_code: message.errorCode ?? null,
      duration_ms: duration,
      bytes_in: i === 0 ? record.bytesIn : null,
      bytes_out: i === 0 ? record.bytesOut : null,
    });
  }
}

/**
 * What an exchange carried: read from the body when the carrier holds it (every carrier does for
 * a POST it relays), else named by the client's `Mcp-Method` and `Mcp-Name` headers (MCP
 * 2025-11-25), else the HTTP method (a GET stream, a DELETE).
 */
export function messagesOf(httpMethod: string, body: Uint8Array | undefined, header: (name: string) => string | null | undefined): Named[] {
  if (body && body.byteLength > 0) {
    // A large one is named off its bytes when that is sure (large-message.ts says why); else parsed.
    const large = largeMessageNames(body);
    if (large) return [large];
    let parsed: unknown;
    try {
      parsed = JSON.parse(decoder.decode(body));
    } catch {
      return [{ method: 'unknown', tool: null }];
    }
    return (Array.isArray(parsed) ? parsed : [parsed]).map(namedMessage);
  }
  const method = header('mcp-method') ?? (httpMethod === 'POST' ? 'unknown' : httpMethod);
  return [{ method, tool: method === 'tools/call' ? (header('mcp-name') ?? null) : null }];
}

const decoder = new TextDecoder();

/** One JSON-RPC message's method, and its tool for `tools/call`. */
export function namedMessage(message: unknown): Named {
  if (typeof message !== 'object' || message === null) return { method: 'unknown', tool: null };
  const { method, params } = message as { method?: unknown; params?: unknown };
  if (typeof method !== 'string') return { method: 'result' in message || 'error' in message ? 'response' : 'unknown', tool: null };
  const name = method === 'tools/call' && typeof params === 'object' && params !== null ? (params as { name?: unknown }).name : undefined;
  return { method, tool: typeof name === 'string' ? name : null };
}
