import { html } from 'hono/html';
import { type AccessRow, accessTable } from './access-table.ts';
import { type Html, layout } from './layout.ts';

/** Where the key holder's page lives (manage/access-page.ts); every link to it is built here. */
export const ACCESS_PATH = '/access';

export function accessLink(endpointUrl?: string): string {
  return endpointUrl ? `${ACCESS_PATH}?endpoint=${encodeURIComponent(endpointUrl)}` : ACCESS_PATH;
}

/**
 * "Your accesses", step one: the endpoint and the key you gave it. The key is the proof; it goes
 * in a POST body only, never in a URL.
 */
export function accessFindPage(options: { endpoint?: string; error?: string; notice?: string; labels?: string[] }): Html {
  const labels = options.labels && options.labels.length > 1 ? options.labels : undefined;
  return layout(
    'Your accesses',
    html`<section class="card">
<h1>Your key’s accesses</h1>
${options.notice ? html`<p class="ok" role="status">${options.notice}</p>` : ''}
<p>Every app you connected by pasting your key on an authorization page of this site keeps that access
until you revoke it. Paste the endpoint URL and the same key to see those apps, revoke them, or
replace the key they send (say, after rotating it at its issuer) without signing in to any app again.</p>
${options.error ? html`<p class="error" role="alert">${options.error}</p>` : ''}
<form method="post" action="${ACCESS_PATH}" class="stack">
<input type="hidden" name="action" value="find">
<label>Endpoint URL
<input name="endpoint" required maxlength="2048" placeholder="https://…/xxxxxxxxxxxx/mcp" value="${options.endpoint ?? ''}"></label>
${
  labels
    ? labels.map(
        (label, i) => html`<label>${label} (as you gave it)
<input name="credential_${i}" type="password" autocomplete="off" spellcheck="false" required maxlength="8192"></label>`,
      )
    : html`<label>The API key you gave it
<input name="credential_0" type="password" autocomplete="off" spellcheck="false" required maxlength="8192"></label>`
}
<button type="submit">Show my accesses</button>
</form>
<p class="muted">Your key is checked against this server’s records only and sent nowhere. For scripts, the same is
a JSON API: <code>POST /api/access</code>.</p>
</section>`,
  );
}

/** Step two: the accesses found with the key, and what can be done with them. */
export function accessListPage(options: {
  endpoint: string;
  host: string;
  accesses: AccessRow[];
  /** The endpoint's credential fields (one per value), when it takes more than one. */
  labels?: string[];
  notice?: string;
  error?: string;
  /** What these accesses did (activity.ts), rendered by the caller. */
  activity?: Html;
}): Html {
  const { accesses } = options;
  const labels = options.labels && options.labels.length > 1 ? options.labels : undefined;
  return layout(
    'Your accesses',
    html`<section class="card">
<h1>Your key’s accesses</h1>
${options.notice ? html`<p class="ok" role="status">${options.notice}</p>` : ''}
${options.error ? html`<p class="error" role="alert">${options.error}</p>` : ''}
<p>On <code class="endpoint">${options.endpoint}</code>, your key is sent to <strong class="host">${options.host}</strong>.</p>
${
  accesses.length === 0
    ? html`<p class="muted">No app has access with this key any more.</p>`
    : html`${accessTable(
        accesses,
        (
          id,
        ) => html`<form method="post" action="${ACCESS_PATH}"><input type="hidden" name="action" value="revoke"><input type="hidden" name="id" value="${id}">
<button type="submit" class="secondary">Revoke</button></form>`,
      )}
<form method="post" action="${ACCESS_PATH}"><input type="hidden" name="action" value="revoke-all"><button type="submit" class="secondary">Revoke all</button></form>
</section>
<section class="card">
<h2>Replace the key</h2>
<p>Rotated your key at ${options.host}? Paste the new one: it is checked with ${options.host} first, and from their next
request on, all the apps above send it instead of the old one. Nobody signs in again.</p>
<form method="post" action="${ACCESS_PATH}" class="stack">
<input type="hidden" name="action" value="replace">
${
  labels
    ? labels.map(
        (label, i) => html`<label>New ${label}
<input name="new_credential_${i}" type="password" autocomplete="off" spellcheck="false" required maxlength="8192"></label>`,
      )
    : html`<label>The new API key
<input name="new_credential_0" type="password" autocomplete="off" spellcheck="false" required maxlength="8192"></label>`
}
<button type="submit">Replace the key</button>
</form>`
}
</section>
${options.activity ?? ''}
<form method="post" action="${ACCESS_PATH}"><input type="hidden" name="action" value="done"><button type="submit" class="secondary">Done: forget my key on this page</button></form>`,
  );
}
