import { jsonError } from '../http/errors.ts';
import { onPublicOrigin } from '../http/request.ts';
import type { Platform } from '../platform.ts';
import { engine } from './engine.ts';
import { redirectHostProblem } from './redirect-hosts.ts';
import { redirectUriProblem } from './redirect-uri.ts';
import { registrationBodyProblem } from './registration.ts';

/** Fields a client may send that the engine stores or ignores but leaves out of its answer. */
const ECHOED_FIELDS = ['scope', 'software_id', 'software_version'] as const;

/**
 * POST /oauth/register: the engine registers; we refuse metadata nested absurdly deep and redirect URIs no client should hold
 * (`redirect-uri.ts`) with RFC 7591's own error code, and return the metadata the client sent
 * (RFC 7591 §3.2.1 says the response contains all registered metadata; the engine drops some).
 */
export async function registerClient(platform: Platform, incoming: Request): Promise<Response> {
  const request = onPublicOrigin(incoming, platform.config.publicUrl);
  if (request.method !== 'POST') return engine(platform).serve(request);
  const body = await request.text();
  // Refused before parsing: JSON.parse of a value nested thousands deep overflows the stack (a 500).
  const deep = registrationBodyProblem(body);
  if (deep) return jsonError(400, 'invalid_client_metadata', deep);
  let sent: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(body);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) sent = parsed as Record<string, unknown>;
  } catch {
    // The engine answers malformed JSON in its own words.
  }
  if (Array.isArray(sent.redirect_uris)) {
    for (const uri of sent.redirect_uris) {
      const problem = redirectUriProblem(uri);
      if (problem) return jsonError(400, 'invalid_redirect_uri', problem);
    }
  }
  const notAdmitted = redirectHostProblem(platform.config.allowedClientRedirectHosts, sent.redirect_uris);
  if (notAdmitted) return jsonError(400, 'invalid_redirect_uri', notAdmitted);
  const response = await engine(platform).serve(new Request(request, { body }));
  if (response.status !== 201) return response;
  const registered = (await response.json()) as Record<string, unknown>;
  for (const field of ECHOED_FIELDS) if (typeof sent[field] === 'string' && !(field in registered)) registered[field] = sent[field];
  return new Response(JSON.stringify(registered), { status: 201, headers: response.headers });
}
