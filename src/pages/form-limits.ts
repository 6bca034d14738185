import { html } from 'hono/html';

/**
 * A text field's length limit as the browser enforces it without cutting: `pattern` refuses the
 * form with the field's `title` as the reason, where `maxlength` would silently keep the first N
 * characters of a paste. The number is the server's own (endpoints/input.ts FIELD_LIMITS), which
 * refuses longer values by the same sentence on the JSON API and on a form a browser did not check.
 */
export function lengthLimit(limit: number) {
  return html`pattern=".{0,${limit}}" title="At most ${limit} characters"`;
}

/** The limits a page's fields take, by field name (passed in: the rule lives with the input rules). */
export type FieldLimits = Readonly<Record<'upstream_url' | 'display_name' | 'auth_header_name' | 'auth_header_prefix', number>>;
