import { html } from 'hono/html';
import { type Html, layout } from './layout.ts';

export function errorPage(title: string, message: string, hint?: string): Html {
  return layout(
    title,
    html`<section class="card">
<h1>${title}</h1>
<p>${message}</p>
${hint ? html`<p class="muted">${hint}</p>` : ''}
<p><a href="/">Back to the start page</a></p>
</section>`,
  );
}
