/**
 * The bench's upstream: a minimal MCP-shaped server on raw node:http, so its own cost is as small
 * as a server's can be and every difference between targets is the proxy's. Run as a child with an
 * IPC channel (fork): it reports its port, and the moment it sees each watched stream close.
 *
 * - POST: a JSON answer to any JSON-RPC request; for method `bench/sse`, an SSE stream of
 *   `params.count` events `params.interval` ms apart, each carrying the monotonic clock at sending
 *   (process.hrtime is CLOCK_MONOTONIC, shared by every process on the machine); for method
 *   `bench/large`, an SSE stream of one event whose JSON-RPC result carries `params.bytes` of text,
 *   written 64 KiB at a time (a tool's large answer, as an SDK server sends it).
 * - GET: an idle server stream (one comment, then nothing) that stays open until the client leaves;
 *   with `Mcp-Session-Id: ID` (a header every proxy passes) the close is reported to the parent with its time.
 * Asked `{ ask: 'open' }`, it answers how many GET streams are open.
 * Every request must carry the key; anything else is a 401, so a target that forgot to inject it fails.
 */
import { createServer } from 'node:http';
import { BENCH_KEY } from './key.ts';

const RESULT = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  result: { content: [{ type: 'text', text: 'echo: the quick brown fox jumps over the lazy dog' }], isError: false },
});

/** How much of a large answer the upstream writes at once. */
const LARGE_WRITE = 64 * 1024;

/** A JSON-RPC result whose text is `bytes` long; made once per size. */
const largeResults = new Map<number, string>();
function largeResult(bytes: number): string {
  let result = largeResults.get(bytes);
  if (!result) {
    result = JSON.stringify({ jsonrpc: '2.0', id: 1, result: { content: [{ type: 'text', text: 'x'.repeat(bytes) }], isError: false } });
    largeResults.set(bytes, result);
  }
  return result;
}

/** GET streams open now: the growth bench waits for a process's streams to be gone before the next opens its own. */
let openStreams = 0;

const server = createServer((req, res) => {
  if (req.headers.authorization !== `Bearer ${BENCH_KEY}`) {
    res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"invalid api key"}');
    req.resume();
    return;
  }
  if (req.method === 'GET') {
    const watch = req.headers['mcp-session-id'];
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.write(': open\n\n');
    openStreams++;
    res.once('close', () => openStreams--);
    if (typeof watch === 'string') res.on('close', () => process.send?.({ closed: watch, at: String(process.hrtime.bigint()) }));
    return;
  }
  if (req.method !== 'POST') {
    res.writeHead(200).end();
    req.resume();
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString();
    if (body.includes('"bench/large"')) {
      const { params } = JSON.parse(body) as { params: { bytes: number } };
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      const event = Buffer.from(`event: message\ndata: ${largeResult(params.bytes)}\n\n`);
      for (let at = 0; at < event.byteLength; at += LARGE_WRITE) res.write(event.subarray(at, at + LARGE_WRITE));
      res.end();
      return;
    }
    if (!body.includes('"bench/sse"')) {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(RESULT) }).end(RESULT);
      return;
    }
    const { params } = JSON.parse(body) as { params: { count: number; interval: number } };
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    let sent = 0;
    const send = () => {
      res.write(`event: message\ndata: {"t":"${process.hrtime.bigint()}","n":${sent}}\n\n`);
      if (++sent >= params.count) res.end();
      else setTimeout(send, params.interval);
    };
    send();
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.send?.({ port: typeof address === 'object' && address ? address.port : 0 });
});
process.on('message', (message: { ask?: string }) => {
  if (message.ask === 'open') process.send?.({ open: openStreams });
});
process.on('disconnect', () => process.exit(0));
