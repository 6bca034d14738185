import type { MiddlewareHandler } from 'hono';
import { jsonError } from './errors.ts';

/**
 * Every error answer says what went wrong in a body a client can show: an error without one (the
 * engine's `401` challenges carry only `WWW-Authenticate`) gets the JSON error body
 * (`http/errors.ts`) taken from the challenge. Headers, the challenge included, stay as they were.
 */
export function errorBodies(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    const response = c.res;
    if (response.status < 400 || response.body !== null || c.req.method === 'HEAD') return;
    const challenge = response.headers.get('www-authenticate') ?? '';
    const error = /\berror="([^"]*)"/.exec(challenge)?.[1] ?? (response.status === 401 ? 'unauthorized' : 'error');
    const description =
      /\berror_description="([^"]*)"/.exec(challenge)?.[1] ??
      (response.status === 401
        ? 'This endpoint needs an OAuth access token; the WWW-Authenticate header says where to get one'
        : `HTTP ${response.status}`);
    const headers = new Headers(response.headers);
    headers.delete('content-length');
    headers.delete('content-type');
    c.res = jsonError(response.status, error, description, headers);
  };
}
