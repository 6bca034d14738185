import { html } from 'hono/html';
import { type CredentialRow, credentialRows } from './credential-rows.ts';
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

const TRANSPORT_LABELS = { auto: 'Detect', 'streamable-http': 'Streamable HTTP', sse: 'Legacy HTTP+SSE (2024-11-05)' };

export function homePage(options: {
  error?: string;
  form?: HomeForm;
  /** The Advanced credential rows as posted (endpoints/template-form.ts). */
  rows: CredentialRow[];
  /** The request the upstream would get, after the Preview button. */
  preview?: string[];
  adminRequired: boolean;
  /** With sign-in configured: who is signed in, with the way to their endpoints and out. */
  person?: { email: string; admin: boolean };
}): Html {
  const form = options.form ?? {};
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
<input name="upstream_url" type="url" required maxlength="2048" placeholder="https://mcp.example.com/mcp" value="${form.upstream_url ?? ''}"></label>
<label>Display name <span class="muted">(optional, shown on the authorization page)</span>
<input name="display_name" maxlength="100" value="${form.display_name ?? ''}"></label>
<details${options.preview || options.rows.some((row) => row.in) ? ' open' : ''}>
<summary>Advanced: how the key is sent</summary>
<label>Header name
<input name="auth_header_name" maxlength="64" placeholder="Authorization" value="${form.auth_header_name ?? ''}"></label>
<label>Prefix <span class="muted">(joined to the key by one space; if empty: Bearer with the Authorization header, the bare key with any other header)</span>
<input name="auth_header_prefix" maxlength="64" placeholder="Bearer" value="${form.auth_header_prefix ?? ''}"></label>
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
