/** The one stylesheet and the one script, served from /assets (CSP allows only 'self'). */

export const STYLE_CSS = `
:root { color-scheme: light dark; --fg: #1d1d1f; --bg: #f6f6f4; --card: #fff; --muted: #666; --accent: #3d5afe; --err: #b00020; --warn: #8a5300; --ok: #1b7a33; }
@media (prefers-color-scheme: dark) { :root { --fg: #eee; --bg: #151515; --card: #1f1f1f; --muted: #aaa; --accent: #8c9eff; --err: #ff6b81; --warn: #ffb74d; --ok: #6fcf8a; } }
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
input { font: inherit; padding: .55rem .7rem; border: 1px solid #9995; border-radius: 8px; background: transparent; color: inherit; width: 100%; }
button { font: inherit; font-weight: 600; padding: .55rem 1.1rem; border: 0; border-radius: 8px; background: var(--accent); color: #fff; cursor: pointer; }
button.secondary { background: transparent; color: var(--fg); border: 1px solid #9998; }
.buttons { display: flex; gap: .75rem; }
.copy-row { display: flex; gap: .5rem; margin: .5rem 0; }
.host { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 1.05em; background: #8882; padding: .05em .35em; border-radius: 5px; }
.destination { font-size: 1.1rem; }
.error { color: var(--err); font-weight: 600; }
.warning { color: var(--warn); font-weight: 600; }
.notice { border-left: 4px solid var(--warn); background: var(--card); padding: .9rem 1.2rem; border-radius: 8px; color: var(--fg); }
pre { white-space: pre-wrap; word-break: break-all; background: #8881; padding: .5rem .7rem; border-radius: 6px; }
dt { font-weight: 700; margin-top: .8rem; } dd { margin-left: 0; }
button.danger { background: var(--err); }
.ok { color: var(--ok); font-weight: 600; }
.table-wrap { overflow-x: auto; }
table.grants { border-collapse: collapse; width: 100%; margin-bottom: .8rem; font-size: .95rem; }
table.grants th, table.grants td { text-align: left; padding: .4rem .5rem; border-bottom: 1px solid #9993; vertical-align: middle; }
table.grants form { margin: 0; }
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
document.addEventListener('click', (event) => {
  const button = event.target.closest('button[data-copy]');
  if (!button) return;
  const input = document.getElementById(button.dataset.copy);
  if (!input) return;
  navigator.clipboard.writeText(input.value).then(() => {
    const label = button.textContent;
    button.textContent = 'Copied';
    setTimeout(() => { button.textContent = label; }, 1500);
  }, () => { input.select(); });
});
`;

/** A key in a circle, served as /favicon.ico (browsers ask for that path whatever the page says). */
export const FAVICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><circle cx="16" cy="16" r="15" fill="#3d5afe"/><circle cx="12" cy="16" r="5" fill="none" stroke="#fff" stroke-width="3"/><path d="M17 16h9m-3 0v4" stroke="#fff" stroke-width="3" fill="none"/></svg>`;
