import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';

/**
 * The last line of defence for what a test file starts outside its own process. Tests stop what
 * they start (after hooks, `t.after`, `finally`); but a test that times out is abandoned where it
 * hangs, so a server still starting when the timeout struck, or a `finally` that is never reached,
 * would outlive the run. When this test process exits (by itself, or ended by file-exit.ts a
 * second after its tests and `after` hooks are done), every child still registered is killed with
 * SIGKILL, its whole process group where it has one, and every registered temp dir is removed.
 *
 * SIGKILL of the test process itself runs no handler: test/run.ts then kills the process tree.
 */
const children = new Map<number, { group: boolean }>();
const dirs = new Set<string>();

process.on('exit', () => {
  for (const [pid, { group }] of children) {
    try {
      process.kill(group ? -pid : pid, 'SIGKILL');
    } catch {}
  }
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true, maxRetries: 2 });
});

/**
 * Kills `child` (with `group`: its process group, for a detached child that starts children of
 * its own) if it is still registered when the test process exits. The returned function forgets
 * it again, for the group once every member is known to be gone; a child without a group is
 * forgotten by itself when it exits.
 */
export function killOnExit(child: ChildProcess, options: { group?: boolean } = {}): () => void {
  const pid = child.pid;
  if (pid === undefined) return () => {};
  const group = options.group ?? false;
  children.set(pid, { group });
  const forget = () => void children.delete(pid);
  if (!group) child.once('exit', forget);
  return forget;
}

/** Removes `dir` when the test process exits, if nothing removed it before. */
export function removeOnExit(dir: string): string {
  dirs.add(dir);
  return dir;
}
