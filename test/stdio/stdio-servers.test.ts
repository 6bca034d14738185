import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema, ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { Browser } from '../support/browser.ts';
import { removeOnExit } from '../support/exit-cleanup.ts';
import { connectWithOAuth, TestOAuthProvider } from '../support/oauth-client.ts';
import { NO_RATE_LIMITS } from '../support/oauth-raw.ts';
import { processes } from '../support/proc.ts';
import { freePort, type ServerProcess, startServer } from '../support/server-process.ts';

/**
 * Stdio MCP servers behind OAuth (docs/stdio.md), on the real server process with bubblewrap:
 * our key-reporting test server (test/support/stdio-key-server.ts) and the MCP project's own
 * `@modelcontextprotocol/server-everything` from npm, through discovery, registration, consent
 * and tokens with the real MCP SDK client. Processes are found in /proc, as an operator would.
 */

const ROOT = join(import.meta.dirname, '..', '..');
const KEY_SERVER = join(ROOT, 'test', 'support', 'stdio-key-server.ts');
const EVERYTHING = join(ROOT, 'node_modules', '@modelcontextprotocol', 'server-everything', 'dist', 'index.js');
const MCP_REMOTE = join(ROOT, 'node_modules', 'mcp-remote', 'dist', 'proxy.js');
const ADMIN = 'admin-token-for-the-stdio-tests-0123456789';

type Text = { content: { type: string; text: string }[]; isError?: boolean };

function serversFile(servers: unknown[]): string {
  const dir = removeOnExit(mkdtempSync(join(tmpdir(), 'key2oauth-stdio-')));
  const file = join(dir, 'stdio.json');
  writeFileSync(file, JSON.stringify({ servers }, null, 2));
  return file;
}

const KEYED = {
  slug: 'keyed',
  name: 'Keyed test server',
  command: 'node',
  args: [KEY_SERVER],
  env: { LOG_LEVEL: 'warn' },
  credentials: [{ label: 'Test key', env: 'TEST_KEY' }],
  idle_seconds: 10,
};
const EVERYTHING_SERVER = {
  slug: 'everything',
  name: 'Everything',
  command: 'node',
  args: [EVERYTHING, 'stdio'],
  credentials: [{ label: 'Any key', env: 'EVERYTHING_KEY' }],
};

/** Every process below `root`, with its environment (readable to the test, which runs as the server's user). */
function descendants(root: number): { pid: number; environ: string; cmdline: string }[] {
  const all = processes();
  const below = new Set([root]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const proc of all) {
      if (!below.has(proc.ppid) || below.has(proc.pid)) continue;
      below.add(proc.pid);
      grew = true;
    }
  }
  below.delete(root);
  return [...below].flatMap((pid) => {
    try {
      return [{ pid, environ: readFileSync(`/proc/${pid}/environ`, 'utf8'), cmdline: readFileSync(`/proc/${pid}/cmdline`, 'utf8') }];
    } catch {
      return [];
    }
  });
}

/** Processes on the whole machine whose environment holds `key` (any process, not only the server's). */
function holdersOf(key: string): number[] {
  return processes().flatMap(({ pid }) => {
    try {
      return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`TEST_KEY=${key}`) ? [pid] : [];
    } catch {
      return [];
    }
  });
}

