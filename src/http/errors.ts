import { errorPage } from '../pages/error.ts';
import { htmlResponse } from './responses.ts';

/**
 * Every error answer is built here, in one of three shapes, by who reads it:
 * - JSON routes (the API, OAuth endpoints, metadata): `{error, error_description, message}`. OAuth
 *   clients read `error` and `error_description` (RFC 6749 §5.2); API users and scripts read
 *   `message`. Both carry the same sentence.
 * - MCP routes: a JSON-RPC error, so every MCP client can show the message; the HTTP status still
 *   says what happened (502 upstream unreachable, 504 timeout, 413 too large).
 * - Pages: an HTML page that says what happened and what to do next.
 * None of them is cached.
 */

export function jsonError(status: number, error: string, message: string, headers?: HeadersInit): Response {
  const response = Response.json({ error, error_description: message, message }, { status, headers });
  response.headers.set('cache-control', 'no-store');
  return response;
}

export function jsonRpcError(status: number, message: string, code = -32000, headers?: HeadersInit): Response {
  const response = Response.json({ jsonrpc: '2.0', id: null, error: { code, message } }, { status, headers });
  response.headers.set('cache-control', 'no-store');
  return response;
}

/**
 * The store cannot be reached (a Redis outage): `503` with `Retry-After`, on every route. Never a
 * `401`, which would make an MCP client throw away tokens that are still good, and never a page:
 * a browser mid-consent gets this short JSON sentence, and the same form works once it reloads.
 */
export function storageUnavailable(retryAfter: number): Response {
  return jsonError(
    503,
    'temporarily_unavailable',
    `The service is temporarily unavailable (its storage cannot be reached); try again in ${retryAfter} seconds.`,
    { 'retry-after': String(retryAfter) },
  );
}

export function pageError(status: number, title: string, message: string, hint?: string, headers?: Headers): Promise<Response> {
  return htmlResponse(errorPage(title, message, hint), { status, ...(headers ? { headers } : {}) });
}
