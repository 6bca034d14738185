import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { UnauthorizedError as AiSdkUnauthorized, auth as aiSdkAuth, createMCPClient } from '@ai-sdk/mcp';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { Browser } from 'playwright-core';
import { mustCreateEndpoint } from '../support/api.ts';
import { haveChromium, launchChromium } from '../support/chromium.ts';
import { type McpUpstream, startMcpUpstream } from '../support/mcp-upstream.ts';
import { TestOAuthProvider } from '../support/oauth-client.ts';
import { freePort } from '../support/server-process.ts';
import { type Running, targets } from '../support/targets.ts';
import { authorize } from '../support/transport-helpers.ts';
import { startUpstream, type Upstream } from '../support/upstream.ts';

/**
 * The MCP clients people use, from npm at pinned versions, through the whole flow on Node and on
 * the Worker, with the consent page completed in headless Chromium: mcp-remote (stdio, its
 * browser opener pointed at `true` so the test's Chromium opens the URL it prints), over
 * Streamable HTTP and over legacy SSE on the `/sse` URL; the AI SDK's MCP client; the Inspector
 * CLI (which takes a token header; it has no OAuth flow of its own).
 */

const KEY = 'sk-real-clients-0123456789abcdef';
const MCP_REMOTE = join(import.meta.dirname, '..', '..', 'node_modules', 'mcp-remote', 'dist', 'proxy.js');
const INSPECTOR_BUILD = join(import.meta.dirname, '..', '..', 'node_modules', '@modelcontextprotocol', 'inspector-cli', 'build');
type Text = { content: { type: string; text: string }[] };

