import type { ServerResponse } from 'node:http';
import { logRequest } from '../../http/access-log.ts';
import { proxiedSecurityHeaders } from '../../http/security-headers.ts';
import type { Platform } from '../../platform.ts';
import { withCors } from '../../upstream/exchange.ts';

/** What the Node carrier knows of a request for its answer's headers and its access log line. */
export interface Answering {
  platform: Platform;
  /** Whether the access log is on (`LOG_LEVEL` info or debug); when off, nothing below is computed. */
  logging: boolean;
  started: number;
  requestId: string;
  method: string;
  path: string;
  /** A browser client's `Origin`, for CORS on the answer (exchange.ts `withCors`). */
  origin: string | undefined;
}

/** The route pattern the app's access log and /metrics name these requests by (src/app.ts). */
const ROUTE = '/:slug/mcp';

/**
 * The headers every answer on this carrier carries on top of its own, as the app's middleware
 * adds them (src/http/security-headers.ts, src/http/access-log.ts), as a flat list for `writeHead`.
 */
export function answerHeaders(status: number, answering: Answering, pairs: [string, string][]): string[] {
  const into: string[] = [];
  for (const [name, value] of withCors(pairs, answering.origin)) into.push(name, value);
  for (const [name, value] of proxiedSecurityHeaders(status)) into.push(name, value);
  if (answering.logging) into.push('x-request-id', answering.requestId);
  return into;
}

/** The access log line (and /metrics count) once the answer's status is known. */
export function logAnswer(answering: Answering, status: number, serverTiming?: string): void {
  if (!answering.logging) return;
  const { platform, requestId, method, path, started } = answering;
  logRequest(platform.log, { requestId, method, route: ROUTE, path, status, started, serverTiming: serverTiming ?? null });
}

/**
 * Writes one of the proxy's own answers (an error, a refusal, a challenge: small JSON bodies built
 * by src/http/errors.ts and friends) to a Node response with the same added headers, and its
 * length declared, as @hono/node-server writes the app's; `counted` (an exchange's activity record) learns its bytes.
 */
export async function sendResponse(
  res: ServerResponse,
  response: Response,
  answering: Answering,
  counted?: { bytesOut: number },
): Promise<void> {
  const body = response.body ? Buffer.from(await response.arrayBuffer()) : undefined;
  if (counted && body) counted.bytesOut += body.byteLength;
  const pairs: [string, string][] = [];
  const added = new Set(proxiedSecurityHeaders(response.status).map(([name]) => name));
  response.headers.forEach((value, name) => {
    if (!added.has(name) && name !== 'content-length') pairs.push([name, value]);
  });
  if (body) pairs.push(['content-length', String(body.byteLength)]);
  res.writeHead(response.status, answerHeaders(response.status, answering, pairs));
  res.end(body);
  logAnswer(answering, response.status, response.headers.get('server-timing') ?? undefined);
}
