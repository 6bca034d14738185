import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Agent, type Dispatcher, getGlobalDispatcher, setGlobalDispatcher } from 'undici';
import { killOnExit, removeOnExit } from '../support/exit-cleanup.ts';
import { connectWithOAuth } from '../support/oauth-client.ts';
import { freePort, type ServerProcess, startServer } from '../support/server-process.ts';
import { makeCertificate } from '../support/tls-front.ts';
import { startUpstream, type Upstream } from '../support/upstream.ts';

/**
 * The production setup the README describes: the Node server on loopback behind real nginx, with
 * docs/deploy/nginx.conf as it is shown there (only ports and the certificate swapped for test
 * ones). A whole OAuth + MCP flow runs through it over TLS, with PUBLIC_URL=https://… and
 * TRUST_PROXY=true, and an open event stream must deliver its events while it stays open. (nginx
 * 1.22 delivered this stream's event even with proxy_buffering on, so that setting is not what this
 * shows; it stays off as the SSE-safe choice.)
 */

const CONFIG = join(import.meta.dirname, '..', '..', 'docs', 'deploy', 'nginx.conf');
const KEY = 'sk-through-nginx-0123456789';

describe('the full flow through nginx, configured as the README shows', () => {
  let dir: string;
  let nginx: ChildProcess | undefined;
  let server: ServerProcess | undefined;
  let upstream: Upstream | undefined;
  let streaming: Server | undefined;
  let previous: Dispatcher;
  let httpsPort: number;
  let httpPort: number;
  let publicUrl: string;
  let nginxOutput = '';

  before(async () => {
    dir = removeOnExit(mkdtempSync(join(tmpdir(), 'key2oauth-nginx-')));
    const certificate = makeCertificate('localhost', dir);
    // This process's fetch (the SDK client, the test browser) trusts the test certificate.
    previous = getGlobalDispatcher();
    setGlobalDispatcher(new Agent({ connect: { ca: certificate.cert } }));

    httpsPort = await freePort();
    httpPort = await freePort();
    publicUrl = `https://localhost:${httpsPort}`;
    upstream = await startUpstream({ key: KEY });
    streaming = await startStreamingUpstream();
    server = await startServer({ PUBLIC_URL: publicUrl, TRUST_PROXY: 'true', LOG_LEVEL: 'info' });
    const serverPort = new URL(server.url).port;

    const site = readFileSync(CONFIG, 'utf8')
      .replace(/^\s*listen \[::\]:.*\n/gm, '')
      .replace('listen 80;', `listen 127.0.0.1:${httpPort};`)
      .replace('listen 443 ssl http2;', `listen 127.0.0.1:${httpsPort} ssl http2;`)
      .replace('/etc/letsencrypt/live/mcp.example.com/fullchain.pem', certificate.certPath)
      .replace('/etc/letsencrypt/live/mcp.example.com/privkey.pem', join(dir, 'key.pem'))
      .replace('server 127.0.0.1:8787;', `server 127.0.0.1:${serverPort};`);
    const directives = site.replace(/#.*$/gm, '');
    assert.ok(!/8787|letsencrypt|listen 80;|listen 443/.test(directives), 'every placeholder was replaced');
    mkdirSync(join(dir, 'temp'));
    writeFileSync(join(dir, 'site.conf'), site);
    writeFileSync(
      join(dir, 'nginx.conf'),
      `daemon off;
pid ${join(dir, 'nginx.pid')};
error_log stderr warn;
events {}
http {
  access_log off;
  client_body_temp_path ${join(dir, 'temp')};
  proxy_temp_path ${join(dir, 'temp')};
  fastcgi_temp_path ${join(dir, 'temp')};
  uwsgi_temp_path ${join(dir, 'temp')};
  scgi_temp_path ${join(dir, 'temp')};
  include ${join(dir, 'site.conf')};
}
`,
    );
    nginx = spawn('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
    killOnExit(nginx);
    nginx.stdout!.on('data', (chunk) => (nginxOutput += chunk));
    nginx.stderr!.on('data', (chunk) => (nginxOutput += chunk));
    for (let attempt = 0; ; attempt++) {
      if (nginx.exitCode !== null) throw new Error(`nginx exited:\n${nginxOutput}`);
      const up = await fetch(`${publicUrl}/healthz`).then(
        (response) => response.ok,
        () => false,
      );
      if (up) break;
      if (attempt > 100) throw new Error(`nginx did not come up:\n${nginxOutput}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });

  after(async () => {
    if (nginx && nginx.exitCode === null) {
      nginx.kill('SIGQUIT');
      await new Promise((resolve) => nginx!.once('exit', resolve));
    }
    await server?.stop();
    await upstream?.close();
    await new Promise((resolve) => (streaming ? streaming.close(resolve) : resolve(undefined)));
    setGlobalDispatcher(previous);
  });

  test('docs/production.md shows this configuration, character for character', () => {
    const readme = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'production.md'), 'utf8');
    assert.ok(readme.includes(`\`\`\`nginx\n${readFileSync(CONFIG, 'utf8')}\`\`\``));
  });

  test('plain http redirects to https; /healthz answers through TLS', async () => {
    const plain = await fetch(`http://127.0.0.1:${httpPort}/healthz`, { redirect: 'manual' });
    assert.equal(plain.status, 301);
    assert.match(plain.headers.get('location') ?? '', /^https:\/\//);
    const health = await fetch(`${publicUrl}/healthz`);
    assert.deepEqual(await health.json(), { ok: true });
  });

  test('an MCP client discovers, registers, is authorized and calls a tool through nginx; ids and addresses arrive', async () => {
    const created = await fetch(`${publicUrl}/api/slugs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ upstream_url: upstream!.url }),
    });
    assert.equal(created.status, 201);
    const { mcp_endpoint: endpoint } = (await created.json()) as { mcp_endpoint: string };
    assert.ok(endpoint.startsWith(`${publicUrl}/`), 'URLs are on the public https origin');

    const { client } = await connectWithOAuth(endpoint, KEY);
    try {
      const result = (await client.callTool({ name: 'echo', arguments: { text: 'through nginx' } })) as { content: { text: string }[] };
      assert.equal(result.content[0]!.text, 'echo: through nginx');
    } finally {
      await client.close();
    }

    const metadata = await fetch(`${publicUrl}/.well-known/oauth-authorization-server`);
    assert.equal(((await metadata.json()) as { issuer: string }).issuer, publicUrl);
    const health = await fetch(`${publicUrl}/healthz`);
    assert.match(health.headers.get('x-request-id') ?? '', /^[0-9a-f]{32}$/, "nginx's $request_id is the server's request id");
    const logged = server!
      .output()
      .split('\n')
      .filter((line) => line.includes('"msg":"request"'));
    assert.ok(logged.some((line) => line.includes('"route":"/:slug/mcp"')));
  });

  test('an event stream is relayed while it stays open: its first event arrives before it ends', async () => {
    const created = await fetch(`${publicUrl}/api/slugs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        upstream_url: `http://127.0.0.1:${(streaming!.address() as AddressInfo).port}/mcp`,
        transport: 'streamable-http',
      }),
    });
    const { mcp_endpoint: endpoint } = (await created.json()) as { mcp_endpoint: string };
    const { client, provider } = await connectWithOAuth(endpoint, KEY).catch(async () => {
      throw new Error(`could not connect through nginx:\n${nginxOutput}`);
    });
    await client.close();
    const token = provider.savedTokens!.access_token;
    const controller = new AbortController();
    const response = await fetch(endpoint, {
      headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
      signal: controller.signal,
    });
    assert.equal(response.status, 200);
    const reader = response.body!.getReader();
    const first = await Promise.race([
      reader.read(),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the first event was held back (buffered)')), 5000)),
    ]);
    assert.match(new TextDecoder().decode(first.value), /event: message/);
    controller.abort();
  });
});

/**
 * An MCP server that answers the handshake and then, on a GET, sends one event and keeps the
 * stream open: a buffering proxy would show nothing until it closes.
 */
async function startStreamingUpstream(): Promise<Server> {
  const http = createServer((req, res) => {
    if (req.headers.authorization !== `Bearer ${KEY}`) return void res.writeHead(401).end();
    if (req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write('event: message\ndata: {"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"hi"}}\n\n');
      return;
    }
    let body = '';
    req.on('data', (chunk: Buffer) => {
      body += chunk;
    });
    req.on('end', () => {
      const message = JSON.parse(body || '{}') as { id?: number; method?: string };
      if (message.method === 'initialize') {
        res.writeHead(200, { 'content-type': 'application/json' });
        return void res.end(
          JSON.stringify({
            jsonrpc: '2.0',
            id: message.id,
            result: { protocolVersion: '2025-06-18', capabilities: {}, serverInfo: { name: 'streaming', version: '1' } },
          }),
        );
      }
      res.writeHead(202).end();
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return http;
}
