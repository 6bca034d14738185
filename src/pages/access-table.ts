import { html } from 'hono/html';
import type { Html } from './layout.ts';

/** One app's access, as the creator's manage page and the key holder's page both list it. */
export interface AccessRow {
  id: string;
  clientName: string;
  /** The tools this access may call, in words. */
  tools?: string;
  redirectHost: string | null;
  createdAt: string;
  lastUsedAt: string | null;
}

/**
 * The accesses as a table; each row ends with `revoke(id)`, the page's own form for it. On a phone
 * the table becomes one block per access, each cell under its column's name (`data-label`, style.css).
 */
export function accessTable(rows: AccessRow[], revoke: (id: string) => Html): Html {
  return html`<div class="table-wrap"><table class="grants rows">
<thead><tr><th>App</th><th>Tokens go to</th><th>Authorized</th><th>Last used</th><th><span class="visually-hidden">Action</span></th></tr></thead>
<tbody>
${rows.map(
  (row) => html`<tr>
<td class="row-title">${row.clientName}${row.tools ? html`<br><span class="muted tools">${row.tools}</span>` : ''}</td><td data-label="Tokens go to"><span class="host">${row.redirectHost ?? 'unknown'}</span></td>
<td data-label="Authorized">${when(row.createdAt)}</td><td data-label="Last used">${row.lastUsedAt ? when(row.lastUsedAt) : 'never'}</td>
<td class="row-action">${revoke(row.id)}</td>
</tr>`,
)}
</tbody></table></div>`;
}

/** A time as pages show it, to the minute in UTC, with the exact value for machines. */
export function when(iso: string): Html {
  return html`<time datetime="${iso}">${iso.slice(0, 16).replace('T', ' ')} UTC</time>`;
}
