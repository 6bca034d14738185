import type { ConsentDescription } from '@cloudflare/workers-oauth-provider';
import { html } from 'hono/html';
import type { HostView } from './host-display.ts';
import { type Html, layout, trustNotice } from './layout.ts';
import { keyLines } from './request-preview.ts';
import { type ToolOption, toolChoiceSection } from './tool-choice.ts';

export interface AuthorizePageOptions {
  handle: string;
  /** A hash of where and how the key is sent, posted back so a change in between is caught. */
  destination: string;
  endpointName: string;
  /** The endpoint's MCP URL, for the link to take access back later. */
  endpointUrl: string;
  /** The host the key goes to (with its port when not the default), as URL parsing gives it. */
  upstreamHost: string;
  /** The host name as the page explains it: punycode, its Unicode form, mixed scripts. */
  hostView: HostView;
  /** How long ago the endpoint was created, in words (`3 minutes ago`). */
  createdAgo: string;
  /** What the person is asked for, in template order (upstream/credentials.ts). */
  fields: { label: string; input: string; where: string; secret: boolean }[];
  /** The request the upstream gets, values masked: `POST https://…`, `Authorization: Bearer <API key>`. */
  preview: string[];
  consent: ConsentDescription;
  /** The private-use scheme (`cursor:`) the code goes to, when a native app asked (RFC 8252 §7.1). */
  appScheme?: string;
  /**
   * For a stdio server run by this deployment (docs/stdio.md): the environment variables the
   * values go into (the fields keep their labels); the heading then names the program, not a host.
   */
  stdio?: { variables: string[] };
  error?: string;
  /** Tool choice (tool-choice.ts): the upstream's tools to pick from, after the key check; false for none (legacy upstream). */
  tools?: ToolOption[] | false;
}

/**
 * The consent page, read top-down in a few seconds, one function per part:
 * 1. which app asks (its name once, whether anything vouches for it, where approving sends you);
 * 2. which service (the creator's name for the endpoint, labelled as theirs, with its age);
 * 3. what the app may do (the tool choice, tool-choice.ts);
 * 4. where the key goes (the upstream host, in punycode when it is international) and the key;
 * 5. Approve or Deny; then the details, folded (the exact request, taking access back), and who can
 *    see the key, short and never folded.
 * One form, posting back to this URL with the engine's single-use handle.
 */
export function authorizePage(options: AuthorizePageOptions): Html {
  return layout(
    `Authorize ${options.consent.clientName}`,
    html`<section class="card consent">
${appPart(options)}
${options.error ? html`<p class="error" role="alert">${options.error}</p>` : ''}
<form method="post" class="stack">
<input type="hidden" name="handle" value="${options.handle}">
<input type="hidden" name="destination" value="${options.destination}">
${servicePart(options)}
${options.tools === false ? '' : html`<div class="part"><h2>What it may do</h2>${toolChoiceSection(options.tools)}</div>`}
${keyPart(options)}
<div class="buttons">
<button type="submit" name="action" value="approve">Approve</button>
<button type="submit" name="action" value="deny" class="secondary" formnovalidate>Deny</button>
</div>
</form>
${detailsPart(options)}
</section>
${trustNotice()}`,
  );
}

/** Which app, named once: what vouches for its name, and where approving sends you. */
function appPart(options: AuthorizePageOptions): Html {
  const { consent } = options;
  return html`<h1><span class="app-name">${consent.clientName}</span> wants to use your key</h1>
<p class="app-line">${
    consent.clientDomain
      ? html`Published by <strong>${consent.clientDomain}</strong>, which vouches for that name.`
      : html`That is the name the app gave itself; nobody has checked it.`
  } ${
    options.appScheme
      ? html`After you approve, you go back to <strong class="app-scheme">the app on your computer that handles <code>${options.appScheme}</code> links</strong>.`
      : html`After you approve, you go back to <strong class="host">${consent.redirectHost}</strong>.`
  }</p>
${
  options.appScheme || consent.redirectIsLoopback
    ? html`<p class="warning">${
        options.appScheme
          ? 'Continue only if you just started connecting from that app.'
          : 'That is an app on your own computer: continue only if you just started connecting from it.'
      }</p>`
    : ''
}`;
}

