import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { UpstreamFetch } from '../../src/platform.ts';
import type { KeyCheck } from './expects-key.ts';

/**
 * Upstream MCP servers that live in the test process and are reached without sockets: the
 * platform's `fetchUpstream` hands each request to the handler registered for its origin. Every
 * request is recorded (URL, method, headers) before any handler sees it, so a test can assert
 * exactly what left the proxy. An origin nobody serves fails like a refused connection.
 */
export interface RecordedRequest {
  url: string;
  method: string;
  headers: Record<string, string>;
  /** The upstream's answer status, once it answered. */
  status?: number;
}

export type Handler = (request: Request) => Response | Promise<Response>;

export interface Upstreams {
  requests: RecordedRequest[];
  fetch: UpstreamFetch;
  /** Answers every request to `origin` (scheme, host and port) with `handler`; `close` runs at the end of the test. */
  serve(origin: string, handler: Handler, close?: () => Promise<void>): void;
  /** The handler serving `origin` now, so a test can wrap it. */
  handler(origin: string): Handler | undefined;
  /** Stops serving `origin`: its requests then fail as unreachable. */
  stop(origin: string): void;
  close(): Promise<void>;
}

export function createUpstreams(): Upstreams {
  const handlers = new Map<string, Handler>();
  const closers: (() => Promise<void>)[] = [];
  const requests: RecordedRequest[] = [];
  return {
    requests,
    serve(origin, handler, close) {
      handlers.set(new URL(origin).origin, handler);
      if (close) closers.push(close);
    },
    handler: (origin) => handlers.get(new URL(origin).origin),
    stop: (origin) => void handlers.delete(new URL(origin).origin),
    async fetch(url, init) {
      const request = new Request(url, init);
      const record: RecordedRequest = { url: request.url, method: request.method, headers: Object.fromEntries(request.headers) };
      requests.push(record);
      const handler = handlers.get(new URL(request.url).origin);
      // What undici throws for a refused connection; the proxy turns it into 502.
      if (!handler)
        throw new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) });
      request.signal.throwIfAborted();
      const response = await handler(request);
      record.status = response.status;
      return response;
    },
    close: async () => {
      for (const close of closers.splice(0)) await close();
    },
  };
}

/** Our one tool: `echo` answers `echo: <text>`. */
function newServer(name: string): McpServer {
  const server = new McpServer({ name, version: '1.0.0' });
  server.registerTool('echo', { description: 'Echoes its text', inputSchema: { text: z.string() } }, async ({ text }) => ({
    content: [{ type: 'text', text: `echo: ${text}` }],
  }));
  return server;
}

export interface McpUpstream {
  url: string;
  /** The key the server accepts now; change it to simulate a revoked key. */
  acceptedKey: string;
  close(): Promise<void>;
}

/**
 * A real MCP SDK server (Streamable HTTP, stateful, answers as SSE) on `url`, accepting only
 * `header: prefix + key`, like the servers Key2OAuth exists for. Without the key: 401 and an
 * upstream challenge the proxy must not pass on.
 */
export function serveMcp(
  upstreams: Upstreams,
  options: { url: string; key: string; header?: string; prefix?: string; expects?: KeyCheck },
): McpUpstream {
  const header = options.header ?? 'authorization';
  const prefix = options.prefix ?? 'Bearer ';
  const path = new URL(options.url).pathname;
  const sessions = new Map<string, WebStandardStreamableHTTPServerTransport>();
  const state: McpUpstream = {
    url: options.url,
    acceptedKey: options.key,
    close: async () => {
      for (const transport of sessions.values()) await transport.close().catch(() => {});
      sessions.clear();
    },
  };
  upstreams.serve(
    options.url,
    async (request) => {
      const accepted = options.expects
        ? options.expects(new URL(request.url), (name) => request.headers.get(name) ?? undefined)
        : request.headers.get(header) === `${prefix}${state.acceptedKey}`;
      if (!accepted) {
        return Response.json({ error: 'invalid api key' }, { status: 401, headers: { 'www-authenticate': 'Bearer realm="upstream"' } });
      }
      if (new URL(request.url).pathname !== path) return new Response('not found', { status: 404 });
      const sessionId = request.headers.get('mcp-session-id');
      let transport = sessionId ? sessions.get(sessionId) : undefined;
      if (sessionId && !transport)
        return Response.json({ jsonrpc: '2.0', id: null, error: { code: -32001, message: 'Session not found' } }, { status: 404 });
      if (!transport) {
        const created = new WebStandardStreamableHTTPServerTransport({
          sessionIdGenerator: () => crypto.randomUUID(),
          onsessioninitialized: (id) => void sessions.set(id, created),
          onsessionclosed: (id) => void sessions.delete(id),
          keepAliveMs: 0,
        });
        await newServer('in-process-upstream').connect(created);
        transport = created;
      }
      return transport.handleRequest(request);
    },
    () => state.close(),
  );
  return state;
}

