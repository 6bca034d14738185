/**
 * Where each value of a credential goes on the request to the upstream: one rule, decided here
 * and nowhere else. Every request that carries a key (the proxied exchange on both carriers,
 * legacy SSE and its message URLs, the key check) takes its URL and key headers from
 * `placeCredentials`; pages describe the same request with `requestPreview`.
 *
 * A template is 1 to 4 fields, in the order the consent page asks for them:
 * - `header`: a header line `name: prefix value` (the prefix joined by one space, none when empty);
 * - `query`: a query parameter `name=value` on the upstream URL, replacing any same-named one;
 * - `basic_user` / `basic_password`: the two parts of `Authorization: Basic base64(user:password)`
 *   (RFC 7617 §2, UTF-8); a part the template does not name is empty.
 */
export type CredentialPlace = 'header' | 'query' | 'basic_user' | 'basic_password';

export const CREDENTIAL_PLACES: readonly CredentialPlace[] = ['header', 'query', 'basic_user', 'basic_password'];

export interface CredentialField {
  /** What the consent page calls the value ("API key", "Account id"). */
  label: string;
  in: CredentialPlace;
  /** The header or query parameter name; absent for the Basic parts. */
  name?: string;
  /** Header fields only: text before the value, joined by one space (`Bearer`). */
  prefix?: string;
}

export const MAX_CREDENTIAL_FIELDS = 4;

/** The shape of a target or an endpoint before templates: one header, its name and prefix. */
export interface LegacyHeaderShape {
  headerName?: string | undefined;
  headerPrefix?: string | undefined;
}

/** The one-header template, as every record written before templates is read. */
export function headerTemplate(name: string, prefix: string): CredentialField[] {
  return [{ label: 'API key', in: 'header', name, prefix: prefix.trim() }];
}

/** The template of a record: its own, or the one header of the older shape (Authorization: Bearer by default). */
export function templateOf(record: { credentials?: CredentialField[] | undefined } & LegacyHeaderShape): CredentialField[] {
  if (record.credentials && record.credentials.length > 0) return record.credentials;
  return headerTemplate(record.headerName ?? 'Authorization', record.headerPrefix ?? '');
}

/** The one header field of a one-header template (what `auth_header_name`/`auth_header_prefix` describe), else undefined. */
export function singleHeader(fields: CredentialField[]): { name: string; prefix: string } | undefined {
  const [only] = fields;
  return fields.length === 1 && only?.in === 'header' ? { name: only.name!, prefix: only.prefix ?? '' } : undefined;
}

/** The query parameter names a template sets, as written. */
export function queryNames(fields: CredentialField[]): string[] {
  return fields.filter((field) => field.in === 'query').map((field) => field.name!);
}

/**
 * `url` with the template's query parameters removed: what may be stored, shown, logged, or
 * handed to a client (a legacy upstream's `endpoint` event may echo its key in its message URL).
 */
export function withoutCredentialParams(fields: CredentialField[], url: string): string {
  const names = queryNames(fields);
  if (names.length === 0) return url;
  const parsed = new URL(url);
  for (const name of names) parsed.searchParams.delete(name);
  return parsed.href;
}

export interface PlacedCredentials {
  /** `url` with the query fields set (same-named parameters replaced, never duplicated). */
  url: string;
  /** Header lines, names lower-cased, in template order; Basic as one `authorization` line. */
  headers: [string, string][];
}

/**
 * What `placeCredentials` last answered for a grant's values, with the template and URL it was
 * for: a remembered token check hands the same values array to every message of its grant, so the
 * header lines (a lower-cased name, a prefix and the key joined) are built once, not per message.
 */
const placedFor = new WeakMap<readonly string[], { fields: CredentialField[]; url: string; placed: PlacedCredentials }>();

/** Where each of `values` (in template order) goes on a request to `url`. The answer is shared: read it, never change it. */
export function placeCredentials(fields: CredentialField[], values: readonly string[], url: string): PlacedCredentials {
  const known = placedFor.get(values);
  if (known && known.url === url && samePlaces(known.fields, fields)) return known.placed;
  const placed = placeAnew(fields, values, url);
  placedFor.set(values, { fields, url, placed });
  return placed;
}

/**
 * Whether two templates put values in the same places: the same array, or (a record of the older
 * shape, whose one-header template `templateOf` builds on each call) field by field. Labels place nothing.
 */
function samePlaces(a: CredentialField[], b: CredentialField[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  return a.every((field, index) => field.in === b[index]!.in && field.name === b[index]!.name && field.prefix === b[index]!.prefix);
}

function placeAnew(fields: CredentialField[], values: readonly string[], url: string): PlacedCredentials {
  const headers: [string, string][] = [];
  let target: URL | undefined;
  let user: string | undefined;
  let password: string | undefined;
  fields.forEach((field, index) => {
    const value = values[index] ?? '';
    switch (field.in) {
      case 'header':
        headers.push([field.name!.toLowerCase(), field.prefix?.trim() ? `${field.prefix.trim()} ${value}` : value]);
        break;
      case 'query':
        target ??= new URL(url);
        target.searchParams.set(field.name!, value);
        break;
      case 'basic_user':
        user = value;
        break;
      case 'basic_password':
        password = value;
        break;
    }
  });
  if (user !== undefined || password !== undefined)
    headers.push(['authorization', `Basic ${base64Utf8(`${user ?? ''}:${password ?? ''}`)}`]);
  return { url: target ? target.href : url, headers };
}

function base64Utf8(text: string): string {
  let binary = '';
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** How a value is shown on a page: its first four characters (enough to spot a wrong paste), never more. */
export function maskValue(value: string): string {
  return `${value.slice(0, 4)}…`;
}

/**
 * The request the upstream gets, as lines a person reads: the request line with the query fields,
 * then the key headers. Values are masked (`maskValue`), or `<label>` before anyone typed one.
 * The Basic line names its parts instead of encoding them, which would hide nothing useful.
 */
export function requestPreview(fields: CredentialField[], url: string, method: string, values?: readonly string[]): string[] {
  const shown = (index: number) => (values ? maskValue(values[index] ?? '') : `<your ${fields[index]!.label}>`);
  const query = fields
    .map((field, index) => (field.in === 'query' ? `${encodeURIComponent(field.name!)}=${shown(index)}` : undefined))
    .filter((part): part is string => part !== undefined);
  const base = withoutCredentialParams(fields, url);
  const requestLine = query.length > 0 ? `${base}${base.includes('?') ? '&' : '?'}${query.join('&')}` : base;
  const lines = [`${method} ${requestLine}`];
  const basic: string[] = ['', ''];
  let hasBasic = false;
  fields.forEach((field, index) => {
    if (field.in === 'header') lines.push(`${field.name}: ${field.prefix?.trim() ? `${field.prefix.trim()} ` : ''}${shown(index)}`);
    if (field.in === 'basic_user' || field.in === 'basic_password') {
      basic[field.in === 'basic_user' ? 0 : 1] = shown(index);
      hasBasic = true;
    }
  });
  if (hasBasic) lines.push(`Authorization: Basic base64(${basic[0]}:${basic[1]})`);
  return lines;
}

/** The label a field gets when the creator gave none. */
export function defaultLabel(field: Pick<CredentialField, 'in' | 'name'>): string {
  if (field.in === 'basic_user') return 'User name';
  if (field.in === 'basic_password') return 'Password';
  return field.name && field.name.toLowerCase() !== 'authorization' ? field.name : 'API key';
}
