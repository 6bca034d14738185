/** What /proc says about a process: CPU time used so far and resident memory (Linux only). */
import { readFileSync } from 'node:fs';

/** Clock ticks per second for /proc/PID/stat's utime and stime: 100 on every Linux we run on. */
const TICKS_PER_SECOND = 100;

/** User plus system CPU time of `pid`, in microseconds (10 ms resolution). */
export function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces; fields are counted after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1e6) / TICKS_PER_SECOND;
}

/** Resident set size of `pid`, in bytes. */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+) kB/m.exec(status);
  return match ? Number(match[1]) * 1024 : 0;
}

/** The children of `pid` (nginx's workers under its master). */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * The workerd processes among `pids` (a `wrangler dev` process group), split by role: `front` is
 * wrangler's own proxy, the workerd listening on the public `port`, which every request passes
 * through on its way in; `worker` is the one running the Worker (and miniflare's local KV and
 * Durable Objects beside it).
 */
export function wranglerWorkerd(pids: number[], port: number): { front: number[]; worker: number[] } {
  const front: number[] = [];
  const worker: number[] = [];
  for (const pid of pids) {
    let comm: string;
    let cmdline: string;
    try {
      comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
    } catch {
      continue;
    }
    if (comm !== 'workerd') continue;
    (cmdline.includes(`--socket-addr=entry=127.0.0.1:${port} `) ? front : worker).push(pid);
  }
  return { front, worker };
}

/** The sum of `cpuMicros` over `pids`. */
export function totalCpuMicros(pids: number[]): number {
  return pids.reduce((sum, pid) => sum + cpuMicros(pid), 0);
}

/** The --inspector-port that `wrangler dev` was started with, read from its command line among `pids`. */
export function wranglerInspectorPort(pids: number[]): number | undefined {
  for (const pid of pids) {
    let args: string[];
    try {
      args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    const at = args.indexOf('--inspector-port');
    if (at >= 0 && args.some((arg) => arg.endsWith('wrangler.js'))) return Number(args[at + 1]);
  }
  return undefined;
}
