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
 * The consent page: where the key goes (the upstream host is the heading, in punycode when it is
 * international), who asks for access (the client's self-asserted name, or its verified domain),
 * where the tokens go (the redirect host), and what the endpoint's creator chose to call it,
 * labelled as theirs, with its age. One form, posting back to this URL with the engine's
 * single-use handle.
 */
export function authorizePage(options: AuthorizePageOptions): Html {
  const { consent } = options;
  return layout(
    `Authorize ${consent.clientName}`,
    html`<section class="card">
${
  options.stdio
    ? html`<h1 class="destination">Your key will be given to <strong class="host">${options.endpointName}</strong>, a program this server runs for you alone</h1>
<p>in its ${options.stdio.variables.map((name, index) => html`${index > 0 ? ' and ' : ''}<code>${name}</code>`)} environment variable${options.stdio.variables.length > 1 ? 's' : ''}, in a sandbox of its own that no other person’s program can see into.
The operator of this server declared it. Before anything is granted, the program is started with your key and must answer and list its tools;
a key it only refuses later, on a tool call, is still accepted.</p>`
    : html`<h1 class="destination">Your key will be sent to <strong class="host">${options.upstreamHost}</strong></h1>
<p>${
        options.fields.length === 1
          ? html`${options.fields[0]!.where}`
          : html`${options.fields.map((field, index) => html`${index > 0 ? (index === options.fields.length - 1 ? ' and ' : ', ') : ''}${field.label} ${field.where}`)}`
      }, by this endpoint, named “${options.endpointName}” by whoever created it
(that name is theirs, not checked by anyone), created ${options.createdAgo}${
        keyLines(options.preview) ? html`, as <code class="header-line">${keyLines(options.preview)}</code>` : ''
      }. Each request it sends looks like this:</p>
<pre class="request-preview">${options.preview.join('\n')}</pre>`
}
${
  options.hostView.unicode
    ? html`<p class="${options.hostView.mixedScripts ? 'warning idn' : 'notice'}">${
        options.hostView.mixedScripts
          ? html`Careful: this address mixes ${options.hostView.mixedScripts.join(' and ')} letters, a common trick to imitate another site. `
          : ''
      }It is shown above as it is sent (punycode); written in its own letters it reads <strong>${options.hostView.unicode}</strong>.</p>`
    : ''
}
<p><strong>${consent.clientName}</strong> asks to use it.</p>
<p>${
      consent.clientDomain
        ? html`<strong>${consent.clientName}</strong> is published by <strong>${consent.clientDomain}</strong>.`
        : html`The app calls itself <strong>${consent.clientName}</strong>; it registered itself, so that name is not verified.`
    }
${
  options.appScheme
    ? html`After you approve, access goes to <strong class="app-scheme">the app on your computer that handles <code>${options.appScheme}</code> links</strong>.</p>
<p class="warning">Continue only if you just started connecting from that app.</p>`
    : html`After you approve, access goes to <strong class="host">${consent.redirectHost}</strong>.</p>`
}
${
  consent.redirectIsLoopback
    ? html`<p class="warning">This sends access to an app on your own computer. Continue only if you just started connecting from it.</p>`
    : ''
}
${options.error ? html`<p class="error" role="alert">${options.error}</p>` : ''}
<form method="post" class="stack">
<input type="hidden" name="handle" value="${options.handle}">
<input type="hidden" name="destination" value="${options.destination}">
${options.fields.map(
  (
    field,
    index,
  ) => html`<label>${options.stdio ? field.label : options.fields.length === 1 && field.label === 'API key' ? html`API key for ${options.upstreamHost}` : field.label}
<input name="${field.input}" type="${field.secret ? 'password' : 'text'}" autocomplete="off" spellcheck="false" required maxlength="8192"${index === 0 ? html` autofocus` : ''}></label>`,
)}
${options.tools === false ? '' : toolChoiceSection(options.tools)}
<div class="buttons">
<button type="submit" name="action" value="approve">Approve</button>
<button type="submit" name="action" value="deny" class="secondary" formnovalidate>Deny</button>
</div>
</form>
<p class="muted">Changed your mind later, or rotated your key? <a href="/access?endpoint=${encodeURIComponent(options.endpointUrl)}">Revoke this access or replace its key</a>
with the same key, at any time.</p>
</section>
${trustNotice()}`,
  );
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
