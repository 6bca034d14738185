/**
 * `npm run bench -- --alloc`: the bytes each proxy allocates per message, the node floor beside
 * Key2OAuth, in interleaved rounds (alloc-sampler.ts samples each process's allocations, collected
 * ones included, over a concurrency-16 run), and where Key2OAuth allocates them (the functions that
 * allocate the most, per message). CPU per request swings with whatever else the machine does;
 * allocation barely does, so this is the figure to judge a small change by (docs/performance.md).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { BenchRun } from './bench-run.ts';
import { closedLoop } from './load.ts';
import { format, summarize } from './report.ts';
import { type Started, startKey2OAuth, startNodeFloor, startUpstream } from './targets.ts';

const SAMPLER = resolve(import.meta.dirname, 'alloc-sampler.ts');
/** Functions listed under "where Key2OAuth allocates". */
const TOP = 15;

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: ProfileNode[];
}

export async function runAllocBench(run: BenchRun): Promise<void> {
  const { rounds, log } = run;
  const dir = mkdtempSync(join(tmpdir(), 'key2oauth-bench-alloc-'));
  const upstream = await startUpstream();
  const started: { target: Started; file: string }[] = [];
  try {
    for (const name of ['node-floor', 'key2oauth']) {
      const file = join(dir, `${name}.heapprofile`);
      const options = { nodeArgs: ['--import', SAMPLER], env: { K2O_ALLOC_OUT: file } };
      const target = name === 'node-floor' ? await startNodeFloor(upstream, options) : await startKey2OAuth(upstream, options.env, options);
      started.push({ target, file });
    }
    log(`bench --alloc: ${rounds} round(s), ${started.map(({ target }) => target.name).join(', ')}; node ${process.version}`);
    const perMessage = new Map<string, number[]>();
    let lastProfile: ProfileNode | undefined;
    for (let round = 0; round < rounds; round++) {
      for (let i = 0; i < started.length; i++) {
        const { target, file } = started[(i + round) % started.length]!;
        await closedLoop(target.endpoint, 16, Math.max(0.5, run.seconds / 2), 0);
        rmSync(file, { force: true });
        process.kill(target.proxyPid!, 'SIGUSR2');
        // The sampler starts on the signal; a moment for the inspector call to land.
        await new Promise((wait) => setTimeout(wait, 100));
        const load = await closedLoop(target.endpoint, 16, run.seconds, 0);
        process.kill(target.proxyPid!, 'SIGUSR2');
        const profile = await readProfile(file);
        const bytes = totalSelfSize(profile.head);
        (perMessage.get(target.name) ?? perMessage.set(target.name, []).get(target.name)!).push(bytes / load.total);
        if (target.name === 'key2oauth') lastProfile = profile.head;
      }
      log(`  round ${round + 1}: allocations`);
    }
    const floor = summarize(perMessage.get('node-floor') ?? [])?.median;
    log('');
    log('| figure | node-floor | key2oauth | key2oauth ÷ node-floor |');
    log('|---|---:|---:|---:|');
    const ours = summarize(perMessage.get('key2oauth') ?? []);
    const theirs = summarize(perMessage.get('node-floor') ?? []);
    const cell = (s: typeof ours) => (s ? `${format(s.median)} B (${format(s.min)}–${format(s.max)})` : '—');
    log(
      `| bytes allocated per message (c16) | ${cell(theirs)} | ${cell(ours)} | ${ours && floor ? `${(ours.median / floor).toFixed(2)}×` : '—'} |`,
    );
    if (lastProfile) {
      const requests = bytesPerFunction(lastProfile);
      const total = [...requests.values()].reduce((sum, bytes) => sum + bytes, 0);
      log('');
      log(`where key2oauth allocates (last round; share of its ${format(ours?.median ?? 0)} B per message):`);
      for (const [where, bytes] of [...requests].sort((a, b) => b[1] - a[1]).slice(0, TOP))
        log(`  ${((100 * bytes) / total).toFixed(1).padStart(5)}%  ${where}`);
    }
  } finally {
    for (const { target } of started) await target.stop();
    await upstream.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function readProfile(file: string): Promise<{ head: ProfileNode }> {
  for (let waited = 0; waited < 10_000; waited += 50) {
    if (existsSync(file)) {
      try {
        return JSON.parse(readFileSync(file, 'utf8')) as { head: ProfileNode };
      } catch {
        // Still being written: the next look reads it whole.
      }
    }
    await new Promise((wait) => setTimeout(wait, 50));
  }
  throw new Error(`no allocation profile at ${file}: was the sampler preloaded?`);
}

function totalSelfSize(node: ProfileNode): number {
  return node.children.reduce((sum, child) => sum + totalSelfSize(child), node.selfSize);
}

/** Self bytes by function (name, file and line; the file under src/ or node_modules/ when it is one). */
function bytesPerFunction(head: ProfileNode): Map<string, number> {
  const by = new Map<string, number>();
  const visit = (node: ProfileNode) => {
    const { functionName, url, lineNumber } = node.callFrame;
    const file = url.replace(/^(?:file:\/\/)?.*?\/(node_modules\/|src\/|scripts\/)/, '$1').replace(/^node:/, '');
    const where = `${functionName || '(anonymous)'} ${file}${file ? `:${lineNumber + 1}` : ''}`;
    by.set(where, (by.get(where) ?? 0) + node.selfSize);
    for (const child of node.children) visit(child);
  };
  visit(head);
  return by;
}
