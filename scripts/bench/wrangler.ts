/**
 * `wrangler dev --local` of any Worker config (the seed's, the passthrough's), started the way
 * test/support/worker-process.ts starts ours: our wrangler and so the same workerd, offline, the
 * same log level, local storage persisted to a temp dir, in its own process group so that stop()
 * ends its workerd processes too.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { removeOnExit } from '../../test/support/exit-cleanup.ts';
import { processGroup } from '../../test/support/process-group.ts';
import { freePort } from '../../test/support/server-process.ts';
import { OFFLINE_WRANGLER_ENV } from '../../test/support/worker-process.ts';
import { waitForPort } from './targets.ts';

/** Our wrangler, so every Worker in the bench runs on exactly the workerd ours runs on. */
export const WRANGLER = resolve(import.meta.dirname, '../../node_modules/wrangler/bin/wrangler.js');

export interface WranglerDev {
  port: number;
  /** The inspector (Chrome DevTools protocol) of the Worker, through wrangler's proxy. */
  inspectorPort: number;
  /** Processes of wrangler's group still running. */
  livingProcesses(): number[];
  output(): string;
  stop(): Promise<void>;
}

/** The environment of every wrangler command the bench runs: nothing reaches the network. */
export function wranglerEnv(persistDir: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? tmpdir(),
    WRANGLER_LOG_PATH: join(persistDir, 'logs'),
    NODE_V8_COVERAGE: '',
    ...OFFLINE_WRANGLER_ENV,
  };
}

/**
 * Starts `config` and resolves once it answers HTTP (any status). `persistDir` (made when not
 * given) is removed on stop; `vars` become Worker vars; `main` (an absolute path) replaces the
 * config's entry module, its bindings kept.
 */
export async function startWranglerDev(
  config: string,
  options: { persistDir?: string; vars?: Record<string, string>; main?: string } = {},
): Promise<WranglerDev> {
  const port = await freePort();
  const inspectorPort = await freePort();
  const persistDir = removeOnExit(options.persistDir ?? mkdtempSync(join(tmpdir(), 'key2oauth-bench-wrangler-')));
  const args = [
    WRANGLER,
    'dev',
    ...(options.main ? [options.main] : []),
    '--config',
    config,
    '--local',
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    '--inspector-port',
    String(inspectorPort),
    '--persist-to',
    persistDir,
    '--show-interactive-dev-session=false',
    '--log-level',
    'log',
    ...Object.entries(options.vars ?? {}).flatMap(([name, value]) => ['--var', `${name}:${value}`]),
  ];
  const child: ChildProcess = spawn(process.execPath, args, {
    cwd: resolve(config, '..'),
    env: wranglerEnv(persistDir),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const group = processGroup(child);
  // Kept to explain a failed start; every request prints a line, so only the tail.
  let output = '';
  const keep = (chunk: Buffer) => (output = (output + chunk).slice(-8000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const stop = async () => {
    await group.stop();
    rmSync(persistDir, { recursive: true, force: true });
  };
  try {
    await waitForPort(port, child, 60_000);
  } catch (error) {
    await stop();
    throw new Error(`wrangler dev of ${config} did not answer: ${(error as Error).message}\n${output}`);
  }
  return {
    port,
    inspectorPort,
    livingProcesses: group.living,
    output: () => output,
    stop,
  };
}
