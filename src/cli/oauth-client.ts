import { createHash, randomBytes } from 'node:crypto';

/**
 * A raw OAuth 2.1 client, one request at a time: dynamic registration (RFC 7591), PKCE S256
 * (RFC 7636), the authorization request with a resource indicator (RFC 8707), the consent form
 * submitted with an API key as a user's browser submits it, the code exchange, and revocation
 * (RFC 7009). `key2oauth doctor`, the bench and the tests all drive a server through this one
 * module; tests that must send what no well-behaved client would build their requests from its
 * pieces. The fetch is handed in, so in-process tests can pass the app's own.
 *
 * Every request is sent with `redirect: 'manual'`: a followed 307 would re-post a form (the key,
 * a code) to wherever the Location points, and the redirect that carries the code goes to the
 * client's redirect URI, which nobody here serves.
 */

export type Fetch = (url: string, init?: RequestInit) => Promise<Response>;

export interface Pkce {
  verifier: string;
  challenge: string;
}

/** RFC 7636 §4.1 and §4.2: 32 random octets as the verifier (43 characters), its SHA-256 as the S256 challenge. */
export function pkce(): Pkce {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

export interface ClientMetadata {
  client_name: string;
  redirect_uris: string[];
  [field: string]: unknown;
}

export interface Registration {
  status: number;
  body: Record<string, unknown>;
  /** Present when the server registered the client (201 with a client_id). */
  clientId?: string;
  clientSecret?: string;
}

/**
 * RFC 7591 §3.1: registers a client. A public client using the code and refresh grants unless
 * `metadata` says otherwise, which is what the MCP clients people use register.
 */
export async function register(fetch: Fetch, registrationEndpoint: string, metadata: ClientMetadata): Promise<Registration> {
  const response = await fetch(registrationEndpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      ...metadata,
    }),
    redirect: 'manual',
  });
  const body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
  // RFC 7591 §3.2.1: success is 201 with the client_id.
  if (response.status !== 201 || typeof body.client_id !== 'string') return { status: response.status, body };
  return {
    status: response.status,
    body,
    clientId: body.client_id,
    ...(typeof body.client_secret === 'string' ? { clientSecret: body.client_secret } : {}),
  };
}

export interface AuthorizationRequest {
  clientId: string;
  redirectUri: string;
  challenge: string;
  /** RFC 8707: the endpoint the token is for. */
  resource?: string;
  state?: string;
  scope?: string;
}

/** RFC 6749 §4.1.1 with RFC 7636 §4.3 (S256 only: OAuth 2.1 drops plain) and RFC 8707 §2. */
export function authorizationUrl(authorizeEndpoint: string, request: AuthorizationRequest): URL {
  const url = new URL(authorizeEndpoint);
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: request.clientId,
    redirect_uri: request.redirectUri,
    code_challenge: request.challenge,
    code_challenge_method: 'S256',
    state: request.state ?? randomBytes(8).toString('hex'),
  });
  if (request.scope) query.set('scope', request.scope);
  if (request.resource) query.set('resource', request.resource);
  url.search = query.toString();
  return url;
}

/** Cookies for one origin, kept as a browser keeps them between the consent page and its form. */
export class CookieJar {
  cookies = new Map<string, string>();
  keep(response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair = ''] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      if (/max-age=0/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, pair.slice(eq + 1).trim());
    }
  }
  header(): Record<string, string> {
    const cookie = [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
    return cookie ? { cookie } : {};
  }
}

export interface ConsentForm {
  /** Where the form posts, resolved against the page's URL. */
  action: URL;
  /** Its hidden fields, decoded. */
  hidden: Record<string, string>;
}

export interface ConsentPage {
  url: URL;
  status: number;
  html: string;
  /** The page's POST form, if it has one. */
  form?: ConsentForm;
  jar: CookieJar;
}

/** Opens an authorization URL as a browser does (a top-level navigation from another site). */
export async function openConsent(fetch: Fetch, url: URL, jar = new CookieJar()): Promise<ConsentPage> {
  const response = await fetch(url.href, {
    headers: { ...jar.header(), accept: 'text/html', 'sec-fetch-site': 'cross-site' },
    redirect: 'manual',
  });
  jar.keep(response);
  const html = await response.text();
  const form = readForm(html, url);
  return { url, status: response.status, html, jar, ...(form ? { form } : {}) };
}