for (const target of targets())
  describe(`real MCP clients (${target.name})`, { skip: !haveChromium && 'Chromium not installed (apt-get install chromium)' }, () => {
    let upstream: Upstream;
    let legacy: McpUpstream;
    let server: Running;
    let browser: Browser;
    let endpoint: string;
    let sseEndpoint: string;
    let legacyMcpEndpoint: string;

    before(async () => {
      upstream = await startUpstream({ key: KEY });
      legacy = await startMcpUpstream({ key: KEY, mode: 'legacy-sse' });
      // The shortest access token lifetime the config accepts: mcp-remote refreshes a minute before expiry.
      server = await target.start({ ACCESS_TOKEN_TTL: '300' });
      browser = await launchChromium();
      endpoint = (await mustCreateEndpoint(server, { upstream_url: upstream.url })).mcp_endpoint!;
      const created = await mustCreateEndpoint(server, { upstream_url: legacy.url });
      sseEndpoint = created.sse_endpoint!;
      legacyMcpEndpoint = created.mcp_endpoint!;
    });
    after(async () => {
      await browser?.close();
      await server?.stop();
      await upstream?.close();
      await legacy?.close();
    });

    /** Opens the consent page a client printed or asked for, pastes the key and approves; the browser follows the redirect to the client. */
    async function approve(url: string, landsOn: (url: URL) => boolean): Promise<void> {
      const page = await browser.newPage();
      try {
        await page.goto(url);
        await page.fill('input[name=api_key]', KEY);
        await page.click('button[value=approve]');
        await page.waitForURL(landsOn);
      } finally {
        await page.close();
      }
    }

    // Counted from the access log's JSON lines, whatever other fields they carry.
    const tokenRequests = () =>
      server
        .output()
        .split('\n')
        .filter((line) => line.includes('"msg":"request"') && line.includes('"method":"POST"') && line.includes('"path":"/oauth/token"'))
        .length;

    async function mcpRemote(url: string, args: string[] = []) {
      const configDir = mkdtempSync(join(tmpdir(), 'key2oauth-mcp-remote-'));
      const callbackPort = await freePort();
      const transport = new StdioClientTransport({
        command: process.execPath,
        args: [MCP_REMOTE, url, String(callbackPort), ...args],
        env: { PATH: process.env.PATH ?? '', HOME: configDir, MCP_REMOTE_CONFIG_DIR: configDir, BROWSER: 'true' },
        stderr: 'pipe',
      });
      const approvals: Promise<void>[] = [];
      let log = '';
      createInterface({ input: transport.stderr as Readable }).on('line', (line) => {
        log += `${line}\n`;
        if (line.startsWith(`${server.url}/authorize?`))
          approvals.push(approve(line.trim(), (landed) => landed.port === String(callbackPort) && landed.pathname === '/oauth/callback'));
      });
      const client = new Client({ name: 'via-mcp-remote', version: '1' });
      try {
        await client.connect(transport);
      } catch (error) {
        rmSync(configDir, { recursive: true, force: true });
        throw new Error(`mcp-remote did not connect: ${error}\n${log}`);
      }
      await Promise.all(approvals);
      return {
        client,
        approvals: approvals.length,
        log: () => log,
        close: async () => {
          await client.close();
          rmSync(configDir, { recursive: true, force: true });
        },
      };
    }

    test('mcp-remote over Streamable HTTP: signs in through the page, calls a tool, and does not refresh in a loop', async () => {
      const before = tokenRequests();
      const remote = await mcpRemote(endpoint);
      try {
        assert.equal(remote.approvals, 1, remote.log());
        const called = (await remote.client.callTool({ name: 'echo', arguments: { text: 'via mcp-remote' } })) as Text;
        assert.equal(called.content[0]!.text, 'echo: via mcp-remote');
        // mcp-remote refreshes a minute before expiry: with 60-second tokens that was at once, again and again.
        await new Promise((resolve) => setTimeout(resolve, 3000));
        assert.equal((await remote.client.listTools()).tools[0]!.name, 'echo');
        assert.equal(tokenRequests() - before, 1, `only the code exchange reached the token endpoint:\n${remote.log()}`);
      } finally {
        await remote.close();
      }
    });

    test('mcp-remote --transport sse-only on the /sse URL: discovers, signs in and calls a tool', async () => {
      const remote = await mcpRemote(sseEndpoint, ['--transport', 'sse-only']);
      try {
        assert.equal(remote.approvals, 1, remote.log());
        const called = (await remote.client.callTool({ name: 'echo', arguments: { text: 'legacy' } })) as Text;
        assert.equal(called.content[0]!.text, 'echo: legacy');
      } finally {
        await remote.close();
      }
    });

    test('the AI SDK MCP client: discovers, registers, signs in through the page and calls a tool', async () => {
      const provider = new TestOAuthProvider();
      await createMCPClient({ transport: { type: 'http', url: endpoint, authProvider: provider } }).then(
        () => assert.fail('connected without authorization'),
        (error) => assert.ok(error instanceof AiSdkUnauthorized || /unauthori/i.test(String(error)), String(error)),
      );
      let callback: URL | undefined;
      const page = await browser.newPage();
      try {
        // The redirect goes to the provider's loopback callback, where nobody listens: read it from the request.
        page.on('request', (request) => {
          const url = new URL(request.url());
          if (url.pathname === '/callback' && url.hostname === '127.0.0.1') callback = url;
        });
        await page.goto(provider.authorizationUrl!.href);
        await page.fill('input[name=api_key]', KEY);
        await page.click('button[value=approve]');
        await page.waitForEvent('request', (request) => request.url().includes('/callback'));
      } finally {
        await page.close();
      }
      assert.ok(callback, 'the page sent the browser to the client');
      await aiSdkAuth(provider, {
        serverUrl: endpoint,
        authorizationCode: callback.searchParams.get('code')!,
        callbackState: callback.searchParams.get('state')!,
        callbackIssuer: callback.searchParams.get('iss')!,
      });
      const client = await createMCPClient({ transport: { type: 'http', url: endpoint, authProvider: provider } });
      try {
        const tools = await client.tools();
        assert.ok('echo' in tools);
        const called = (await client.callTool({ name: 'echo', arguments: { text: 'via ai sdk' } })) as Text;
        assert.equal(called.content[0]!.text, 'echo: via ai sdk');
      } finally {
        await client.close();
      }
    });

    test('the Inspector CLI lists and calls tools with a token from the flow, over Streamable HTTP and over SSE', async () => {
      const provider = await authorize(endpoint, KEY);
      const inspector = (args: string[], token: string) =>
        // Its own build/index.js, run from its folder: it finds its package.json by a cwd-relative path.
        promisify(execFile)(process.execPath, ['index.js', ...args, '--header', `Authorization: Bearer ${token}`], {
          cwd: INSPECTOR_BUILD,
          env: { PATH: process.env.PATH ?? '' },
          timeout: 60_000,
        });
      const token = provider.savedTokens!.access_token;
      const listed = await inspector([endpoint, '--transport', 'http', '--method', 'tools/list'], token);
      assert.match(listed.stdout, /"name": "echo"/);
      const called = await inspector(
        [endpoint, '--transport', 'http', '--method', 'tools/call', '--tool-name', 'echo', '--tool-arg', 'text=inspected'],
        token,
      );
      assert.match(called.stdout, /echo: inspected/);
      // Its token comes from the /mcp URL; tokens are valid on both.
      const legacyProvider = await authorize(legacyMcpEndpoint, KEY);
      const overSse = await inspector(
        [sseEndpoint, '--transport', 'sse', '--method', 'tools/list'],
        legacyProvider.savedTokens!.access_token,
      );
      assert.match(overSse.stdout, /"name": "echo"/);
    });
  });
