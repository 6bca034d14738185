import { html } from 'hono/html';
import { type Html, layout } from './layout.ts';

/**
 * How to run one's own Key2OAuth, for a person who would rather not trust this deployment's
 * operator with a key. The project publishes no web address of its own, so the page names what to
 * get and what to run rather than linking somewhere that might not be there.
 */
export function selfHostPage(): Html {
  return layout(
    'Run your own Key2OAuth',
    html`<section class="card">
<h1>Run your own Key2OAuth</h1>
<p>Whoever runs a Key2OAuth server could recover the keys it forwards while they are in use. On a
server of your own, that person is you. Key2OAuth is open source (MIT) and runs anywhere Node 22.19
or newer runs, with its own embedded store: no database to set up.</p>
<h2>In a copy of its source</h2>
<pre tabindex="0"><code>npm ci &amp;&amp; npm start</code></pre>
<p>It serves on <code>http://localhost:8787</code> and keeps its data in <code>./data</code>. Set
<code>PUBLIC_URL</code> to the https address your MCP clients will use, behind a TLS proxy.</p>
<h2>For a server that stays up</h2>
<ul>
<li>the container image (a <code>Dockerfile</code> and a <code>compose.yaml</code> come with the source);</li>
<li>the npm package (<code>npm pack</code> in the source), with a systemd unit;</li>
<li>Cloudflare Workers, with Workers KV as the store.</li>
</ul>
<p>The source's <code>README.md</code> and <code>docs/production.md</code> walk through each, with every setting.
This deployment's operator can tell you where they got theirs.</p>
</section>`,
  );
}
