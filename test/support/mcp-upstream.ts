import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { SSEServerTransport } from '@modelcontextprotocol/sdk/server/sse.js';
import { type EventStore, StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { KeyCheck } from './expects-key.ts';

/**
 * Real MCP SDK servers in every transport shape Key2OAuth must carry, each accepting only an API
 * key: Streamable HTTP stateful with SSE answers (and an event store, so streams can be resumed),
 * stateful with JSON answers, stateless (a fresh server per request, GET and DELETE answered 405 as
 * the SDK's stateless example does), and the legacy HTTP+SSE transport (2024-11-05).
 *
 * Tools: `echo`; `progress` sends `steps` progress notifications and, before each next one, waits
 * until the test calls `release('progress-k')` (so a test can prove that notification k reached
 * the client before k+1 was even sent); `ask` asks the client for a name by elicitation, sent
 * unrelated to the tool call so that it travels over the GET stream.
 */
export type UpstreamMode = 'stateful-sse' | 'stateful-json' | 'stateless' | 'legacy-sse';

export interface McpUpstream {
  /** The URL to register: `/mcp`, or the stream path (`/sse` unless told) for the legacy transport. */
  url: string;
  origin: string;
  mode: UpstreamMode;
  /** Every request that reached the server, in order (before the key check). */
  requests: { method: string; path: string; headers: IncomingHttpHeaders }[];
  /** Responses the peer walked away from before they were complete, with `performance.now()`. */
  aborted: { method: string; path: string; at: number }[];
  /** `performance.now()` when each progress notification was handed to the transport, by tool call. */
  progressSentAt: number[];
  /** Lets the `progress` tool go on: `release('progress-2')` allows notification 2 to be sent. */
  release(gate: string): void;
  /** Test hook, run after the key check: return true when it answered the request itself. */
  intercept: ((req: IncomingMessage, res: ServerResponse) => boolean) | undefined;
  close(): Promise<void>;
}

const GATE_TIMEOUT_MS = 15_000;

/** An event store that replays in the order events were stored (the SDK example sorts by random ids). */
class OrderedEventStore implements EventStore {
  private events: { id: string; streamId: string; message: JSONRPCMessage }[] = [];
  private counter = 0;
  async storeEvent(streamId: string, message: JSONRPCMessage): Promise<string> {
    const id = `${streamId}.${++this.counter}`;
    this.events.push({ id, streamId, message });
    return id;
  }
  async getStreamIdForEventId(eventId: string): Promise<string | undefined> {
    return this.events.find((event) => event.id === eventId)?.streamId;
  }
  async replayEventsAfter(
    lastEventId: string,
    { send }: { send: (id: string, message: JSONRPCMessage) => Promise<void> },
  ): Promise<string> {
    const index = this.events.findIndex((event) => event.id === lastEventId);
    if (index === -1) return '';
    const { streamId } = this.events[index]!;
    for (const event of this.events.slice(index + 1)) {
      if (event.streamId === streamId && Object.keys(event.message).length > 0) await send(event.id, event.message);
    }
    return streamId;
  }
}

export async function startMcpUpstream(options: {
  key: string;
  mode: UpstreamMode;
  retryMs?: number;
  ssePath?: string;
  /** Where the server expects its credential, when not `Authorization: Bearer <key>`. */
  expects?: KeyCheck;
}): Promise<McpUpstream> {
  const { mode } = options;
  /** Where the legacy stream lives; `/sse` by convention. */
  const ssePath = options.ssePath ?? '/sse';
  const gates = new Map<string, { promise: Promise<void>; resolve: () => void }>();
  const gate = (name: string) => {
    let entry = gates.get(name);
    if (!entry) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      entry = { promise, resolve };
      gates.set(name, entry);
    }
    return entry;
  };
  const state: McpUpstream = {
    url: '',
    origin: '',
    mode,
    requests: [],
    aborted: [],
    progressSentAt: [],
    release: (name) => gate(name).resolve(),
    intercept: undefined,
    close: async () => {},
  };

  const newServer = () => {
    const server = new McpServer({ name: `upstream-${mode}`, version: '1.0.0' });
    server.registerTool('echo', { description: 'Echoes its text', inputSchema: { text: z.string() } }, async ({ text }) => ({
      content: [{ type: 'text', text: `echo: ${text}` }],
    }));
    server.registerTool(
      'progress',
      { description: 'Reports progress step by step', inputSchema: { steps: z.number() } },
      async ({ steps }, extra) => {
        const progressToken = extra._meta?.progressToken;
        if (progressToken === undefined) throw new Error('call with a progress token');
        state.progressSentAt = [];
        // Gates are per call: forget releases meant for an earlier one.
        gates.clear();
        for (let k = 1; k <= steps; k++) {
          if (k > 1) {
            let timer: NodeJS.Timeout | undefined;
            const timeout = new Promise<never>((_, reject) => {
              timer = setTimeout(() => reject(new Error(`progress-${k} was never released`)), GATE_TIMEOUT_MS);
              timer.unref();
            });
            await Promise.race([gate(`progress-${k}`).promise, timeout]).finally(() => clearTimeout(timer));
            gates.delete(`progress-${k}`);
          }
          state.progressSentAt[k] = performance.now();
          await extra.sendNotification({
            method: 'notifications/progress',
            params: { progressToken, progress: k, total: steps, message: `step ${k}` },
          });
        }
        return { content: [{ type: 'text', text: `done after ${steps} steps` }] };
      },
    );
    server.registerTool('ask', { description: 'Asks the user for a name' }, async () => {
      // No related request: the SDK sends this on the standalone GET stream.
      const answer = await server.server.elicitInput({
        mode: 'form',
        message: 'What is your name?',
        requestedSchema: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] },
      });
      return { content: [{ type: 'text', text: `hello ${String(answer.content?.name)}` }] };
    });
    return server;
  };

  const streamable = new Map<string, StreamableHTTPServerTransport>();
  const legacy = new Map<string, SSEServerTransport>();

  const http: Server = createServer(async (req, res) => {
    const path = req.url ?? '/';
    state.requests.push({ method: req.method ?? '', path, headers: req.headers });
    res.on('close', () => {
      if (!res.writableFinished) state.aborted.push({ method: req.method ?? '', path, at: performance.now() });
    });
    const { pathname, searchParams } = new URL(path, 'http://upstream');
    if (mode === 'legacy-sse' && req.method === 'POST' && pathname === ssePath) {
      // Routing before the key check, as a server with per-route auth does: no POST here.
      res.writeHead(405, { allow: 'GET' }).end();
      return;
    }
    const accepted = options.expects
      ? options.expects(new URL(path, 'http://upstream'), (name) => {
          const value = req.headers[name];
          return Array.isArray(value) ? value.join(', ') : value;
        })
      : req.headers.authorization === `Bearer ${options.key}`;
    if (!accepted) {
      res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer realm="upstream"' });
      res.end(JSON.stringify({ error: 'invalid api key' }));
      return;
    }
    if (state.intercept?.(req, res)) return;

    if (mode === 'legacy-sse') {
      if (req.method === 'GET' && pathname === ssePath) {
        const transport = new SSEServerTransport('/messages', res);
        legacy.set(transport.sessionId, transport);
        transport.onclose = () => legacy.delete(transport.sessionId);
        await newServer().connect(transport);
        return;
      }
      if (req.method === 'POST' && pathname === '/messages') {
        const transport = legacy.get(searchParams.get('sessionId') ?? '');
        if (!transport) {
          res.writeHead(404).end('unknown session');
          return;
        }
        await transport.handlePostMessage(req, res);
        return;
      }
      res.writeHead(pathname === ssePath ? 405 : 404).end();
      return;
    }

    if (pathname !== '/mcp') {
      res.writeHead(404).end();
      return;
    }
    if (mode === 'stateless') {
      if (req.method !== 'POST') {
        res.writeHead(405, { allow: 'POST', 'content-type': 'application/json' });
        res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed.' }, id: null }));
        return;
      }
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
      const server = newServer();
      res.on('close', () => {
        void transport.close();
        void server.close();
      });
      await server.connect(transport);
      await transport.handleRequest(req, res);
      return;
    }
    const sessionId = req.headers['mcp-session-id'];
    let transport = typeof sessionId === 'string' ? streamable.get(sessionId) : undefined;
    if (typeof sessionId === 'string' && !transport) {
      // An ended or unknown session: 404, so the client starts a new one (the spec's rule).
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null }));
      return;
    }
    if (!transport) {
      transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        enableJsonResponse: mode === 'stateful-json',
        ...(mode === 'stateful-sse' ? { eventStore: new OrderedEventStore(), retryInterval: options.retryMs ?? 100 } : {}),
        onsessioninitialized: (id) => void streamable.set(id, transport!),
        onsessionclosed: (id) => void streamable.delete(id),
      });
      await newServer().connect(transport);
    }
    await transport.handleRequest(req, res);
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const { port } = http.address() as AddressInfo;
  state.origin = `http://127.0.0.1:${port}`;
  state.url = `${state.origin}${mode === 'legacy-sse' ? ssePath : '/mcp'}`;
  state.close = async () => {
    for (const entry of gates.values()) entry.resolve();
    for (const transport of streamable.values()) await transport.close().catch(() => {});
    for (const transport of legacy.values()) await transport.close().catch(() => {});
    http.closeAllConnections();
    await new Promise<void>((resolve) => http.close(() => resolve()));
  };
  return state;
}
