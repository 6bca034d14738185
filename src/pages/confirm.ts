import { html } from 'hono/html';
import { type Html, layout } from './layout.ts';

/**
 * The step between a destructive button and what it does: the page names exactly what will be
 * lost (the apps, their count) and asks once more. It is a server step, so it holds without
 * JavaScript and under the strict CSP: the first post of a destructive form comes back here, and
 * only the post this page sends (which carries `confirm=yes`, `CONFIRMED`) acts. Cancel loses nothing.
 */
export interface Confirmation {
  /** The question, naming the thing: "Revoke Claude’s access?" */
  title: string;
  /** What happens, in one or two sentences. */
  consequence: string;
  /** What is lost, one line each (the apps that lose access); none: nothing listed. */
  lost?: string[];
  /** Where the confirming form posts, and the fields it posts again (`confirm` is added). */
  action: string;
  fields: ReadonlyArray<readonly [string, string]>;
  /** The button, saying what it does and to what: "Revoke all 3 accesses". */
  confirmLabel: string;
  cancel: { href: string; label: string };
}

/** The field and value a confirmed post carries. */
export const CONFIRM_FIELD = 'confirm';
export const CONFIRMED = 'yes';

export function confirmPage(options: Confirmation): Html {
  return layout(
    options.title,
    html`<section class="card confirm">
<h1>${options.title}</h1>
<p>${options.consequence}</p>
${options.lost?.length ? html`<ul class="lost">${options.lost.map((line) => html`<li>${line}</li>`)}</ul>` : ''}
<form method="post" action="${options.action}" class="buttons">
${options.fields.map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}">`)}
<input type="hidden" name="${CONFIRM_FIELD}" value="${CONFIRMED}">
<button type="submit" class="danger">${options.confirmLabel}</button>
<a class="button secondary" href="${options.cancel.href}">${options.cancel.label}</a>
</form>
</section>`,
  );
}

/** "one access" / "3 accesses". */
export function accessesCount(count: number): string {
  return count === 1 ? 'one access' : `${count} accesses`;
}
