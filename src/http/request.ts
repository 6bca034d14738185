import { answers } from './errors.ts';

/**
 * The engine compares request URLs with the issuer's endpoints and builds metadata URLs from
 * them, so every request it sees must carry the public origin, whatever Host or scheme the
 * server was reached by (a reverse proxy, 127.0.0.1 instead of localhost, …).
 */
export function onPublicOrigin(request: Request, publicUrl: string, body?: BodyInit | null): Request {
  // Already on the public origin (the usual case, and the MCP hot path): nothing to copy, and no
  // URL parsed on the way.
  if (body === undefined && startsWithOrigin(request.url, publicOrigin(publicUrl))) return request;
  const incoming = new URL(request.url);
  if (body === undefined && incoming.origin === publicOrigin(publicUrl)) return request;
  const url = new URL(incoming.pathname + incoming.search, publicUrl);
  const headers = new Headers(request.headers);
  const init: RequestInit & { duplex?: 'half' } = { method: request.method, headers, signal: request.signal };
  if (body !== undefined) {
    headers.delete('content-length');
    init.body = body;
  } else if (request.body) {
    init.body = request.body;
    init.duplex = 'half';
  }
  return new Request(url, init);
}

const origins = new Map<string, string>();

/** The origin of PUBLIC_URL, parsed once per value (a process has one, a Worker one per hostname). */
function publicOrigin(publicUrl: string): string {
  let origin = origins.get(publicUrl);
  if (origin === undefined) {
    origin = new URL(publicUrl).origin;
    if (origins.size < 64) origins.set(publicUrl, origin);
  }
  return origin;
}

/**
 * Whether a request's URL, as the runtime serializes it (scheme and host in lower case, no
 * default port, a path that starts with `/`), is on `origin`: its text starts with the origin and
 * the path follows. Anything else (user info, an odd form) is left to the full parse.
 */
function startsWithOrigin(url: string, origin: string): boolean {
  return url.startsWith(origin) && url.charCodeAt(origin.length) === 0x2f;
}

/**
 * Same-origin check for form posts. Browsers that send Sec-Fetch-Site (all current ones) are
 * judged by it alone: our pages set `Referrer-Policy: no-referrer`, under which Chromium sends
 * `Origin: null` even for a same-origin form. Without Sec-Fetch-Site, Origin must be ours; a
 * `null` origin then is refused, since sandboxed frames send it too.
 */
export function isCrossSiteFormPost(request: Request, publicUrl: string): boolean {
  const site = request.headers.get('sec-fetch-site');
  if (site) return site !== 'same-origin' && site !== 'none';
  const origin = request.headers.get('origin');
  return origin !== null && origin !== new URL(publicUrl).origin;
}

/** What reading a body gave: its content, or the answer that refuses it. */
export type Read<T> = { ok: true; value: T } | { ok: false; answer: Response };

/**
 * The start of every form post to one of our pages: refused from another site, then read into its
 * text fields (our forms send no files). A body too large never gets here (body-limits.ts).
 */
export async function readFormPost(request: Request, publicUrl: string): Promise<Read<URLSearchParams>> {
  if (isCrossSiteFormPost(request, publicUrl)) return { ok: false, answer: await answers.crossSiteForm() };
  let form: FormData;
  try {
    form = await request.formData();
  } catch {
    return { ok: false, answer: await answers.unreadableForm() };
  }
  const fields = new URLSearchParams();
  for (const [name, value] of form) if (typeof value === 'string') fields.append(name, value);
  return { ok: true, value: fields };
}

/** The start of every JSON API call with a body: a JSON content type, and a body that parses. */
export async function readJsonBody(request: Request): Promise<Read<unknown>> {
  if (!(request.headers.get('content-type') ?? '').toLowerCase().startsWith('application/json'))
    return { ok: false, answer: answers.notJson() };
  try {
    return { ok: true, value: await request.json() };
  } catch {
    return { ok: false, answer: answers.invalidJson() };
  }
}

/**
 * A person's browser rather than a program: the request asks for HTML (as a browser's navigation
 * and form posts do), not for an event stream, and carries no token. API and MCP clients ask for
 * JSON or event streams, so they keep their JSON answers; the endpoint URL opened in a browser and
 * the error pages (http/errors.ts `browserAnswers`) are decided by this one rule.
 */
export function wantsPage(request: Request): boolean {
  if (request.headers.has('authorization')) return false;
  const accept = request.headers.get('accept') ?? '';
  return /\btext\/html\b/i.test(accept) && !/\btext\/event-stream\b/i.test(accept);
}
