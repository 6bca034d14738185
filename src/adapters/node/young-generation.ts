import inspector from 'node:inspector';

/**
 * The server runs with V8's young generation capped at 16 MiB per semi-space, whichever way it
 * was started (`npm start`, `key2oauth serve`, the container, a cluster worker).
 *
 * Why: the V8 of Node 24 sizes the young generation from the heap limit; on our 24 GB test machine
 * each semi-space may grow to 64 MiB (Node 20's stopped at 16). A burst of requests that stay
 * open (5,000 idle event streams) survives every scavenge, so V8 grows it to that size and the
 * process keeps the memory: in `npm run bench` this cost 38–40 KiB of RSS per idle stream against
 * 25–26 KiB with the cap. 16 MiB is what Node 20 used on 64-bit machines; CPU per message measured
 * the same with it in paired runs, where caps of 8 and 4 MiB cost 10% and 16% more (scavenges then
 * promote requests still in flight).
 *
 * How: V8 reads the size only when the process starts, so a server started without it replaces its
 * own process image with one started with it (`process.execve`: same PID, same arguments,
 * environment and open descriptors, so a service manager and a log pipe see one process). Left
 * as it is: a process already given a size (in its flags or NODE_OPTIONS, which lets an operator
 * choose another), one with a debugger attached (the new image would drop the session), and a
 * platform without execve (Windows), or where it fails.
 */
export const YOUNG_GENERATION_FLAG = '--max-semi-space-size=16';

/** The flag itself (`=N`, or its value as the next word), not a longer name that starts like it. */
const SIZED = /(^|\s)--max-semi-space-size(=|\s|$)/;

/** Restarts this process under YOUNG_GENERATION_FLAG when it needs to (above); returns when it does not. */
export function runWithYoungGenerationCap(): void {
  if (!needsRestart(process.execArgv, process.env.NODE_OPTIONS, inspector.url() !== undefined)) return;
  if (process.platform === 'win32' || typeof process.execve !== 'function') return;
  try {
    process.execve(process.execPath, [process.execPath, YOUNG_GENERATION_FLAG, ...process.execArgv, ...process.argv.slice(1)], process.env);
  } catch {
    // execve failed and this process goes on as it was: a server with Node's default young
    // generation is a server that uses more memory, not one that fails to start.
  }
}

/** Whether a process started with these flags lacks a young-generation size and can take one. */
export function needsRestart(execArgv: readonly string[], nodeOptions: string | undefined, debugging: boolean): boolean {
  if (debugging) return false;
  if (execArgv.some((flag) => SIZED.test(flag))) return false;
  return !SIZED.test(nodeOptions ?? '');
}
