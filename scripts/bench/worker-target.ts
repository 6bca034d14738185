/**
 * Our Worker as `npm run dev:worker` runs it (wrangler.jsonc: workerd, local KV and the Durable
 * Object) under `wrangler dev`, offline, with an endpoint for the bench upstream and an access token
 * from the real OAuth flow, like the Node server in targets.ts.
 */
import { freePort } from '../../test/support/server-process.ts';
import { startWorker } from '../../test/support/worker-process.ts';
import { totalCpuMicros, wranglerInspectorPort, wranglerWorkerd } from './proc.ts';
import { accessToken, type Started, type UpstreamProcess } from './targets.ts';

export async function startOurWorker(upstream: UpstreamProcess): Promise<Started> {
  const port = await freePort();
  // The issuer on the address the load generator uses, so the token's audience is what it calls.
  const url = `http://127.0.0.1:${port}`;
  const worker = await startWorker(
    {
      PUBLIC_URL: url,
      // As for the Node server: no access log (nginx's `access_log off`), and no per-grant or
      // per-address stream limits, since one grant from one address opens 64 requests at once.
      LOG_LEVEL: 'warn',
      MAX_STREAMS_PER_GRANT: '0',
      MAX_STREAMS_PER_ADDRESS: '0',
    },
    { port },
  );
  try {
    const token = await accessToken(url, `http://127.0.0.1:${upstream.port}/mcp`);
    const inspectorPort = wranglerInspectorPort(worker.livingProcesses());
    return workerStarted(
      'key2oauth-worker',
      { port, ...(inspectorPort ? { inspectorPort } : {}), livingProcesses: worker.livingProcesses, stop: worker.stop },
      { origin: url, path: new URL(token.endpoint).pathname, authorization: `Bearer ${token.accessToken}` },
    );
  } catch (error) {
    await worker.stop();
    throw new Error(`our Worker did not start for the bench: ${(error as Error).message}\n${worker.output().slice(-4000)}`);
  }
}

/** A Worker under `wrangler dev` as a bench target: its CPU is that of the group's workerd processes. */
export function workerStarted(
  name: string,
  wrangler: { port: number; inspectorPort?: number; livingProcesses(): number[]; stop(): Promise<void> },
  endpoint: Started['endpoint'],
): Started {
  const group = wrangler.livingProcesses();
  const { front, worker } = wranglerWorkerd(group, wrangler.port);
  if (worker.length === 0) throw new Error(`no workerd running the Worker among wrangler's processes ${group.join(', ')}`);
  return {
    name,
    endpoint,
    cpuMicros: () => totalCpuMicros([...front, ...worker]),
    workerCpuMicros: () => totalCpuMicros(worker),
    ...(wrangler.inspectorPort ? { inspectorPort: wrangler.inspectorPort } : {}),
    stop: wrangler.stop,
  };
}
