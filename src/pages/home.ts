import { html } from 'hono/html';
import { type CredentialRow, credentialRows } from './credential-rows.ts';
import { type FieldLimits, lengthLimit } from './form-limits.ts';
import { type Html, layout, trustNotice } from './layout.ts';
import { requestPreviewBlock } from './request-preview.ts';
import { signedInAs } from './teams.ts';

export interface HomeForm {
  upstream_url?: string;
  display_name?: string;
  auth_header_name?: string;
  auth_header_prefix?: string;
  transport?: 'auto' | 'streamable-http' | 'sse';
}

/** The start page's label of each field, for refusals that name a field (`auth_header_name must …`). */
export const FIELD_LABELS: Readonly<Record<string, string>> = {
  upstream_url: 'Upstream MCP server URL',
  display_name: 'Display name',
  auth_header_name: 'Header name',
  auth_header_prefix: 'Prefix',
  transport: 'Transport',
};

/**
 * A refusal as the form's reader knows the fields: `auth_header_name must …` reads `Header name
 * must …`, and `credentials[1].name must …` reads `Field 2 name must …` (the Advanced rows).
 */
export function inFormWords(message: string): string {
  const row = /^(?:a credential (label|name|prefix)|credentials\[(\d)\]\.(label|name|prefix))\b/.exec(message);
  if (row) return message.replace(row[0], row[2] ? `Field ${Number(row[2]) + 1} ${row[3]}` : `A field's ${row[1]}`);
  const field = Object.keys(FIELD_LABELS).find((name) => message.startsWith(`${name} `));
  return field ? `${FIELD_LABELS[field]}${message.slice(field.length)}` : message;
}

const TRANSPORT_LABELS = { auto: 'Detect', 'streamable-http': 'Streamable HTTP', sse: 'Legacy HTTP+SSE (2024-11-05)' };

export function homePage(options: {
  error?: string;
  form?: HomeForm;
  /** The Advanced credential rows as posted (endpoints/template-form.ts). */
  rows: CredentialRow[];
  /** The request the upstream would get, after the Preview button. */
  preview?: string[];
  adminRequired: boolean;
  /** The server's length limit of each field (endpoints/input.ts). */
  limits: FieldLimits;
  /** With sign-in configured: who is signed in, with the way to their endpoints and out. */
  person?: { email: string; admin: boolean };
}): Html {
  const form = options.form ?? {};
  const { limits } = options;
  // What the person set in Advanced stays in view when the page comes back (an error, a preview).
  const advancedUsed =
    options.preview ||
    options.rows.some((row) => row.in) ||
    form.auth_header_name ||
    form.auth_header_prefix ||
    (form.transport && form.transport !== 'auto');
  return layout(
    'Connect an API-key MCP server',
    html`<section class="card">
<h1>Use an API-key MCP server from Claude and ChatGPT</h1>
${options.person ? signedInAs(options.person.email, options.person.admin) : ''}
<p>Claude, ChatGPT and other MCP clients connect to remote servers only through OAuth.
Enter your server's URL to get an endpoint that speaks OAuth for it. The first time a client
connects, you paste your API key once on an authorization page; from then on every request is
forwarded with the key in the header your server expects.</p>
${options.error ? html`<p class="error" role="alert">${options.error}</p>` : ''}
<form method="post" action="/" class="stack">
<label>Upstream MCP server URL
<input name="upstream_url" type="url" required ${lengthLimit(limits.upstream_url)} placeholder="https://mcp.example.com/mcp" value="${form.upstream_url ?? ''}"></label>
<label>Display name <span class="muted">(optional, shown on the authorization page)</span>
<input name="display_name" ${lengthLimit(limits.display_name)} value="${form.display_name ?? ''}"></label>
<details${advancedUsed ? ' open' : ''}>
<summary>Advanced: how the key is sent</summary>
<label>Header name
<input name="auth_header_name" ${lengthLimit(limits.auth_header_name)} placeholder="Authorization" value="${form.auth_header_name ?? ''}"></label>
<label>Prefix <span class="muted">(joined to the key by one space; if empty: Bearer with the Authorization header, the bare key with any other header)</span>
<input name="auth_header_prefix" ${lengthLimit(limits.auth_header_prefix)} placeholder="Bearer" value="${form.auth_header_prefix ?? ''}"></label>
${credentialRows(options.rows, 'for servers that take the key in the URL, two values, or HTTP Basic: fill these instead of the header above')}
${options.preview ? html`<p>Each request to the upstream will look like this (values masked):</p>${requestPreviewBlock(options.preview)}` : ''}
<label>Transport <span class="muted">(detected from the server unless you choose)</span>
<select name="transport">
${(['auto', 'streamable-http', 'sse'] as const).map(
  (value) => html`<option value="${value}"${form.transport === value ? ' selected' : ''}>${TRANSPORT_LABELS[value]}</option>`,
)}
</select></label>
</details>
${
  options.adminRequired
    ? html`<label>Admin token <span class="muted">(this deployment is private)</span>
<input name="admin_token" type="password" autocomplete="off" required></label>`
    : ''
}
<div class="buttons">
<button type="submit">Create endpoint</button>
<button type="submit" name="intent" value="preview" class="secondary" formnovalidate>Preview the upstream request</button>
</div>
</form>
<p class="muted">Already gave an app your key through an endpoint? <a href="/access">See, revoke or replace that access</a>.</p>
</section>
${trustNotice()}`,
  );
}
