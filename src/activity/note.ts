import type { Platform } from '../platform.ts';
import { recordActivity } from './store.ts';

/**
 * What a carrier knows of a message, made into an activity entry (store.ts). Names are cut to a
 * bound (a client chooses them); nothing else of the message is taken.
 */

export interface MessageFacts {
  /** The JSON-RPC method, or the HTTP method of a GET stream or DELETE. */
  method: string;
  tool: string | null;
  status: number;
  errorCode: number | null;
  /** `performance.now()` when the message arrived. */
  started: number;
}

const MAX_NAME = 128;

export function noteMessage(platform: Platform, slug: string, access: { grantId: string; clientId?: string }, facts: MessageFacts): void {
  recordActivity(platform, slug, {
    at: new Date().toISOString(),
    access_id: access.grantId,
    client_id: (access.clientId ?? '').slice(0, 256),
    method: facts.method.slice(0, MAX_NAME),
    tool: facts.tool?.slice(0, MAX_NAME) ?? null,
    status: facts.status,
    error_code: facts.errorCode,
    duration_ms: Math.round(performance.now() - facts.started),
  });
}

/**
 * A message whose body is not read (a grant that allows every tool takes the plain exchange):
 * the method and tool as the client names them in `Mcp-Method` and `Mcp-Name` (MCP clients of
 * the 2025-11-25 revision send both), else the HTTP method.
 */
export function namedByHeaders(
  httpMethod: string,
  header: (name: string) => string | null | undefined,
): { method: string; tool: string | null } {
  const method = header('mcp-method') ?? (httpMethod === 'POST' ? 'unknown' : httpMethod);
  return { method, tool: method === 'tools/call' ? (header('mcp-name') ?? null) : null };
}
