import { html } from 'hono/html';
import { type Html, layout } from './layout.ts';

/** Where the person goes from an error page: the start page unless the page knows better (say, the sign-in they were in). */
export interface WayBack {
  href: string;
  label: string;
}

export function errorPage(
  title: string,
  message: string,
  hint?: string,
  back: WayBack = { href: '/', label: 'Back to the start page' },
): Html {
  return layout(
    title,
    html`<section class="card">
<h1>${title}</h1>
<p>${message}</p>
${hint ? html`<p class="muted">${hint}</p>` : ''}
<p><a href="${back.href}">${back.label}</a></p>
</section>`,
  );
}
