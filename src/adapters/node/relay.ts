import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { type ExchangeRecord, noteExchange } from '../../activity/note.ts';
import { mcpTooLarge, PayloadTooLargeError } from '../../http/body-limits.ts';
import { type Admitted, answerRules, keyRejected, streamKeepalive } from '../../mcp/admission.ts';
import { StreamWatch } from '../../mcp/stream-keepalive.ts';
import { observeUpstreamLatency, streamClosed, streamOpened } from '../../metrics.ts';
import type { VerifiedToken } from '../../oauth/engine.ts';
import { grantCredentials } from '../../oauth/grant-credentials.ts';
import type { Platform } from '../../platform.ts';
import { judgeAnswer, upstreamRequest } from '../../upstream/exchange.ts';
import { answerCutShort, redirectRefused, upstreamFailure } from '../../upstream/forward.ts';
import { describeUpstreamError } from '../../upstream/network-error.ts';
import type { UpstreamDispatch } from './guarded-fetch.ts';
import { eachHeader, type HeaderRecord, headerValue, nodeHeaders } from './header-record.ts';
import { type Answering, answerHeaders, logAnswer, sendResponse } from './send-response.ts';

export interface Relaying extends Answering, Admitted {
  slug: string;
  /** The activity record of this exchange: the body when it was read whole (fast-path.ts), the bytes each way. */
  record: ExchangeRecord;
  countStreams: boolean;
  upstreamDispatch: UpstreamDispatch;
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
 * - a body exchange.ts says is read whole (`wholeAnswerLength`) held until it is all here and sent
 *   with its headers in one write, or answered by `answerCutShort` when it stalls or breaks off;
 * - any other answer relayed event by event with backpressure, heartbeats on a quiet event stream and
 *   the idle timeout; an event stream's headers are sent by the end of the turn they came in
 *   (with its first event when that came with them), since Node would otherwise hold them until
 *   the first byte of the body (a quiet stream's first heartbeat).
 */
export function relay(relaying: Relaying, req: IncomingMessage, res: ServerResponse): void {
  new Relay(relaying, req, res).start();
}

/**
 * One exchange's state and its handler for undici, as one object: its methods live on the
 * prototype, so an exchange (and an idle stream, which may stay open for hours) holds this object
 * and two closures (the 'close' listener, and 'drain' once the answer started) instead of a closure
 * per handler method and a context for all of them.
 */
class Relay implements Dispatcher.DispatchHandler {
  readonly #relaying: Relaying;
  readonly #req: IncomingMessage;
  readonly #res: ServerResponse;
  #controller: Dispatcher.DispatchController | undefined;
  /** The first-byte timer: ends the upstream request when no headers came in time (504); dropped once they come. */
  #timer: ReturnType<typeof setTimeout> | undefined;
  #firstByteTimedOut = false;
  #clientLeft = false;
  /** Set once the upstream's answer is not relayed (a 401/403, a redirect, a body over the limit). */
  #replaced = false;
  #tooLarge = false;
  #watch: StreamWatch | undefined;
  /** A body read whole before it is sent (exchange.ts `wholeAnswerLength`): its status, headers and chunks so far. */
  #whole: WholeAnswer | undefined;
  #countedStream = false;
  #sent = 0;

  constructor(relaying: Relaying, req: IncomingMessage, res: ServerResponse) {
    this.#relaying = relaying;
    this.#res = res;
    this.#req = req;
  }

  start(): void {
    const relaying = this.#relaying;
    const req = this.#req;
    const res = this.#res;
    const { platform, props, record } = relaying;
    const { config } = platform;
    const declared = req.method === 'POST' ? req.headers['content-length'] : undefined;
    // `url` may carry a query key: failures name only the stored URL's host (#host).
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
    let body: Readable | Uint8Array | null = null;
    if (req.method === 'POST') {
      body =
        record.body ??
        Readable.from(
          counted(req, config.maxMcpBodyBytes, record, () => {
            this.#tooLarge = true;
          }),
        );
    }
    this.#timer = setTimeout(firstByteTimeout, config.upstreamFirstByteTimeoutMs, this);
    // `on`, not `once`: a response closes once, and once's wrapper is a cost per message.
    res.on('close', () => this.#closed());
    this.#sent = performance.now();
    try {
      relaying.upstreamDispatch(url, { method: req.method as Dispatcher.HttpMethod, headers, body }, this);
    } catch (error) {
      // The URL policy refused it before any connection.
      this.#clearTimer();
      this.#answerInstead(upstreamFailure(platform, this.#host(), error, false, false));
    }
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#clientLeft || this.#replaced) controller.abort(new Error('client left'));
  }

  onResponseStart(_controller: Dispatcher.DispatchController, status: number, upstreamHeaders: HeaderRecord): void {
    if (status < 200 || this.#replaced) return;
    this.#clearTimer();
    const relaying = this.#relaying;
    const res = this.#res;
    const { platform, props } = relaying;
    const upstreamMs = performance.now() - this.#sent;
    observeUpstreamLatency(upstreamMs / 1000);
    if (this.#tooLarge) {
      this.#answerInstead(mcpTooLarge(platform.config.maxMcpBodyBytes));
      return;
    }
    const verdict = judgeAnswer(
      status,
      (visit) => eachHeader(upstreamHeaders, visit),
      (name) => headerValue(upstreamHeaders[name]),
      upstreamMs,
      answerRules(platform),
    );
    if (verdict.kind === 'redirect-refused') {
      this.#answerInstead(redirectRefused(verdict.status));
      return;
    }
    if (verdict.kind === 'key-rejected') {
      this.#answerInstead(keyRejected(platform, props, relaying.auth, verdict.status));
      return;
    }
    if (verdict.wholeLength !== null) {
      // Held until it is all here, then sent with its headers in one write (exchange.ts says why).
      this.#whole = { status, headers: verdict.headers, length: verdict.wholeLength, chunks: [], size: 0 };
      if (verdict.timing) this.#watch = new StreamWatch(verdict.timing, this);
      return;
    }
    if (!this.#head(status, verdict.headers)) return;
    if (verdict.nullBody) {
      this.#replaced = true;
      this.#controller?.abort(new Error('no body'));
      res.end();
      return;
    }
    // An event stream's headers go out without waiting for its first byte (a quiet stream's could
    // be a heartbeat away), but not before this turn's bytes: an upstream that sent headers and
    // its first event together has them relayed together, in one write.
    if (verdict.eventStream) setImmediate(flushQuietHeaders, this);
    this.#countedStream = relaying.countStreams && verdict.eventStream;
    if (this.#countedStream) streamOpened();
    if (verdict.timing) this.#watch = new StreamWatch(verdict.timing, this);
    res.on('drain', () => this.#controller?.resume());
  }

  onResponseData(paused: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#replaced) return;
    this.#watch?.chunk(chunk);
    const whole = this.#whole;
    if (whole) {
      // undici holds the upstream to its declared length (a longer body is an error), so this stays bounded.
      whole.chunks.push(chunk);
      whole.size += chunk.byteLength;
      return;
    }
    this.#relaying.record.bytesOut += chunk.byteLength;
    if (!this.#res.write(chunk)) paused.pause();
  }

  onResponseEnd(): void {
    if (this.#replaced) return;
    this.#watch?.stop();
    const whole = this.#whole;
    if (!whole) {
      this.#res.end();
      return;
    }
    if (whole.size !== whole.length) {
      this.#answerInstead(answerCutShort(this.#relaying.platform, this.#relaying.slug, false));
      return;
    }
    if (!this.#head(whole.status, whole.headers)) return;
    this.#relaying.record.bytesOut += whole.size;
    this.#res.end(whole.chunks.length === 1 ? whole.chunks[0] : Buffer.concat(whole.chunks, whole.size));
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.#clearTimer();
    this.#watch?.stop();
    if (this.#replaced || this.#clientLeft) return;
    const { platform, slug } = this.#relaying;
    if (this.#res.headersSent) {
      // The upstream broke off mid-answer: logged, and the client sees its connection end, as with the app.
      platform.log.error('relaying the answer failed', { slug, reason: describeUpstreamError(error) });
      this.#res.destroy();
      return;
    }
    if (this.#tooLarge) {
      this.#answerInstead(mcpTooLarge(platform.config.maxMcpBodyBytes));
      return;
    }
    if (this.#whole) {
      this.#answerInstead(answerCutShort(platform, slug, false, error));
      return;
    }
    this.#answerInstead(upstreamFailure(platform, this.#host(), error, this.#firstByteTimedOut, false));
  }

  /** StreamWatch's hook: a heartbeat on a quiet event stream. */
  heartbeat(bytes: Uint8Array): void {
    this.#relaying.record.bytesOut += bytes.byteLength;
    this.#res.write(bytes);
  }

  /** StreamWatch's hook: no byte from the upstream for the idle timeout. */
  idle(): void {
    const { platform, slug } = this.#relaying;
    if (this.#whole) {
      this.#answerInstead(answerCutShort(platform, slug, true));
      return;
    }
    streamKeepalive(platform, slug).onIdle?.();
    this.#replaced = true;
    this.#controller?.abort(new Error('upstream idle'));
    this.#res.end();
  }

  flushIfQuiet(): void {
    // `headersSent` is already true once writeHead has run, before anything reached the socket:
    // what tells is whether a byte of the body was written (it carries the headers with it).
    const res = this.#res;
    if (this.#relaying.record.bytesOut === 0 && !res.writableEnded && !res.destroyed) res.flushHeaders();
  }

  firstByteTimedOut(): void {
    this.#timer = undefined;
    this.#firstByteTimedOut = true;
    if (this.#controller) this.#controller.abort(new Error('first byte timeout'));
    else this.#answerInstead(upstreamFailure(this.#relaying.platform, this.#host(), undefined, true, false));
  }

  #closed(): void {
    this.#watch?.stop();
    this.#relaying.lease.release();
    if (this.#countedStream) streamClosed();
    const { platform, slug, auth, record } = this.#relaying;
    noteAnswered(platform, slug, auth, record, this.#req, this.#res);
    if (this.#res.writableFinished) return;
    // The client left: the upstream request ends at once.
    this.#clientLeft = true;
    this.#controller?.abort(new Error('client left'));
  }

  /** Sends the relayed answer's status and headers (with the access log line); false when Node refused them and an error went instead. */
  #head(status: number, headers: [string, string][]): boolean {
    const relaying = this.#relaying;
    try {
      this.#res.writeHead(status, answerHeaders(status, relaying, headers));
    } catch (error) {
      // A header value Node refuses to send (it would not be valid HTTP): the answer cannot be relayed.
      relaying.platform.log.warn('upstream answer not relayed', { reason: (error as Error).message });
      this.#answerInstead(upstreamFailure(relaying.platform, this.#host(), error, false, false));
      return false;
    }
    logAnswer(relaying, status, headers.find(([name]) => name === 'server-timing')?.[1]);
    return true;
  }

  #answerInstead(response: Response | Promise<Response>): void {
    this.#replaced = true;
    this.#controller?.abort(new Error('answered by the proxy'));
    this.#relaying.lease.release();
    void Promise.resolve(response).then((answer) => sendResponse(this.#res, answer, this.#relaying, this.#relaying.record));
  }

  #clearTimer(): void {
    if (this.#timer === undefined) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** The stored upstream URL's host, for failures: parsed only when one is reported (a parse per message would cost). */
  #host(): string {
    return new URL(this.#relaying.props.upstream.url).host;
  }
}

interface WholeAnswer {
  status: number;
  headers: [string, string][];
  length: number;
  chunks: Buffer[];
  size: number;
}

/** The activity record's entries for an exchange (src/activity/note.ts): called once its answer is over. */
export function noteAnswered(
  platform: Platform,
  slug: string,
  auth: VerifiedToken,
  record: ExchangeRecord,
  req: IncomingMessage,
  res: ServerResponse,
): void {
  noteExchange(platform, slug, auth, record, req.method!, (name) => nodeHeaders(req).get(name), res.statusCode);
}

/** The turn after an event stream's headers came: sends them if no byte of its body went with them. */
function flushQuietHeaders(relay: Relay): void {
  relay.flushIfQuiet();
}

/** The first-byte timer's callback: one function for every exchange (the exchange rides as its argument). */
function firstByteTimeout(relay: Relay): void {
  relay.firstByteTimedOut();
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
