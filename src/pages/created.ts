import { html } from 'hono/html';
import { type Html, layout, trustNotice } from './layout.ts';

export function createdPage(options: { mcpEndpoint: string; displayName: string; upstreamHost: string; manageToken: string }): Html {
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
<p>Requests to this URL are forwarded to <strong class="host">${options.upstreamHost}</strong> with your key.</p>
<div class="copy-row"><input id="endpoint" readonly value="${mcpEndpoint}" aria-label="MCP endpoint URL">
<button type="button" data-copy="endpoint">Copy</button></div>
<p class="muted">Manage token (shown once; keep it to change or delete this endpoint later):</p>
<div class="copy-row"><input id="manage-token" readonly value="${options.manageToken}" aria-label="Manage token">
<button type="button" data-copy="manage-token">Copy</button></div>
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
