import { z } from 'zod';
import { CREDENTIAL_PLACES, type CredentialField, defaultLabel, MAX_CREDENTIAL_FIELDS, queryNames } from '../upstream/credentials.ts';

/**
 * The rules of a credential template (`"credentials": [...]` in the JSON API, the Advanced section
 * of the forms): what a creator may ask key holders for, and where it may go. Each rule keeps a
 * value from changing how the request is framed or routed, or from landing where another value
 * (or the proxy itself) writes.
 */

/** RFC 9110 §5.1: the only characters a header field name may contain. */
const HEADER_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Query names of unreserved characters (RFC 3986 §2.3): they read the same encoded or not. */
const QUERY_NAME = /^[A-Za-z0-9._~-]+$/;
/** Visible ASCII and spaces: what survives every HTTP stack unchanged. */
const HEADER_TEXT = /^[\x20-\x7e]*$/;
/** Labels shown on the consent page: any printable text, no control characters (no CR/LF, no bidi overrides). */
const DISPLAY_TEXT = /^[^\p{Cc}\u202a-\u202e\u2066-\u2069]*$/u;

/** Names the proxy manages, or whose value would change how the request is framed or routed (RFC 9110 §7.6.1, §6.4). */
export const RESERVED_HEADERS = new Set([
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'te',
  'trailer',
  'proxy-authorization',
  'proxy-authenticate',
  'proxy-connection',
  'cookie',
  'set-cookie',
  'expect',
  'content-type',
  'content-encoding',
  'accept',
  'accept-encoding',
  'origin',
  'referer',
  'via',
  'forwarded',
  'mcp-session-id',
  'mcp-protocol-version',
  'last-event-id',
  'mcp-method',
  'mcp-name',
]);
export const RESERVED_PREFIXES = ['x-forwarded-', 'sec-', 'proxy-', 'cf-'];

export function isReservedHeader(name: string): boolean {
  const lower = name.toLowerCase();
  return RESERVED_HEADERS.has(lower) || RESERVED_PREFIXES.some((prefix) => lower.startsWith(prefix));
}

const field = z.strictObject({
  label: z.string().trim().max(60, 'a credential label must be at most 60 characters').optional(),
  in: z.enum(CREDENTIAL_PLACES as [string, ...string[]]),
  name: z.string().trim().max(64, 'a credential name must be at most 64 characters').optional(),
  prefix: z.string().max(64, 'a credential prefix must be at most 64 characters').optional(),
});

/** `credentials`: parsed, checked as a whole, and normalised (labels filled in, prefixes trimmed). */
export const credentialTemplate = z
  .array(field, { error: 'credentials must be a list of fields' })
  .min(1, `credentials must have 1 to ${MAX_CREDENTIAL_FIELDS} fields`)
  .max(MAX_CREDENTIAL_FIELDS, `credentials must have 1 to ${MAX_CREDENTIAL_FIELDS} fields`)
  .transform((fields, context) => {
    const problem = templateProblem(fields as RawField[]);
    if (problem) {
      context.addIssue({ code: 'custom', message: problem });
      return z.NEVER;
    }
    return normalise(fields as RawField[]);
  });

type RawField = { label?: string | undefined; in: CredentialField['in']; name?: string | undefined; prefix?: string | undefined };

/** The first rule a template breaks, as a sentence naming the field, or undefined. */
function templateProblem(fields: RawField[]): string | undefined {
  const headers = new Set<string>();
  const queries = new Set<string>();
  const basic = new Set<string>();
  for (const [index, item] of fields.entries()) {
    const at = `credentials[${index}]`;
    if (item.label !== undefined && !DISPLAY_TEXT.test(item.label)) return `${at}.label must not contain control characters`;
    if (item.in !== 'header' && item.prefix) return `${at}.prefix is only for header fields`;
    if (item.in === 'header' || item.in === 'query') {
      if (!item.name) return `${at}.name is required for a ${item.in} field`;
    } else if (item.name) return `${at}.name is not used for ${item.in}: Basic always goes in the Authorization header`;
    if (item.in === 'header') {
      const name = item.name!;
      if (!HEADER_TOKEN.test(name)) return `${at}.name must be a valid HTTP header name (letters, digits and !#$%&'*+.^_\`|~-)`;
      if (isReservedHeader(name)) return `${at}.name names a header that carries framing, routing or protocol state and cannot hold a key`;
      if (item.prefix !== undefined && !HEADER_TEXT.test(item.prefix))
        return `${at}.prefix may contain only visible ASCII characters and spaces (no line breaks)`;
      const lower = name.toLowerCase();
      if (headers.has(lower)) return `${at}.name: two fields cannot both set the ${name} header`;
      headers.add(lower);
    } else if (item.in === 'query') {
      const name = item.name!;
      if (!QUERY_NAME.test(name)) return `${at}.name must be a query parameter name of letters, digits and ._~-`;
      const lower = name.toLowerCase();
      if (queries.has(lower)) return `${at}.name: two fields cannot both set the ${name} query parameter`;
      queries.add(lower);
    } else {
      if (basic.has(item.in)) return `${at}: only one field can be the ${item.in === 'basic_user' ? 'Basic user' : 'Basic password'}`;
      basic.add(item.in);
    }
  }
  if (basic.size > 0 && headers.has('authorization'))
    return 'credentials: HTTP Basic is sent in the Authorization header, so no header field can also be Authorization';
  return undefined;
}

function normalise(fields: RawField[]): CredentialField[] {
  return fields.map((item) => {
    const label = item.label || defaultLabel(item);
    if (item.in === 'header') return { label, in: 'header', name: item.name!, prefix: (item.prefix ?? '').trim() };
    if (item.in === 'query') return { label, in: 'query', name: item.name! };
    return { label, in: item.in };
  });
}

/**
 * A stored upstream URL must not already carry a parameter the template sets: the value would be
 * replaced on every request anyway, and a key pasted into the URL would be stored and shown.
 */
export function urlClashProblem(fields: CredentialField[], url: string): string | undefined {
  const present = new Set([...new URL(url).searchParams.keys()].map((name) => name.toLowerCase()));
  const clash = queryNames(fields).find((name) => present.has(name.toLowerCase()));
  return clash
    ? `upstream_url already has a ${clash} query parameter, which the credential template sets: remove it from the URL (a key belongs in the consent form, never in the URL)`
    : undefined;
}
