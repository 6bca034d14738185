import type { MiddlewareHandler } from 'hono';
import { isEndpointPath } from '../endpoint-urls.ts';
import { isOurPage } from './responses.ts';

/** What a response that is not one of our pages gets: nothing may load in it or frame it. */
const API_CSP = "default-src 'none'; frame-ancestors 'none'";
/** What comes back from an upstream through the proxy: on top, no script may run as our origin. */
const PROXIED_CSP = `${API_CSP}; sandbox`;

/** What every response carries, whatever its route. */
export const BASE_SECURITY_HEADERS: ReadonlyArray<readonly [string, string]> = [
  ['x-content-type-options', 'nosniff'],
  ['x-frame-options', 'DENY'],
  ['referrer-policy', 'no-referrer'],
];

/** The headers on an answer to `/{slug}/…` with this status (the Node adapter's fast path writes these too). */
export function proxiedSecurityHeaders(status: number): ReadonlyArray<readonly [string, string]> {
  return status >= 300 && status < 400 ? BASE_SECURITY_HEADERS : PROXIED_WITH_CSP;
}
const PROXIED_WITH_CSP = [...BASE_SECURITY_HEADERS, ['content-security-policy', PROXIED_CSP] as const];

/**
 * Every response carries `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY`,
 * `Referrer-Policy: no-referrer` and a Content-Security-Policy with `frame-ancestors 'none'`.
 * Our pages set their own, fuller CSP (kept); JSON from the engine gets the locked-down one; and
 * whatever an upstream sends back through the proxy always gets a sandboxing one, replacing the
 * upstream's: a hostile upstream must not be able to serve active content from our origin. Our own
 * pages there (the endpoint URL opened in a browser, its error pages) keep their page CSP.
 * Redirects (nothing renders them) get no CSP.
 */
export function securityHeaders(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    let headers = c.res.headers;
    try {
      headers.set('x-content-type-options', 'nosniff');
    } catch {
      // Immutable headers (a fetch() response passed through): copy into a mutable response.
      c.res = new Response(c.res.body, c.res);
      headers = c.res.headers;
    }
    if (isEndpointPath(c.req.path) && !isOurPage(c.res)) {
      for (const [name, value] of proxiedSecurityHeaders(c.res.status)) headers.set(name, value);
      return;
    }
    for (const [name, value] of BASE_SECURITY_HEADERS) headers.set(name, value);
    if (c.res.status >= 300 && c.res.status < 400) return;
    if (!headers.has('content-security-policy')) headers.set('content-security-policy', API_CSP);
  };
}
