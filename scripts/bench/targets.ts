/**
 * The processes a bench run starts, each on a free loopback port and each stopped at the end:
 * the upstream, nginx as a header-injecting reverse proxy (when installed), and Key2OAuth itself
 * as a user runs it (`npm start`'s entry, SQLite; Redis when REDIS_URL is set).
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { approve, authorizationUrl, exchangeCode, pkce, register } from '../../src/cli/oauth-client.ts';
import { freePort } from '../../test/support/server-process.ts';
import { BENCH_KEY } from './key.ts';
import type { Endpoint } from './load.ts';
import { childPids, cpuMicros } from './proc.ts';

export interface Started {
  name: string;
  endpoint: Endpoint;
  /** The process whose memory is the proxy's cost (none for direct, nor for a Worker). */
  proxyPid?: number;
  /** CPU time (µs) used so far by the processes that do the proxying (none for direct). */
  cpuMicros?: () => number;
  /**
   * Under `wrangler dev`: the part of `cpuMicros` spent in the workerd that runs the Worker
   * itself, without wrangler's own proxy in front of it.
   */
  workerCpuMicros?: () => number;
  /** Under `wrangler dev`: the port of the Worker's DevTools inspector (for --cpu-prof). */
  inspectorPort?: number;
  /**
   * Starts another instance of the same target, for the memory figures: a process that has served
   * no load yet, so its resident memory grows by what the streams take and not by what the load
   * before them left in its heap (a garbage-collected heap keeps pages it has freed).
   */
  fresh?: () => Promise<Started>;
  stop(): Promise<void>;
}

export interface UpstreamProcess {
  port: number;
  /** Resolves with the monotonic time (ns) at which the upstream saw the watched stream close. */
  closedAt(watch: string): Promise<bigint>;
  /** How many GET streams the upstream holds open now. */
  openStreams(): Promise<number>;
  stop(): Promise<void>;
}

