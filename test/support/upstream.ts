import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';

/**
 * A real MCP SDK server that, like the servers Key2OAuth exists for, accepts only an API key.
 * It records every request's headers so tests can check what the proxy sends upstream.
 */
export interface Upstream {
  url: string;
  /** Headers of every request that reached the MCP route, in order. */
  requests: { method: string; headers: IncomingMessage['headers'] }[];
  /** The key the server accepts now; change it to simulate a revoked key. */
  acceptedKey: string;
  close(): Promise<void>;
}

/**
 * `host`: the address to listen on (loopback unless a test's containers must reach it);
 * `urlHost`: the address named in `url`, when it is not `host` (the containers' network gateway).
 */
export async function startUpstream(options: {
  key: string;
  header?: string;
  prefix?: string;
  host?: string;
  urlHost?: string;
}): Promise<Upstream> {
  const header = (options.header ?? 'authorization').toLowerCase();
  const prefix = options.prefix ?? 'Bearer ';
  const transports = new Map<string, StreamableHTTPServerTransport>();
  const state: Upstream = { url: '', requests: [], acceptedKey: options.key, close: async () => {} };

  const newServer = () => {
    const server = new McpServer({ name: 'upstream-under-test', version: '1.0.0' });
    server.registerTool('echo', { description: 'Echoes its text', inputSchema: { text: z.string() } }, async ({ text }) => ({
      content: [{ type: 'text', text: `echo: ${text}` }],
    }));
    return server;
  };

  const http: Server = createServer(async (req, res) => {
    state.requests.push({ method: req.method ?? '', headers: req.headers });
    if (req.headers[header] !== `${prefix}${state.acceptedKey}`) {
      res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer realm="upstream"' });
      res.end(JSON.stringify({ error: 'invalid api key' }));
      return;
    }
    const sessionId = req.headers['mcp-session-id'];
    let transport = typeof sessionId === 'string' ? transports.get(sessionId) : undefined;
    if (!transport) {
      transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => void transports.set(id, transport!),
      });
      transport.onclose = () => transport?.sessionId && transports.delete(transport.sessionId);
      await newServer().connect(transport);
    }
    await transport.handleRequest(req, res);
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve) => http.listen(0, host, resolve));
  const { port } = http.address() as AddressInfo;
  state.url = `http://${options.urlHost ?? host}:${port}/mcp`;
  state.close = async () => {
    for (const transport of transports.values()) await transport.close().catch(() => {});
    http.closeAllConnections();
    await new Promise<void>((resolve) => http.close(() => resolve()));
  };
  return state;
}
