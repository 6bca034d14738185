import { existsSync, readdirSync, readFileSync } from 'node:fs';

/**
 * The memory limit of a stdio server's process (docs/stdio.md), as this host allows it. The
 * kernel's own limits do not fit: `RLIMIT_AS` and `RLIMIT_DATA` count address space, which V8
 * reserves by the gigabyte, so Node fails at start under any useful value; a cgroup needs a
 * writable cgroup v2 hierarchy delegated to us, which many hosts (and containers) do not give.
 *
 * So the supervisor measures: every `SAMPLE_MS` it adds up the resident memory (`VmRSS` of
 * /proc/PID/status) of the sandbox's whole process tree, the spawned process and everything below
 * it (found through /proc/PID/task/TID/children), and a tree over its limit is killed. What it
 * bounds is resident memory, sampled: a process that allocates faster than the interval can go
 * past the limit by what it takes in one interval before it is stopped, and pages shared between
 * processes of one tree count once per process.
 */

/** How often every watched tree is measured. */
export const SAMPLE_MS = 250;

const MB = 1024 * 1024;

interface Watch {
  limitBytes: number;
  over: (residentMb: number, tree: number[]) => void;
}

const watched = new Map<number, Watch>();
let timer: NodeJS.Timeout | undefined;

/**
 * Measures the tree below `pid` every SAMPLE_MS; the first time it holds more than `limitMb`
 * resident, `over` runs once (with what it held and the pids of the tree) and the watch ends.
 * Returns the function that ends it before that (the process stopped another way).
 */
export function watchMemory(pid: number, limitMb: number, over: Watch['over']): () => void {
  watched.set(pid, { limitBytes: limitMb * MB, over });
  // One timer for every process, running only while there is one to watch.
  timer ??= setInterval(sample, SAMPLE_MS).unref();
  return () => unwatch(pid);
}

function unwatch(pid: number): void {
  watched.delete(pid);
  if (watched.size === 0 && timer) {
    clearInterval(timer);
    timer = undefined;
  }
}

function sample(): void {
  for (const [pid, watch] of watched) {
    const tree = processTree(pid);
    const resident = tree.reduce((sum, member) => sum + residentBytes(member), 0);
    if (resident <= watch.limitBytes) continue;
    unwatch(pid);
    watch.over(Math.round(resident / MB), tree);
  }
}

/** `pid` and every process below it (empty when it is gone). */
export function processTree(pid: number): number[] {
  if (!existsSync(`/proc/${pid}`)) return [];
  const tree: number[] = [];
  const parents = CHILDREN_FILES ? undefined : parentsOfAll();
  for (const pending = [pid]; pending.length > 0; ) {
    const at = pending.pop()!;
    if (tree.includes(at)) continue;
    tree.push(at);
    pending.push(...(parents ? childrenFromParents(parents, at) : childrenOf(at)));
  }
  return tree;
}

/** Resident bytes of one process; 0 when it has gone (or is a zombie, which has none). */
export function residentBytes(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * A process's children, from each of its threads' `children` file (a child is listed under the
 * thread that forked it). The file exists on kernels built with CONFIG_PROC_CHILDREN (Debian's,
 * Ubuntu's, Fedora's, …); without it, every process's parent is read from /proc instead.
 */
const CHILDREN_FILES = existsSync(`/proc/self/task/${process.pid}/children`);

function childrenOf(pid: number): number[] {
  let threads: string[];
  try {
    threads = readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  return threads.flatMap((thread) => {
    try {
      return readFileSync(`/proc/${pid}/task/${thread}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
    } catch {
      return [];
    }
  });
}

function parentsOfAll(): Map<number, number> {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid …; comm may hold spaces and parentheses, so read after the last ')'.
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {}
  }
  return parents;
}

function childrenFromParents(parents: Map<number, number>, pid: number): number[] {
  return [...parents].filter(([, parent]) => parent === pid).map(([child]) => child);
}
