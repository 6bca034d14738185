import { html } from 'hono/html';
import type { Html } from './layout.ts';

/**
 * The manage page's section for the endpoint's tool ceiling (`tool_policy`, the same rule as
 * `PATCH /api/slugs/:slug`): name patterns, one per line or separated by commas, `*` for any run.
 * Posted as `action=tool-policy` with `tool_allow` and `tool_deny`; both empty lifts the ceiling.
 */
export function toolPolicySection(policy: { allow?: string[]; deny?: string[] } | undefined): Html {
  return html`<section class="card tool-policy">
<h2>Which tools may any access use?</h2>
<p class="muted">No access on this endpoint can call a tool beyond this, whatever its holder chose; it applies to
existing accesses from their next message. Patterns: <code>search_*</code> matches every name that starts with
<code>search_</code>. A tool matching a “never” pattern is refused even when it matches an “only” one.</p>
<form method="post" class="stack">
<input type="hidden" name="action" value="tool-policy">
<label>Only tools matching <span class="muted">(empty: any tool)</span>
<textarea name="tool_allow" rows="2" maxlength="4000">${(policy?.allow ?? []).join('\n')}</textarea></label>
<label>Never tools matching
<textarea name="tool_deny" rows="2" maxlength="4000">${(policy?.deny ?? []).join('\n')}</textarea></label>
<button type="submit">Save tool limits</button>
</form>
</section>`;
}

/** The patterns a textarea holds: split on line breaks and commas, trimmed, empties dropped. */
export function patternsOf(text: string): string[] {
  return text
    .split(/[\n,]/)
    .map((pattern) => pattern.trim())
    .filter(Boolean);
}
