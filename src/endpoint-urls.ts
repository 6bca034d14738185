/**
 * The grammar of endpoints' names and addresses, in one place for every layer: what a slug is,
 * how a path or URL names an endpoint, and every URL and path built from the public URL and a
 * slug. The app's route patterns are built by the same functions (with `:slug` for the slug), so
 * a URL handed out and the route that answers it cannot drift apart.
 *
 * A slug has two shapes, alternatives of `SLUG` below; everything that recognises slugs reads it
 * from there: the generated one (endpoints/slug.ts), and the one an operator chooses for a stdio
 * server (endpoints/stdio-servers.ts), lower case `[a-z0-9-]`, 3 to 40 characters, never the first
 * segment of one of the app's own paths.
 */

export const SLUG_LENGTH = 12;
/** 12 characters of [A-Za-z0-9], as generated. */
const GENERATED_SLUG = `[A-Za-z0-9]{${SLUG_LENGTH}}`;
/**
 * First path segments the app answers itself (app.ts): an operator slug equal to one would put an
 * endpoint's URLs under another route (`/api/mcp`, `/manage/…`), or an app path under an endpoint.
 * `mcp` and `sse` would make `/{slug}/mcp` ambiguous.
 */
export const RESERVED_SLUGS = [
  'access',
  'api',
  'assets',
  'audit',
  'authorize',
  'created',
  'endpoints',
  'healthz',
  'login',
  'logout',
  'manage',
  'mcp',
  'messages',
  'metrics',
  'oauth',
  'readyz',
  'revoke',
  'self-host',
  'sse',
];
/** Operator-chosen: 3 to 40 of [a-z0-9-], none of the reserved words. */
const OPERATOR_SLUG = `(?!(?:${RESERVED_SLUGS.join('|')})(?![a-z0-9-]))[a-z0-9-]{3,40}`;
/** Either shape. Unanchored, to compose the patterns below. */
const SLUG = `(?:${GENERATED_SLUG}|${OPERATOR_SLUG})`;

const ONLY_SLUG = new RegExp(`^${SLUG}$`);
/** Any path under an endpoint: MCP traffic, which is streamed rather than buffered. */
const UNDER_ENDPOINT = new RegExp(`^/${SLUG}/`);
/** A request target naming an endpoint's MCP or legacy SSE URL, with or without a query. */
const ENDPOINT_TARGET = new RegExp(`^/(${SLUG})/(mcp|sse)(?:\\?|$)`);
/**
 * A URL path naming an endpoint: optionally after a prefix (a deployment wrongly served under a
 * path), the slug, optionally its identifier, and a trailing slash people paste.
 */
const NAMING_PATH = new RegExp(`^(.*?)/(${SLUG})(?:/(mcp|sse))?/?$`);

export function isSlug(value: string): boolean {
  return ONLY_SLUG.test(value);
}

/** Whether `value` is a slug an operator may choose (a generated one of 12 lower-case characters is one too). */
export function isOperatorSlug(value: string): boolean {
  return new RegExp(`^${OPERATOR_SLUG}$`).test(value);
}

/**
 * The two URLs of an endpoint, each an OAuth protected resource (RFC 9728) of its own:
 * - `mcp` (Streamable HTTP), the resource (RFC 8707) every grant and token is bound to;
 * - `sse`, the legacy transport's. SDK-based clients (mcp-remote, the Inspector) connected to it
 *   require the metadata's `resource` to be a prefix of that URL, so it has metadata naming it;
 *   the authorization server maps it to the endpoint (`slugOfEndpointUrl`), so every grant is
 *   still for `/mcp`, and the resource server on `/sse` accepts those tokens as its own.
 */
export type EndpointKind = 'mcp' | 'sse';

/** Whether a request path lies under an endpoint (`/{slug}/…`). */
export function isEndpointPath(path: string): boolean {
  return UNDER_ENDPOINT.test(path);
}

/** The endpoint a request target (`/{slug}/mcp?…`, as on the wire) addresses, if it is one of its two URLs. */
export function endpointOfTarget(target: string): { slug: string; kind: EndpointKind } | undefined {
  const match = ENDPOINT_TARGET.exec(target);
  return match ? { slug: match[1]!, kind: match[2] as EndpointKind } : undefined;
}

