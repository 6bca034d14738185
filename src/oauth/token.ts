import { endpointUrl, slugOfEndpointUrl } from '../endpoint-urls.ts';
import { createEndpointStore } from '../endpoints/store.ts';
import { jsonError } from '../http/errors.ts';
import { onPublicOrigin } from '../http/request.ts';
import type { Platform } from '../platform.ts';
import { isMetadataDocumentUrl, resolveMetadataDocument } from './client-metadata.ts';
import { engine, tokenParts } from './engine.ts';
import { basicAuthProblem, paramsProblem, tokenForm } from './params.ts';
import { refreshReuse } from './refresh-reuse.ts';

/**
 * POST /oauth/token (token, refresh and RFC 7009 revocation): the engine answers; we only choose
 * which endpoint's engine. The code, refresh token or token being revoked names its slug (its
 * first segment is the grant's userId), and a `resource` sent in a shape real clients use
 * (trailing slash, other case, bare origin) is put into the canonical form the engine compares.
 */
export async function tokenEndpoint(platform: Platform, incoming: Request, clientAddress: string): Promise<Response> {
  const { publicUrl } = platform.config;
  const type = incoming.headers.get('content-type') ?? '';
  if (incoming.method === 'POST' && !type.toLowerCase().startsWith('application/x-www-form-urlencoded')) {
    return jsonError(400, 'invalid_request', 'The token endpoint takes application/x-www-form-urlencoded bodies');
  }
  const form = new URLSearchParams(incoming.method === 'POST' ? await incoming.text() : '');
  const problem = paramsProblem(tokenForm, form) ?? basicAuthProblem(incoming.headers.get('authorization'));
  if (problem) return jsonError(400, 'invalid_request', problem);
  const slug = tokenParts(form.get('code') ?? form.get('refresh_token') ?? form.get('token'))?.slug;
  const clientId = form.get('client_id');
  // A document is fetched only for a request about one of our endpoints, so a made-up token cannot
  // make us fetch; a real slug is public, so the fetches are also counted per address.
  if (isMetadataDocumentUrl(clientId) && slug && (await createEndpointStore(platform.kv).get(slug))) {
    const result = await resolveMetadataDocument(platform, clientId, clientAddress);
    if ('limited' in result) return result.limited.json('client metadata documents were fetched for your network');
    // RFC 6749 §5.2: a client we cannot authenticate (here: cannot identify) is `invalid_client`.
    if (!result.ok) return jsonError(401, 'invalid_client', `The client's metadata document cannot be used: ${result.reason}`);
  }

  const resource = form.get('resource');
  if (resource !== null && form.getAll('resource').length === 1) {
    const named = slugOfEndpointUrl(publicUrl, resource);
    if (named) form.set('resource', endpointUrl(publicUrl, named));
    // A bare origin names no endpoint; the grant already records its resource.
    else if (isOrigin(resource, publicUrl)) form.delete('resource');
  }

  const refreshToken = form.get('refresh_token');
  if (form.get('grant_type') === 'refresh_token' && refreshToken) {
    const reused = await refreshReuse(platform, refreshToken);
    if (reused) return reused;
  }

  const request = onPublicOrigin(incoming, publicUrl, form.toString());
  const response = await engine(platform, slug).serve(request);
  response.headers.set('cache-control', 'no-store');
  return response;
}

function isOrigin(value: string, publicUrl: string): boolean {
  try {
    const url = new URL(value);
    return url.origin === new URL(publicUrl).origin && (url.pathname === '/' || url.pathname === '');
  } catch {
    return false;
  }
}
