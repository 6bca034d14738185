import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { removeOnExit } from './exit-cleanup.ts';
import { processGroup } from './process-group.ts';
import { freePort } from './server-process.ts';

/**
 * The real Worker (wrangler.jsonc, src/adapters/cloudflare/worker.ts) under `wrangler dev`:
 * workerd with local KV and Durable Objects persisted to a temp dir, on a free loopback port.
 * Nothing leaves the machine: no remote bindings, no metrics, no update check, no Request.cf
 * download. The process group is killed on stop, so no workerd outlives the test; a group that was
 * never stopped (a test abandoned by its timeout) is killed when the test process exits.
 *
 * No coverage: the Worker's code runs in workerd, whose V8 reports no coverage to Node, and
 * wrangler's own would only be noise (about 200 MiB of it per run). Node carries NODE_V8_COVERAGE
 * into a child's env even when the env is given, so it is emptied below, which turns it off.
 */
export interface WorkerProcess {
  url: string;
  persistDir: string;
  /** Milliseconds from spawn until /healthz answered. */
  startupMs: number;
  output(): string;
  /** Processes of wrangler's group still running (zombies awaiting their reaper do not count). */
  livingProcesses(): number[];
  stop(): Promise<void>;
}

const WRANGLER = resolve('node_modules/wrangler/bin/wrangler.js');

/** Everything wrangler would otherwise fetch or send over the network, turned off. */
export const OFFLINE_WRANGLER_ENV = {
  WRANGLER_SEND_METRICS: 'false',
  WRANGLER_SEND_ERROR_REPORTS: 'false',
  DO_NOT_TRACK: '1',
  // The banner is where wrangler asks the registry for a newer version.
  WRANGLER_HIDE_BANNER: 'true',
  WRANGLER_NO_SKILLS_UPDATE_PROMPTS: 'true',
  // miniflare otherwise downloads a sample `request.cf` object from workers.cloudflare.com.
  CLOUDFLARE_CF_FETCH_ENABLED: 'false',
};

/** `anyAnswer`: ready once /healthz answers at all (a misconfigured Worker answers 500 there). */
export async function startWorker(
  vars: Record<string, string> = {},
  options: { port?: number; persistDir?: string; anyAnswer?: boolean } = {},
): Promise<WorkerProcess> {
  const port = options.port ?? (await freePort());
  const inspectorPort = await freePort();
  const persistDir = options.persistDir ?? removeOnExit(mkdtempSync(join(tmpdir(), 'key2oauth-worker-')));
  const url = `http://localhost:${port}`;
  const allVars = { PUBLIC_URL: url, ALLOW_PRIVATE_UPSTREAMS: 'true', LOG_LEVEL: 'debug', ...vars };
  const args = [
    WRANGLER,
    'dev',
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
    ...Object.entries(allVars).flatMap(([name, value]) => ['--var', `${name}:${value}`]),
  ];
  const started = Date.now();
  const child: ChildProcess = spawn(process.execPath, args, {
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? tmpdir(),
      WRANGLER_LOG_PATH: join(persistDir, 'logs'),
      NODE_V8_COVERAGE: '',
      ...OFFLINE_WRANGLER_ENV,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group: wrangler starts workerd children, and stop() ends them all.
    detached: true,
  });
  const group = processGroup(child);
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const stop = group.stop;

  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      // wrangler is gone, but a workerd it started may not be.
      await stop();
      throw new Error(`wrangler dev exited early:\n${output}`);
    }
    try {
      const response = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(5000) });
      if (response.ok || options.anyAnswer) break;
    } catch {}
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`wrangler dev did not become healthy:\n${output}`);
    }
    await new Promise((done) => setTimeout(done, 100));
  }
  return {
    url,
    persistDir,
    startupMs: Date.now() - started,
    output: () => output,
    livingProcesses: group.living,
    stop: async () => {
      await stop();
      if (!options.persistDir) rmSync(persistDir, { recursive: true, force: true });
    },
  };
}
