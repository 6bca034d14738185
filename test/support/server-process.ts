import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { killOnExit, removeOnExit } from './exit-cleanup.ts';

/**
 * The real Key2OAuth server as a user runs it (`npm start`'s entry), in its own process, on a
 * free loopback port, with its own data directory (removed when the test process exits). A server
 * a test never stopped is killed then too (exit-cleanup.ts).
 */
export interface ServerProcess {
  url: string;
  /** The server's process id (with WORKERS > 1, the primary's). */
  pid: number;
  dataDir: string;
  /** Everything the server printed, stdout and stderr. */
  output(): string;
  /**
   * Sends `signal` (SIGTERM: the graceful shutdown, which gives open streams 10 s) and resolves
   * with the exit code; a server still running STOP_TIMEOUT_MS later is killed (null then).
   */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Longer than the server's own shutdown grace (SHUTDOWN_GRACE_MS, 10 s), so it is never cut short. */
const STOP_TIMEOUT_MS = 15_000;

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * Polls `url`/healthz every 50 ms: true once it answers 2xx, false when `child` exits first or
 * `timeoutMs` passes. For a server a test starts itself (startServer, or a command that runs one).
 */
export async function becameHealthy(url: string, child: ChildProcess, timeoutMs = 20_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) return false;
    try {
      const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) });
      if (response.ok) return true;
    } catch {}
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * `nodeArgs`: flags for node itself, before the entry (e.g. `--import` of a test preload).
 * `openFiles`: the process's open-file limit, set as an operator would (`ulimit -n` in a shell that then execs node).
 */
export async function startServer(
  env: Record<string, string> = {},
  options: { dataDir?: string; port?: number; nodeArgs?: string[]; openFiles?: number } = {},
): Promise<ServerProcess> {
  const port = options.port ?? (await freePort());
  const dataDir = options.dataDir ?? removeOnExit(mkdtempSync(join(tmpdir(), 'key2oauth-test-')));
  const args = [...(options.nodeArgs ?? []), 'src/adapters/node/main.ts'];
  const [command, commandArgs] = options.openFiles
    ? ['sh', ['-c', `ulimit -n ${options.openFiles} && exec "$0" "$@"`, process.execPath, ...args]]
    : [process.execPath, args];
  const child: ChildProcess = spawn(command, commandArgs, {
    env: {
      PATH: process.env.PATH ?? '',
      // Set by test/run.ts --coverage (or c8): the server writes its V8 coverage there when it
      // exits, so the report includes what only the server runs. SIGTERM exits through
      // process.exit, which writes it; a server killed with SIGKILL leaves none. (Node would carry
      // the variable over into this env by itself; it is named so the dependency is plain.)
      ...(process.env.NODE_V8_COVERAGE ? { NODE_V8_COVERAGE: process.env.NODE_V8_COVERAGE } : {}),
      PORT: String(port),
      DATA_DIR: dataDir,
      ALLOW_PRIVATE_UPSTREAMS: 'true',
      LOG_LEVEL: 'debug',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  killOnExit(child);
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    try {
      return await exited;
    } finally {
      clearTimeout(timer);
    }
  };

  const url = `http://localhost:${port}`;
  if (!(await becameHealthy(url, child))) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`server exited early:\n${output}`);
    await stop('SIGKILL');
    throw new Error(`server did not become healthy:\n${output}`);
  }
  return {
    url,
    pid: child.pid!,
    dataDir,
    output: () => output,
    stop,
  };
}
