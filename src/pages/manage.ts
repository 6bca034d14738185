import { html } from 'hono/html';
import { type AccessRow, accessTable } from './access-table.ts';
import { type CredentialRow, credentialRows } from './credential-rows.ts';
import { type FieldLimits, lengthLimit } from './form-limits.ts';
import { type Html, layout } from './layout.ts';
import { keyLines, requestPreviewBlock } from './request-preview.ts';
import { toolPolicySection } from './tool-policy-form.ts';

export interface ManagedEndpoint {
  slug: string;
  mcpEndpoint: string;
  displayName: string;
  upstreamUrl: string;
  transport: string;
  /** The request the upstream gets, values as placeholders (upstream/credentials.ts `requestPreview`). */
  preview: string[];
  /** The credential template as the Advanced rows show it. */
  rows: CredentialRow[];
}

const TRANSPORTS = [
  ['streamable-http', 'Streamable HTTP'],
  ['sse', 'Legacy HTTP+SSE (2024-11-05)'],
  ['auto', 'Detect again'],
] as const;

/** The page that asks for the manage token (the link from creation fills it in by itself). */
export function manageTokenPage(options: { slug: string; error?: string }): Html {
  return layout(
    'Manage an endpoint',
    html`<section class="card">
<h1>Manage endpoint <code>${options.slug}</code></h1>
<p>Paste the manage token you saved when the endpoint was created (or open the manage link, which
fills it in).</p>
${options.error ? html`<p class="error" role="alert">${options.error}</p>` : ''}
<form method="post" class="stack" id="manage-open">
<input type="hidden" name="action" value="open">
<label>Manage token
<input name="token" type="password" autocomplete="off" spellcheck="false" required maxlength="512"></label>
<button type="submit">Open</button>
</form>
<p><a href="/">Back to the start page</a></p>
</section>`,
  );
}

/**
 * The creator's page: the endpoint and how the key travels, who has access (with a button each to
 * take it back), a form to change it, activity, the tool ceiling, and deletion; one function per
 * section. Every button is a same-origin form post answered by a redirect back here, so reload and
 * Back are harmless; the destructive ones are confirmed first (pages/confirm.ts, and the typed ID
 * for deletion), naming what will be lost.
 */
export function managePage(options: {
  endpoint: ManagedEndpoint;
  grants: AccessRow[];
  notice?: string;
  error?: string;
  toolPolicy?: { allow?: string[]; deny?: string[] };
  /** The activity section (activity.ts), rendered by the caller. */
  activity?: Html;
  /** The server's length limit of each field (endpoints/input.ts). */
  limits: FieldLimits;
}): Html {
  const { endpoint, grants } = options;
  return layout(
    `Manage ${endpoint.displayName}`,
    html`${endpointSection(endpoint, options)}
${accessSection(grants)}
${changeSection(endpoint, grants.length, options.limits)}
${options.activity ?? ''}
${toolPolicySection(options.toolPolicy)}
${deleteSection(endpoint, grants.length)}
<form method="post"><input type="hidden" name="action" value="sign-out"><button type="submit" class="secondary">Close (forget the token in this browser)</button></form>`,
  );
}

function endpointSection(endpoint: ManagedEndpoint, messages: { notice?: string; error?: string }): Html {
  return html`<section class="card">
<h1>Manage ${endpoint.displayName}</h1>
${messages.notice ? html`<p class="ok" role="status">${messages.notice}</p>` : ''}
${messages.error ? html`<p class="error" role="alert">${messages.error}</p>` : ''}
<div class="copy-row"><input id="endpoint" readonly value="${endpoint.mcpEndpoint}" aria-label="MCP endpoint URL">
<button type="button" data-copy="endpoint">Copy</button></div>
<p>Requests are forwarded to <strong class="host">${new URL(endpoint.upstreamUrl).host}</strong> with each user's key${
    keyLines(endpoint.preview) ? html`, as <code class="header-line">${keyLines(endpoint.preview)}</code>` : ''
  }. Each looks like this:</p>
${requestPreviewBlock(endpoint.preview)}
</section>`;
}

function accessSection(grants: AccessRow[]): Html {
  return html`<section class="card">
<h2>Who has access</h2>
${
  grants.length === 0
    ? html`<p class="muted">No app has access to this endpoint now. When someone connects an app and approves with their key, it is listed here.</p>`
    : html`${accessTable(
        grants,
        (id) => html`<form method="post"><input type="hidden" name="action" value="revoke"><input type="hidden" name="grant" value="${id}">
<button type="submit" class="secondary">Revoke<span class="visually-hidden"> ${grants.find((grant) => grant.id === id)?.clientName ?? ''}</span></button></form>`,
      )}
<form method="post"><input type="hidden" name="action" value="revoke-all"><button type="submit" class="secondary">Revoke all (${grants.length})…</button></form>`
}
</section>`;
}

function changeSection(endpoint: ManagedEndpoint, accesses: number, limits: FieldLimits): Html {
  return html`<section class="card">
<h2>Change the endpoint</h2>
<p class="muted">Changing the upstream URL, where the key goes (the credential fields) or the transport revokes every access above${
    accesses > 0 ? ` (${accesses} now; you are asked first)` : ''
  }: each user must see where their key now goes and approve again. Changing only the name keeps them.</p>
<form method="post" class="stack">
<input type="hidden" name="action" value="save">
<label>Display name
<input name="display_name" ${lengthLimit(limits.display_name)} value="${endpoint.displayName}"></label>
<label>Upstream MCP server URL
<input name="upstream_url" type="url" required ${lengthLimit(limits.upstream_url)} value="${endpoint.upstreamUrl}"></label>
<details>
<summary>Advanced: where the key goes</summary>
${credentialRows(endpoint.rows, 'in the order the authorization page asks for them; set a row to (unused) to remove it')}
</details>
<label>Transport
<select name="transport">
${TRANSPORTS.map(([value, label]) => html`<option value="${value}"${endpoint.transport === value ? ' selected' : ''}>${label}</option>`)}
</select></label>
<button type="submit">Save</button>
</form>
</section>`;
}

/** Deletion asks for the endpoint's ID to be typed, as GitHub asks for a repository's name. */
function deleteSection(endpoint: ManagedEndpoint, accesses: number): Html {
  return html`<section class="card">
<h2>Delete the endpoint</h2>
<p>Its URL stops working at once${accesses > 0 ? html` and <strong>${accesses === 1 ? 'the one app' : `all ${accesses} apps`} with access lose${accesses === 1 ? 's' : ''} it</strong>` : ''}. This cannot be undone.</p>
<form method="post" class="stack" data-confirm-delete>
<input type="hidden" name="action" value="delete">
<label>To confirm, type the endpoint’s ID, <code>${endpoint.slug}</code>
<input name="confirm" required autocomplete="off" spellcheck="false" maxlength="64" data-must-match="${endpoint.slug}"></label>
<button type="submit" class="danger">Delete endpoint</button>
</form>
</section>`;
}

/** After deletion, or for a slug that never existed. */
export function manageGonePage(deleted: boolean): Html {
  return layout(
    deleted ? 'Endpoint deleted' : 'Endpoint not found',
    html`<section class="card">
<h1>${deleted ? 'Endpoint deleted' : 'Endpoint not found'}</h1>
<p>${deleted ? 'The endpoint is gone and every access to it was revoked.' : 'No endpoint with this URL exists on this server; it may have been deleted.'}</p>
<p><a href="/">Back to the start page</a></p>
</section>`,
  );
}