/** Raises the open-file limit to the hard limit in the child: 5,000 streams need 10,000 sockets. */
export function withFileLimit(command: string, args: string[]): [string, string[]] {
  return ['sh', ['-c', 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"', 'sh', command, ...args]];
}

/** Node with `nodeArgs`, or under a launcher (`valgrind --tool=callgrind …`) that runs Node: the command and its arguments. */
function launched(launcher: string[] | undefined, nodeArgs: string[]): [string, string[]] {
  if (!launcher?.length) return [process.execPath, nodeArgs];
  return [launcher[0]!, [...launcher.slice(1), process.execPath, ...nodeArgs]];
}

export async function startUpstream(): Promise<UpstreamProcess> {
  const child = fork(resolve(import.meta.dirname, 'upstream.ts'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const waiters = new Map<string, (at: bigint) => void>();
  const counts: ((open: number) => void)[] = [];
  const seen = new Map<string, bigint>();
  const port = await new Promise<number>((resolvePort, reject) => {
    child.once('exit', () => reject(new Error('the bench upstream exited')));
    child.on('message', (message: { port?: number; closed?: string; at?: string; open?: number }) => {
      if (message.port) resolvePort(message.port);
      if (message.open !== undefined) counts.shift()?.(message.open);
      if (message.closed && message.at) {
        const at = BigInt(message.at);
        const waiter = waiters.get(message.closed);
        if (waiter) waiter(at);
        else seen.set(message.closed, at);
      }
    });
  });
  return {
    port,
    closedAt: (watch) => {
      const already = seen.get(watch);
      if (already !== undefined) return Promise.resolve(already);
      return new Promise((resolveAt) => waiters.set(watch, resolveAt));
    },
    openStreams: () =>
      new Promise((resolveCount) => {
        counts.push(resolveCount);
        child.send({ ask: 'open' });
      }),
    stop: () => stopChild(child),
  };
}

export function direct(upstream: UpstreamProcess): Started {
  return {
    name: 'direct',
    endpoint: { origin: `http://127.0.0.1:${upstream.port}`, path: '/mcp', authorization: `Bearer ${BENCH_KEY}` },
    stop: async () => {},
  };
}

export const NGINX = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((path) => existsSync(path));

/**
 * nginx in front of the upstream, replacing the client's Authorization with the key as Key2OAuth
 * does: buffering off (SSE passes event by event), keep-alive to the upstream, `workers` worker
 * processes (1 to compare with one Node process; `auto` for all cores), access log off like ours.
 */
export async function startNginx(upstream: UpstreamProcess, workers: number | 'auto'): Promise<Started | undefined> {
  if (!NGINX) return undefined;
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'key2oauth-bench-nginx-'));
  const conf = `
worker_processes ${workers};
worker_rlimit_nofile 20000;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 16384; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  upstream mcp { server 127.0.0.1:${upstream.port}; keepalive 128; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://mcp;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization "Bearer ${BENCH_KEY}";
      proxy_buffering off;
      proxy_request_buffering off;
      proxy_read_timeout 1h;
    }
  }
}
`;
  writeFileSync(join(dir, 'nginx.conf'), conf);
  const [command, args] = withFileLimit(NGINX, [
    '-p',
    dir,
    '-c',
    join(dir, 'nginx.conf'),
    '-e',
    join(dir, 'error.log'),
    '-g',
    'daemon off;',
  ]);
  const child = spawn(command, args, { stdio: 'ignore' });
  await waitForPort(port, child);
  // The worker processes do the proxying; with one worker its CPU is the proxy's cost.
  const workerPids = childPids(child.pid!);
  return {
    name: 'nginx',
    endpoint: { origin: `http://127.0.0.1:${port}`, path: '/mcp', authorization: 'Bearer not-checked-by-nginx' },
    ...(workerPids.length === 1 ? { proxyPid: workerPids[0]!, cpuMicros: () => cpuMicros(workerPids[0]!) } : {}),
    fresh: async () => (await startNginx(upstream, workers))!,
    stop: async () => {
      await stopChild(child, 'SIGQUIT');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The least a Node proxy does (node-floor.ts): what Node itself costs, beside nginx and Key2OAuth. */
export async function startNodeFloor(
  upstream: UpstreamProcess,
  options: { nodeArgs?: string[]; env?: Record<string, string>; launcher?: string[] } = {},
): Promise<Started> {
  const port = await freePort();
  const [command, args] = withFileLimit(
    ...launched(options.launcher, [
      ...(options.nodeArgs ?? []),
      resolve(import.meta.dirname, 'node-floor.ts'),
      `http://127.0.0.1:${upstream.port}`,
      String(port),
    ]),
  );
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...options.env } });
  await new Promise<void>((ready, failed) => {
    child.stdout!.once('data', () => ready());
    child.once('exit', () => failed(new Error('the node floor proxy exited before listening')));
  });
  return {
    name: 'node-floor',
    endpoint: { origin: `http://127.0.0.1:${port}`, path: '/mcp', authorization: 'Bearer not-checked-by-the-floor' },
    proxyPid: child.pid!,
    cpuMicros: () => cpuMicros(child.pid!),
    fresh: () => startNodeFloor(upstream, options),
    stop: () => stopChild(child),
  };
}

/**
 * Key2OAuth as `npm start` runs it, with an endpoint for the upstream and an access token obtained
 * through the real OAuth flow (registration, consent page with the key, code exchange).
 */
export async function startKey2OAuth(
  upstream: UpstreamProcess,
  env: Record<string, string> = {},
  options: { name?: string; nodeArgs?: string[]; launcher?: string[] } = {},
): Promise<Started & { url: string }> {
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'key2oauth-bench-'));
  const url = `http://127.0.0.1:${port}`;
  const [command, args] = withFileLimit(...launched(options.launcher, [...(options.nodeArgs ?? []), 'src/adapters/node/main.ts']));
  const child = spawn(command, args, {
    cwd: resolve(import.meta.dirname, '../..'),
    env: {
      PATH: process.env.PATH ?? '',
      PORT: String(port),
      PUBLIC_URL: url,
      DATA_DIR: dataDir,
      ALLOW_PRIVATE_UPSTREAMS: 'true',
      // Like nginx's `access_log off`: the comparison is of the data path, not of log writing.
      LOG_LEVEL: 'warn',
      // One load generator, one grant and one address open 64 requests and 5,000 idle streams at
      // once: the per-grant and per-address stream limits (on by default) are lifted, as nginx
      // runs with no limit_conn, so the figures are the data path's and not the limits' refusals.
      MAX_STREAMS_PER_GRANT: '0',
      MAX_STREAMS_PER_ADDRESS: '0',
      ...(process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL } : {}),
      // `ACTIVITY_RETENTION_DAYS=0 npm run bench` measures the data path without the activity record.
      ...(process.env.ACTIVITY_RETENTION_DAYS ? { ACTIVITY_RETENTION_DAYS: process.env.ACTIVITY_RETENTION_DAYS } : {}),
      ...env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  // Kept to explain a failed start; not echoed, since every stream a client drops prints a line.
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr = (stderr + chunk).slice(-4000)));
  const stop = async () => {
    await stopChild(child);
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    // A launcher (valgrind) runs the server many times slower than Node alone.
    await waitForPort(port, child, options.launcher ? 300_000 : 30_000);
    const token = await accessToken(url, `http://127.0.0.1:${upstream.port}/mcp`);
    return {
      name: options.name ?? 'key2oauth',
      url,
      endpoint: { origin: url, path: new URL(token.endpoint).pathname, authorization: `Bearer ${token.accessToken}` },
      proxyPid: child.pid!,
      cpuMicros: () => cpuMicros(child.pid!),
      fresh: () => startKey2OAuth(upstream, env, { ...(options.name ? { name: options.name } : {}) }),
      stop,
    };
  } catch (error) {
    await stop();
    throw new Error(`Key2OAuth did not start for the bench: ${(error as Error).message}\n${stderr}`);
  }
}

