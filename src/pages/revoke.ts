import { html } from 'hono/html';
import { type Html, layout } from './layout.ts';

/**
 * "Take back access you gave": for the person who pasted a key on a consent page. They prove it
 * with the same key; no account, no manage token.
 */
export function revokePage(options: { endpoint?: string; error?: string; revoked?: number }): Html {
  return layout(
    'Revoke your access',
    html`<section class="card">
<h1>Take back access you gave an app</h1>
${
  options.revoked !== undefined
    ? html`<p class="ok" role="status">${
        options.revoked === 0
          ? 'No access made with that key was found on this endpoint; nothing was changed.'
          : `Done: ${options.revoked === 1 ? 'one app' : `${options.revoked} apps`} can no longer use this endpoint with your key.`
      }</p>`
    : ''
}
<p>Every app you connected by pasting your key on this site keeps that access until you revoke it here
(or the endpoint's creator does). Paste the endpoint URL and the same key: every access made with that key
on that endpoint ends at once. Your key is not sent anywhere else.</p>
${options.error ? html`<p class="error" role="alert">${options.error}</p>` : ''}
<form method="post" action="/revoke" class="stack">
<label>Endpoint URL
<input name="endpoint" type="url" required maxlength="2048" placeholder="https://…/xxxxxxxxxxxx/mcp" value="${options.endpoint ?? ''}"></label>
<label>The API key you pasted
<input name="api_key" type="password" autocomplete="off" spellcheck="false" required maxlength="8192"></label>
<button type="submit">Revoke</button>
</form>
<p class="muted">To stop using the key everywhere, also revoke it at its issuer; that makes it useless here too.</p>
<p><a href="/">Back to the start page</a></p>
</section>`,
  );
}