/**
 * A legacy HTTP+SSE (2024-11-05) MCP server: `GET {url}` opens the event stream whose first
 * `endpoint` event names `/messages?sessionId=…` on the same origin; POSTs there are answered 202
 * and the JSON-RPC answer travels on the stream. The MCP SDK server behind it is real; only the
 * HTTP side, which the SDK writes for Node's http module alone, is spelled out here.
 */
export function serveLegacySse(
  upstreams: Upstreams,
  options: {
    url: string;
    key: string;
    expects?: KeyCheck;
    /** Repeat the stream request's query in the message URL, as servers that take a query key do. */
    echoQuery?: boolean;
  },
): McpUpstream {
  const streamPath = new URL(options.url).pathname;
  const sessions = new Map<string, SseTransport>();
  const state: McpUpstream = {
    url: options.url,
    acceptedKey: options.key,
    close: async () => {
      for (const transport of sessions.values()) await transport.close();
    },
  };
  upstreams.serve(
    options.url,
    async (request) => {
      const accepted = options.expects
        ? options.expects(new URL(request.url), (name) => request.headers.get(name) ?? undefined)
        : request.headers.get('authorization') === `Bearer ${state.acceptedKey}`;
      if (!accepted) return new Response('invalid api key', { status: 401 });
      const url = new URL(request.url);
      if (request.method === 'GET' && url.pathname === streamPath) {
        const transport = new SseTransport(() => sessions.delete(transport.sessionId), options.echoQuery ? url.search.slice(1) : '');
        sessions.set(transport.sessionId, transport);
        await newServer('in-process-legacy').connect(transport);
        return new Response(transport.stream, { headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' } });
      }
      if (request.method === 'POST' && url.pathname === '/messages') {
        const transport = sessions.get(url.searchParams.get('sessionId') ?? '');
        if (!transport) return new Response('unknown session', { status: 404 });
        transport.onmessage?.((await request.json()) as JSONRPCMessage);
        return new Response('Accepted', { status: 202 });
      }
      return new Response(null, { status: url.pathname === streamPath ? 405 : 404 });
    },
    () => state.close(),
  );
  return state;
}

class SseTransport implements Transport {
  sessionId = crypto.randomUUID();
  stream: ReadableStream<Uint8Array>;
  onmessage?: Transport['onmessage'];
  onclose?: () => void;
  onerror?: (error: Error) => void;
  private controller!: ReadableStreamDefaultController<Uint8Array>;
  private closed = false;
  private forget: () => void;

  constructor(forget: () => void, extraQuery = '') {
    this.forget = forget;
    this.stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.controller = controller;
        this.write('endpoint', `/messages?sessionId=${this.sessionId}${extraQuery ? `&${extraQuery}` : ''}`);
      },
      cancel: () => void this.close(),
    });
  }
  async start() {}
  async send(message: JSONRPCMessage) {
    this.write('message', JSON.stringify(message));
  }
  async close() {
    if (this.closed) return;
    this.closed = true;
    this.forget();
    try {
      this.controller.close();
    } catch {}
    this.onclose?.();
  }
  private write(event: string, data: string) {
    if (!this.closed) this.controller.enqueue(new TextEncoder().encode(`event: ${event}\ndata: ${data}\n\n`));
  }
}
