import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killOnExit, removeOnExit } from './exit-cleanup.ts';
import { freePort } from './server-process.ts';

/**
 * A real nginx in front of the server, as self-hosters run one: Debian's nginx-light (.ci/run
 * installs it), in the foreground (`daemon off`), with its prefix, configuration, pid, logs and
 * temp paths in a temp dir, on loopback ports the caller chose. No system service is touched.
 */
export interface Nginx {
  output(): string;
  stop(): Promise<void>;
}

/** Debian puts nginx in /usr/sbin, which is not on every user's PATH. */
export function nginxBinary(): string | undefined {
  return ['/usr/sbin/nginx', 'nginx'].find((binary) =>
    binary.startsWith('/') ? existsSync(binary) : spawnSync(binary, ['-v']).status === 0,
  );
}

/** Starts nginx with `servers` as the body of its `http` block, and waits until every port in `ports` answers. */
export async function startNginx(servers: string, ports: number[]): Promise<Nginx> {
  const binary = nginxBinary();
  if (!binary) throw new Error('nginx is not installed (apt-get install nginx-light)');
  const dir = removeOnExit(mkdtempSync(join(tmpdir(), 'key2oauth-nginx-')));
  // Run as root, nginx's workers are `nobody`: they must be able to reach the temp paths.
  chmodSync(dir, 0o755);
  mkdirSync(join(dir, 'tmp'), { mode: 0o777 });
  chmodSync(join(dir, 'tmp'), 0o777);
  const config = `
error_log ${dir}/error.log warn;
pid ${dir}/nginx.pid;
worker_processes 1;
events { worker_connections 512; }
http {
  access_log off;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  ${servers}
}
`;
  writeFileSync(join(dir, 'nginx.conf'), config);
  const child: ChildProcess = spawn(binary, ['-e', `${dir}/error.log`, '-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const forget = killOnExit(child, { group: true });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const log = () => {
    try {
      return readFileSync(join(dir, 'error.log'), 'utf8');
    } catch {
      return '';
    }
  };
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGTERM');
    const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
    forget();
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 10_000;
  for (const port of ports) {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`nginx exited: ${output}${log()}`);
      const up = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(1000) }).then(
        async (response) => {
          await response.body?.cancel();
          return true;
        },
        () => false,
      );
      if (up) break;
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`nginx did not listen on ${port}: ${output}${log()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return { output: () => output + log(), stop };
}

/** docs/replicas.md's replica balancer: docs/nginx-replicas.conf. */
export const NGINX_SITE = new URL('../../docs/nginx-replicas.conf', import.meta.url);

/** docs/replicas.md's site config for these replica ports, listening on `port` without TLS. */
export function siteConfig(replicaPorts: number[], port: number): string {
  const text = readFileSync(NGINX_SITE, 'utf8');
  let next = 0;
  const site = text
    .replace(/server 127\.0\.0\.1:\d+;/g, () => `server 127.0.0.1:${replicaPorts[next++]};`)
    .replace('listen 443 ssl;', `listen 127.0.0.1:${port};`)
    .replace(/^\s*ssl_certificate.*$/gm, '');
  if (next !== replicaPorts.length)
    throw new Error(`docs/nginx-replicas.conf names ${next} replicas, the test runs ${replicaPorts.length}`);
  return site;
}

/** nginx balancing the replicas as docs/replicas.md configures it; `url` is its public side. */
export async function startReplicaBalancer(replicaPorts: number[], listenPort?: number): Promise<Nginx & { url: string }> {
  const port = listenPort ?? (await freePort());
  const nginx = await startNginx(siteConfig(replicaPorts, port), [port]);
  return { ...nginx, url: `http://127.0.0.1:${port}` };
}