export type Approval =
  | { ok: true; code: string; redirect: URL }
  | {
      ok: false;
      /** Why no code came back, in one sentence. */
      problem: string;
      status: number;
      /** The page the server answered with (a refusal is sent back to the consent page), when one was read. */
      html?: string;
    };

/**
 * Posts a page's form as Chromium does for a same-origin form on a page with
 * `Referrer-Policy: no-referrer` (`Origin: null`, `Sec-Fetch-Site: same-origin`), with the page's
 * cookies, keeping the ones the answer sets. The answer is returned as is (no redirect followed).
 */
export async function postForm(
  fetch: Fetch,
  action: URL | string,
  jar: CookieJar,
  fields: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<Response> {
  const response = await fetch(String(action), {
    method: 'POST',
    headers: {
      ...jar.header(),
      'content-type': 'application/x-www-form-urlencoded',
      origin: 'null',
      'sec-fetch-site': 'same-origin',
      accept: 'text/html',
      ...headers,
    },
    body: new URLSearchParams(fields),
    redirect: 'manual',
  });
  jar.keep(response);
  return response;
}

/**
 * Submits the consent page's form with `fields` (the key, the button) on top of its hidden fields,
 * as Chromium does for a same-origin form under our `Referrer-Policy: no-referrer`, and reads the
 * code from the redirect. The form is posted only to the page's own origin, and a refusal's 303
 * (POST/redirect/GET back to the page) is followed only there: an API key typed into a page is
 * meant for that page's server, whatever its HTML says.
 */
export async function submitConsent(fetch: Fetch, page: ConsentPage, fields: Record<string, string>): Promise<Approval> {
  if (!page.form) return { ok: false, problem: 'the authorization page has no form to submit', status: page.status, html: page.html };
  const { action, hidden } = page.form;
  if (action.origin !== page.url.origin)
    return { ok: false, problem: `the consent form posts to ${action.origin}, not to ${page.url.origin}`, status: page.status };
  const response = await postForm(fetch, action, page.jar, { ...hidden, ...fields });
  const location = response.headers.get('location');
  const next = location ? new URL(location, action) : undefined;
  if (response.status === 303 && next) {
    await response.body?.cancel();
    if (next.origin !== action.origin)
      return { ok: false, problem: `the answer was sent to ${next.origin}, not followed`, status: response.status };
    const back = await fetch(next.href, {
      headers: { ...page.jar.header(), accept: 'text/html', 'sec-fetch-site': 'same-origin' },
      redirect: 'manual',
    });
    page.jar.keep(back);
    return { ok: false, problem: 'the consent page refused', status: response.status, html: await back.text() };
  }
  if (!next || (response.status !== 302 && response.status !== 303)) {
    return {
      ok: false,
      problem: `the consent form answered HTTP ${response.status}`,
      status: response.status,
      html: await response.text(),
    };
  }
  await response.body?.cancel();
  return redirectProblem(next, page.url, response.status) ?? { ok: true, code: next.searchParams.get('code')!, redirect: next };
}

/** RFC 6749 §4.1.2: the redirect carries the code and our state back, or §4.1.2.1's error. */
function redirectProblem(redirect: URL, requested: URL, status: number): Approval | undefined {
  const error = redirect.searchParams.get('error');
  if (error)
    return {
      ok: false,
      problem: `the server answered error=${error} ${redirect.searchParams.get('error_description') ?? ''}`.trim(),
      status,
    };
  // §10.12: a redirect whose state is not ours is not an answer to this request.
  if (redirect.searchParams.get('state') !== requested.searchParams.get('state'))
    return { ok: false, problem: 'the redirect carries another state than the one sent', status };
  if (!redirect.searchParams.get('code')) return { ok: false, problem: `the redirect has no code: ${redirect.href}`, status };
  return undefined;
}

/** Opens the page and submits it: up to the code, as a user who approves does. */
export async function approve(fetch: Fetch, url: URL, fields: Record<string, string>): Promise<Approval & { page: ConsentPage }> {
  const page = await openConsent(fetch, url);
  if (page.status !== 200)
    return { ok: false, problem: `the authorization page answered HTTP ${page.status}`, status: page.status, html: page.html, page };
  return { ...(await submitConsent(fetch, page, fields)), page };
}

export interface TokenAnswer {
  status: number;
  body: { access_token?: string; refresh_token?: string; error?: string; error_description?: string; [field: string]: unknown };
}

/** POST to the token endpoint with exactly these form fields (RFC 6749 §3.2). */
export async function tokenRequest(fetch: Fetch, tokenEndpoint: string, fields: Record<string, string>): Promise<TokenAnswer> {
  const response = await fetch(tokenEndpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields),
    redirect: 'manual',
  });
  return { status: response.status, body: (await response.json().catch(() => ({}))) as TokenAnswer['body'] };
}

