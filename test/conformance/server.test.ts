import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { mustCreateEndpoint } from '../support/api.ts';
import { type McpUpstream, startMcpUpstream } from '../support/mcp-upstream.ts';
import { type Running, targets } from '../support/targets.ts';
import { authorize } from '../support/transport-helpers.ts';

/**
 * The official conformance suite's `server` scenarios (2025-11-25) through the proxy. The suite
 * speaks no OAuth, so a small local relay adds the bearer header to each of its requests (and
 * nothing else). The upstream is our real MCP SDK test server with its one `echo` tool: the
 * suite's own reference server is not published on npm (it lives in the suite's repository), so
 * scenarios that need its particular tools, resources and prompts cannot pass against any other
 * upstream. What this shows for a proxy:
 * - every scenario that our upstream can satisfy passes through the proxy, with no warning;
 * - every scenario has exactly the same outcome, check by check, through the proxy as against
 *   the upstream directly: the proxy adds and loses nothing.
 * docs/clients.md ("Conformance") lists the scenarios and why the others do not apply.
 */

const CONFORMANCE = join(import.meta.dirname, '..', '..', 'node_modules', '@modelcontextprotocol', 'conformance', 'dist', 'index.js');
const KEY = 'sk-conformance-server-0123456789';
/** What an MCP server with one text tool satisfies; the proxy must pass each of them. */
const APPLICABLE = [
  'server-initialize',
  'server-session-lifecycle',
  'ping',
  'tools-list',
  'tools-call-simple-text',
  'tools-call-error',
  'server-sse-multiple-streams',
];

interface Check {
  id: string;
  status: string;
  description: string;
}

for (const target of targets())
  describe(`MCP conformance suite: server scenarios through the proxy (${target.name})`, () => {
    let upstream: McpUpstream;
    let server: Running;
    let endpoint: string;
    let token: string;

    before(async () => {
      upstream = await startMcpUpstream({ key: KEY, mode: 'stateful-sse' });
      server = await target.start();
      endpoint = (await mustCreateEndpoint(server, { upstream_url: upstream.url })).mcp_endpoint!;
      token = (await authorize(endpoint, KEY)).savedTokens!.access_token;
    });
    after(async () => {
      await server?.stop();
      await upstream?.close();
    });

    test('every applicable scenario passes with no warning, and every scenario ends as it does against the upstream directly', async (t) => {
      const viaProxy = await runSuite(endpoint, `Bearer ${token}`);
      const direct = await runSuite(upstream.url, `Bearer ${KEY}`);
      for (const [scenario, checks] of [...viaProxy].sort())
        t.diagnostic(
          `${APPLICABLE.includes(scenario) ? 'applies ' : 'n/a     '} ${scenario}: ${checks.map((check) => `${check.id} ${check.status}`).join(', ')}`,
        );
      for (const scenario of APPLICABLE) {
        const checks = viaProxy.get(scenario);
        assert.ok(checks?.length, `${scenario} ran`);
        assert.deepEqual(
          checks.filter((check) => check.status !== 'SUCCESS'),
          [],
          scenario,
        );
      }
      const outcome = (results: Map<string, Check[]>) =>
        Object.fromEntries(
          [...results].map(([scenario, checks]) => [scenario, checks.map((check) => `${check.id} ${check.status}`).sort()]),
        );
      assert.deepEqual(outcome(viaProxy), outcome(direct));
    });
  });

/** Runs the suite against `url` through a relay that adds `authorization`; returns each scenario's checks. */
async function runSuite(url: string, authorization: string): Promise<Map<string, Check[]>> {
  const relay = await startRelay(url, authorization);
  const results = mkdtempSync(join(tmpdir(), 'key2oauth-conformance-server-'));
  try {
    await promisify(execFile)(
      process.execPath,
      [CONFORMANCE, 'server', '--url', relay.url, '--spec-version', '2025-11-25', '-o', results],
      {
        timeout: 120_000,
      },
    ).catch((error: { code?: number }) => {
      // The suite exits 1 when any scenario fails; the checks it saved are what counts here.
      if (typeof error.code !== 'number') throw error;
    });
    const scenarios = new Map<string, Check[]>();
    for (const name of readdirSync(results, { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('checks.json'))) {
      // Saved as server-{scenario}-{timestamp}/checks.json.
      const scenario = name
        .split('/')[0]!
        .replace(/^server-(?=.)/, '')
        .replace(/-\d{4}-\d\d-\d\dT.*$/, '');
      scenarios.set(scenario, JSON.parse(readFileSync(join(results, name), 'utf8')) as Check[]);
    }
    return scenarios;
  } finally {
    await relay.close();
    rmSync(results, { recursive: true, force: true });
  }
}

/** A loopback relay to `target` that adds the authorization header and streams both ways. */
async function startRelay(target: string, authorization: string): Promise<{ url: string; close(): Promise<void> }> {
  const relay: Server = createServer(async (request, response) => {
    try {
      const headers = new Headers();
      for (const [name, value] of Object.entries(request.headers))
        if (typeof value === 'string' && !['host', 'connection', 'content-length'].includes(name)) headers.set(name, value);
      headers.set('authorization', authorization);
      const hasBody = request.method !== 'GET' && request.method !== 'HEAD' && request.method !== 'DELETE';
      const answer = await fetch(target, {
        method: request.method!,
        headers,
        ...(hasBody ? { body: Readable.toWeb(request) as ReadableStream, duplex: 'half' } : {}),
      } as RequestInit);
      response.writeHead(answer.status, Object.fromEntries(answer.headers));
      if (answer.body) for await (const chunk of answer.body) response.write(chunk);
      response.end();
    } catch {
      response.destroy();
    }
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(relay.address() as AddressInfo).port}/mcp`,
    close: () =>
      new Promise((resolve) => {
        relay.closeAllConnections();
        relay.close(() => resolve());
      }),
  };
}
