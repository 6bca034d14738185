import { html } from 'hono/html';
import { type Html, layout, trustNotice } from './layout.ts';
import { keyLines, requestPreviewBlock } from './request-preview.ts';

export interface CreatedPageOptions {
  mcpEndpoint: string;
  displayName: string;
  upstreamHost: string;
  /** The request the upstream gets, values masked (upstream/credentials.ts `requestPreview`). */
  preview: string[];
  /** `/manage/{slug}#token=…`, on the first view only. */
  manageLink?: string;
  warnings: string[];
}

export function createdPage(options: CreatedPageOptions): Html {
  const { mcpEndpoint } = options;
  const name =
    options.displayName
      .replace(/[^A-Za-z0-9_-]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .toLowerCase() || 'mcp-server';
  return layout(
    'Endpoint created',
    html`${endpointPart(options)}
${clientsPart(mcpEndpoint, name)}
${trustNotice()}`,
  );
}

/** The endpoint: where requests go, any warning, its URL, and the one-time manage link, marked as the thing to save. */
function endpointPart(options: CreatedPageOptions): Html {
  return html`<section class="card">
<h1>Your endpoint for ${options.displayName}</h1>
<p>Requests to this URL are forwarded to <strong class="host">${options.upstreamHost}</strong> with your key${
    keyLines(options.preview) ? html`, as <code class="header-line">${keyLines(options.preview)}</code>` : ''
  }. Each looks like this:</p>
${requestPreviewBlock(options.preview)}
${options.warnings.map((warning) => html`<p class="warning" role="alert">${warning}</p>`)}
<div class="copy-row"><input id="endpoint" readonly value="${options.mcpEndpoint}" aria-label="MCP endpoint URL">
<button type="button" data-copy="endpoint">Copy</button></div>
${
  options.manageLink
    ? html`<div class="save-this">
<h2>Save your manage link now: it is shown only this once</h2>
<p>It opens this endpoint's manage page, where you can change it, see who connected and take access back, or
delete it. It holds the manage token; without it, only the operator of this deployment can change the endpoint.</p>
<div class="copy-row"><input id="manage-link" readonly value="${options.manageLink}" aria-label="Manage link">
<button type="button" data-copy="manage-link">Copy</button></div>
</div>`
    : html`<p class="muted">The manage link was shown once, when this page first opened. Without it, only the
operator of this deployment can change or delete the endpoint.</p>`
}
</section>`;
}

/** How to add the URL to each client; what is pasted is a snippet with its own Copy button. */
function clientsPart(mcpEndpoint: string, name: string): Html {
  return html`<section class="card">
<h2>Add it to your client</h2>
<dl class="howto">
<dt>Claude (claude.ai, Desktop)</dt>
<dd>Settings → Connectors → Add custom connector → paste the URL → Connect.</dd>
<dt>ChatGPT</dt>
<dd>Settings → Apps &amp; Connectors → Advanced settings → turn on Developer mode → Create →
paste the URL, Authentication: OAuth.</dd>
<dt>Cursor</dt>
<dd>In <code>~/.cursor/mcp.json</code>: ${snippet('snippet-cursor', 'Cursor configuration', `{ "mcpServers": { "${name}": { "url": "${mcpEndpoint}" } } }`)}</dd>
<dt>VS Code</dt>
<dd>In <code>.vscode/mcp.json</code>: ${snippet('snippet-vscode', 'VS Code configuration', `{ "servers": { "${name}": { "type": "http", "url": "${mcpEndpoint}" } } }`)}</dd>
<dt>Claude Code</dt>
<dd>${snippet('snippet-claude-code', 'Claude Code command', `claude mcp add --transport http ${name} ${mcpEndpoint}`)} then run <code>/mcp</code> to sign in.</dd>
</dl>
<p>The client opens an authorization page on this site where you paste your API key once.</p>
</section>`;
}

/** Text to paste, kept on its lines (it scrolls inside its box on a phone, so it is focusable), with a Copy button. */
function snippet(id: string, label: string, text: string): Html {
  return html`<div class="snippet-row"><pre class="snippet" id="${id}" tabindex="0" aria-label="${label}">${text}</pre>
<button type="button" class="secondary" data-copy="${id}" aria-label="Copy the ${label}">Copy</button></div>`;
}
