import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';

/**
 * `WORKERS`: several server processes on one port, as nginx runs `worker_processes`. Each worker
 * is a whole server with its own SQLite connection to the same file (WAL, busy timeout: see
 * sqlite.ts), so everything shared — grants, endpoints, rate-limit counters (one SQL statement
 * each, so still exact) — lives in the file, and a request may land on any worker.
 *
 * Connections are spread by the kernel: each worker listens on its own SO_REUSEPORT socket
 * (server.ts), which the kernel balances by connection hash, rather than being handed out one by
 * one by this primary process, which would touch every connection and become a bottleneck.
 */
export function workerCount(setting: number | 'auto'): number {
  return setting === 'auto' ? availableParallelism() : setting;
}

/** A worker that dies this soon after starting is failing to start, not crashing: stop instead of looping. */
const STARTUP_FAILURE_MS = 5_000;

/** Runs in the primary: starts `count` workers, replaces one that crashes, and stops them all on SIGTERM/SIGINT. */
export function runPrimary(count: number): void {
  const startedAt = new Map<number, number>();
  const fork = () => {
    const worker = cluster.fork();
    startedAt.set(worker.id, Date.now());
  };
  for (let i = 0; i < count; i++) fork();

  let stopping = false;
  let exitCode = 0;
  const living = () => Object.values(cluster.workers ?? {}).filter((worker) => worker && !worker.isDead());
  cluster.on('exit', (worker, code, signal) => {
    const ranFor = Date.now() - (startedAt.get(worker.id) ?? 0);
    startedAt.delete(worker.id);
    if (stopping) {
      if (living().length === 0) process.exit(exitCode);
      return;
    }
    if (ranFor < STARTUP_FAILURE_MS) {
      console.error(`key2oauth: a worker exited (${signal ?? code}) while starting; stopping`);
      stop('SIGTERM', 1);
      return;
    }
    console.error(`key2oauth: worker ${worker.process.pid} exited (${signal ?? code}); starting another`);
    fork();
  });

  const stop = (signal: NodeJS.Signals, code = 0) => {
    if (stopping) return;
    stopping = true;
    exitCode = code;
    const workers = living();
    if (workers.length === 0) process.exit(exitCode);
    for (const worker of workers) worker!.process.kill(signal);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