/**
 * What a URL path names: `/{slug}`, `/{slug}/mcp` or `/{slug}/sse`, a trailing `/` allowed, and
 * whatever came before the slug as `prefix` (empty on a deployment served at its root).
 */
export function endpointOfPathname(pathname: string): { prefix: string; slug: string; kind?: EndpointKind } | undefined {
  const match = NAMING_PATH.exec(pathname);
  if (!match) return undefined;
  const [, prefix = '', slug, kind] = match;
  return { prefix, slug: slug!, ...(kind ? { kind: kind as EndpointKind } : {}) };
}

/**
 * The slug a value names on this deployment: an endpoint URL as a client sends it (RFC 8707
 * `resource`) or a person pastes it. Tolerates what real clients send (docs/architecture.md, "What
 * real clients do"): a trailing `/`, other case in scheme and host, the `/sse` URL, no identifier,
 * or the bare slug. Another origin, or a bare origin, names no endpoint.
 */
export function slugOfEndpointUrl(publicUrl: string, value: string | null | undefined): string | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (isSlug(trimmed)) return trimmed;
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch {
    return undefined;
  }
  if (url.origin !== new URL(publicUrl).origin) return undefined;
  const named = endpointOfPathname(url.pathname);
  return named && named.prefix === '' ? named.slug : undefined;
}

// Paths: these take the slug as given, so `':slug'` makes the app's route pattern. Their types
// are the literal paths, from which Hono types a route's parameters.

export function endpointPath<S extends string, K extends EndpointKind = 'mcp'>(slug: S, kind: K = 'mcp' as K): `/${S}/${K}` {
  return `/${slug}/${kind}`;
}

/** The legacy transport's message URL, whose query the stream's `endpoint` event carries. */
export function messagesPath<S extends string>(slug: S): `/${S}/messages` {
  return `/${slug}/messages`;
}

/** RFC 9728 protected resource metadata, at the path-inserted well-known URL. */
export function resourceMetadataPath<S extends string, K extends EndpointKind = 'mcp'>(
  slug: S,
  kind: K = 'mcp' as K,
): `/.well-known/oauth-protected-resource/${S}/${K}` {
  return `/.well-known/oauth-protected-resource${endpointPath(slug, kind)}`;
}

/** The creator's page; also the path its cookie is scoped to. */
export function managePath<S extends string>(slug: S): `/manage/${S}` {
  return `/manage/${slug}`;
}

/** The creator's JSON API for one endpoint. */
export function apiPath<S extends string>(slug: S): `/api/slugs/${S}` {
  return `/api/slugs/${slug}`;
}

export function apiGrantsPath<S extends string>(slug: S): `/api/slugs/${S}/grants` {
  return `${apiPath(slug)}/grants`;
}

/** The endpoint's activity record, for its creator (docs/tools-and-activity.md). */
export function apiActivityPath<S extends string>(slug: S): `/api/slugs/${S}/activity` {
  return `${apiPath(slug)}/activity`;
}

export function apiGrantPath<S extends string, G extends string>(slug: S, grantId: G): `/api/slugs/${S}/grants/${G}` {
  return `${apiGrantsPath(slug)}/${grantId}`;
}

// Absolute URLs, on the public URL (an origin with no trailing slash, config.ts).

/** The endpoint's URL; its `mcp` one is the OAuth resource every grant and token is bound to. */
export function endpointUrl(publicUrl: string, slug: string, kind: EndpointKind = 'mcp'): string {
  return publicUrl + endpointPath(slug, kind);
}

export function resourceMetadataUrl(publicUrl: string, slug: string, kind: EndpointKind = 'mcp'): string {
  return publicUrl + resourceMetadataPath(slug, kind);
}

export function messagesUrl(publicUrl: string, slug: string, query: URLSearchParams): string {
  return `${publicUrl}${messagesPath(slug)}?${query}`;
}

/**
 * The manage page's link. The token rides in the fragment, which browsers never send: it reaches
 * no access log, no proxy and no Referer; the page's script reads it and posts it.
 */
export function manageLink(publicUrl: string, slug: string, manageToken: string): string {
  return `${publicUrl}${managePath(slug)}#token=${manageToken}`;
}
