import { html } from 'hono/html';
import { type Html, layout } from './layout.ts';

/** The signed-in person's line at the top of the team pages: who, and the way out. */
export function signedInAs(email: string, admin: boolean): Html {
  return html`<p class="muted">Signed in as <strong>${email}</strong>${admin ? ' (admin)' : ''} ·
<a href="/">Create an endpoint</a> · <a href="/endpoints">Endpoints</a>${admin ? html` · <a href="/audit">Audit trail</a>` : ''}</p>
<form method="post" action="/logout"><button type="submit" class="link">Sign out</button></form>`;
}

export interface EndpointRow {
  displayName: string;
  mcpEndpoint: string;
  upstreamHost: string;
  owner: string | null;
  createdAt: string;
  manageUrl: string;
}

export function myEndpointsPage(options: { email: string; admin: boolean; endpoints: EndpointRow[] }): Html {
  return layout(
    options.admin ? 'All endpoints' : 'My endpoints',
    html`<section class="card">
<h1>${options.admin ? 'All endpoints' : 'My endpoints'}</h1>
${signedInAs(options.email, options.admin)}
${
  options.endpoints.length === 0
    ? html`<p>No endpoints yet. <a href="/">Create one</a>.</p>`
    : html`<div class="table-wrap"><table class="grants rows">
<thead><tr><th>Name</th><th>MCP URL</th><th>Upstream</th>${options.admin ? html`<th>Owner</th>` : ''}<th>Created</th><th><span class="visually-hidden">Action</span></th></tr></thead>
<tbody>
${options.endpoints.map(
  (row) =>
    html`<tr><td class="row-title">${row.displayName}</td><td data-label="MCP URL"><code>${row.mcpEndpoint}</code></td><td data-label="Upstream">${row.upstreamHost}</td>${
      options.admin ? html`<td data-label="Owner">${row.owner ?? '(no owner)'}</td>` : ''
    }<td data-label="Created">${row.createdAt}</td><td class="row-action"><a href="${row.manageUrl}">Manage<span class="visually-hidden"> ${row.displayName}</span></a></td></tr>`,
)}
</tbody></table></div>`
}
</section>`,
  );
}

export interface AuditRow {
  at: string;
  actor: string;
  action: string;
  slug: string | null;
  detail: string;
}

export function auditPage(options: { email: string; filter: Record<string, string>; events: AuditRow[] }): Html {
  const f = options.filter;
  return layout(
    'Audit trail',
    html`<section class="card">
<h1>Audit trail</h1>
${signedInAs(options.email, true)}
<form method="get" action="/audit" class="stack">
<label>Who <input name="actor" value="${f.actor ?? ''}" placeholder="alice@example.com, manage link, admin token, key holder"></label>
<label>What <input name="action" value="${f.action ?? ''}" placeholder="endpoint, access.revoked, sign-in"></label>
<label>Endpoint <input name="slug" value="${f.slug ?? ''}"></label>
<button type="submit">Filter</button>
</form>
${
  options.events.length === 0
    ? html`<p>No events match.</p>`
    : html`<div class="table-wrap"><table class="grants rows">
<thead><tr><th>When</th><th>Who</th><th>What</th><th>Endpoint</th><th>Detail</th></tr></thead>
<tbody>
${options.events.map(
  (event) =>
    html`<tr><td class="row-title">${event.at}</td><td data-label="Who">${event.actor}</td><td data-label="What">${event.action}</td><td data-label="Endpoint">${event.slug ?? ''}</td><td data-label="Detail">${event.detail}</td></tr>`,
)}
</tbody></table></div>`
}
</section>`,
  );
}
