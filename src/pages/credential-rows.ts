import { html } from 'hono/html';
import { lengthLimit } from './form-limits.ts';
import type { Html } from './layout.ts';

/** One row of the Advanced section (endpoints/template-form.ts reads them back). */
export interface CredentialRow {
  in: string;
  name: string;
  prefix: string;
  label: string;
}

const PLACES = [
  ['', '(unused)'],
  ['header', 'Header'],
  ['query', 'Query parameter'],
  ['basic_user', 'HTTP Basic user'],
  ['basic_password', 'HTTP Basic password'],
] as const;

/**
 * Up to four fields a key holder is asked for, each with where it goes upstream: a header (name,
 * prefix), a query parameter (name) or a part of HTTP Basic. Labels are what the consent page asks.
 * The lengths are credential-template.ts's, refused (form-limits.ts), never cut.
 */
export function credentialRows(rows: readonly CredentialRow[], hint: string): Html {
  return html`<fieldset class="credential-template">
<legend>Credential fields <span class="muted">(${hint})</span></legend>
${rows.map(
  (row, index) => html`<div class="credential-row">
<label>Field ${index + 1}: where
<select name="credential_in_${index}">
${PLACES.map(([value, label]) => html`<option value="${value}"${row.in === value ? ' selected' : ''}>${label}</option>`)}
</select></label>
<label>Name <span class="muted">(header or parameter)</span>
<input name="credential_name_${index}" ${lengthLimit(64)} value="${row.name}"></label>
<label>Prefix <span class="muted">(header only)</span>
<input name="credential_prefix_${index}" ${lengthLimit(64)} value="${row.prefix}"></label>
<label>Label <span class="muted">(asked on the authorization page)</span>
<input name="credential_label_${index}" ${lengthLimit(60)} value="${row.label}"></label>
</div>`,
)}
</fieldset>`;
}
