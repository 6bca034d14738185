import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { mustCreateEndpoint } from '../support/api.ts';
import { haveChromium, launchChromium } from '../support/chromium.ts';
import { killOnExit } from '../support/exit-cleanup.ts';
import { registerClient } from '../support/oauth-raw.ts';
import { freePort } from '../support/server-process.ts';
import { type Running, targets } from '../support/targets.ts';
import { startUpstream, type Upstream } from '../support/upstream.ts';

/**
 * The official MCP conformance suite (`@modelcontextprotocol/conformance`, pinned) against our
 * authorization server, on Node and on the Worker: its `authorization` command runs every
 * authorization-server scenario. Its code-grant scenario prints an authorization URL and waits
 * for the browser to come back to its callback server; headless Chromium opens that URL, pastes
 * the key and approves, as a user would. Every scenario must pass with no warning.
 */

const CONFORMANCE = join(import.meta.dirname, '..', '..', 'node_modules', '@modelcontextprotocol', 'conformance', 'dist', 'index.js');
const KEY = 'sk-conformance-0123456789abcdef';
// biome-ignore lint/suspicious/noControlCharactersInRegex: the suite colours its output.
const ANSI = /\u001b\[[0-9;]*m/g;

for (const target of targets())
  describe(`MCP conformance suite: authorization server (${target.name})`, {
    skip: !haveChromium && 'Chromium not installed (apt-get install chromium)',
  }, () => {
    let upstream: Upstream;
    let server: Running;
    let browser: Browser;
    let endpoint: string;

    before(async () => {
      upstream = await startUpstream({ key: KEY });
      server = await target.start();
      browser = await launchChromium();
      endpoint = (await mustCreateEndpoint(server, { upstream_url: upstream.url })).mcp_endpoint!;
    });
    after(async () => {
      await browser?.close();
      await server?.stop();
      await upstream?.close();
    });

    test('every authorization scenario passes, with no warning', async (t) => {
      const port = await freePort();
      const results = mkdtempSync(join(tmpdir(), 'key2oauth-conformance-'));
      t.after(() => rmSync(results, { recursive: true, force: true }));
      const client = await registerClient(server, [`http://127.0.0.1:${port}/callback`], 'MCP conformance suite');
      const child = spawn(
        process.execPath,
        [
          CONFORMANCE,
          'authorization',
          '--url',
          server.url,
          '--client-id',
          client.clientId,
          '--resource',
          endpoint,
          '--port',
          String(port),
          '-o',
          results,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      killOnExit(child);
      t.after(() => child.kill('SIGKILL'));
      const lines: string[] = [];
      const approvals: Promise<void>[] = [];
      createInterface({ input: child.stderr! }).on('line', (line) => lines.push(line.replace(ANSI, '')));
      createInterface({ input: child.stdout! }).on('line', (raw) => {
        const line = raw.replace(ANSI, '');
        lines.push(line);
        // The suite's "open this in your browser" step.
        if (line.startsWith(`${server.url}/authorize?`)) approvals.push(approve(browser, line));
      });
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      await Promise.all(approvals);
      const output = lines.join('\n');
      assert.equal(approvals.length, 1, `the code-grant scenario asked for the browser once:\n${output}`);
      // Each scenario's checks, as the suite saved them: printed line by line, and every one a success.
      const checks = checkFiles(results).flatMap((file) =>
        (JSON.parse(readFileSync(file, 'utf8')) as { id: string; status: string; description: string }[]).map((check) => ({
          // Saved as authorization-server-{scenario}-{timestamp}/checks.json.
          scenario: file
            .slice(results.length + 1)
            .split('/')[0]!
            .replace(/^authorization-server-/, '')
            .replace(/-\d{4}-\d\d-\d\dT.*$/, ''),
          ...check,
        })),
      );
      for (const check of checks) t.diagnostic(`${check.scenario}: ${check.id} ${check.status} ${check.description}`);
      for (const line of lines.filter((candidate) => /^[✓✗] |^Total: /.test(candidate))) t.diagnostic(line);
      assert.deepEqual(
        [...new Set(checks.map((check) => check.scenario))].sort(),
        ['authorization-code-grant', 'authorization-server-metadata-endpoint'],
        output,
      );
      assert.deepEqual(
        checks.filter((check) => check.status !== 'SUCCESS'),
        [],
        output,
      );
      assert.match(output, /Total: \d+ passed, 0 failed/);
      assert.equal(code, 0, output);
    });
  });

/** Opens the consent page the suite printed, pastes the key and approves; the browser follows the redirect to the suite's callback. */
async function approve(browser: Browser, url: string): Promise<void> {
  const page = await browser.newPage();
  try {
    await page.goto(url);
    await page.fill('input[name=api_key]', KEY);
    await page.click('button[value=approve]');
    await page.waitForURL((target) => target.pathname === '/callback');
  } finally {
    await page.close();
  }
}

function checkFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('checks.json'))
    .map((name) => join(dir, name));
}
