import { type EndpointKind, isSlug } from '../endpoint-urls.ts';
import { createEndpointStore } from '../endpoints/store.ts';
import { answers } from '../http/errors.ts';
import { onPublicOrigin } from '../http/request.ts';
import type { Platform } from '../platform.ts';
import { engine } from './engine.ts';

/**
 * Discovery: the authorization server's RFC 8414 metadata (one issuer for every endpoint) and
 * each endpoint's RFC 9728 protected resource metadata. Both are the engine's documents.
 */

export async function authorizationServerMetadata(platform: Platform, request: Request): Promise<Response> {
  const response = await engine(platform).serve(onPublicOrigin(request, platform.config.publicUrl));
  if (request.method !== 'GET' || !response.ok) return response; // CORS preflight (browser clients), HEAD
  const metadata = (await response.json()) as Record<string, unknown>;
  // The engine lists its resources here; ours is a per-request stand-in, not a real resource.
  delete metadata.protected_resources;
  // Metadata documents are resolved by us (client-metadata.ts), not by the engine, which reports its own support as off.
  metadata.client_id_metadata_document_supported = true;
  return new Response(JSON.stringify(metadata), { status: response.status, headers: response.headers });
}

/** `path` is the endpoint's identifier the document is for: `/mcp`, or the legacy `/sse` (endpoint-urls.ts `EndpointKind`). */
export async function protectedResourceMetadata(platform: Platform, request: Request, slug: string, path: EndpointKind): Promise<Response> {
  if (!isSlug(slug) || !(await createEndpointStore(platform.kv).get(slug))) return answers.unknownEndpoint();
  // The engine's resource server serves its RFC 9728 metadata document on this URL.
  return engine(platform, slug).challenge(onPublicOrigin(request, platform.config.publicUrl), path);
}