/** Which service: the creator's name for it, theirs and unchecked, and its age. */
function servicePart(options: AuthorizePageOptions): Html {
  return html`<div class="part"><h2>Which service</h2>
<p>${
    options.stdio
      ? html`<strong>${options.endpointName}</strong>, a program this server runs for you alone, declared by its operator.`
      : html`<strong class="service-name">${options.endpointName}</strong> <span class="muted">· a name chosen by whoever created this endpoint, not checked by anyone · created ${options.createdAgo}</span>`
  }</p></div>`;
}

/** Where the key goes, then the field(s) for it, each with a Show button (app.js unhides it). */
function keyPart(options: AuthorizePageOptions): Html {
  const { fields } = options;
  return html`<div class="part"><h2>Where your key goes</h2>
${
  options.stdio
    ? html`<p class="destination">Into <strong class="host">${options.endpointName}</strong>’s ${options.stdio.variables.map(
        (name, index) => html`${index > 0 ? ' and ' : ''}<code>${name}</code>`,
      )} environment variable${options.stdio.variables.length > 1 ? 's' : ''}, in a sandbox no other person’s program can see into.</p>`
    : html`<p class="destination">To <strong class="host">${options.upstreamHost}</strong>, ${
        fields.length === 1
          ? fields[0]!.where
          : fields.map(
              (field, index) => html`${index > 0 ? (index === fields.length - 1 ? ' and ' : ', ') : ''}${field.label} ${field.where}`,
            )
      }${keyLines(options.preview) ? html` (<code class="header-line">${keyLines(options.preview)}</code>)` : ''}.</p>`
}
${idnNote(options.hostView)}
${fields.map((field, index) => {
  const id = `key-${index}`;
  const label = options.stdio
    ? field.label
    : fields.length === 1 && field.label === 'API key'
      ? html`Your API key for ${options.upstreamHost}`
      : field.label;
  return html`<label for="${id}">${label}</label>
<div class="key-row"><input id="${id}" name="${field.input}" type="${field.secret ? 'password' : 'text'}" autocomplete="off" spellcheck="false" required maxlength="8192"${index === 0 ? html` autofocus` : ''}>${
    field.secret
      ? html`<button type="button" class="secondary" data-reveal="${id}" aria-pressed="false" aria-label="Show ${field.label}" hidden>Show</button>`
      : ''
  }</div>`;
})}
</div>`;
}

/** An international host name: how it reads in its own letters, and a warning when it mixes scripts. */
function idnNote(hostView: HostView): Html | string {
  if (!hostView.unicode) return '';
  return html`<p class="${hostView.mixedScripts ? 'warning idn' : 'muted'}">${
    hostView.mixedScripts
      ? html`Careful: this address mixes ${hostView.mixedScripts.join(' and ')} letters, a common trick to imitate another site. `
      : ''
  }It is shown as it is sent (punycode); written in its own letters it reads <strong>${hostView.unicode}</strong>.</p>`;
}

/** Folded: the exact request, how to take access back, and who can see the key. */
function detailsPart(options: AuthorizePageOptions): Html {
  return html`<details class="consent-details">
<summary>Details: the exact request, and taking access back</summary>
${
  options.stdio
    ? html`<p>Before anything is granted, the program is started with your key and must answer and list its tools; a key it only refuses later, on a tool call, is still accepted.</p>`
    : html`<p>Each request this endpoint sends to ${options.upstreamHost} looks like this:</p>
<pre class="request-preview">${options.preview.join('\n')}</pre>`
}
<p>Changed your mind later, or rotated your key? <a href="/access?endpoint=${encodeURIComponent(options.endpointUrl)}">Revoke this access or replace its key</a>
with the same key, at any time.</p>
</details>`;
}

/**
 * For a client that did not say which endpoint it wants (no usable `resource`): the user names it,
 * and the same authorization request continues with `resource` filled in.
 */
export function chooseEndpointPage(params: URLSearchParams, error?: string): Html {
  const hidden = [...params].filter(([name]) => name !== 'resource' && name !== 'endpoint');
  return layout(
    'Which endpoint?',
    html`<section class="card">
<h1>Which endpoint are you connecting?</h1>
<p>The app did not say which Key2OAuth endpoint it wants to use. Paste the endpoint URL you
added to it (it ends in <code>/mcp</code>).</p>
${error ? html`<p class="error" role="alert">${error}</p>` : ''}
<form method="get" class="stack">
${hidden.map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}">`)}
<label>Endpoint URL
<input name="endpoint" type="url" required maxlength="2048" placeholder="https://…/xxxxxxxxxxxx/mcp"></label>
<button type="submit">Continue</button>
</form>
</section>`,
  );
}
