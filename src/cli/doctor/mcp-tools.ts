import { INITIALIZE } from './challenge.ts';
import type { Get } from './findings.ts';

/** The upstream's tools, through the endpoint, as an MCP client lists them with its token. */
export async function listTools(get: Get, url: string, token: string): Promise<string[]> {
  const headers: Record<string, string> = {
    authorization: `Bearer ${token}`,
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
  };
  const rpc = async (message: Record<string, unknown>) => {
    const response = await get(url, { method: 'POST', headers, body: JSON.stringify(message) });
    const session = response.headers.get('mcp-session-id');
    if (session) headers['mcp-session-id'] = session;
    if (!response.ok) {
      await response.body?.cancel();
      throw new Error(`${String(message.method)} answered HTTP ${response.status}`);
    }
    if (!('id' in message)) {
      await response.body?.cancel();
      return undefined;
    }
    return readRpc(await response.text(), response.headers.get('content-type') ?? '');
  };
  await rpc(INITIALIZE);
  headers['mcp-protocol-version'] = INITIALIZE.params.protocolVersion;
  await rpc({ jsonrpc: '2.0', method: 'notifications/initialized' });
  const listed = (await rpc({ jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} })) as {
    result?: { tools?: { name: string }[] };
    error?: { message: string };
  };
  if (listed?.error) throw new Error(`tools/list: ${listed.error.message}`);
  return (listed?.result?.tools ?? []).map((tool) => tool.name);
}

/** The JSON-RPC answer in a body sent as JSON or as an event stream. */
function readRpc(text: string, type: string): unknown {
  if (!type.startsWith('text/event-stream')) return JSON.parse(text);
  for (const event of text.split(/\r?\n\r?\n/)) {
    const data = event
      .split(/\r?\n/)
      .filter((line) => line.startsWith('data:'))
      .map((line) => line.slice(5).trim())
      .join('\n');
    if (!data) continue;
    const message = JSON.parse(data) as Record<string, unknown>;
    if ('result' in message || 'error' in message) return message;
  }
  throw new Error('no answer in the event stream');
}
