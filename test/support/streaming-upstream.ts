import { createServer } from 'node:http';

/**
 * A minimal upstream on loopback for the stream limits: GET opens an SSE stream that sends one
 * comment and then stays silent until the client leaves; POST answers `initialize` at once (so
 * the key check passes). Anything without `Bearer <key>` gets 401. `breakNext()` makes the next
 * GET stream die mid-event, as a crashing upstream would.
 */
export interface StreamingUpstream {
  url: string;
  /** GET streams currently open on the upstream. */
  openStreams(): number;
  breakNext(): void;
  close(): Promise<void>;
}

export async function startStreamingUpstream(key: string): Promise<StreamingUpstream> {
  let breakNext = false;
  let open = 0;
  const server = createServer((request, response) => {
    if (request.headers.authorization !== `Bearer ${key}`) {
      response.writeHead(401).end();
      return;
    }
    if (request.method === 'GET') {
      open++;
      response.on('close', () => open--);
      response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      response.write(': open\n\n');
      if (breakNext) {
        breakNext = false;
        response.write('data: {"half":');
        setTimeout(() => response.socket?.destroy(), 50);
      }
      return;
    }
    request.resume();
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(
      JSON.stringify({
        jsonrpc: '2.0',
        id: 1,
        result: { protocolVersion: '2025-06-18', capabilities: {}, serverInfo: { name: 'streaming-upstream', version: '1' } },
      }),
    );
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    openStreams: () => open,
    breakNext: () => {
      breakNext = true;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