async function until(what: string, check: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const whoami = async (client: Client) => JSON.parse(((await client.callTool({ name: 'whoami', arguments: {} })) as Text).content[0]!.text);
const sha = (text: string) => createHash('sha256').update(text).digest('hex');

describe('stdio servers behind OAuth (bubblewrap)', () => {
  let server: ServerProcess;
  const clients: Client[] = [];
  const connect = async (slug: string, key: string) => {
    const connected = await connectWithOAuth(`${server.url}/${slug}/mcp`, key);
    clients.push(connected.client);
    return connected;
  };

  before(async () => {
    server = await startServer({
      STDIO_SERVERS: serversFile([KEYED, EVERYTHING_SERVER]),
      ADMIN_TOKEN: ADMIN,
      // More sign-ins than the default limit on key submissions allows in ten minutes.
      ...NO_RATE_LIMITS,
      // Secrets a process must never see.
      KEY2OAUTH_SECRET: randomBytes(32).toString('base64'),
    });
  });
  after(async () => {
    for (const client of clients) await client.close().catch(() => {});
    await server?.stop();
  });

  test('two people on one endpoint get two sandboxed processes, each with only its own key', async () => {
    const alice = await connect('keyed', 'good-alice-key');
    const bob = await connect('keyed', 'good-bob-key');
    const seenByAlice = await whoami(alice.client);
    const seenByBob = await whoami(bob.client);
    assert.equal(seenByAlice.keyHash, sha('good-alice-key'));
    assert.equal(seenByBob.keyHash, sha('good-bob-key'));
    // Nothing of the server's environment: the declared env, the key, PATH/HOME/LANG (and PWD, bwrap's).
    // Node itself passes NODE_V8_COVERAGE (a directory) to every child it spawns, whatever env it
    // is given, so that coverage runs can follow them (child_process.js); only `npm test` sets it.
    const coverage = process.env.NODE_V8_COVERAGE ? ['NODE_V8_COVERAGE'] : [];
    assert.deepEqual(seenByAlice.envNames, ['HOME', 'LANG', 'LOG_LEVEL', ...coverage, 'PATH', 'PWD', 'TEST_KEY']);
    // Its own PID namespace: no other person's process, nor the server, exists for it.
    assert.equal(seenByAlice.otherKeysSeen, 0);
    assert.equal(seenByBob.otherKeysSeen, 0);
    assert.ok(seenByAlice.processesSeen <= 2, `saw ${seenByAlice.processesSeen} other processes`);
    assert.equal(seenByAlice.uid, 65534);
    // Two processes on the host, one per key, and no key on any command line.
    assert.equal(holdersOf('good-alice-key').length > 0 && holdersOf('good-bob-key').length > 0, true);
    for (const proc of descendants(server.pid)) assert.ok(!proc.cmdline.includes('good-'), proc.cmdline);
    for (const { pid } of processes()) {
      try {
        assert.ok(!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('good-alice-key'), `pid ${pid}`);
      } catch {}
    }
  });

  test('what a process prints to stderr reaches the log with the key masked', async () => {
    const carol = await connect('keyed', 'good-carol-key');
    await carol.client.callTool({ name: 'leak', arguments: {} });
    await until('the stderr line in the log', () => server.output().includes('calling the API with [redacted] now'));
    assert.ok(server.output().includes('started with key [redacted]'));
    assert.ok(!server.output().includes('good-carol-key'));
  });

  test('a key the server refuses at start is refused at consent, and nothing is granted', async () => {
    const refused = (await connectWithOAuth(`${server.url}/keyed/mcp`, 'bad-dave-key').catch((error: Error) => error)) as Error;
    assert.match(refused.message, /^approval answered 401: /);
    assert.match(refused.message, /Keyed test server did not start with this key: .*the server exited with code 2/);
    assert.ok(!refused.message.includes('bad-dave-key'));
    assert.equal(holdersOf('bad-dave-key').length, 0);
    assert.ok(!server.output().includes('bad-dave-key'));
  });

  test('a crashed process answers with an error, and a reconnect starts it afresh', async () => {
    const erin = await connect('keyed', 'good-erin-key');
    const first = (await whoami(erin.client)).pid;
    const crashed = (await erin.client.callTool({ name: 'crash', arguments: {} }).catch((error: Error) => error)) as Error | Text;
    assert.ok(crashed instanceof Error ? /process|closed/i.test(crashed.message) : crashed.isError, JSON.stringify(crashed));
    await until('the crashed process gone', () => holdersOf('good-erin-key').length === 0);
    // The old session is gone (404); a client that reconnects gets a new process.
    await assert.rejects(erin.client.callTool({ name: 'whoami', arguments: {} }));
    const again = new Client({ name: 'reconnected', version: '1' });
    await again.connect(new StreamableHTTPClientTransport(new URL(`${server.url}/keyed/mcp`), { authProvider: erin.provider }));
    clients.push(again);
    const fresh = await whoami(again);
    assert.equal(fresh.keyHash, sha('good-erin-key'));
    assert.ok(holdersOf('good-erin-key').length > 0);
    assert.ok(first > 0);
  });

  test('revoking a grant stops its process at once', async () => {
    await connect('keyed', 'good-frank-key');
    assert.ok(holdersOf('good-frank-key').length > 0);
    const headers = { authorization: `Bearer ${ADMIN}` };
    const grants = (await (await fetch(`${server.url}/api/slugs/keyed/grants`, { headers })).json()) as { grants: { id: string }[] };
    // Revoke them all: the other people's processes go too, which the idle test does not need.
    for (const grant of grants.grants) {
      const revoked = await fetch(`${server.url}/api/slugs/keyed/grants/${grant.id}`, { method: 'DELETE', headers });
      assert.equal(revoked.status, 200, await revoked.text());
    }
    await until(
      'every keyed process gone',
      () => holdersOf('good-frank-key').length === 0 && holdersOf('good-alice-key').length === 0,
      5000,
    );
  });

  test('an idle process is stopped after idle_seconds', async () => {
    const grace = await connect('keyed', 'good-grace-key');
    await whoami(grace.client);
    assert.ok(holdersOf('good-grace-key').length > 0);
    await until('the idle process stopped', () => holdersOf('good-grace-key').length === 0, 16_000);
  });

  test('the MCP project’s own server-everything from npm works through the same flow', async () => {
    const { client } = await connect('everything', 'any-key-at-all');
    const tools = await client.listTools();
    assert.ok(tools.tools.some((tool) => tool.name === 'echo'));
    const echoed = (await client.callTool({ name: 'echo', arguments: { message: 'through a sandbox' } })) as Text;
    assert.match(echoed.content[0]!.text, /through a sandbox/);
  });

  test('server-to-client requests (sampling, elicitation) and progress notifications travel both ways', async () => {
    const { provider } = await connect('everything', 'any-key-for-sampling');
    // A client that offers sampling and elicitation: server-everything registers its trigger tools for it.
    const client = new Client({ name: 'capable', version: '1' }, { capabilities: { sampling: {}, elicitation: {} } });
    const asked: string[] = [];
    client.setRequestHandler(CreateMessageRequestSchema, async (request) => {
      asked.push(request.method);
      return { model: 'test-model', role: 'assistant', content: { type: 'text', text: 'sampled by the client' } };
    });
    client.setRequestHandler(ElicitRequestSchema, async (request) => {
      asked.push(request.method);
      return { action: 'accept', content: { name: 'Test Person', check: true } };
    });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${server.url}/everything/mcp`), { authProvider: provider }));
    clients.push(client);
    const sampled = (await client.callTool({ name: 'trigger-sampling-request', arguments: { prompt: 'hello' } })) as Text;
    assert.match(sampled.content[0]!.text, /sampled by the client/);
    const elicited = (await client.callTool({ name: 'trigger-elicitation-request', arguments: {} })) as Text;
    assert.match(JSON.stringify(elicited.content), /Test Person/);
    assert.deepEqual(asked, ['sampling/createMessage', 'elicitation/create']);
    const progress: number[] = [];
    await client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 1, steps: 3 } }, undefined, {
      onprogress: (update) => progress.push(update.progress),
    });
    assert.deepEqual(progress, [1, 2, 3]);
  });

  /** mcp-remote as Claude Desktop runs it, the consent page filled in as a person would; resolves with what the process saw. */
  async function throughMcpRemote(url: string, key: string, args: string[] = []) {
    const configDir = removeOnExit(mkdtempSync(join(tmpdir(), 'key2oauth-mcp-remote-')));
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
      if (!line.startsWith(`${server.url}/authorize?`)) return;
      // The redirect after approval goes to mcp-remote's own callback server.
      approvals.push(
        (async () => {
          const browser = new Browser();
          const answer = await browser.submit(await browser.get(line.trim()), { api_key: key }, { name: 'action', value: 'approve' });
          assert.equal(answer.status, 302, await answer.text());
          await (await fetch(answer.headers.get('location')!)).text();
        })(),
      );
    });
    const client = new Client({ name: 'via-mcp-remote', version: '1' });
    try {
      await client.connect(transport).catch((error) => assert.fail(`mcp-remote did not connect: ${error}\n${log}`));
      await Promise.all(approvals);
      assert.equal(approvals.length, 1);
      const seen = await whoami(client);
      assert.ok(holdersOf(key).length > 0);
      return seen;
    } finally {
      await client.close();
    }
  }

  test('mcp-remote (stdio on the client side) signs in and reaches its own process', async () => {
    assert.equal((await throughMcpRemote(`${server.url}/keyed/mcp`, 'good-ivy-key')).keyHash, sha('good-ivy-key'));
  });

  test('mcp-remote on the legacy SSE URL (--transport sse-only) reaches its own process', async () => {
    const seen = await throughMcpRemote(`${server.url}/keyed/sse`, 'good-jack-key', ['--transport', 'sse-only']);
    assert.equal(seen.keyHash, sha('good-jack-key'));
  });

  test('shutdown leaves no process behind', async () => {
    const henry = await connect('keyed', 'good-henry-key');
    await whoami(henry.client);
    const before = descendants(server.pid);
    assert.ok(before.length > 0);
    assert.equal(await server.stop(), 0);
    await until('no process of the server left', () => before.every((proc) => !processes().some((p) => p.pid === proc.pid)), 5000);
    assert.equal(holdersOf('good-henry-key').length, 0);
  });

  test('key2oauth endpoints list shows the declared servers (on the stopped server’s store)', async () => {
    const { execFileSync } = await import('node:child_process');
    const listed = execFileSync(process.execPath, [join(ROOT, 'src', 'cli', 'main.ts'), 'endpoints', 'list', '--json'], {
      env: {
        PATH: process.env.PATH ?? '',
        DATA_DIR: server.dataDir,
        STDIO_SERVERS: serversFile([KEYED, EVERYTHING_SERVER]),
        PORT: new URL(server.url).port,
      },
      encoding: 'utf8',
    });
    const slugs = (JSON.parse(listed) as { endpoints: { slug: string; transport: string; mcp_endpoint: string }[] }).endpoints
      .filter((e) => e.transport === 'stdio')
      .map((e) => [e.slug, e.mcp_endpoint]);
    assert.deepEqual(slugs.sort(), [
      ['everything', `${server.url}/everything/mcp`],
      ['keyed', `${server.url}/keyed/mcp`],
    ]);
  });
});

describe('stdio servers: the memory limit, and every way a grant ends', () => {
  let server: ServerProcess;
  const clients: Client[] = [];
  const METRICS = 'metrics-token-for-the-stdio-tests-0123456789';
  const admin = { authorization: `Bearer ${ADMIN}` };
  const connect = async (slug: string, key: string) => {
    const connected = await connectWithOAuth(`${server.url}/${slug}/mcp`, key);
    clients.push(connected.client);
    await whoami(connected.client);
    assert.ok(holdersOf(key).length > 0, `a process holds ${key}`);
    return connected;
  };
  /** The grants of an endpoint (the operator's API); `without` leaves out ids seen before. */
  const grantIds = async (slug: string) =>
    ((await (await fetch(`${server.url}/api/slugs/${slug}/grants`, { headers: admin })).json()) as { grants: { id: string }[] }).grants.map(
      (grant) => grant.id,
    );
  /** Not one process of the machine holds the key, looked for in /proc as an operator would. */
  const gone = (key: string, ms: number) => until(`no process holding ${key}`, () => holdersOf(key).length === 0, ms);

  before(async () => {
    server = await startServer({
      STDIO_SERVERS: serversFile([
        { ...KEYED, idle_seconds: 600 },
        // Its own limit, below the deployment's default.
        { ...KEYED, slug: 'hungry', name: 'Hungry', memory_mb: 150 },
        // The default, STDIO_MEMORY_MB.
        { ...KEYED, slug: 'greedy', name: 'Greedy' },
        { ...KEYED, slug: 'doomed', name: 'Doomed' },
        { ...KEYED, slug: 'bloated', name: 'Bloated', env: { HOG_AT_START: '1' }, memory_mb: 150 },
      ]),
      STDIO_MEMORY_MB: '250',
      ADMIN_TOKEN: ADMIN,
      METRICS_TOKEN: METRICS,
      ...NO_RATE_LIMITS,
    });
  });
  after(async () => {
    for (const client of clients) await client.close().catch(() => {});
    await server?.stop();
  });

  test('a process tree over its memory limit is stopped, its request answered saying so, and a reconnect starts afresh', async () => {
    for (const [slug, limit] of [
      ['hungry', 150],
      ['greedy', 250],
    ] as const) {
      const key = `good-${slug}-key`;
      const { client, provider } = await connect(slug, key);
      const started = Date.now();
      const answer = await client.callTool({ name: 'hog', arguments: {} }).then(
        (result) => JSON.stringify(result),
        (error: Error) => error.message,
      );
      assert.match(answer, new RegExp(`memory limit of ${limit} MB`), answer);
      assert.ok(!answer.includes('keptMb'), 'the process was stopped before it had taken 400 MB');
      assert.ok(Date.now() - started < 5000);
      await gone(key, 5000);
      assert.match(server.output(), new RegExp(`"msg":"stdio memory limit reached".*"slug":"${slug}".*"limit_mb":${limit}`));
      assert.ok(!server.output().includes(key));
      // The session is over; a new one starts a fresh process, within the limit again.
      const again = new Client({ name: 'reconnected', version: '1' });
      await again.connect(new StreamableHTTPClientTransport(new URL(`${server.url}/${slug}/mcp`), { authProvider: provider }));
      clients.push(again);
      assert.equal((await whoami(again)).keyHash, sha(key));
    }
    const metrics = await (await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${METRICS}` } })).text();
    assert.match(metrics, /key2oauth_stdio_processes_stopped_total\{why="memory_limit"\} 2/);
  });

  test('the key check at consent runs under the same limit: a server over it there is refused, saying so', async () => {
    const refused = (await connectWithOAuth(`${server.url}/bloated/mcp`, 'good-bloated-key').catch((error: Error) => error)) as Error;
    assert.match(refused.message, /^approval answered \d+: /);
    assert.match(refused.message, /Bloated did not start with this key: .*memory limit of 150 MB/);
    await gone('good-bloated-key', 2000);
  });

  test('revoking every grant of an endpoint (operator API) stops all its processes at once', async () => {
    await connect('keyed', 'good-all-one');
    await connect('keyed', 'good-all-two');
    const revoked = await fetch(`${server.url}/api/slugs/keyed/grants`, { method: 'DELETE', headers: admin });
    assert.equal(revoked.status, 200, await revoked.text());
    // Stopped before the answer: nothing to wait for but /proc catching up.
    await gone('good-all-one', 500);
    await gone('good-all-two', 500);
  });

  test('deleting an endpoint (operator API) stops its processes at once', async () => {
    await connect('doomed', 'good-doomed-key');
    const deleted = await fetch(`${server.url}/api/slugs/doomed`, { method: 'DELETE', headers: admin });
    assert.equal(deleted.status, 200, await deleted.text());
    await gone('good-doomed-key', 500);
  });

  test('the key holder revoking their access (/api/access/revoke, as /access and /revoke do) stops its process at once', async () => {
    await connect('keyed', 'good-holder-key');
    const revoked = await fetch(`${server.url}/api/access/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ endpoint: `${server.url}/keyed/mcp`, credentials: ['good-holder-key'] }),
    });
    assert.equal(revoked.status, 200, await revoked.text());
    await gone('good-holder-key', 500);
  });

  test('the key holder revoking on the page (the old /revoke form, then /access) stops the process at once', async () => {
    await connect('keyed', 'good-page-key');
    const form = { 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': 'same-origin', origin: 'null' };
    // What the old /revoke page posted: the endpoint and `api_key`.
    const found = await fetch(`${server.url}/revoke`, {
      method: 'POST',
      headers: form,
      body: new URLSearchParams({ endpoint: `${server.url}/keyed/mcp`, api_key: 'good-page-key' }),
      redirect: 'manual',
    });
    assert.equal(found.status, 303, await found.text());
    const cookie = found.headers.getSetCookie()[0]!.split(';')[0]!;
    const revoked = await fetch(`${server.url}/access`, {
      method: 'POST',
      headers: { ...form, cookie },
      body: new URLSearchParams({ action: 'revoke-all', confirm: 'yes' }),
      redirect: 'manual',
    });
    assert.equal(revoked.status, 303);
    assert.match(await (await fetch(`${server.url}/access`, { headers: { cookie } })).text(), /can no longer use this endpoint/);
    await gone('good-page-key', 500);
  });

  test('the key holder replacing their key stops the process holding the old one; the next session has the new', async () => {
    const { provider } = await connect('keyed', 'good-old-key');
    const replaced = await fetch(`${server.url}/api/access/replace`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ endpoint: `${server.url}/keyed/mcp`, credentials: ['good-old-key'], new_credentials: ['good-new-key'] }),
    });
    assert.equal(replaced.status, 200, await replaced.text());
    await gone('good-old-key', 500);
    const again = new Client({ name: 'reconnected', version: '1' });
    await again.connect(new StreamableHTTPClientTransport(new URL(`${server.url}/keyed/mcp`), { authProvider: provider }));
    clients.push(again);
    assert.equal((await whoami(again)).keyHash, sha('good-new-key'));
  });

  test('a refresh token revoked by its app (RFC 7009) ends the grant, and its process with it', async () => {
    const { provider } = await connect('keyed', 'good-rfc-key');
    const metadata = (await (await fetch(`${server.url}/.well-known/oauth-authorization-server`)).json()) as {
      revocation_endpoint: string;
    };
    const revoked = await fetch(metadata.revocation_endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: provider.tokens()!.refresh_token!, client_id: provider.clientInformation()!.client_id }),
    });
    assert.equal(revoked.status, 200, await revoked.text());
    // Revoked inside the OAuth engine, past our code: the supervisor's check of its grants finds it.
    await gone('good-rfc-key', 3000);
  });

  test('key2oauth grants revoke, run beside the server on its store, stops the process', async () => {
    const before = new Set(await grantIds('keyed'));
    await connect('keyed', 'good-cli-key');
    const id = (await grantIds('keyed')).find((grant) => !before.has(grant));
    assert.ok(id);
    const { execFileSync } = await import('node:child_process');
    execFileSync(process.execPath, [join(ROOT, 'src', 'cli', 'main.ts'), 'grants', 'revoke', 'keyed', id], {
      env: { PATH: process.env.PATH ?? '', DATA_DIR: server.dataDir, PORT: new URL(server.url).port },
      encoding: 'utf8',
    });
    await gone('good-cli-key', 3000);
  });
});

describe('stdio servers: process limits', () => {
  test('past STDIO_MAX_PER_ENDPOINT a session is refused with 503 and Retry-After; past STDIO_MAX_PROCESSES the key check at consent is refused too', async () => {
    const server = await startServer({
      STDIO_SERVERS: serversFile([KEYED, { ...KEYED, slug: 'other', name: 'Other' }]),
      STDIO_MAX_PER_ENDPOINT: '1',
      STDIO_MAX_PROCESSES: '2',
      ADMIN_TOKEN: ADMIN,
      ...NO_RATE_LIMITS,
    });
    const clients: Client[] = [];
    try {
      const alice = await connectWithOAuth(`${server.url}/keyed/mcp`, 'good-limit-alice');
      clients.push(alice.client);
      await whoami(alice.client);
      // The key check passes (one process runs in all), the session's own process is one too many here.
      const bob = new TestOAuthProvider();
      const refused = (await connectWithOAuth(`${server.url}/keyed/mcp`, 'good-limit-bob', bob).catch((error: Error) => error)) as Error;
      assert.match(refused.message, /This server runs as many processes as it may; try again later/);
      assert.equal(holdersOf('good-limit-bob').length, 0);
      const initialize = (token: string) =>
        fetch(`${server.url}/keyed/mcp`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
          body: JSON.stringify({
            jsonrpc: '2.0',
            id: 1,
            method: 'initialize',
            params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
          }),
        });
      const limited = await initialize(bob.tokens()!.access_token);
      assert.equal(limited.status, 503);
      assert.equal(limited.headers.get('retry-after'), '30');
      // A new session of alice's own grant replaces her process: still one, allowed.
      const again = await initialize(alice.provider.tokens()!.access_token);
      assert.equal(again.status, 200, await again.text());
      const carol = await connectWithOAuth(`${server.url}/other/mcp`, 'good-limit-carol');
      clients.push(carol.client);
      await whoami(carol.client);
      // Two processes run: the key check itself would be a third.
      const full = (await connectWithOAuth(`${server.url}/other/mcp`, 'good-limit-dave').catch((error: Error) => error)) as Error;
      assert.match(full.message, /^approval answered \d+: .*as many processes as it may/s);
    } finally {
      for (const client of clients) await client.close().catch(() => {});
      await server.stop();
    }
  });
});

describe('stdio servers: a server killed outright', () => {
  test('SIGKILL to the server leaves no sandbox behind (bubblewrap --die-with-parent)', async () => {
    const server = await startServer({ STDIO_SERVERS: serversFile([KEYED]), ...NO_RATE_LIMITS });
    try {
      const { client } = await connectWithOAuth(`${server.url}/keyed/mcp`, 'good-killed-key');
      await whoami(client);
      const below = descendants(server.pid);
      assert.ok(below.length >= 2, 'bubblewrap and the server it runs');
      assert.ok(holdersOf('good-killed-key').length > 0);
      await server.stop('SIGKILL');
      await until('no process of the killed server left', () => below.every((proc) => !processes().some((p) => p.pid === proc.pid)), 5000);
      assert.equal(holdersOf('good-killed-key').length, 0);
    } finally {
      await server.stop();
    }
  });
});

describe('stdio servers: start-up refusals', () => {
  const refusal = async (env: Record<string, string>) => {
    try {
      const server = await startServer(env);
      await server.stop();
    } catch (error) {
      return (error as Error).message;
    }
    return assert.fail('the server started');
  };

  test('a malformed file stops start-up with its line and the reason', async () => {
    const file = serversFile([KEYED, { ...KEYED, slug: 'Bad_Slug' }]);
    const message = await refusal({ STDIO_SERVERS: file });
    assert.match(message, /key2oauth: STDIO_SERVERS .*stdio\.json:\d+: servers\[1\]\.slug must be 3 to 40 characters/);
    const line = Number(/stdio\.json:(\d+):/.exec(message)![1]);
    assert.match(readFileSync(file, 'utf8').split('\n')[line - 1]!, /"slug": "Bad_Slug"/);
  });

  test('without a working bubblewrap, start-up refuses unless STDIO_SANDBOX=off, which says so', async () => {
    const file = serversFile([KEYED]);
    const message = await refusal({ STDIO_SERVERS: file, PATH: '/nonexistent' });
    assert.match(message, /STDIO_SANDBOX=required, but the sandbox does not work here: bwrap is not installed/);
    const server = await startServer({ STDIO_SERVERS: file, PATH: '/nonexistent', STDIO_SANDBOX: 'off' });
    try {
      assert.match(server.output(), /STDIO_SANDBOX=off: stdio servers run as plain child processes, without a sandbox/);
    } finally {
      await server.stop();
    }
  });

  test('a declared slug an endpoint already has stops start-up', async () => {
    const server = await startServer({ STDIO_SERVERS: serversFile([KEYED]), STDIO_SANDBOX: 'off' });
    const dataDir = server.dataDir;
    await server.stop();
    // The same data directory, and the slug now declared twice over: once by a record made on the web.
    const { DatabaseSync } = await import('node:sqlite');
    const db = new DatabaseSync(join(dataDir, 'key2oauth.db'));
    const row = db.prepare("SELECT key FROM kv WHERE key LIKE '%endpoint:keyed'").get() as { key: string } | undefined;
    assert.ok(row, 'the declared record is stored');
    db.prepare('UPDATE kv SET value = ? WHERE key = ?').run(
      JSON.stringify({
        slug: 'keyed',
        upstreamUrl: 'https://example.com/mcp',
        displayName: 'x',
        authHeaderName: 'Authorization',
        authHeaderPrefix: 'Bearer',
        transport: 'streamable-http',
        createdAt: 1,
      }),
      row.key,
    );
    db.close();
    const message = await refusal({ STDIO_SERVERS: serversFile([KEYED]), STDIO_SANDBOX: 'off', DATA_DIR: dataDir });
    assert.match(message, /declares the slug "keyed", which an endpoint created on this server already has/);
  });
});
