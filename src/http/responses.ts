import type { Html } from '../pages/layout.ts';

/** Security headers every page carries. `formAction` widens form-action for the consent page,
 * whose POST ends in a redirect to the client (browsers hold redirects after a form post to it). */
export function pageHeaders(formAction: string[] = []): Headers {
  return new Headers({
    'content-type': 'text/html; charset=utf-8',
    'content-security-policy': [
      "default-src 'none'",
      "style-src 'self'",
      "script-src 'self'",
      "img-src 'self' data:",
      "connect-src 'self'",
      `form-action 'self'${formAction.map((source) => ` ${source}`).join('')}`,
      "frame-ancestors 'none'",
      "base-uri 'none'",
    ].join('; '),
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
    'x-content-type-options': 'nosniff',
    'cache-control': 'no-store',
  });
}

/**
 * The responses this app rendered as pages. On `/{slug}/…`, where anything else is an upstream's
 * answer and gets a sandboxing CSP (http/security-headers.ts), one of these keeps its own page CSP:
 * an object identity only this module hands out, which no upstream header can imitate.
 */
const OUR_PAGES = new WeakSet<Response>();

export function isOurPage(response: Response): boolean {
  return OUR_PAGES.has(response);
}

export async function htmlResponse(
  page: Html,
  init: { status?: number; headers?: Headers; formAction?: string[] } = {},
): Promise<Response> {
  const headers = pageHeaders(init.formAction);
  for (const [name, value] of init.headers ?? []) {
    if (name === 'set-cookie') headers.append(name, value);
    else if (name !== 'content-security-policy' && name !== 'x-frame-options') headers.set(name, value);
  }
  const response = new Response(String(await page), { status: init.status ?? 200, headers });
  OUR_PAGES.add(response);
  return response;
}

export function redirect(location: string, headers: Headers = new Headers(), status = 302): Response {
  headers.set('location', location);
  headers.set('cache-control', 'no-store');
  return new Response(null, { status, headers });
}
