import { html } from 'hono/html';
import type { Html } from './layout.ts';

/**
 * The consent page's section where the key holder chooses which tools the app may call
 * (docs/tools-and-activity.md). Its fields: `tools` = `all` (checked first) | `read_only` |
 * `chosen`, and with `chosen` one `tool` checkbox per allowed tool. The upstream's tools are known
 * only once the key is checked: the first step offers the three choices, and `chosen` without
 * any tool comes back here with the list (name, description, read-only or destructive) to tick.
 * A submission that already names its tools completes in one step.
 */

/** A tool as the section lists it (upstream/tool-list.ts fills it in after the key check). */
export interface ToolOption {
  name: string;
  description: string;
  readOnly: boolean;
  destructive: boolean;
}

export function toolChoiceSection(tools: ToolOption[] | undefined): Html {
  const picking = tools !== undefined;
  return html`<fieldset class="tool-choice">
<legend>Which tools may the app use?</legend>
<label><input type="radio" name="tools" value="all"${picking ? '' : ' checked'}> All of them, including any the server adds later</label>
<label><input type="radio" name="tools" value="read_only"> Only the ones the server marks read-only (judged again for tools it adds later)</label>
<label><input type="radio" name="tools" value="chosen"${picking ? ' checked' : ''}> Only the ones I pick${picking ? ':' : ' (you pick them after your key is checked)'}</label>
${
  picking
    ? html`<ul class="tool-list">${tools.map(
        (tool) =>
          html`<li><label><input type="checkbox" name="tool" value="${tool.name}"> <code>${tool.name}</code>${
            tool.destructive
              ? html` <strong class="warning">destructive</strong>`
              : tool.readOnly
                ? html` <span class="muted">read-only</span>`
                : ''
          }${tool.description ? html` — ${tool.description}` : ''}</label></li>`,
      )}</ul>`
    : ''
}
</fieldset>`;
}
