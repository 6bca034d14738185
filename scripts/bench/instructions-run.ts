/**
 * `npm run bench -- --instructions`: what each proxy executes per message, counted by valgrind's
 * callgrind, the node floor beside Key2OAuth: instructions, the L1 cache misses and the branch
 * mispredictions of a simulated CPU, and where Key2OAuth executes more than the floor (by function:
 * our own, Node's and undici's JavaScript named through V8's `--perf-basic-prof` map, V8's builtins
 * and SQLite by symbol). Counted, not timed: the figures barely move with whatever else the
 * machine runs, where CPU time swings by 15% (docs/performance.md), so they judge a change of a few
 * percent. They are not CPU time: a miss or a misprediction costs cycles an instruction count does
 * not show, which is why those are counted too.
 *
 * Each process is warmed up uninstrumented (valgrind's core alone, until V8 has compiled the path:
 * about 37,000 messages here), then counted over a fixed number of messages at concurrency 16.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchRun } from './bench-run.ts';
import { fixedLoad } from './load.ts';
import { format, summarize } from './report.ts';
import { startKey2OAuth, startNodeFloor, startUpstream } from './targets.ts';

/** The events counted, as callgrind names them, and how the table labels them. */
const EVENTS = [
  ['Ir', 'instructions'],
  ['I1mr', 'L1 instruction-cache misses'],
  ['D1mr', 'L1 data-cache read misses'],
  ['Bcm', 'conditional branches mispredicted'],
  ['Bim', 'indirect branches mispredicted'],
] as const;
type Event = (typeof EVENTS)[number][0];
/** Functions listed under "where key2oauth executes more". */
const TOP = 20;

