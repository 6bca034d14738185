import type { ChildProcess } from 'node:child_process';
import { killOnExit } from './exit-cleanup.ts';
import { processes } from './proc.ts';

/**
 * A detached child that leads its own process group (wrangler, and the workerd processes it
 * starts): registered to be killed with its group if the test process exits first, stopped as a
 * group, and asked which of its members still live. Create it right after spawning.
 */
export interface ProcessGroup {
  /** SIGTERM to the group, SIGKILL after 5 s, and SIGKILL once the leader is gone (its children may still wind down). */
  stop(): Promise<void>;
  /** Linux: the pids in the group that are not zombies, read from /proc. */
  living(): number[];
}

export function processGroup(child: ChildProcess): ProcessGroup {
  const forget = killOnExit(child, { group: true });
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const kill = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {}
  };
  return {
    async stop() {
      kill('SIGTERM');
      const timer = setTimeout(() => kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
      kill('SIGKILL');
      forget();
    },
    living: () =>
      processes()
        .filter(({ pgrp, state }) => pgrp === child.pid && state !== 'Z' && state !== 'X')
        .map(({ pid }) => pid),
  };
}
