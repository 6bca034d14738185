import { readdirSync, readFileSync } from 'node:fs';

/** One process as Linux's /proc/PID/stat describes it (the fields the test harness needs). */
export interface ProcStat {
  pid: number;
  state: string;
  ppid: number;
  pgrp: number;
}

/** Every process on the machine, read from /proc (Linux only); processes that vanish mid-read are skipped. */
export function processes(): ProcStat[] {
  const found: ProcStat[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    // pid (comm) state ppid pgrp …; comm may contain spaces, so split after its closing paren.
    const [state, ppid, pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    found.push({ pid: Number(entry), state: state!, ppid: Number(ppid), pgrp: Number(pgrp) });
  }
  return found;
}
