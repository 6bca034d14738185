import { z } from 'zod';
import { TOKEN_MAX } from './engine.ts';

/**
 * Shape and size rules for what clients send to the OAuth routes, checked before the engine sees
 * anything. The engine validates meaning (known client, registered redirect URI, PKCE, …); these
 * rules keep absurd input from reaching it: a client_id becomes a storage key (Workers KV caps keys
 * at 512 bytes, and a longer one is a storage error, not a "no such client"), and nothing a client
 * sends needs to be longer than a URL.
 */

const text = (name: string, max: number) => z.string().max(max, `${name} must be at most ${max} characters`);

const URL_MAX = 2048;
export const CLIENT_ID_MAX = 256;

/** GET /authorize, the authorization request (RFC 6749 §4.1.1, PKCE, RFC 8707). */
export const authorizeQuery = z.looseObject({
  client_id: z
    .string({ error: 'client_id is required' })
    .min(1, 'client_id is required')
    .max(CLIENT_ID_MAX, `client_id must be at most ${CLIENT_ID_MAX} characters`),
  response_type: text('response_type', 64).optional(),
  redirect_uri: text('redirect_uri', URL_MAX).optional(),
  scope: text('scope', 1024).optional(),
  // Clients put their own data in state (some a signed blob): generous, but bounded.
  state: text('state', 4096).optional(),
  // OAuth 2.1 and MCP require PKCE of every client; the engine alone would let a request without it through.
  code_challenge: z
    .string({ error: 'code_challenge is required (PKCE with S256)' })
    .min(43, 'code_challenge must be a PKCE S256 challenge (43 characters)')
    .max(128, 'code_challenge must be a PKCE S256 challenge (43 characters)'),
  code_challenge_method: z.literal('S256', { error: 'code_challenge_method must be S256' }),
  resource: text('resource', URL_MAX).optional(),
  endpoint: text('endpoint', URL_MAX).optional(),
});

/** POST /oauth/token: code and refresh grants, and RFC 7009 revocation. */
export const tokenForm = z.looseObject({
  grant_type: text('grant_type', 128).optional(),
  code: text('code', TOKEN_MAX).optional(),
  refresh_token: text('refresh_token', TOKEN_MAX).optional(),
  token: text('token', TOKEN_MAX).optional(),
  token_type_hint: text('token_type_hint', 64).optional(),
  code_verifier: text('code_verifier', 128).optional(),
  client_id: text('client_id', CLIENT_ID_MAX).optional(),
  client_secret: text('client_secret', 256).optional(),
  redirect_uri: text('redirect_uri', URL_MAX).optional(),
  resource: text('resource', URL_MAX).optional(),
  scope: text('scope', 1024).optional(),
});

/** POST /authorize, the consent form. The key's own rules (characters, length) give friendlier messages later. */
export const consentForm = z.looseObject({
  handle: z
    .string({ error: 'The form is missing its handle; start again from your app' })
    .min(1, 'The form is missing its handle; start again from your app')
    .max(128, 'The form’s handle is not one of ours'),
  action: z.enum(['approve', 'deny'], { error: 'Choose Approve or Deny' }),
  api_key: z.string().max(65536).optional(),
  destination: z.string().max(128).optional(),
});

/** The first problem in a set of query or form parameters, or undefined when they pass. */
export function paramsProblem(schema: z.ZodType, params: URLSearchParams, maxParams = 50): string | undefined {
  if ([...params.keys()].length > maxParams) return `At most ${maxParams} parameters are accepted`;
  const result = schema.safeParse(Object.fromEntries(params));
  if (result.success) return undefined;
  return result.error.issues[0]?.message ?? 'Invalid parameters';
}

/** Client credentials in `Authorization: Basic` on the token endpoint, bounded like the form's. */
export function basicAuthProblem(header: string | null): string | undefined {
  if (!header) return undefined;
  if (header.length > 1024) return 'The Authorization header is too long';
  const basic = /^Basic\s+(\S+)\s*$/i.exec(header);
  if (!basic) return undefined;
  let decoded: string;
  try {
    decoded = atob(basic[1]!);
  } catch {
    return 'The Basic credentials are not valid base64';
  }
  const separator = decoded.indexOf(':');
  const clientId = separator === -1 ? decoded : decoded.slice(0, separator);
  // The engine percent-decodes the client_id (RFC 6749 §2.3.1); decoding only shortens it.
  if (clientId.length > CLIENT_ID_MAX) return `client_id must be at most ${CLIENT_ID_MAX} characters`;
  return undefined;
}
