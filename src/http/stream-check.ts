/**
 * GET /healthz/stream: an event stream that sends one event at once and a second a second later,
 * then ends. `key2oauth doctor` times the first event through the public URL: a reverse proxy that
 * buffers responses (nginx's default `proxy_buffering on`) delivers both together at the end,
 * and then MCP streams (progress, server requests, legacy SSE) stall the same way. It carries the
 * same headers as a relayed MCP stream, so it is buffered exactly when those are.
 */
export const STREAM_CHECK_PATH = '/healthz/stream';
export const STREAM_CHECK_GAP_MS = 1000;

export function streamCheck(): Response {
  const encoder = new TextEncoder();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(encoder.encode('event: first\ndata: {}\n\n'));
      timer = setTimeout(() => {
        controller.enqueue(encoder.encode('event: last\ndata: {}\n\n'));
        controller.close();
      }, STREAM_CHECK_GAP_MS);
    },
    cancel() {
      if (timer !== undefined) clearTimeout(timer);
    },
  });
  return new Response(body, { headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-store' } });
}
