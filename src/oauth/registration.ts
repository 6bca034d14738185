import type { ClientRegistrationCallbackOptions, ClientRegistrationCallbackResult } from '@cloudflare/workers-oauth-provider';
import { z } from 'zod';

/**
 * Limits on dynamic client registration (RFC 7591), on top of the engine's own checks (which
 * validate redirect URI schemes, grant types and auth methods). Anyone may register, so a
 * registration must not be able to store megabytes or put pages' worth of text on the consent
 * page. Real clients (docs/architecture.md) register one to three redirect URIs and a short name.
 */
export const REGISTRATION_LIMITS = {
  /** The whole metadata document, as JSON. */
  metadataBytes: 16 * 1024,
  redirectUris: 10,
  uriLength: 2048,
  clientName: 200,
  contacts: 10,
  fieldLength: 256,
} as const;

const uri = z.string().max(REGISTRATION_LIMITS.uriLength, `URIs must be at most ${REGISTRATION_LIMITS.uriLength} characters`);
const short = z.string().max(REGISTRATION_LIMITS.fieldLength);

/** Only the fields that carry size; the engine validates their meaning. Unknown fields are allowed (RFC 7591 §2). */
const metadata = z.looseObject({
  redirect_uris: z.array(uri).max(REGISTRATION_LIMITS.redirectUris, `at most ${REGISTRATION_LIMITS.redirectUris} redirect_uris`).optional(),
  client_name: z
    .string()
    .max(REGISTRATION_LIMITS.clientName, `client_name must be at most ${REGISTRATION_LIMITS.clientName} characters`)
    .regex(/^[^\p{Cc}\u202a-\u202e\u2066-\u2069]*$/u, 'client_name must not contain control characters')
    .optional(),
  client_uri: uri.optional(),
  logo_uri: uri.optional(),
  policy_uri: uri.optional(),
  tos_uri: uri.optional(),
  jwks_uri: uri.optional(),
  software_id: short.optional(),
  software_version: short.optional(),
  scope: z.string().max(1024).optional(),
  contacts: z.array(short).max(REGISTRATION_LIMITS.contacts).optional(),
  grant_types: z.array(short).max(10).optional(),
  response_types: z.array(short).max(10).optional(),
  token_endpoint_auth_method: short.optional(),
});

export function checkClientRegistration({
  clientMetadata,
}: ClientRegistrationCallbackOptions): ClientRegistrationCallbackResult | undefined {
  const size = new TextEncoder().encode(JSON.stringify(clientMetadata)).byteLength;
  if (size > REGISTRATION_LIMITS.metadataBytes) {
    return { description: `Client metadata must be at most ${REGISTRATION_LIMITS.metadataBytes} bytes` };
  }
  const problem = metadataProblem(clientMetadata);
  return problem ? { description: problem } : undefined;
}

/** What is wrong with the sizes and shapes of client metadata (registered, or a metadata document), if anything. */
export function metadataProblem(clientMetadata: Record<string, unknown>): string | undefined {
  const parsed = metadata.safeParse(clientMetadata);
  if (parsed.success) return undefined;
  const issue = parsed.error.issues[0]!;
  const field = issue.path.filter((part) => typeof part === 'string').join('.');
  return field && !issue.message.includes(field) ? `${field}: ${issue.message}` : issue.message;
}

/** Deeper than any real metadata document (RFC 7591's are two or three levels). */
const MAX_JSON_DEPTH = 32;

/**
 * A registration body nested deeper than `MAX_JSON_DEPTH`, found by counting brackets outside
 * strings (no parsing, no recursion): such a body would overflow the stack of the recursive code
 * that walks it later and turn into a 500.
 */
export function registrationBodyProblem(body: string): string | undefined {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const character = body[i];
    if (inString) {
      if (character === '\\') i++;
      else if (character === '"') inString = false;
    } else if (character === '"') inString = true;
    else if (character === '[' || character === '{') {
      if (++depth > MAX_JSON_DEPTH) return `Client metadata is nested more than ${MAX_JSON_DEPTH} levels deep`;
    } else if (character === ']' || character === '}') depth--;
  }
  return undefined;
}
