/**
 * What the proxy does to a response body while it is open:
 * - SSE heartbeats: after `heartbeatMs` without a byte from the upstream, a comment line
 *   (`: keepalive`) is sent to the client, only ever between events (where a blank line has just
 *   ended the last one), never inside one. Comments are ignored by every SSE parser. They keep
 *   reverse proxies and load balancers from cutting a quiet stream, and a write to a client that
 *   left is what lets the runtime notice (workerd learns of a gone client only on a write).
 * - An idle timeout: an upstream that sends nothing for `idleMs` has its request ended and the
 *   client's stream closed normally (MCP clients reopen a GET stream and retry a request).
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
}

export function keepStreamAlive(response: Response, options: KeepaliveOptions): Response {
  if (!response.body) return response;
  const isSse = /^text\/event-stream/i.test(response.headers.get('content-type') ?? '');
  const heartbeatMs = isSse ? options.heartbeatMs : 0;
  if (heartbeatMs === 0 && options.idleMs === 0) return response;

  const reader = response.body.getReader();
  const boundary = new EventBoundary();
  let lastByteAt = Date.now();
  let closed = false;
  let heartbeat: ReturnType<typeof setInterval> | undefined;
  let idle: ReturnType<typeof setTimeout> | undefined;
  const stop = () => {
    closed = true;
    if (heartbeat) clearInterval(heartbeat);
    if (idle) clearTimeout(idle);
  };

  const body = new ReadableStream<Uint8Array>(
    {
      start(controller) {
        if (heartbeatMs > 0) {
          heartbeat = setInterval(() => {
            if (closed || Date.now() - lastByteAt < heartbeatMs || !boundary.between) return;
            try {
              controller.enqueue(KEEPALIVE);
            } catch {
              stop();
            }
          }, heartbeatMs);
          unref(heartbeat);
        }
        const armIdle = () => {
          if (options.idleMs === 0 || closed) return;
          const wait = lastByteAt + options.idleMs - Date.now();
          idle = setTimeout(
            () => {
              if (closed) return;
              if (Date.now() - lastByteAt < options.idleMs) return armIdle();
              stop();
              options.onIdle?.();
              reader.cancel(new Error('upstream idle')).catch(() => {});
              try {
                controller.close();
              } catch {}
            },
            Math.max(0, wait),
          );
          unref(idle);
        };
        armIdle();
      },
      async pull(controller) {
        try {
          const { value, done } = await reader.read();
          if (closed) return;
          if (done) {
            stop();
            controller.close();
            return;
          }
          lastByteAt = Date.now();
          boundary.feed(value);
          controller.enqueue(value);
        } catch (error) {
          if (closed) return;
          stop();
          controller.error(error);
        }
      },
      async cancel(reason) {
        stop();
        await reader.cancel(reason).catch(() => {});
      },
    },
    { highWaterMark: 0 },
  );
  const headers = new Headers(response.headers);
  // Heartbeats add bytes: a length the upstream declared no longer holds.
  if (heartbeatMs > 0) headers.delete('content-length');
  return new Response(body, { status: response.status, statusText: response.statusText, headers });
}

/** A stream's timers never keep a Node process alive by themselves (Workers have no unref). */
function unref(timer: unknown): void {
  (timer as { unref?: () => void }).unref?.();
}

/**
 * Whether the bytes so far end between SSE events: at the start, or right after a blank line.
 * Lines end with CRLF, LF or CR. After a lone CR a following LF belongs to it; a comment inserted
 * in between turns that LF into one more blank line, which dispatches nothing.
 */
export class EventBoundary {
  between = true;
  #lineEmpty = true;
  #afterCr = false;

  feed(bytes: Uint8Array): void {
    for (const byte of bytes) {
      if (byte === LF && this.#afterCr) {
        this.#afterCr = false;
        continue;
      }
      this.#afterCr = byte === CR;
      if (byte === CR || byte === LF) {
        this.between = this.#lineEmpty;
        this.#lineEmpty = true;
      } else {
        this.#lineEmpty = false;
        this.between = false;
      }
    }
  }
}
