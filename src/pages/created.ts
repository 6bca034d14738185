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
    html`<section class="card">
<h1>Your endpoint for ${options.displayName}</h1>
<p>Requests to this URL are forwarded to <strong class="host">${options.upstreamHost}</strong> with your key${
      keyLines(options.preview) ? html`, as <code class="header-line">${keyLines(options.preview)}</code>` : ''
    }. Each looks like this:</p>
${requestPreviewBlock(options.preview)}
${options.warnings.map((warning) => html`<p class="warning" role="alert">${warning}</p>`)}
<div class="copy-row"><input id="endpoint" readonly value="${mcpEndpoint}" aria-label="MCP endpoint URL">
<button type="button" data-copy="endpoint">Copy</button></div>
${
  options.manageLink
    ? html`<p><strong>Save this link now.</strong> It opens this endpoint's manage page, where you can change it, see
who connected and take access back, or delete it. It holds the manage token, which is shown only this once.</p>
<div class="copy-row"><input id="manage-link" readonly value="${options.manageLink}" aria-label="Manage link">
<button type="button" data-copy="manage-link">Copy</button></div>`
    : html`<p class="muted">The manage link was shown once, when this page first opened. Without it, only the
operator of this deployment can change or delete the endpoint.</p>`
}
</section>
<section class="card">
<h2>Add it to your client</h2>
<dl class="howto">
<dt>Claude (claude.ai, Desktop)</dt>
<dd>Settings → Connectors → Add custom connector → paste the URL → Connect.</dd>
<dt>ChatGPT</dt>
<dd>Settings → Apps &amp; Connectors → Advanced settings → turn on Developer mode → Create →
paste the URL, Authentication: OAuth.</dd>
<dt>Cursor</dt>
<dd>In <code>~/.cursor/mcp.json</code>: <pre>{ "mcpServers": { "${name}": { "url": "${mcpEndpoint}" } } }</pre></dd>
<dt>VS Code</dt>
<dd>In <code>.vscode/mcp.json</code>: <pre>{ "servers": { "${name}": { "type": "http", "url": "${mcpEndpoint}" } } }</pre></dd>
<dt>Claude Code</dt>
<dd><pre>claude mcp add --transport http ${name} ${mcpEndpoint}</pre> then run <code>/mcp</code> to sign in.</dd>
</dl>
<p>The client opens an authorization page on this site where you paste your API key once.</p>
</section>
${trustNotice()}`,
  );
}
