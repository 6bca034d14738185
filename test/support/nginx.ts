import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killOnExit, removeOnExit } from './exit-cleanup.ts';
import { freePort } from './server-process.ts';

/**
 * A real nginx (Debian's nginx-light; .ci/run installs it) in the foreground (`daemon off`), with
 * its prefix, config, pid and logs in a temp dir: no system service is touched. The site config
 * is docs/nginx-replicas.conf, the README's, with only what a test must change: the replicas'
 * ports, a loopback listen address instead of 443, and no TLS certificate.
 */
export const NGINX_SITE = new URL('../../docs/nginx-replicas.conf', import.meta.url);

const NGINX_BINARIES = ['/usr/sbin/nginx', 'nginx'];

export function nginxBinary(): string | undefined {
  return NGINX_BINARIES.find((binary) => (binary.startsWith('/') ? existsSync(binary) : spawnSync(binary, ['-v']).status === 0));
}

export interface Nginx {
  url: string;
  stop(): Promise<void>;
}

/** The README's site config for these replica ports, listening on `port` without TLS. */
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

export async function startNginx(replicaPorts: number[], listenPort?: number): Promise<Nginx> {
  const binary = nginxBinary();
  if (!binary) throw new Error('nginx is not installed (apt-get install nginx-light)');
  const port = listenPort ?? (await freePort());
  const prefix = removeOnExit(mkdtempSync(join(tmpdir(), 'key2oauth-nginx-')));
  // Run as root, nginx's workers are `nobody`: they must be able to reach the temp paths.
  chmodSync(prefix, 0o755);
  mkdirSync(join(prefix, 'tmp'), { mode: 0o777 });
  chmodSync(join(prefix, 'tmp'), 0o777);
  const config = join(prefix, 'nginx.conf');
  writeFileSync(
    config,
    `worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 512; }
http {
  access_log off;
  client_body_temp_path ${prefix}/tmp/body;
  proxy_temp_path ${prefix}/tmp/proxy;
${siteConfig(replicaPorts, port)}
}
`,
  );
  const child: ChildProcess = spawn(binary, ['-p', prefix, '-c', config, '-g', 'daemon off;'], { stdio: ['ignore', 'pipe', 'pipe'] });
  killOnExit(child);
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited:\n${output}${readLog(prefix)}`);
    try {
      await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) });
      break;
    } catch {}
    if (Date.now() > deadline) throw new Error(`nginx did not start:\n${output}${readLog(prefix)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    url,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGQUIT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

function readLog(prefix: string): string {
  try {
    return readFileSync(join(prefix, 'error.log'), 'utf8');
  } catch {
    return '';
  }
}
