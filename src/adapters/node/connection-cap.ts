import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from '../../log.ts';

/**
 * A bound on the client connections the Node server holds, kept below the process's open-file
 * limit so that it can always accept a connection, open an upstream socket and read its database
 * (past the limit, `accept` and every `open` fail with EMFILE, for everyone).
 *
 * Past the cap, the oldest connection that is not serving a request (still sending its headers,
 * or idle between keep-alive requests) is closed to make room: a flood of slow-header or idle
 * sockets therefore cannot keep anyone out, `/healthz` included. Only when every connection is
 * busy with a request (streams; bounded per grant and per address by mcp/stream-limits.ts) is the
 * new one refused, with a 503 and `Retry-After`.
 */
export function capConnections(server: Server, max: number, log: Logger): void {
  /** Connections without a request in progress, oldest first (a Set keeps insertion order). */
  const waiting = new Set<Socket>();
  let open = 0;
  let lastWarning = 0;

  server.on('connection', (socket: Socket) => {
    open++;
    waiting.add(socket);
    socket.on('close', () => {
      open--;
      waiting.delete(socket);
    });
    if (open <= max) return;
    const oldest = waiting.values().next().value;
    if (oldest && oldest !== socket) {
      waiting.delete(oldest);
      oldest.destroy();
      return;
    }
    waiting.delete(socket);
    if (Date.now() - lastWarning > 10_000) {
      lastWarning = Date.now();
      log.warn('connection cap reached; refusing new connections', { max_connections: max });
    }
    refuse(socket);
  });

  server.on('request', (request, response) => {
    const socket = request.socket;
    waiting.delete(socket);
    response.on('close', () => {
      // Between keep-alive requests it waits again, as the newest.
      if (!socket.destroyed) waiting.add(socket);
    });
  });
}

const REFUSAL_BODY = JSON.stringify({
  error: 'temporarily_unavailable',
  error_description: 'The server is at its connection limit; try again in 5 seconds.',
  message: 'The server is at its connection limit; try again in 5 seconds.',
});

function refuse(socket: Socket): void {
  socket.on('error', () => {});
  socket.end(
    'HTTP/1.1 503 Service Unavailable\r\n' +
      'Retry-After: 5\r\n' +
      'Content-Type: application/json\r\n' +
      'Cache-Control: no-store\r\n' +
      'Connection: close\r\n' +
      `Content-Length: ${Buffer.byteLength(REFUSAL_BODY)}\r\n\r\n${REFUSAL_BODY}`,
  );
  socket.destroySoon?.();
}

/**
 * `MAX_CONNECTIONS=auto`: each proxied stream holds two descriptors (the client's socket and the
 * upstream's), and the process needs some for itself (database, logs, DNS), so half of the soft
 * open-file limit less a reserve. Linux tells it in /proc; elsewhere, a conservative 1000.
 */
export function automaticConnectionCap(): number {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((row) => row.startsWith('Max open files'));
    const soft = line ? Number(line.split(/\s{2,}/)[1]) : Number.NaN;
    if (Number.isFinite(soft)) return Math.max(16, Math.floor((soft - 64) / 2));
  } catch {}
  return 1000;
}
