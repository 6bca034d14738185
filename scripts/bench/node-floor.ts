/**
 * The least a proxy on Node can do, as a bench target beside nginx and Key2OAuth: raw node:http in,
 * undici's lowest-level `dispatch` out to the upstream over kept-alive connections, the client's
 * headers passed on with the key set, the answer streamed back chunk by chunk with backpressure,
 * and the upstream request ended when the client leaves. No token check, no limits, no header
 * rules, no log: whatever Key2OAuth spends above this is its own; what this spends above nginx is
 * Node's (its HTTP parser and streams, libuv, the JavaScript between them).
 *   node scripts/bench/node-floor.ts UPSTREAM_ORIGIN PORT   (prints "listening" when ready)
 */
import { createServer } from 'node:http';
import { Pool } from 'undici';
import { BENCH_KEY } from './key.ts';

const [origin, port] = process.argv.slice(2);
// No cap on upstream connections, as nginx opens as many as it needs: an idle stream holds one.
const pool = new Pool(origin!, { connections: null });

createServer((req, res) => {
  const headers: Record<string, string | string[] | undefined> = { ...req.headers, authorization: `Bearer ${BENCH_KEY}` };
  delete headers.host;
  delete headers.connection;
  let abort: ((reason: Error) => void) | undefined;
  res.on('close', () => {
    if (!res.writableFinished) abort?.(new Error('client left'));
  });
  pool.dispatch(
    { path: req.url!, method: req.method!, headers, body: req.method === 'POST' ? req : null },
    {
      onRequestStart(controller) {
        abort = (reason) => controller.abort(reason);
      },
      onResponseStart(controller, status, upstreamHeaders) {
        if (status < 200) return;
        res.writeHead(status, upstreamHeaders);
        res.on('drain', () => controller.resume());
      },
      onResponseData(controller, chunk) {
        if (!res.write(chunk)) controller.pause();
      },
      onResponseEnd() {
        res.end();
      },
      onResponseError() {
        if (!res.headersSent) res.writeHead(502);
        res.end();
      },
    },
  );
}).listen(Number(port), '127.0.0.1', () => console.log('listening'));
