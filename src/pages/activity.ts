import { html } from 'hono/html';
import type { Html } from './layout.ts';

/**
 * The activity record as a section of a page: the creator's manage page (every access, filterable
 * by access, tool and outcome with a GET form) and the key holder's accesses page (their own).
 * Newest first; only what the record holds: when, which app, method, tool, outcome, duration, bytes each way.
 */
export interface ActivityLine {
  at: string;
  access_id: string;
  client_name: string;
  method: string;
  tool: string | null;
  status: number;
  error_code: number | null;
  duration_ms: number;
  /** The request body's bytes; null when none was sent (a GET stream) or in a batch after its first message. */
  bytes_in: number | null;
  /** The answer's bytes (an event stream's until it ended); null in a batch after its first message. */
  bytes_out: number | null;
}

export interface ActivityFilterView {
  /** Where the filter form goes (GET); none: no filter form. */
  action?: string;
  tool?: string;
  outcome?: string;
  access?: string;
  accesses: { id: string; clientName: string }[];
  outcomes: readonly string[];
}

export function activitySection(lines: ActivityLine[], filter: ActivityFilterView): Html {
  return html`<section class="card activity">
<h2>Activity</h2>
<p class="muted">Every message an app sent through this endpoint, newest first. Arguments and results are never recorded.</p>
${
  filter.action
    ? html`<form method="get" action="${filter.action}" class="filters">
<label>App <select name="access_id"><option value="">all</option>${filter.accesses.map(
        (access) => html`<option value="${access.id}"${filter.access === access.id ? ' selected' : ''}>${access.clientName}</option>`,
      )}</select></label>
<label>Tool <input name="tool" maxlength="128" value="${filter.tool ?? ''}"></label>
<label>Outcome <select name="outcome"><option value="">all</option>${filter.outcomes.map(
        (outcome) => html`<option value="${outcome}"${filter.outcome === outcome ? ' selected' : ''}>${outcome.replace('_', ' ')}</option>`,
      )}</select></label>
<button type="submit" class="secondary">Filter</button>
</form>`
    : ''
}
${
  lines.length === 0
    ? html`<p class="muted">Nothing recorded yet.</p>`
    : html`<div class="table-wrap"><table class="activity rows">
<thead><tr><th>When</th><th>App</th><th>Method</th><th>Tool</th><th>Outcome</th><th>Time</th><th>Bytes in / out</th></tr></thead>
<tbody>${lines.map(
        (line) => html`<tr>
<td class="row-title"><time datetime="${line.at}">${line.at.slice(0, 19).replace('T', ' ')} UTC</time></td><td data-label="App">${line.client_name}</td>
<td data-label="Method"><code>${line.method}</code></td><td data-label="Tool">${line.tool ? html`<code>${line.tool}</code>` : '—'}</td>
<td data-label="Outcome">${line.status}${line.error_code !== null ? html` <span class="error-code">${line.error_code === -32602 && line.status === 200 ? 'refused' : `error ${line.error_code}`}</span>` : ''}</td>
<td data-label="Time">${line.duration_ms} ms</td>
<td data-label="Bytes in / out">${bytes(line.bytes_in)} / ${bytes(line.bytes_out)}</td>
</tr>`,
      )}</tbody></table></div>`
}
</section>`;
}

/** A byte count as a person reads it: 812 B, 4.2 KB, 1.3 MB; a dash for none. */
export function bytes(count: number | null): string {
  if (count === null) return '–';
  if (count < 1000) return `${count} B`;
  if (count < 1_000_000) return `${(count / 1000).toFixed(1)} KB`;
  return `${(count / 1_000_000).toFixed(1)} MB`;
}
