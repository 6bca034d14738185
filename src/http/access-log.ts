import type { MiddlewareHandler } from 'hono';
import type { Logger } from '../log.ts';

/**
 * One line per request: method, path, status and the time to the response headers (a stream may
 * go on after). Never the query string (codes, state and resource travel there on /authorize and
 * redirects), never a header, never a body. Health checks are logged at debug level only.
 */
export function accessLog(log: Logger): MiddlewareHandler {
  return async (c, next) => {
    // Logging off costs nothing: no clock, no path parsing, no fields (health checks log at debug, below info).
    if (!log.enabled('info')) return next();
    const started = performance.now();
    await next();
    const path = rawPath(c.req.url);
    const fields = {
      method: c.req.method.slice(0, 16),
      path: path.length > 200 ? `${path.slice(0, 200)}…` : path,
      status: c.res.status,
      ms: Math.round(performance.now() - started),
    };
    if (path === '/healthz') log.debug('request', fields);
    else log.info('request', fields);
  };
}

function rawPath(url: string): string {
  const start = url.indexOf('/', url.indexOf('//') + 2);
  if (start === -1) return '/';
  const end = url.search(/[?#]/);
  return url.slice(start, end === -1 ? undefined : end);
}
