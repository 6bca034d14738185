import { isEventStream } from '../http/event-stream.ts';
import { type StreamTiming, streamTiming, wholeAnswerLength } from '../upstream/exchange.ts';

/**
 * What the proxy does to a response body while it is open:
 * - SSE heartbeats: after `heartbeatMs` without a byte from the upstream, a comment line
 *   (`: keepalive`) is sent to the client, only ever between events (where a blank line has just
 *   ended the last one), never inside one. Comments are ignored by every SSE parser. They keep
 *   reverse proxies and load balancers from cutting a quiet stream, and a write to a client that
 *   left is what lets the runtime notice (workerd learns of a gone client only on a write).
 * - An idle timeout: an upstream that sends nothing for `idleMs` has its request ended and the
 *   client's stream closed normally (MCP clients reopen a GET stream and retry a request).
 * - `onClose`, called once when the body ends, fails, is cancelled (the client left) or is closed
 *   as idle, with the bytes sent: the guard releases the answer's stream-limit lease and notes
 *   the exchange in the activity record there. One wrapper does all three,
 *   since each JS stream a body passes through costs CPU on every answer (most on Workers).
 * The body is read on demand, so backpressure is kept.
 */

const KEEPALIVE = new TextEncoder().encode(': keepalive\n\n');
const CR = 0x0d;
const LF = 0x0a;

export interface KeepaliveOptions {
  /** 0 for no heartbeats. */
  heartbeatMs: number;
  /** 0 for no idle timeout. */
  idleMs: number;
  onIdle?: () => void;
  /**
   * Called once with the bytes of the body sent to the client (heartbeats included), and the
   * status sent when it is not the answer's own (keepAnswer's answer to a body cut short).
   */
  onClose?: (bytes: number, status?: number) => void;
}

export interface AnswerOptions extends KeepaliveOptions {
  /** The answer when a body read whole stalled (`stalled`) or broke off (forward.ts `answerCutShort`). */
  cutShort: (stalled: boolean, error?: unknown) => Response;
  /** Whether the client has left (its request's signal): a read it ended is nobody's failure. */
  clientLeft?: () => boolean;
}

/**
 * The web carrier's answer to an MCP request as the client gets it. A body exchange.ts says is
 * read whole (`wholeAnswerLength`: the common JSON answer) is read here under the idle timeout and
 * handed on as bytes, or replaced by `cutShort`'s error when it does not come whole; anything else
 * (an event stream, a large or undeclared body) goes through keepStreamAlive. The Node carrier
 * (src/adapters/node/relay.ts) does the same with the same rule.
 */
export function keepAnswer(response: Response, options: AnswerOptions): Response | Promise<Response> {
  const length = response.body ? wholeAnswerLength(response.status, (name) => response.headers.get(name)) : null;
  return length === null ? keepStreamAlive(response, options) : readWhole(response, length, options);
}

async function readWhole(response: Response, length: number, options: AnswerOptions): Promise<Response> {
  const reader = response.body!.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let stalled = false;
  let failure: unknown;
  const watch = new StreamWatch(
    { heartbeatMs: 0, idleMs: options.idleMs },
    {
      heartbeat: () => {},
      idle: () => {
        stalled = true;
        reader.cancel(new Error('upstream idle')).catch(() => {});
      },
    },
  );
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done || stalled) break;
      watch.chunk(value);
      chunks.push(value);
      size += value.byteLength;
      // The runtime holds an upstream to its declared length; this only bounds what is kept.
      if (size > length) throw new Error('the answer is longer than its declared length');
    }
  } catch (error) {
    failure = error;
    reader.cancel().catch(() => {});
  } finally {
    watch.stop();
  }
  if (!stalled && failure !== undefined && options.clientLeft?.()) {
    // The client left and so ended the upstream request: nothing to answer, nothing to report
    // (the Node carrier is as quiet). The record keeps the answer's status, as for a stream.
    options.onClose?.(0);
    return new Response(null, { status: 499 });
  }
  if (stalled || failure !== undefined || size !== length) {
    const answer = options.cutShort(stalled, failure);
    // Its own bytes are counted as they go, as for any answer the proxy builds (the Node carrier does the same).
    const { onClose } = options;
    return keepStreamAlive(answer, {
      heartbeatMs: 0,
      idleMs: 0,
      ...(onClose ? { onClose: (bytes) => onClose(bytes, answer.status) } : {}),
    });
  }
  options.onClose?.(size);
  return new Response((chunks.length === 1 ? chunks[0]! : concat(chunks, size)) as Uint8Array<ArrayBuffer>, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
}

function concat(chunks: Uint8Array[], size: number): Uint8Array {
  const whole = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    whole.set(chunk, at);
    at += chunk.byteLength;
  }
  return whole;
}

export function keepStreamAlive(response: Response, options: KeepaliveOptions): Response {
  let closed = false;
  let bytes = 0;
  const close = () => {
    if (closed) return;
    closed = true;
    options.onClose?.(bytes);
  };
  if (!response.body) {
    close();
    return response;
  }
  const timing = streamTiming(isEventStream(response.headers.get('content-type')), options) ?? (options.onClose ? NO_TIMERS : null);
  if (!timing) return response;

  const reader = response.body.getReader();
  let watch: StreamWatch | undefined;
  const body = new ReadableStream<Uint8Array>(
    {
      start(controller) {
        watch = new StreamWatch(timing, {
          heartbeat: (beat) => {
            controller.enqueue(beat);
            bytes += beat.byteLength;
          },
          idle: () => {
            options.onIdle?.();
            close();
            reader.cancel(new Error('upstream idle')).catch(() => {});
            try {
              controller.close();
            } catch {}
          },
        });
      },
      async pull(controller) {
        try {
          const { value, done } = await reader.read();
          if (watch!.stopped) return;
          if (done) {
            watch!.stop();
            close();
            controller.close();
            return;
          }
          watch!.chunk(value);
          bytes += value.byteLength;
          controller.enqueue(value);
        } catch (error) {
          if (watch!.stopped) return;
          watch!.stop();
          close();
          controller.error(error);
        }
      },
      async cancel(reason) {
        watch!.stop();
        close();
        await reader.cancel(reason).catch(() => {});
      },
    },
    { highWaterMark: 0 },
  );
  const headers = new Headers(response.headers);
  // Heartbeats add bytes: a length the upstream declared no longer holds.
  if (timing.heartbeatMs > 0) headers.delete('content-length');
  return new Response(body, { status: response.status, statusText: response.statusText, headers });
}

