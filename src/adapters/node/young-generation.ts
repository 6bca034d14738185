import inspector from 'node:inspector';

/**
 * The server runs with V8's young generation capped at 16 MiB per semi-space, whichever way it
 * was started (`npm start`, `key2oauth serve`, the container, a cluster worker).
 *
 * Why: from Node 22 on, V8 sizes the young generation from the heap limit; on a machine with a few
 * GiB of memory each semi-space may grow to 64 MiB. A burst of requests that stay open (5,000 idle
 * event streams) survives every scavenge, so V8 grows it to that size and the process keeps the
 * memory: in `npm run bench` this cost 40 KiB of RSS per idle stream against 26 KiB with the cap.
 * 16 MiB is what Node 20 and earlier used on 64-bit machines; the per-message CPU measured the same
 * with it (smaller caps, 8 and 4 MiB, cost 10–16% more CPU per message in scavenges).
 *
 * How: V8 reads the size only when the process starts, so a server started without it replaces its
 * own process image with one started with it (`process.execve`: same PID, same arguments,
 * environment and open descriptors, so a service manager and a log pipe see one process). Left
 * as it is: a process already given a size (in its flags or NODE_OPTIONS, which lets an operator
 * choose another), one with a debugger attached (the new image would drop the session), and a
 * platform without execve (Windows).
 */
export const YOUNG_GENERATION_FLAG = '--max-semi-space-size=16';

const SIZED = /(^|\s)--max-semi-space-size(=|\s|$)/;

/** Restarts this process under YOUNG_GENERATION_FLAG when it needs to (above); returns when it does not. */
export function runWithYoungGenerationCap(): void {
  if (!needsRestart(process.execArgv, process.env.NODE_OPTIONS, inspector.url() !== undefined)) return;
  if (typeof process.execve !== 'function') return;
  process.execve(process.execPath, [process.execPath, YOUNG_GENERATION_FLAG, ...process.execArgv, ...process.argv.slice(1)], process.env);
}

/** Whether a process started with these flags lacks a young-generation size and can take one. */
export function needsRestart(execArgv: readonly string[], nodeOptions: string | undefined, debugging: boolean): boolean {
  if (debugging) return false;
  if (execArgv.some((flag) => flag.startsWith('--max-semi-space-size'))) return false;
  return !SIZED.test(nodeOptions ?? '');
}
