import { html } from 'hono/html';
import { type Html, layout } from './layout.ts';

/** What a person who opens an endpoint URL in a browser sees: what it is and where it goes. */
export function endpointInfoPage(options: { mcpEndpoint: string; displayName: string }): Html {
  return layout(
    `${options.displayName} · MCP endpoint`,
    html`<section class="card">
<h1>This is an MCP endpoint for ${options.displayName}</h1>
<p>This address is meant for an MCP client such as Claude, ChatGPT, Cursor or VS Code, not for a browser.
Add it to your client as a remote MCP server; the client then opens a page on this site where you paste
your API key once.</p>
<div class="copy-row"><input id="endpoint" readonly value="${options.mcpEndpoint}" aria-label="MCP endpoint URL">
<button type="button" data-copy="endpoint">Copy</button></div>
<p><a href="/">Create an endpoint for another server</a></p>
</section>`,
  );
}
