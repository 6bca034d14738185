import { createParser } from 'eventsource-parser';
import { isEventStream } from '../http/event-stream.ts';
import type { Platform } from '../platform.ts';
import { upstreamRequest } from './exchange.ts';
import type { UpstreamTarget } from './target.ts';

/**
 * The upstream's tools as the consent page shows them (name, description, and whether the server
 * marks each read-only or destructive), listed with the key just checked: an MCP `initialize`,
 * `notifications/initialized`, then `tools/list` page by page, and the session deleted again.
 * Only for the key holder's own eyes, on the consent page: nothing of it is stored in the grant.
 */

export interface ListedTool {
  name: string;
  description: string;
  readOnly: boolean;
  destructive: boolean;
}

const MAX_PAGES = 10;
const MAX_TOOLS = 200;
const MAX_DESCRIPTION = 300;
const TIMEOUT_MS = 15_000;

/** The tools, or undefined when the upstream would not list them (the page then offers names to type). */
export async function listUpstreamTools(
  platform: Platform,
  target: UpstreamTarget,
  values: readonly string[],
): Promise<ListedTool[] | undefined> {
  if (target.transport === 'sse') return undefined;
  const signal = AbortSignal.timeout(Math.min(TIMEOUT_MS, platform.config.upstreamFirstByteTimeoutMs));
  let session: string | null = null;
  const post = async (message: object): Promise<unknown> => {
    const extra: Record<string, string> = { accept: 'application/json, text/event-stream', 'content-type': 'application/json' };
    if (session) extra['mcp-session-id'] = session;
    // The URL as well: a template may put a value in the query string (upstream/credentials.ts).
    const { url, headers } = upstreamRequest(
      target,
      values,
      (visit) => {
        for (const [name, value] of Object.entries(extra)) visit(name, value);
      },
      null,
    );
    const response = await platform.fetchUpstream(url, {
      method: 'POST',
      headers,
      body: JSON.stringify(message),
      redirect: 'manual',
      signal,
    });
    session ??= response.headers.get('mcp-session-id');
    if (!response.ok || response.status === 202) {
      await response.body?.cancel().catch(() => {});
      return undefined;
    }
    return resultOf(response);
  };
  try {
    const init = await post({
      jsonrpc: '2.0',
      id: 0,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'key2oauth-consent', version: '1' } },
    });
    if (!init) return undefined;
    await post({ jsonrpc: '2.0', method: 'notifications/initialized' });
    const tools: ListedTool[] = [];
    let cursor: string | undefined;
    for (let page = 1; page <= MAX_PAGES && tools.length < MAX_TOOLS; page++) {
      const result = (await post({ jsonrpc: '2.0', id: page, method: 'tools/list', params: cursor ? { cursor } : {} })) as
        | { tools?: unknown; nextCursor?: unknown }
        | undefined;
      if (!result || !Array.isArray(result.tools)) return tools.length ? tools : undefined;
      for (const tool of result.tools) {
        if (typeof tool?.name !== 'string') continue;
        const annotations = typeof tool.annotations === 'object' && tool.annotations ? tool.annotations : {};
        tools.push({
          name: tool.name.slice(0, 128),
          description: typeof tool.description === 'string' ? tool.description.slice(0, MAX_DESCRIPTION) : '',
          readOnly: annotations.readOnlyHint === true && annotations.destructiveHint !== true,
          destructive: annotations.destructiveHint === true,
        });
      }
      if (typeof result.nextCursor !== 'string') break;
      cursor = result.nextCursor;
    }
    return tools.slice(0, MAX_TOOLS);
  } catch {
    return undefined;
  } finally {
    if (session) {
      const { url, headers } = upstreamRequest(target, values, (visit) => visit('mcp-session-id', session!), null);
      platform.waitUntil(
        platform
          .fetchUpstream(url, { method: 'DELETE', headers, redirect: 'manual', signal: AbortSignal.timeout(5000) })
          .then((r) => r.body?.cancel())
          .catch(() => {}),
      );
    }
  }
}

/** The `result` of the one JSON-RPC answer in a JSON or SSE body. */
async function resultOf(response: Response): Promise<unknown> {
  const text = await response.text();
  const payloads: string[] = [];
  if (isEventStream(response.headers.get('content-type'))) createParser({ onEvent: (e) => payloads.push(e.data) }).feed(text);
  else payloads.push(text);
  for (const payload of payloads) {
    try {
      const message = JSON.parse(payload);
      if (message && typeof message === 'object' && 'result' in message) return message.result;
    } catch {}
  }
  return undefined;
}
