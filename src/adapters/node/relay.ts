import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { ExchangeRecord } from '../../activity/note.ts';
import { mcpTooLarge, PayloadTooLargeError } from '../../http/body-limits.ts';
import { type Admitted, keyRejected, streamKeepalive } from '../../mcp/admission.ts';
import { StreamWatch } from '../../mcp/stream-keepalive.ts';
import { observeUpstreamLatency, streamClosed, streamOpened } from '../../metrics.ts';
import { grantCredentials } from '../../oauth/grant-credentials.ts';
import { judgeAnswer, upstreamRequest } from '../../upstream/exchange.ts';
import { redirectRefused, upstreamFailure } from '../../upstream/forward.ts';
import { describeUpstreamError } from '../../upstream/network-error.ts';
import type { UpstreamDispatch } from './guarded-fetch.ts';
import { headerPairs, headerValue } from './header-record.ts';
import { type Answering, answerHeaders, logAnswer, sendResponse } from './send-response.ts';

export interface Relaying extends Answering, Admitted {
  slug: string;
  /** The activity record of this exchange: the body when it was read whole (fast-path.ts), the bytes each way. */
  record: ExchangeRecord;
  countStreams: boolean;
  upstreamDispatch: UpstreamDispatch;
  /** Called once the answer is over, however it ended (the activity note), from the relay's own 'close' listener. */
  onClose?: () => void;
}

/**
 * One MCP request to the upstream and its answer back, through undici's `dispatch` (its lowest
 * level: the handler below gets the status, headers and chunks, and no stream object is built for
 * the answer; about an eighth less CPU per message than its `request`). What goes up and what
 * comes down is src/upstream/exchange.ts's decision, as on the web carrier; this moves the bytes:
 * - a body of declared length arrives read whole (fast-path.ts; Node's parser enforces the length,
 *   checked before) and goes up with the headers; one of undeclared length is piped as it comes,
 *   counted against MAX_MCP_BODY_BYTES;
 * - the bytes each way counted for the activity record (src/activity/note.ts);
 * - the first-byte timer answers 504; a client that leaves aborts the upstream request at once;
 * - the answer relayed event by event with backpressure, heartbeats on a quiet event stream and
 *   the idle timeout; an event stream's headers are sent at once, since Node would otherwise hold
 *   them until the first byte of the body (a quiet stream's first heartbeat).
 */