export async function runInstructionsBench(run: BenchRun): Promise<void> {
  // main.ts has checked that valgrind is here (valgrindProblem) before anything starts.
  const { rounds, quick, log } = run;
  const warmup = quick ? 2_000 : 35_000;
  const counted = quick ? 500 : 5_000;
  const dir = mkdtempSync(join(tmpdir(), 'key2oauth-bench-instructions-'));
  const upstream = await startUpstream();
  const perMessage = new Map<string, Map<Event, number[]>>();
  const byFunction = new Map<string, Map<string, number>>();
  log(
    `bench --instructions: ${rounds} round(s) of ${format(counted)} messages at c16 after ${format(warmup)} uncounted; node ${process.version}`,
  );
  try {
    // One target at a time, its rounds back to back: counts do not drift with the machine's load,
    // so nothing is gained by interleaving, and a process left idle while another is measured has
    // its memory reducer collect and age the compiled code, which it then compiles again, counted.
    for (const name of ['node-floor', 'key2oauth']) {
      const launcher = [
        'valgrind',
        '--tool=callgrind',
        // Uninstrumented until the warm-up is over (callgrind_control --instr=on): several times faster.
        '--instr-atstart=no',
        '--cache-sim=yes',
        '--branch-sim=yes',
        `--callgrind-out-file=${join(dir, `${name}.%p`)}`,
        `--log-file=${join(dir, `${name}.%p.log`)}`,
      ];
      // The young-generation size as the server sets it for itself (young-generation.ts), given here
      // so it does not restart itself out from under valgrind; the floor gets the same. No memory
      // reducer: it collects when a process looks idle by the clock, which under valgrind's slowdown
      // it often does, so full collections that a busy process never runs (none in 150,000
      // messages with --trace-gc, for either) came into some rounds and not others (±10%).
      const nodeArgs = ['--max-semi-space-size=16', '--perf-basic-prof', '--no-memory-reducer'];
      const target =
        name === 'node-floor'
          ? await startNodeFloor(upstream, { nodeArgs, launcher })
          : await startKey2OAuth(upstream, {}, { nodeArgs, launcher });
      const pid = target.proxyPid!;
      try {
        await fixedLoad(target.endpoint, 16, warmup);
        execFileSync('callgrind_control', ['--instr=on', String(pid)], { stdio: 'ignore' });
        const figures = new Map<Event, number[]>();
        perMessage.set(name, figures);
        for (let round = 0; round < rounds; round++) {
          execFileSync('callgrind_control', ['--zero', String(pid)], { stdio: 'ignore' });
          await fixedLoad(target.endpoint, 16, counted);
          execFileSync('callgrind_control', ['--dump', String(pid)], { stdio: 'ignore' });
          const file = newestDump(dir, name, pid);
          const totals = dumpTotals(file);
          for (const [event] of EVENTS) (figures.get(event) ?? figures.set(event, []).get(event)!).push((totals.get(event) ?? 0) / counted);
          if (round === rounds - 1) byFunction.set(name, instructionsByFunction(file, perfMap(pid), counted));
          log(`  ${name}, round ${round + 1}: ${format(Math.round((totals.get('Ir') ?? 0) / counted))} instructions per message`);
        }
      } finally {
        await target.stop();
        rmSync(`/tmp/perf-${pid}.map`, { force: true });
      }
    }
    log('');
    log('| per message (c16) | node-floor | key2oauth | key2oauth ÷ node-floor |');
    log('|---|---:|---:|---:|');
    for (const [event, label] of EVENTS) {
      const floor = summarize(perMessage.get('node-floor')?.get(event) ?? []);
      const ours = summarize(perMessage.get('key2oauth')?.get(event) ?? []);
      const cell = (s: typeof ours) =>
        s ? `${format(Math.round(s.median))} (${format(Math.round(s.min))}–${format(Math.round(s.max))})` : '—';
      log(`| ${label} | ${cell(floor)} | ${cell(ours)} | ${ours && floor?.median ? `${(ours.median / floor.median).toFixed(2)}×` : '—'} |`);
    }
    const floor = byFunction.get('node-floor');
    const ours = byFunction.get('key2oauth');
    if (floor && ours) {
      const more = [...new Set([...floor.keys(), ...ours.keys()])]
        .map((where) => ({ where, ours: ours.get(where) ?? 0, floor: floor.get(where) ?? 0 }))
        .sort((a, b) => b.ours - b.floor - (a.ours - a.floor))
        .slice(0, TOP);
      log('');
      log('where key2oauth executes more instructions than the floor (last round, per message: more, ours, floor):');
      for (const row of more)
        log(
          `  ${format(Math.round(row.ours - row.floor)).padStart(7)}  ${format(Math.round(row.ours)).padStart(7)}  ${format(Math.round(row.floor)).padStart(7)}  ${row.where}`,
        );
    }
  } finally {
    await upstream.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Why this run cannot go here, or undefined: valgrind and callgrind_annotate come with Debian's `valgrind`. */
export function valgrindProblem(): string | undefined {
  for (const tool of ['valgrind', 'callgrind_control', 'callgrind_annotate']) {
    // `command -v`, not `--version`: callgrind_annotate prints its version and exits non-zero.
    try {
      execFileSync('sh', ['-c', 'command -v "$1"', 'sh', tool], { stdio: 'ignore' });
    } catch {
      return `--instructions needs valgrind (${tool} not found): apt-get install -y valgrind`;
    }
  }
  return undefined;
}

/** The latest dump callgrind_control wrote for `pid` (`name.PID.N`, N counting up). */
function newestDump(dir: string, name: string, pid: number): string {
  const parts = readdirSync(dir)
    .map((file) => new RegExp(`^${name}\\.${pid}\\.(\\d+)$`).exec(file))
    .filter((match) => match !== null)
    .map((match) => Number(match[1]));
  if (parts.length === 0) throw new Error(`callgrind wrote no dump for ${name} (pid ${pid})`);
  return join(dir, `${name}.${pid}.${Math.max(...parts)}`);
}

/** A dump's totals by event (its `events:` and `summary:` lines). */
export function dumpTotals(file: string): Map<Event | string, number> {
  const text = readFileSync(file, 'utf8');
  const events = /^events: (.+)$/m.exec(text)?.[1]?.split(' ');
  const totals = /^(?:summary|totals): (.+)$/m.exec(text)?.[1]?.split(' ').map(Number);
  if (!events || !totals) throw new Error(`${file} is not a callgrind dump`);
  return new Map(events.map((event, i) => [event, totals[i] ?? 0]));
}

interface JitCode {
  start: number;
  end: number;
  name: string;
}

/** V8's map of the code it compiled (`--perf-basic-prof`): start, size and name of each piece, by start. */
function perfMap(pid: number): JitCode[] {
  let text = '';
  try {
    text = readFileSync(`/tmp/perf-${pid}.map`, 'utf8');
  } catch {
    return [];
  }
  const code: JitCode[] = [];
  for (const line of text.split('\n')) {
    const [start, size, ...name] = line.split(' ');
    if (!start || !size || name.length === 0) continue;
    const from = Number.parseInt(start, 16);
    code.push({ start: from, end: from + Number.parseInt(size, 16), name: name.join(' ') });
  }
  return code.sort((a, b) => a.start - b.start);
}

function jitName(code: JitCode[], address: number): string | undefined {
  let low = 0;
  let high = code.length - 1;
  while (low <= high) {
    const mid = (low + high) >> 1;
    if (code[mid]!.start <= address) low = mid + 1;
    else high = mid - 1;
  }
  const piece = code[high];
  return piece && address < piece.end ? piece.name : undefined;
}

/** Self instructions per message by function, from callgrind_annotate's listing of a dump. */
function instructionsByFunction(file: string, code: JitCode[], messages: number): Map<string, number> {
  const listing = execFileSync('callgrind_annotate', ['--show=Ir', '--threshold=100', file], {
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  const by = new Map<string, number>();
  for (const line of listing.split('\n')) {
    const match = /^\s*([\d,]+)(?: \([\s\d.]+%\))?\s+(\S.*)$/.exec(line);
    if (!match || match[2]!.includes('PROGRAM TOTALS')) continue;
    const where = functionName(match[2]!, code);
    by.set(where, (by.get(where) ?? 0) + Number(match[1]!.replaceAll(',', '')) / messages);
  }
  return by;
}

/**
 * A readable name: JavaScript by V8's name for it (its file under src/ or node_modules/ when it is
 * one), native code by symbol, without arguments or the object file.
 */
export function functionName(raw: string, code: JitCode[]): string {
  const address = /^\?\?\?:0x([0-9a-f]+)/.exec(raw);
  if (address) {
    const name = jitName(code, Number.parseInt(address[1]!, 16));
    if (!name) return '(code V8 did not name)';
    return name
      .replace(/^JS:[*+~^']*/, '')
      .replace(/(?:file:\/\/)?\/\S*?\/(node_modules\/|src\/|scripts\/)/, '$1')
      .replace(/:(\d+):\d+$/, ':$1');
  }
  return raw
    .replace(/ \[[^\]]*\]$/, '')
    .replace(/^[^:]*:/, '')
    .replace(/\(.*$/, '')
    .slice(0, 100);
}
