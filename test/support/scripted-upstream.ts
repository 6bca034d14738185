import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * An upstream that takes an API key and answers each request as its `mcp-case` header says (an
 * MCP header, so every carrier passes it on), recording exactly what reached it: the request line's
 * path and query, every header line as sent, and the body's size. The table of cases in
 * test/e2e/one-exchange.test.ts asks it for the answers a hostile, slow or broken server gives.
 * An `initialize` without a case (the consent page's key check) is answered as a good server does.
 */
export interface Seen {
  method: string;
  /** Path and query as the request line had them. */
  url: string;
  /** Header lines, names lower-cased, in order (duplicates kept). */
  headers: [string, string][];
  bodyBytes: number;
}

export interface ScriptedUpstream {
  url: string;
  /** Every request with the right key, in order. */
  seen: Seen[];
  /** The last request that carried this case. */
  last(kase: string): Seen | undefined;
  /** Connections open now that have not carried a request (one a client opened for nothing). */
  unusedConnections(): number;
  /** Answers under way (their response not yet closed). */
  answering(): number;
  close(): Promise<void>;
}

const JSON_RESULT = JSON.stringify({ jsonrpc: '2.0', id: 1, result: { ok: true } });

type Answer = (req: IncomingMessage, res: ServerResponse) => void;

const CASES: Record<string, Answer> = {
  json: (_req, res) => {
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(JSON_RESULT),
      'mcp-session-id': 'session-1',
    });
    res.end(JSON_RESULT);
  },
  // What a hostile or careless server sends: none of it may act on our origin or the client.
  hostile: (_req, res) => {
    res.writeHead(200, [
      ['content-type', 'application/json'],
      ['content-length', String(Buffer.byteLength(JSON_RESULT))],
      ['set-cookie', 'session=upstream; Path=/'],
      ['clear-site-data', '"*"'],
      ['refresh', '0; url=https://evil.example/'],
      ['link', '<https://evil.example/x.js>; rel=preload'],
      ['content-security-policy', "script-src 'unsafe-inline'"],
      ['access-control-allow-origin', '*'],
      ['access-control-allow-credentials', 'true'],
      ['www-authenticate', 'Basic realm="upstream"'],
      ['strict-transport-security', 'max-age=31536000'],
      ['x-upstream-secret', 'internal'],
      ['connection', 'x-hop'],
      ['x-hop', 'only for this connection'],
      ['mcp-session-id', 'session-2'],
      ['retry-after', '7'],
    ]);
    res.end(JSON_RESULT);
  },
  // Headers now, then nothing until the client leaves (a server-to-client stream with no news).
  'sse-idle': (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.flushHeaders();
  },
  'sse-events': (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    let n = 0;
    const next = () => {
      n++;
      res.write(`id: ${n}\ndata: {"jsonrpc":"2.0","method":"notifications/message","params":{"n":${n}}}\n\n`);
      if (n < 3) setTimeout(next, 30);
      else res.end();
    };
    next();
  },
  // A type in other case, quiet for longer than one heartbeat, then an event.
  'sse-quiet': (_req, res) => {
    res.writeHead(200, { 'content-type': 'Text/Event-Stream; charset=utf-8' });
    res.flushHeaders();
    setTimeout(() => res.end('data: {"late":true}\n\n'), 1600);
  },
  redirect: (_req, res) => {
    res.writeHead(302, { location: 'https://evil.example/mcp' });
    res.end();
  },
  reject: (_req, res) => {
    res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer realm="upstream"' });
    res.end('{"error":"bad key"}');
  },
  'no-content': (_req, res) => {
    res.writeHead(204, { 'mcp-session-id': 'session-3' });
    res.end();
  },
  accepted: (_req, res) => {
    res.writeHead(202);
    res.end();
  },
  broken: (_req, res) => {
    res.writeHead(500, { 'content-type': 'application/json' });
    res.end('{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"upstream failed"}}');
  },
  // A declared answer that stops halfway and stays quiet past the idle timeout.
  'json-stall': (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(JSON_RESULT) });
    res.write(JSON_RESULT.slice(0, 10));
    setTimeout(() => res.destroy(), 5000).unref();
  },
  // A declared answer whose second half comes 1.5 s after its first.
  'json-late': (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(JSON_RESULT) });
    res.write(JSON_RESULT.slice(0, 10));
    const rest = setTimeout(() => res.end(JSON_RESULT.slice(10)), 1500);
    res.on('close', () => clearTimeout(rest));
  },
  // A declared answer whose connection drops halfway.
  'json-cut': (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(JSON_RESULT) });
    res.write(JSON_RESULT.slice(0, 10));
    setTimeout(() => res.destroy(), 50);
  },
  slow: (_req, res) => {
    setTimeout(() => {
      if (!res.destroyed) CASES.json!(_req, res);
    }, 3000);
  },
};

export async function startScriptedUpstream(key: string): Promise<ScriptedUpstream> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const headers: [string, string][] = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) headers.push([req.rawHeaders[i]!.toLowerCase(), req.rawHeaders[i + 1]!]);
    if (req.headers.authorization !== `Bearer ${key}`) {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end('{"error":"invalid api key"}');
      req.resume();
      return;
    }
    const record: Seen = { method: req.method!, url: req.url!, headers, bodyBytes: 0 };
    seen.push(record);
    answering++;
    res.once('close', () => answering--);
    unused.delete(req.socket);
    const kase = req.headers['mcp-case'];
    req.on('data', (chunk: Buffer) => {
      record.bodyBytes += chunk.byteLength;
    });
    const answer = typeof kase === 'string' ? CASES[kase] : undefined;
    if (answer) return answer(req, res);
    // The key check at consent: an initialize, answered once its body is in.
    req.on('end', () => {
      const result = JSON.stringify({
        jsonrpc: '2.0',
        id: 0,
        result: { protocolVersion: '2025-06-18', capabilities: { tools: {} }, serverInfo: { name: 'scripted', version: '1' } },
      });
      res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'session-0' });
      res.end(result);
    });
  });
  const unused = new Set<Socket>();
  let answering = 0;
  server.on('connection', (socket: Socket) => {
    unused.add(socket);
    socket.once('close', () => unused.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    seen,
    last: (kase) => seen.findLast((record) => record.headers.some(([name, value]) => name === 'mcp-case' && value === kase)),
    unusedConnections: () => unused.size,
    answering: () => answering,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
