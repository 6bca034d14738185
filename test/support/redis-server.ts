import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killOnExit, removeOnExit } from './exit-cleanup.ts';
import { freePort } from './server-process.ts';

/**
 * A real redis-server (Debian's package; .ci/run installs it) on a free loopback port, with its
 * config and data in a temp dir, persistence on (AOF) as docs/replicas.md advises.
 * `stop()` and `start()` again keep the port and the data: a Redis restart, as an outage test needs.
 */
export interface RedisServer {
  url: string;
  port: number;
  start(): Promise<void>;
  /** SIGTERM: Redis finishes its AOF and exits, as `systemctl stop` does. */
  stop(): Promise<void>;
  /** SIGSTOP / SIGCONT: Redis keeps its connections open but answers nothing (a hung host, a partition). */
  freeze(): void;
  thaw(): void;
}

export function redisAvailable(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** `appendfsync`: `everysec` as docs/replicas.md advises (a SIGTERM stop still writes everything out), or `always`. */
export async function startRedis(options: { appendfsync?: 'always' | 'everysec' } = {}): Promise<RedisServer> {
  const port = await freePort();
  const dir = removeOnExit(mkdtempSync(join(tmpdir(), 'key2oauth-redis-')));
  const config = join(dir, 'redis.conf');
  writeFileSync(
    config,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      `dir ${dir}`,
      'appendonly yes',
      `appendfsync ${options.appendfsync ?? 'everysec'}`,
      'save ""',
      'daemonize no',
      'protected-mode yes',
      'loglevel warning',
      'logfile ""',
    ].join('\n'),
  );
  let child: ChildProcess | undefined;
  let output = '';

  async function start(): Promise<void> {
    output = '';
    child = spawn('redis-server', [config], { stdio: ['ignore', 'pipe', 'pipe'] });
    killOnExit(child);
    child.stdout!.on('data', (chunk) => (output += chunk));
    child.stderr!.on('data', (chunk) => (output += chunk));
    const deadline = Date.now() + 10_000;
    while (!(await answersPing(port))) {
      if (child.exitCode !== null) throw new Error(`redis-server exited:\n${output}`);
      if (Date.now() > deadline) throw new Error(`redis-server did not start:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 30));
    }
  }

  async function stop(): Promise<void> {
    const running = child;
    if (!running || running.exitCode !== null || (running.signalCode !== null && running.signalCode !== 'SIGSTOP')) return;
    running.kill('SIGCONT');
    const exited = new Promise((resolve) => running.once('exit', resolve));
    running.kill('SIGTERM');
    const timer = setTimeout(() => running.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }

  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    start,
    stop,
    freeze: () => child?.kill('SIGSTOP'),
    thaw: () => child?.kill('SIGCONT'),
  };
}

/** A PING answered with PONG (not LOADING): the server is ready for commands. */
function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let reply = '';
    socket.setTimeout(1000, () => socket.destroy());
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk;
      if (reply.includes('\r\n')) {
        socket.end();
        resolve(reply.startsWith('+PONG'));
      }
    });
    socket.on('error', () => resolve(false));
    socket.on('close', () => resolve(false));
  });
}
