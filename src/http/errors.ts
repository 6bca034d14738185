import { errorPage, type WayOut } from '../pages/error.ts';
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
 * `401`, which would make an MCP client throw away tokens that are still good. A browser gets the
 * same as a page (`browserAnswers.storageUnavailable`); the same form works once it reloads.
 */
export function storageUnavailable(retryAfter: number): Response {
  return jsonError(
    503,
    'temporarily_unavailable',
    `The service is temporarily unavailable (its storage cannot be reached); try again in ${retryAfter} seconds.`,
    { 'retry-after': String(retryAfter) },
  );
}

const UNKNOWN_ENDPOINT = 'No endpoint with this URL exists on this server';

/**
 * Answers that mean the same wherever they are given, each in one sentence. A route that means one
 * of these says it through here, so the same event never reads two ways.
 */
export const answers = {
  /** The URL names no endpoint: not a slug, or no endpoint by that slug (deleted, or never made). */
  unknownEndpoint: () => jsonError(404, 'not_found', UNKNOWN_ENDPOINT),
  /** No route here, or one that is off (/metrics without its token set). */
  notFound: () => jsonError(404, 'not_found', 'Not found'),
  /** A fault of ours; the log has the detail, the client only needs to know it was not its fault. */
  serverError: () => jsonError(500, 'server_error', 'Something went wrong on our side'),
  /** A JSON route sent something else. */
  notJson: () => jsonError(415, 'unsupported_media_type', 'Send a JSON body with Content-Type: application/json'),
  invalidJson: () => jsonError(400, 'invalid_json', 'The body is not valid JSON'),
  bodyTooLarge: (max: number) => jsonError(413, 'payload_too_large', tooLargeSentence(max)),
  mcpBodyTooLarge: (max: number) => jsonRpcError(413, tooLargeSentence(max), -32600),
  formTooLarge: (max: number) => pageError(413, 'Request too large', `The form sent more than ${max} bytes.`),
  /** A form of ours posted from another site (request.ts `isCrossSiteFormPost`). */
  crossSiteForm: () => pageError(403, 'Request refused', 'This form can only be submitted from this site.'),
  unreadableForm: () => pageError(400, 'Bad request', 'The form could not be read.'),
  /** A form whose fields are not what our page sends. */
  badForm: (problem: string) => pageError(400, 'Bad request', problem),
};

/** Sentences our pages show inside their own templates, where a page says the same as an answer above. */
export const sentences = {
  /** What a person pasted (on the "which endpoint?" page) names no endpoint here. */
  notAnEndpointUrl: 'That is not an endpoint of this server. Paste the URL that ends in /mcp.',
  /** A page's version of `answers.unknownEndpoint`. */
  endpointGone: `${UNKNOWN_ENDPOINT}; it may have been deleted`,
  /** A stdio endpoint reached on a runtime that cannot start processes (Workers). */
  noProcesses:
    'This endpoint is a stdio server, and this deployment runs none: Cloudflare Workers cannot run processes, and the Node server runs them only as STDIO_SERVERS declares them.',
};

export function tooLargeSentence(max: number): string {
  return `The request body is larger than ${max} bytes`;
}

export function pageError(
  status: number,
  title: string,
  message: string,
  hint?: string,
  headers?: Headers,
  ways?: readonly WayOut[],
): Promise<Response> {
  return htmlResponse(errorPage(title, message, hint, ways), { status, ...(headers ? { headers } : {}) });
}

/**
 * The answers above that a person's browser gets as a page instead (http/request.ts `wantsPage`
 * decides who is a browser): same status, same headers, the same sentence, and the way out that
 * fits where the person is. Programs keep the JSON.
 */
export const browserAnswers = {
  notFound: () =>
    pageError(
      404,
      'Page not found',
      'Nothing lives at this address on this server.',
      'Check the address for a typing mistake.',
      undefined,
      [HOME, KEY_HOLDER],
    ),
  unknownEndpoint: () =>
    pageError(
      404,
      'No endpoint at this address',
      `${sentences.endpointGone}, or the address was mistyped.`,
      'An endpoint URL looks like https://this-host/xxxxxxxxxxxx/mcp: compare it letter by letter with the one you saved when it was created. If it was deleted, create a new one.',
      undefined,
      [{ href: '/', label: 'Create an endpoint' }, KEY_HOLDER],
    ),
  storageUnavailable: (retryAfter: number, again: string) =>
    pageError(
      503,
      'Temporarily unavailable',
      `This service cannot reach its storage right now; try again in ${retryAfter} seconds.`,
      'Nothing you did caused this and nothing was lost. A form you were filling in can be sent again once this page loads normally.',
      new Headers({ 'retry-after': String(retryAfter) }),
      [{ href: again, label: 'Try again' }, HOME],
    ),
};

const HOME: WayOut = { href: '/', label: 'Back to the start page' };
const KEY_HOLDER: WayOut = { href: '/access', label: 'See or revoke the accesses your key gave' };