export function relay(relaying: Relaying, req: IncomingMessage, res: ServerResponse): void {
  const { platform, props, lease } = relaying;
  const { config } = platform;
  const declared = req.method === 'POST' ? req.headers['content-length'] : undefined;
  const { url, headers } = upstreamRequest(
    props.upstream,
    grantCredentials(props),
    (visit) => {
      for (const name in req.headers) {
        const value = req.headers[name];
        if (typeof value === 'string') visit(name, value);
      }
    },
    declared,
  );
  // `url` may carry a query key: failures name only the stored URL's host, parsed only when one is
  // reported (a URL parse per message is a measurable share of the relay's own work).
  const host = () => new URL(props.upstream.url).host;

  const { record } = relaying;
  let body: Readable | Uint8Array | null = null;
  let tooLarge = false;
  if (req.method === 'POST') {
    body =
      record.body ??
      Readable.from(
        counted(req, config.maxMcpBodyBytes, record, () => {
          tooLarge = true;
        }),
      );
  }

  let controller: Dispatcher.DispatchController | undefined;
  let firstByteTimedOut = false;
  let clientLeft = false;
  /** Set once the upstream's answer is not relayed (a 401/403, a redirect, a body over the limit). */
  let replaced = false;
  let watch: StreamWatch | undefined;
  let countedStream = false;
  const answerInstead = (response: Response | Promise<Response>) => {
    replaced = true;
    controller?.abort(new Error('answered by the proxy'));
    lease.release();
    void Promise.resolve(response).then((answer) => sendResponse(res, answer, relaying, record));
  };
  // The first-byte timer ends the upstream request when no headers came in time: 504.
  const timer = setTimeout(() => {
    firstByteTimedOut = true;
    if (controller) controller.abort(new Error('first byte timeout'));
    else answerInstead(upstreamFailure(platform, host(), undefined, true, false));
  }, config.upstreamFirstByteTimeoutMs);
  // `on`, not `once`: a response closes once, and once's wrapper is a cost per message.
  res.on('close', () => {
    watch?.stop();
    lease.release();
    if (countedStream) streamClosed();
    relaying.onClose?.();
    if (res.writableFinished) return;
    // The client left: the upstream request ends at once.
    clientLeft = true;
    controller?.abort(new Error('client left'));
  });

  const sent = performance.now();
  const handler: Dispatcher.DispatchHandler = {
    onRequestStart(started) {
      controller = started;
      if (clientLeft || replaced) started.abort(new Error('client left'));
    },
    onResponseStart(_controller, status, upstreamHeaders) {
      if (status < 200 || replaced) return;
      clearTimeout(timer);
      const upstreamMs = performance.now() - sent;
      observeUpstreamLatency(upstreamMs / 1000);
      if (tooLarge) return answerInstead(mcpTooLarge(config.maxMcpBodyBytes));
      const keepalive = streamKeepalive(platform, relaying.slug);
      const verdict = judgeAnswer(
        status,
        headerPairs(upstreamHeaders),
        (name) => headerValue(upstreamHeaders[name]),
        upstreamMs,
        keepalive,
      );
      if (verdict.kind === 'redirect-refused') return answerInstead(redirectRefused(verdict.status));
      if (verdict.kind === 'key-rejected') return answerInstead(keyRejected(platform, props, relaying.auth, verdict.status));
      try {
        res.writeHead(status, answerHeaders(status, relaying, verdict.headers));
      } catch (error) {
        // A header value Node refuses to send (it would not be valid HTTP): the answer cannot be relayed.
        platform.log.warn('upstream answer not relayed', { reason: (error as Error).message });
        return answerInstead(upstreamFailure(platform, host(), error, false, false));
      }
      logAnswer(relaying, status, verdict.headers.find(([name]) => name === 'server-timing')?.[1]);
      if (verdict.nullBody) {
        replaced = true;
        controller?.abort(new Error('no body'));
        res.end();
        return;
      }
      if (verdict.eventStream) res.flushHeaders();
      countedStream = relaying.countStreams && verdict.eventStream;
      if (countedStream) streamOpened();
      if (verdict.timing)
        watch = new StreamWatch(verdict.timing, {
          heartbeat: (bytes) => {
            record.bytesOut += bytes.byteLength;
            res.write(bytes);
          },
          idle: () => {
            keepalive.onIdle?.();
            replaced = true;
            controller?.abort(new Error('upstream idle'));
            res.end();
          },
        });
      res.on('drain', () => controller?.resume());
    },
    onResponseData(paused, chunk) {
      if (replaced) return;
      watch?.chunk(chunk);
      record.bytesOut += chunk.byteLength;
      if (!res.write(chunk)) paused.pause();
    },
    onResponseEnd() {
      if (replaced) return;
      watch?.stop();
      res.end();
    },
    onResponseError(_controller, error) {
      clearTimeout(timer);
      watch?.stop();
      if (replaced || clientLeft) return;
      if (res.headersSent) {
        // The upstream broke off mid-answer: logged, and the client sees its connection end, as with the app.
        platform.log.error('relaying the answer failed', { slug: relaying.slug, reason: describeUpstreamError(error) });
        res.destroy();
        return;
      }
      if (tooLarge) return answerInstead(mcpTooLarge(config.maxMcpBodyBytes));
      answerInstead(upstreamFailure(platform, host(), error, firstByteTimedOut, false));
    },
  };
  try {
    relaying.upstreamDispatch(url, { method: req.method as Dispatcher.HttpMethod, headers, body }, handler);
  } catch (error) {
    // The URL policy refused it before any connection.
    clearTimeout(timer);
    answerInstead(upstreamFailure(platform, host(), error, false, false));
  }
}

/**
 * A body of undeclared length, passed on chunk by chunk until it goes past `max` bytes; once it
 * has all passed, the activity record gets it whole (it is bounded by `max`).
 */
async function* counted(req: IncomingMessage, max: number, record: ExchangeRecord, onTooLarge: () => void): AsyncGenerator<Buffer> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.byteLength;
    if (size > max) {
      onTooLarge();
      throw new PayloadTooLargeError(max);
    }
    chunks.push(chunk);
    yield chunk;
  }
  record.body = Buffer.concat(chunks);
  record.bytesIn = size;
}