export interface CodeExchange {
  code: string;
  verifier: string;
  clientId: string;
  redirectUri: string;
  resource?: string;
  clientSecret?: string;
}

/** The fields of RFC 6749 §4.1.3 with RFC 7636 §4.5's verifier and RFC 8707's resource. */
export function codeExchangeFields(exchange: CodeExchange): Record<string, string> {
  return {
    grant_type: 'authorization_code',
    code: exchange.code,
    code_verifier: exchange.verifier,
    client_id: exchange.clientId,
    redirect_uri: exchange.redirectUri,
    ...(exchange.resource ? { resource: exchange.resource } : {}),
    ...(exchange.clientSecret ? { client_secret: exchange.clientSecret } : {}),
  };
}

export function exchangeCode(fetch: Fetch, tokenEndpoint: string, exchange: CodeExchange): Promise<TokenAnswer> {
  return tokenRequest(fetch, tokenEndpoint, codeExchangeFields(exchange));
}

/**
 * RFC 7009 §2.1. Revoking a refresh token ends its whole authorization (§2.1: the server "SHOULD"
 * revoke the grant's access tokens too); revoking an access token may end that token alone.
 * §2.2 answers 200 whether or not the token was known, so the answer says only that it was heard.
 */
export async function revokeToken(
  fetch: Fetch,
  revocationEndpoint: string,
  revocation: { token: string; hint: 'refresh_token' | 'access_token'; clientId: string; clientSecret?: string },
): Promise<number> {
  const response = await fetch(revocationEndpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      token: revocation.token,
      token_type_hint: revocation.hint,
      client_id: revocation.clientId,
      ...(revocation.clientSecret ? { client_secret: revocation.clientSecret } : {}),
    }),
    redirect: 'manual',
  });
  await response.body?.cancel();
  return response.status;
}

/**
 * The first POST form of a page, read with patterns rather than a parser (the CLI ships without
 * one): enough for server-rendered consent pages, ours and the seed's, whatever the case of
 * `method` and the order of attributes.
 */
export function readForm(html: string, pageUrl: URL): ConsentForm | undefined {
  for (const match of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const attributes = readAttributes(match[1]!);
    if ((attributes.method ?? 'get').toLowerCase() !== 'post') continue;
    const hidden: Record<string, string> = {};
    for (const input of match[2]!.matchAll(/<input\b([^>]*)>/gi)) {
      const field = readAttributes(input[1]!);
      if (field.type?.toLowerCase() === 'hidden' && field.name) hidden[field.name] = field.value ?? '';
    }
    return { action: new URL(attributes.action || pageUrl.href, pageUrl), hidden };
  }
  return undefined;
}

function readAttributes(text: string): Record<string, string> {
  const attributes: Record<string, string> = {};
  for (const match of text.matchAll(/([^\s=/>]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?/g))
    attributes[match[1]!.toLowerCase()] = decodeEntities(match[2] ?? match[3] ?? match[4] ?? '');
  return attributes;
}

const NAMED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

/** HTML character references in attribute values and text: the named five and numeric ones. */
export function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, entity: string) => {
    if (entity[0] === '#') {
      const code = entity[1] === 'x' || entity[1] === 'X' ? Number.parseInt(entity.slice(2), 16) : Number(entity.slice(1));
      return Number.isFinite(code) && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return NAMED[entity.toLowerCase()] ?? whole;
  });
}