/** No heartbeat, no idle timeout: the wrapper only reports the body's end. */
const NO_TIMERS: StreamTiming = { heartbeatMs: 0, idleMs: 0 };

/**
 * The timers of one open body, whatever carries it (a web stream here, a Node response in the
 * Node adapter's fast path): told of each upstream chunk, it asks for a heartbeat after
 * `heartbeatMs` of silence, only between events, and calls `idle` once after `idleMs` without a
 * byte. A hook that throws (the client is gone) stops it.
 */
export class StreamWatch {
  stopped = false;
  /** Only an event stream (heartbeats) needs to know where its events end. */
  readonly #boundary: EventBoundary | undefined;
  readonly #timing: StreamTiming;
  readonly #hooks: { heartbeat(bytes: Uint8Array): void; idle(): void };
  #lastByteAt = Date.now();
  /** When the next heartbeat check is due (every `heartbeatMs` from the start, as an interval would). */
  #nextBeatAt: number;
  /**
   * One timer for both duties, set for whichever is due first: an open stream holds one timer, not
   * two, and a chunk only notes its time (the timer is moved when it fires, not on every chunk).
   */
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(timing: StreamTiming, hooks: { heartbeat(bytes: Uint8Array): void; idle(): void }) {
    this.#timing = timing;
    this.#hooks = hooks;
    this.#boundary = timing.heartbeatMs > 0 ? new EventBoundary() : undefined;
    this.#nextBeatAt = this.#lastByteAt + timing.heartbeatMs;
    this.#arm(this.#lastByteAt);
  }

  chunk(bytes: Uint8Array): void {
    this.#lastByteAt = Date.now();
    this.#boundary?.feed(bytes);
  }

  stop(): void {
    this.stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
  }

  #arm(now: number): void {
    const { heartbeatMs, idleMs } = this.#timing;
    if (this.stopped || (heartbeatMs === 0 && idleMs === 0)) return;
    const idleAt = idleMs > 0 ? this.#lastByteAt + idleMs : Number.POSITIVE_INFINITY;
    const dueAt = heartbeatMs > 0 ? Math.min(idleAt, this.#nextBeatAt) : idleAt;
    this.#timer = setTimeout(fire, Math.max(0, dueAt - now), this);
    unref(this.#timer);
  }

  /** The timer fired: the idle timeout if no byte came for `idleMs`, else a heartbeat if one is due; then the next. */
  fired(): void {
    if (this.stopped) return;
    const { heartbeatMs, idleMs } = this.#timing;
    const now = Date.now();
    if (idleMs > 0 && now - this.#lastByteAt >= idleMs) {
      this.stop();
      this.#hooks.idle();
      return;
    }
    if (heartbeatMs > 0 && now >= this.#nextBeatAt) {
      this.#nextBeatAt = now + heartbeatMs;
      // Only after `heartbeatMs` of silence, and never inside an event.
      if (now - this.#lastByteAt >= heartbeatMs && this.#boundary!.between) {
        try {
          this.#hooks.heartbeat(KEEPALIVE);
        } catch {
          this.stop();
          return;
        }
      }
    }
    this.#arm(now);
  }
}

/** Every watch's timer callback: one function, the watch rides as its argument. */
function fire(watch: StreamWatch): void {
  watch.fired();
}

/** A stream's timers never keep a Node process alive by themselves (Workers have no unref). */
function unref(timer: unknown): void {
  (timer as { unref?: () => void }).unref?.();
}

/**
 * Whether the bytes so far end between SSE events: at the start, or right after a blank line.
 * Lines end with CRLF, LF or CR. After a lone CR a following LF belongs to it; a comment inserted
 * in between turns that LF into one more blank line, which dispatches nothing.
 *
 * Only a chunk's trailing line breaks need a look byte by byte: any other byte leaves the same
 * state whatever came before it (inside a line, not after a CR), so the last such byte settles
 * everything up to it. A chunk costs its last few bytes, not a JavaScript step per byte (about 4 ns
 * a byte: 0.3 ms for 64 KiB of a large event stream).
 */
export class EventBoundary {
  between = true;
  #lineEmpty = true;
  #afterCr = false;

  feed(bytes: Uint8Array): void {
    // Where the chunk's trailing line breaks begin.
    let tail = bytes.length;
    while (tail > 0 && (bytes[tail - 1] === LF || bytes[tail - 1] === CR)) tail--;
    if (tail > 0) {
      this.#lineEmpty = false;
      this.#afterCr = false;
      this.between = false;
    }
    for (let i = tail; i < bytes.length; i++) {
      const lf = bytes[i] === LF;
      if (lf && this.#afterCr) {
        this.#afterCr = false;
        continue;
      }
      this.#afterCr = !lf;
      this.between = this.#lineEmpty;
      this.#lineEmpty = true;
    }
  }
}
