import { html } from 'hono/html';
import type { Html } from './layout.ts';

/**
 * The request the upstream gets, as its lines (upstream/credentials.ts `requestPreview`: the
 * request line with any query key, then the key headers), values masked. The key lines alone are
 * also given as one `code.header-line`, how pages named the single header before templates.
 */
export function requestPreviewBlock(lines: readonly string[]): Html {
  return html`<pre class="request-preview">${lines.join('\n')}</pre>`;
}

/** The key lines (everything after the request line), joined for one line of prose. */
export function keyLines(lines: readonly string[]): string {
  return lines.slice(1).join(' · ');
}
