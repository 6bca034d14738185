import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startWorker } from '../support/worker-process.ts';

/**
 * A Worker cannot start processes (docs/stdio.md): with STDIO_SERVERS set, every request says so
 * plainly, as for any misconfiguration, instead of serving stdio endpoints that could never answer.
 */
describe('stdio servers on the Worker', () => {
  test('STDIO_SERVERS on a Worker answers every request with a message saying it cannot run processes', async () => {
    const worker = await startWorker({ STDIO_SERVERS: 'stdio.json' }, { anyAnswer: true });
    try {
      for (const path of ['/', '/github/mcp']) {
        const response = await fetch(`${worker.url}${path}`, { method: path === '/' ? 'GET' : 'POST' });
        assert.equal(response.status, 500);
        const body = (await response.json()) as { error: string; message: string };
        assert.equal(body.error, 'server_misconfigured');
        assert.match(body.message, /STDIO_SERVERS is set, but Cloudflare Workers cannot run processes/);
      }
    } finally {
      await worker.stop();
    }
  });
});
