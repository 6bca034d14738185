import { html, raw } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';

export type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

/**
 * The frame of every page. All interpolations in `hono/html` templates are HTML-escaped, so any
 * text that came from a user or a client (names, URLs, messages) is inert here.
 */
export function layout(title: string, body: Html): Html {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${title} · Key2OAuth</title>
<link rel="icon" href="/favicon.ico" type="image/svg+xml">
<link rel="stylesheet" href="/assets/style.css">
<script src="/assets/app.js" defer></script>
</head>
<body>
<header class="top"><a href="/" class="brand">Key2OAuth</a><span class="tag">API-key MCP servers, through OAuth</span></header>
<main>
${body}
</main>
${footer()}
</body>
</html>`;
}

/**
 * Marks the "self-host it" notices (the footer's line, the "Who can see your key" box), which
 * `SELF_HOST_NOTICE=off` removes from every page (http/self-host-notice.ts). Whatever element
 * carries one holds no element of its own kind, so it ends at its first closing tag.
 */
const SELF_HOST_ATTRIBUTE = 'data-self-host-notice';
const SELF_HOST_MARK = raw(SELF_HOST_ATTRIBUTE);
const SELF_HOST_BLOCK = new RegExp(`<(aside|p)\\b[^>]*\\b${SELF_HOST_ATTRIBUTE}\\b[^>]*>[\\s\\S]*?</\\1>\\n?`, 'g');

/** A rendered page without its self-host notices. */
export function withoutSelfHostNotice(page: string): string {
  return page.replace(SELF_HOST_BLOCK, '');
}

/** The page on running one's own Key2OAuth (pages/self-host.ts), which the footer links to: served by every deployment, so the link never dies. */
export const SELF_HOST_PATH = '/self-host';

/** The foot of every page: running your own, and the key holder's page. */
export function footer(): Html {
  return html`<footer><p ${SELF_HOST_MARK}>Self-host it in minutes for keys you would rather not trust to anyone: <a href="${SELF_HOST_PATH}">here is how</a>.</p>
<p><a href="/access">Gave an app your key? See, revoke or replace its access</a></p></footer>`;
}

/** Who can see a key, honestly and briefly: the operator could, while it is in use. */
export function trustNotice(): Html {
  return html`<aside class="notice" ${SELF_HOST_MARK}>
<strong>Who can see your key.</strong> It is stored encrypted and decrypted only to forward each request, so
whoever runs this server could recover it while it is in use. For sensitive keys, self-host Key2OAuth.
</aside>`;
}
