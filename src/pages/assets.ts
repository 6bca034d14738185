/** The one stylesheet and the one script, served from /assets (CSP allows only 'self'). */

export const STYLE_CSS = `
:root { color-scheme: light dark; --fg: #1d1d1f; --bg: #f6f6f4; --card: #fff; --muted: #595959; --accent: #2f49d1; --link: #2f49d1; --err: #b00020; --warn: #8a5300; --ok: #1b7a33; }
@media (prefers-color-scheme: dark) { :root { --fg: #eee; --bg: #151515; --card: #1f1f1f; --muted: #b0b0b0; --accent: #3d5afe; --link: #9fb0ff; --err: #ff6b81; --warn: #ffb74d; --ok: #6fcf8a; } }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, Segoe UI, Roboto, sans-serif; color: var(--fg); background: var(--bg); }
.top { display: flex; gap: 1rem; align-items: baseline; padding: 1rem 1.5rem; }
.brand { font-weight: 700; font-size: 1.2rem; color: var(--fg); text-decoration: none; }
.tag, .muted { color: var(--muted); }
main { max-width: 46rem; margin: 0 auto; padding: 0 1rem 2rem; }
.card { background: var(--card); border-radius: 12px; padding: 1.25rem 1.5rem; margin: 1rem 0; box-shadow: 0 1px 3px rgba(0,0,0,.08); }
h1 { font-size: 1.5rem; margin-top: 0; } h2 { font-size: 1.2rem; margin-top: 0; }
.stack { display: grid; gap: .9rem; }
label { display: block; font-weight: 600; }
label input, label select { display: block; margin-top: .3rem; }
select { font: inherit; padding: .5rem .6rem; border: 1px solid #9995; border-radius: 8px; background: transparent; color: inherit; width: 100%; }
label .muted { font-weight: 400; }
label input[type=radio], label input[type=checkbox] { display: inline; width: auto; margin: 0 .4rem 0 0; }
input { font: inherit; padding: .55rem .7rem; border: 1px solid #9995; border-radius: 8px; background: transparent; color: inherit; width: 100%; }
button { font: inherit; font-weight: 600; padding: .55rem 1.1rem; border: 0; border-radius: 8px; background: var(--accent); color: #fff; cursor: pointer; }
button.secondary, a.button { background: transparent; color: var(--fg); border: 1px solid #9998; }
a.button { display: inline-block; font-weight: 600; padding: .55rem 1.1rem; border-radius: 8px; text-decoration: none; }
.buttons { display: flex; gap: .75rem; }
.copy-row { display: flex; gap: .5rem; margin: .5rem 0; }
.host { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 1.05em; background: #8882; padding: .05em .35em; border-radius: 5px; }
.destination { font-size: 1.1rem; }
.error { color: var(--err); font-weight: 600; }
.warning { color: var(--warn); font-weight: 600; }
.notice { border-left: 4px solid var(--warn); background: var(--card); padding: .9rem 1.2rem; border-radius: 8px; color: var(--fg); }
pre { white-space: pre-wrap; overflow-wrap: anywhere; background: #8881; padding: .5rem .7rem; border-radius: 6px; }
/* Code to paste (JSON, a command) keeps its lines whole: it scrolls inside its box, never the page. */
pre.snippet { white-space: pre; overflow-x: auto; margin: 0; }
.snippet-row { display: flex; gap: .5rem; align-items: flex-start; margin: .4rem 0; }
.snippet-row pre { flex: 1; min-width: 0; }
code, .host { overflow-wrap: anywhere; }
a { color: var(--link); }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); white-space: nowrap; }
.save-this { border: 2px solid var(--warn); border-radius: 10px; padding: .8rem 1rem; margin: 1rem 0; }
.save-this h2 { margin-bottom: .4rem; }
.ways { padding-left: 1.2rem; }
.consent h1 { font-size: 1.45rem; margin-bottom: .3rem; }
.consent .part h2 { font-size: 1rem; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); margin: 0 0 .3rem; }
.consent .part p { margin: .2rem 0 .5rem; }
.key-row { display: flex; gap: .5rem; }
.key-row input { flex: 1; min-width: 0; }
fieldset.tool-choice { border: 0; padding: 0; margin: 0; }
fieldset.tool-choice legend { padding: 0; margin-bottom: .3rem; }
fieldset.tool-choice label { font-weight: 400; margin: .25rem 0; }
.consent-details { margin-top: 1rem; }
.consent-details summary { cursor: pointer; font-weight: 600; }
.confirm { border: 2px solid var(--err); border-radius: 10px; padding: .8rem 1rem; }
.lost { margin: .4rem 0 .8rem; }
dt { font-weight: 700; margin-top: .8rem; } dd { margin-left: 0; }
button.danger { background: var(--err); }
button.danger:disabled { opacity: .55; cursor: not-allowed; }
button.link { background: none; color: var(--link); padding: 0; font-weight: 400; text-decoration: underline; }
.ok { color: var(--ok); font-weight: 600; }
table.rows { border-collapse: collapse; width: 100%; margin-bottom: .8rem; font-size: .95rem; }
table.rows th, table.rows td { text-align: left; padding: .4rem .5rem; border-bottom: 1px solid #9993; vertical-align: middle; overflow-wrap: anywhere; }
table.rows form { margin: 0; }
/* On a phone, each row is a block: its first cell as the title, every other cell under its column's name. */
@media (max-width: 40rem) {
  table.rows thead { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); }
  table.rows, table.rows tbody, table.rows tr, table.rows td { display: block; width: 100%; }
  table.rows tr { border-bottom: 1px solid #9994; padding: .5rem 0; }
  table.rows td { border: 0; padding: .1rem 0; }
  table.rows td.row-title { font-weight: 600; }
  table.rows td[data-label]::before { content: attr(data-label) ": "; color: var(--muted); }
  table.rows td.row-action { padding-top: .4rem; }
  .card { padding: 1rem; }
  main { padding: 0 .5rem 2rem; }
  .top { flex-wrap: wrap; padding: 1rem; }
}
.filters { display: flex; flex-wrap: wrap; gap: .6rem; align-items: end; margin-bottom: .8rem; }
.filters label { flex: 1 1 9rem; }
.buttons { flex-wrap: wrap; }
fieldset.credential-template { border: 1px solid #9994; border-radius: 8px; margin: .8rem 0; padding: .6rem .9rem; }
fieldset.credential-template legend { font-weight: 600; padding: 0 .3rem; }
.credential-row { display: grid; grid-template-columns: repeat(auto-fit, minmax(9rem, 1fr)); gap: .5rem; margin: .5rem 0 .9rem; }
footer { text-align: center; color: var(--muted); font-size: .9rem; padding: 1rem; }
footer a { color: inherit; }
`;

