import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { CallToolRequestSchema, ListToolsRequestSchema, type Tool } from '@modelcontextprotocol/sdk/types.js';

/**
 * A real MCP SDK server (the low-level `Server`, stateless Streamable HTTP) with tools of every
 * kind a tool choice must tell apart: read-only, destructive, unmarked. `tools/list` is paginated
 * (PAGE_SIZE tools a page, with `nextCursor`), answers come as JSON or as SSE, and every
 * `tools/call` that reaches it is recorded by name with its arguments, so a test can prove that
 * a refused call never arrived. `addTool` adds one later, as an upstream that grows does.
 *
 * It reads a body as a server that decodes with a streaming JSON decoder does (Go's
 * `json.NewDecoder(body).Decode`, common in Go HTTP handlers): the first JSON value, and nothing
 * after it is looked at. So a body the proxy cannot parse whole may still run a tool here.
 */
export const PAGE_SIZE = 2;

export const BASE_TOOLS: Tool[] = [
  { name: 'search_docs', description: 'Searches documents', inputSchema: { type: 'object' }, annotations: { readOnlyHint: true } },
  {
    name: 'get_item',
    description: 'Reads one item',
    inputSchema: { type: 'object' },
    annotations: { readOnlyHint: true, destructiveHint: false },
  },
  {
    name: 'delete_item',
    description: 'Deletes an item',
    inputSchema: { type: 'object' },
    annotations: { readOnlyHint: false, destructiveHint: true },
  },
  { name: 'update_item', description: 'Changes an item (no annotations)', inputSchema: { type: 'object' } },
  { name: 'search_secrets', description: 'Reads the vault', inputSchema: { type: 'object' }, annotations: { readOnlyHint: true } },
];

export interface ToolsUpstream {
  url: string;
  /** Every `tools/call` that reached the server: name and arguments. */
  calls: { name: string; arguments: unknown }[];
  /** Every JSON-RPC method that reached the server, in order. */
  methods: string[];
  tools: Tool[];
  addTool(tool: Tool): void;
  close(): Promise<void>;
}

export async function startToolsUpstream(options: { key: string; answers: 'json' | 'sse' }): Promise<ToolsUpstream> {
  const state: ToolsUpstream = {
    url: '',
    calls: [],
    methods: [],
    tools: [...BASE_TOOLS],
    addTool: (tool) => state.tools.push(tool),
    close: async () => {},
  };
  const newServer = () => {
    const server = new Server({ name: 'tools-upstream', version: '1.0.0' }, { capabilities: { tools: { listChanged: true } } });
    server.setRequestHandler(ListToolsRequestSchema, async (request) => {
      const start = Number(request.params?.cursor ?? 0);
      const page = state.tools.slice(start, start + PAGE_SIZE);
      const next = start + PAGE_SIZE < state.tools.length ? String(start + PAGE_SIZE) : undefined;
      return { tools: page, ...(next ? { nextCursor: next } : {}) };
    });
    server.setRequestHandler(CallToolRequestSchema, async (request) => {
      state.calls.push({ name: request.params.name, arguments: request.params.arguments });
      return { content: [{ type: 'text', text: `result of ${request.params.name}: upstream-result-7f3a` }] };
    });
    return server;
  };
  const http: HttpServer = createServer(async (req, res) => {
    if (req.headers.authorization !== `Bearer ${options.key}`) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"invalid api key"}');
      return;
    }
    if (req.method !== 'POST') {
      res.writeHead(405, { allow: 'POST' }).end();
      return;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = firstJsonValue(Buffer.concat(chunks).toString('utf8'));
    for (const message of Array.isArray(body) ? body : [body]) if (message?.method) state.methods.push(message.method);
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: options.answers === 'json' });
    const server = newServer();
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`;
  state.close = async () => {
    http.closeAllConnections();
    await new Promise((resolve) => http.close(resolve));
  };
  return state;
}

/** The first JSON value of `text`, ignoring whatever follows it (a streaming decoder's reading). */
function firstJsonValue(text: string): unknown {
  // A proper prefix of an object or array is never valid JSON, so the first prefix that parses,
  // ending at a closing bracket, is the first value.
  for (let end = 0; end < text.length; end++) {
    if (text[end] !== '}' && text[end] !== ']') continue;
    try {
      return JSON.parse(text.slice(0, end + 1));
    } catch {}
  }
  return JSON.parse(text);
}
