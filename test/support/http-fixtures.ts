import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Small raw HTTP servers for the suites that need an upstream to misbehave, or a bystander to watch. */

async function listen(http: Server): Promise<string> {
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
}

async function shut(http: Server): Promise<void> {
  http.closeAllConnections();
  await new Promise<void>((resolve) => http.close(() => resolve()));
}

export interface Recorder {
  origin: string;
  /** Every request that arrived, with its headers. */
  requests: { method: string; path: string; headers: IncomingHttpHeaders }[];
  /** TCP connections accepted, whether or not a request followed. */
  connections: number;
  close(): Promise<void>;
}

/** A bystander server: answers 200 to anything and remembers it, so a test can prove nothing came. */
export async function startRecorder(): Promise<Recorder> {
  const state: Recorder = { origin: '', requests: [], connections: 0, close: async () => {} };
  const http = createServer((req, res) => {
    state.requests.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers });
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"jsonrpc":"2.0","id":1,"result":{}}');
  });
  http.on('connection', () => state.connections++);
  state.origin = await listen(http);
  state.close = () => shut(http);
  return state;
}

export interface RedirectingUpstream {
  url: string;
  /** 0: behave (answer the key check's initialize); otherwise answer every request with this status and a Location. */
  redirectWith: number;
  /** Requests that carried the key. */
  requests: number;
  close(): Promise<void>;
}

/** An MCP upstream that accepts `Bearer <key>` and, once told to, redirects every request to `location`. */
export async function startRedirectingUpstream(key: string, location: string): Promise<RedirectingUpstream> {
  const state: RedirectingUpstream = { url: '', redirectWith: 0, requests: 0, close: async () => {} };
  const http = createServer((req, res) => {
    req.resume();
    if (req.headers.authorization !== `Bearer ${key}`)
      return void res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"invalid api key"}');
    state.requests++;
    if (state.redirectWith)
      return void res.writeHead(state.redirectWith, { location, 'content-type': 'text/plain' }).end(`moved to ${location}`);
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(
        '{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-06-18","capabilities":{},"serverInfo":{"name":"redirecting","version":"1"}}}',
      );
  });
  state.url = `${await listen(http)}/mcp`;
  state.close = () => shut(http);
  return state;
}
