import { isSlug } from '../endpoints/slug.ts';

/**
 * Each endpoint is its own OAuth protected resource, `{PUBLIC_URL}/{slug}/mcp`, and every grant
 * and token is bound to exactly one of them.
 *
 * The legacy URL `{PUBLIC_URL}/{slug}/sse` is a second identifier of the same resource: SDK-based
 * clients (mcp-remote, the Inspector) connected to it require the metadata's `resource` to be a
 * prefix of that URL, so it has metadata of its own naming it. The authorization server maps it
 * to the endpoint (`slugFromResource`), so every grant and token is still for `/mcp`, and the
 * resource server on `/sse` accepts those tokens as its own.
 */
export type ResourcePath = 'mcp' | 'sse';

export function resourceUrl(publicUrl: string, slug: string, path: ResourcePath = 'mcp'): string {
  return `${publicUrl}/${slug}/${path}`;
}

/** Its RFC 9728 metadata document, at the path-inserted well-known URL. */
export function resourceMetadataUrl(publicUrl: string, slug: string, path: ResourcePath = 'mcp'): string {
  return `${publicUrl}/.well-known/oauth-protected-resource/${slug}/${path}`;
}

/**
 * The slug a client meant by a `resource` value (RFC 8707) or a pasted endpoint URL. Tolerates
 * what real clients send (docs/architecture.md, "What clients do"): a trailing `/`, different case
 * in scheme and host, a `/sse` endpoint URL, or just the slug. A bare origin names no endpoint.
 */
export function slugFromResource(publicUrl: string, value: string | null | undefined): string | undefined {
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
  const match = /^\/([A-Za-z0-9]{12})(?:\/(?:mcp|sse)\/?)?\/?$/.exec(url.pathname);
  return match?.[1];
}
