import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createEndpointStore } from '../../src/endpoints/store.ts';
import { type InProcess, PUBLIC_URL, startApp } from '../support/in-process.ts';

/**
 * A stdio endpoint's record (docs/stdio.md) on a platform that runs no processes (a Worker, or a
 * Node server whose STDIO_SERVERS no longer names it): the consent page shows the program and
 * its variable, and approving says plainly that this deployment runs no stdio servers. No HTTP
 * upstream is ever tried.
 */
describe('a stdio endpoint where no processes run', () => {
  let k: InProcess;
  before(async () => {
    k = await startApp();
    await createEndpointStore(k.platform.kv).put({
      slug: 'github',
      upstreamUrl: 'stdio:github',
      displayName: 'GitHub',
      credentials: [{ label: 'GitHub personal access token', in: 'header', name: 'GITHUB_PERSONAL_ACCESS_TOKEN', prefix: '' }],
      transport: 'stdio',
      createdAt: Math.floor(Date.now() / 1000),
    });
  });
  after(() => k.close());

  test('the consent page names the program and its variable, and approving says no processes run here', async () => {
    const endpoint = `${PUBLIC_URL}/github/mcp`;
    const page = await k.openConsent(endpoint, await k.register());
    assert.equal(page.status, 200);
    assert.match(page.text, /GitHub, a program this server runs for you alone/);
    assert.match(page.text, /Into GitHub’s GITHUB_PERSONAL_ACCESS_TOKEN environment variable/);
    assert.match(page.html, /<label for="key-0">GitHub personal access token/);
    const refused = await k.submitConsent(page, { api_key: 'ghp_example', action: 'approve' });
    assert.equal(refused.status, 501);
    assert.match(await refused.text(), /stdio server, and this deployment runs none/);
    assert.equal(k.upstreams.requests.length, 0);
  });
});
