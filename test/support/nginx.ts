import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killOnExit, removeOnExit } from './exit-cleanup.ts';

/**
 * A real nginx in front of the server, as self-hosters run one: started in the foreground
 * (`daemon off`) with its own configuration, logs and temp paths in a temp dir, on loopback ports
 * the caller chose. `servers` is the body of the `http` block (server blocks). `.ci/run` installs
 * nginx-light when it is missing.
 */
export interface Nginx {
  output(): string;
  stop(): Promise<void>;
}

export async function startNginx(servers: string, ports: number[]): Promise<Nginx> {
  const dir = removeOnExit(mkdtempSync(join(tmpdir(), 'key2oauth-nginx-')));
  const config = `
error_log ${dir}/error.log warn;
pid ${dir}/nginx.pid;
worker_processes 1;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  ${servers}
}
`;
  writeFileSync(join(dir, 'nginx.conf'), config);
  // Debian puts it in /usr/sbin, which is not on every user's PATH.
  const binary = existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx';
  const child: ChildProcess = spawn(binary, ['-e', `${dir}/error.log`, '-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const forget = killOnExit(child, { group: true });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
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
      if (child.exitCode !== null) throw new Error(`nginx exited: ${output}`);
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
        throw new Error(`nginx did not listen on ${port}: ${output}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return { output: () => output, stop };
}