export const APP_JS = `
// The manage link carries its token in the fragment (never sent to a server): put it in the form,
// take it out of the address bar and history, and open the page.
(() => {
  const form = document.getElementById('manage-open');
  const match = /^#token=([A-Za-z0-9_-]+)$/.exec(location.hash);
  if (!match) return;
  history.replaceState(null, '', location.pathname);
  if (!form) return;
  form.elements.token.value = match[1];
  form.submit();
})();
// Deleting asks for the endpoint's ID to be typed: the button waits for it (the server checks it too).
for (const input of document.querySelectorAll('input[data-must-match]')) {
  const button = input.form.querySelector('button[type=submit]');
  const sync = () => { button.disabled = input.value.trim() !== input.dataset.mustMatch; };
  input.addEventListener('input', sync);
  sync();
}
// Show or hide what was typed in a key field (the button is hidden until this script runs).
for (const button of document.querySelectorAll('button[data-reveal]')) {
  const input = document.getElementById(button.dataset.reveal);
  if (!input) continue;
  button.hidden = false;
  button.addEventListener('click', () => {
    const show = input.type === 'password';
    input.type = show ? 'text' : 'password';
    button.textContent = show ? 'Hide' : 'Show';
    button.setAttribute('aria-pressed', String(show));
  });
}
document.addEventListener('click', (event) => {
  const button = event.target.closest('button[data-copy]');
  if (!button) return;
  const source = document.getElementById(button.dataset.copy);
  if (!source) return;
  const input = { value: 'value' in source ? source.value : source.textContent, select: () => source.select?.() };
  navigator.clipboard.writeText(input.value).then(() => {
    const label = button.textContent;
    button.textContent = 'Copied';
    setTimeout(() => { button.textContent = label; }, 1500);
  }, () => { input.select(); });
});
`;

/** A key in a circle, served as /favicon.ico (browsers ask for that path whatever the page says). */
export const FAVICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><circle cx="16" cy="16" r="15" fill="#3d5afe"/><circle cx="12" cy="16" r="5" fill="none" stroke="#fff" stroke-width="3"/><path d="M17 16h9m-3 0v4" stroke="#fff" stroke-width="3" fill="none"/></svg>`;
