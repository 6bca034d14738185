import { z } from 'zod';
import { MAX_PATTERNS, MAX_TOOL_NAME } from '../upstream/tool-policy.ts';
import { credentialTemplate, isReservedHeader } from './credential-template.ts';

/**
 * What a creator may send, from the JSON API or the home-page form (same names). Every field has
 * a length cap; header name and prefix are checked so that no value can break HTTP framing or
 * routing upstream (request smuggling, header injection) or impersonate a header we manage.
 */

/**
 * The longest value each creator's field takes, in characters. The forms' fields declare the same
 * limit (pages/form-limits.ts) so a browser refuses what the server would: never a `maxlength`,
 * which cuts a paste silently (a 300-character name saved as its first 100).
 */
export const FIELD_LIMITS = { upstream_url: 2048, display_name: 100, auth_header_name: 64, auth_header_prefix: 64 } as const;

/** RFC 9110 token characters: the only ones a header field name may contain. */
const HEADER_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Visible ASCII and spaces: what survives every HTTP stack unchanged. */
const HEADER_TEXT = /^[\x20-\x7e]*$/;
/** Names shown on pages: any printable text, no control characters (no CR/LF, no bidi overrides). */
const DISPLAY_TEXT = /^[^\p{Cc}\u202a-\u202e\u2066-\u2069]*$/u;

export const headerName = z
  .string()
  .trim()
  .min(1, 'auth_header_name must not be empty')
  .max(FIELD_LIMITS.auth_header_name, `auth_header_name must be at most ${FIELD_LIMITS.auth_header_name} characters`)
  .regex(HEADER_TOKEN, "auth_header_name must be a valid HTTP header name (letters, digits and !#$%&'*+.^_`|~-)")
  .refine((name) => !isReservedHeader(name), {
    message: 'auth_header_name names a header that carries framing, routing or protocol state and cannot hold the key',
  });

export const headerPrefix = z
  .string()
  .max(FIELD_LIMITS.auth_header_prefix, `auth_header_prefix must be at most ${FIELD_LIMITS.auth_header_prefix} characters`)
  .regex(HEADER_TEXT, 'auth_header_prefix may contain only visible ASCII characters and spaces (no line breaks)');

const endpointFields = z.strictObject({
  upstream_url: z
    .string({ error: (issue) => (issue.input === undefined ? 'upstream_url is required' : 'upstream_url must be a string') })
    .trim()
    .min(1, 'upstream_url is required')
    .max(FIELD_LIMITS.upstream_url, `upstream_url must be at most ${FIELD_LIMITS.upstream_url} characters`),
  display_name: z
    .string()
    .trim()
    .max(FIELD_LIMITS.display_name, `display_name must be at most ${FIELD_LIMITS.display_name} characters`)
    .regex(DISPLAY_TEXT, 'display_name must not contain control characters')
    .optional(),
  auth_header_name: headerName.optional(),
  auth_header_prefix: headerPrefix.optional(),
  /** The credential template (credential-template.ts); the two fields above are its one-header form. */
  credentials: credentialTemplate.optional(),
  transport: z.enum(['auto', 'streamable-http', 'sse']).optional(),
});

/** One way to say where the key goes: the template, or the one-header fields, not both. */
const oneTemplate = {
  check: (input: { credentials?: unknown; auth_header_name?: unknown; auth_header_prefix?: unknown }) =>
    input.credentials === undefined || (input.auth_header_name === undefined && input.auth_header_prefix === undefined),
  message: 'Send either credentials or auth_header_name/auth_header_prefix, not both (they are the one-header template)',
};

export const createEndpointInput = endpointFields.refine(oneTemplate.check, { message: oneTemplate.message });

export type CreateEndpointInput = z.infer<typeof createEndpointInput>;

const toolPattern = z
  .string()
  .min(1, 'a tool_policy pattern must not be empty')
  .max(MAX_TOOL_NAME, `a tool_policy pattern is at most ${MAX_TOOL_NAME} characters`);
/** The creator's tool ceiling (upstream/tool-policy.ts): name patterns, `*` for any run; null removes it. */
const toolPolicyInput = z
  .strictObject({
    allow: z.array(toolPattern).max(MAX_PATTERNS, `tool_policy.allow takes at most ${MAX_PATTERNS} patterns`).optional(),
    deny: z.array(toolPattern).max(MAX_PATTERNS, `tool_policy.deny takes at most ${MAX_PATTERNS} patterns`).optional(),
  })
  .nullable();

/** A change by the creator (PATCH /api/slugs/:slug): the same fields and rules, all optional, at least one. */
export const updateEndpointInput = endpointFields
  .partial()
  .extend({ tool_policy: toolPolicyInput.optional() })
  .refine((input) => Object.values(input).some((value) => value !== undefined), { message: 'Send at least one field to change' })
  .refine(oneTemplate.check, { message: oneTemplate.message });

export type UpdateEndpointInput = z.infer<typeof updateEndpointInput>;

/** The first problem zod found, as one sentence a user can act on. */
export function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'Invalid input';
  if (issue.code === 'unrecognized_keys') return `Unknown field(s): ${issue.keys.join(', ')}`;
  if (issue.code === 'invalid_type' && issue.path.length === 0) return 'The body must be a JSON object';
  const field = issue.path.join('.');
  if (issue.code === 'invalid_type')
    return issue.message.startsWith('Invalid input') ? `${field} must be a ${issue.expected}` : issue.message;
  if (issue.code === 'invalid_value') return `${field} must be one of ${issue.values.map((value) => JSON.stringify(value)).join(', ')}`;
  return issue.message;
}
