import { type CredentialField, placeCredentials } from '../upstream/credentials.ts';
import { MAX_UPSTREAM_URL_LENGTH } from '../upstream/url-policy.ts';
import { withoutPastedPrefix } from './grants.ts';

/**
 * Reading a credential from a form: the consent page, and any page where a key holder pastes what
 * they gave an endpoint. Field `i` of the template is the input `credential_i`; a one-field
 * template also answers to `api_key`, the name it always had. Each value is checked so that it
 * can travel where the template puts it without changing the request around it.
 */

export const MAX_VALUE_LENGTH = 8192;

/** The form input that holds field `index`; `api_key` for the single field of a one-field template. */
export function credentialInputName(fields: readonly CredentialField[], index: number): string {
  return fields.length === 1 ? 'api_key' : `credential_${index}`;
}

export type CredentialRead = { ok: true; values: string[] } | { ok: false; message: string; log: string };

/**
 * The values of `fields` from a form, in template order, or the first problem. `url` is the
 * upstream URL: query values must leave it within the length every upstream request is held to.
 */
export function readCredentialForm(
  form: { get(name: string): string | null },
  fields: readonly CredentialField[],
  url: string,
): CredentialRead {
  const values: string[] = [];
  for (const [index, field] of fields.entries()) {
    const raw = form.get(`credential_${index}`) ?? (fields.length === 1 ? form.get('api_key') : null) ?? '';
    const value = field.in === 'header' ? withoutPastedPrefix(raw.trim(), field.prefix ?? '') : raw.trim();
    const problem = valueProblem(value, field, fields.length === 1);
    if (problem) return { ok: false, ...problem };
    values.push(value);
  }
  if (placeCredentials([...fields], values, url).url.length > MAX_UPSTREAM_URL_LENGTH) {
    return {
      ok: false,
      message: `These values are too long to travel in the upstream URL (at most ${MAX_UPSTREAM_URL_LENGTH} characters in all).`,
      log: 'url too long',
    };
  }
  return { ok: true, values };
}

function valueProblem(value: string, field: CredentialField, only: boolean): { message: string; log: string } | undefined {
  const name = only ? 'your API key' : `“${field.label}”`;
  if (!value) return { message: only ? 'Paste your API key.' : `Fill in ${name}.`, log: 'empty' };
  if (value.length > MAX_VALUE_LENGTH) return { message: only ? 'That key is too long.' : `${name} is too long.`, log: 'too long' };
  // Every value ends up in a header line or a URL: anything outside visible ASCII could split or corrupt it.
  if (!/^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/.test(value)) {
    return {
      message: `${only ? 'That key' : name} contains characters ${field.in === 'query' ? 'a URL' : 'an HTTP header'} cannot carry (line breaks, control or non-ASCII characters).`,
      log: 'bad characters',
    };
  }
  // RFC 7617 §2: the user-id cannot contain a colon, which separates it from the password.
  if (field.in === 'basic_user' && value.includes(':')) return { message: `${name} cannot contain a colon (:).`, log: 'colon in user' };
  return undefined;
}