/**
 * A second access on the same Key2OAuth process, restricted to the one tool the load calls
 * (`tools=chosen`, `tool=echo`: docs/tools-and-activity.md), so the bench reports what a
 * tool-filtered grant costs per message beside an unrestricted one (issue 24, item 5). Same
 * process, same CPU counter, measured in its own runs; no memory figures of its own.
 */
export async function toolFilteredAccess(key2oauth: Started & { url: string }, upstream: UpstreamProcess): Promise<Started> {
  const token = await accessToken(key2oauth.url, `http://127.0.0.1:${upstream.port}/mcp`, { tools: 'chosen', tool: 'echo' });
  const { cpuMicros } = key2oauth;
  return {
    name: 'key2oauth-tools',
    endpoint: { origin: key2oauth.url, path: new URL(token.endpoint).pathname, authorization: `Bearer ${token.accessToken}` },
    ...(cpuMicros ? { cpuMicros } : {}),
    stop: async () => {},
  };
}

/** Creates an endpoint for `upstreamUrl` on our server at `url` and walks the OAuth flow to a token for it. */
export async function accessToken(
  url: string,
  upstreamUrl: string,
  consent: Record<string, string> = {},
): Promise<{ endpoint: string; accessToken: string }> {
  const created = await fetch(`${url}/api/slugs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ upstream_url: upstreamUrl, transport: 'streamable-http' }),
  });
  const body = (await created.json()) as { mcp_endpoint?: string };
  if (created.status !== 201 || !body.mcp_endpoint)
    throw new Error(`creating the endpoint answered ${created.status}: ${JSON.stringify(body)}`);
  const redirectUri = 'http://127.0.0.1:9/callback';
  const client = await register(fetch, `${url}/oauth/register`, { client_name: 'bench', redirect_uris: [redirectUri] });
  if (!client.clientId) throw new Error(`registration answered ${client.status}: ${JSON.stringify(client.body)}`);
  const { verifier, challenge } = pkce();
  const approval = await approve(
    fetch,
    authorizationUrl(`${url}/authorize`, { clientId: client.clientId, redirectUri, challenge, resource: body.mcp_endpoint }),
    { api_key: BENCH_KEY, action: 'approve', ...consent },
  );
  if (!approval.ok) throw new Error(`the approval gave no code: ${approval.problem}`);
  const answer = await exchangeCode(fetch, `${url}/oauth/token`, {
    code: approval.code,
    verifier,
    clientId: client.clientId,
    redirectUri,
    resource: body.mcp_endpoint,
  });
  if (!answer.body.access_token) throw new Error(`the code exchange answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  return { endpoint: body.mcp_endpoint, accessToken: answer.body.access_token };
}

/** Resolves once anything answers HTTP on `port` (any status), or throws if `child` exits first. */
export async function waitForPort(port: number, child: ChildProcess, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${child.spawnfile} exited before listening`);
    try {
      await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(1000) });
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`nothing listened on ${port} within ${timeoutMs / 1000} s`);
      await new Promise((wait) => setTimeout(wait, 50));
    }
  }
}

export async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}
