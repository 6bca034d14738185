import { html } from 'hono/html';
import { type Html, layout } from './layout.ts';

/** A link out of an error page: where the person can go from here, in words. */
export interface WayOut {
  href: string;
  label: string;
}

/**
 * Every error page: what happened (the title and one sentence), what may help (the hint), and the
 * ways out that fit where the person is (by default, the start page). http/errors.ts builds them all.
 */
export function errorPage(title: string, message: string, hint?: string, ways: readonly WayOut[] = [START]): Html {
  return layout(
    title,
    html`<section class="card error-page">
<h1>${title}</h1>
<p>${message}</p>
${hint ? html`<p class="muted">${hint}</p>` : ''}
<ul class="ways">${ways.map((way) => html`<li><a href="${way.href}">${way.label}</a></li>`)}</ul>
</section>`,
  );
}

const START: WayOut = { href: '/', label: 'Back to the start page' };
