import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { valgrindProblem } from '../../scripts/bench/instructions-run.ts';
import { NGINX } from '../../scripts/bench/targets.ts';
import { killOnExit } from '../support/exit-cleanup.ts';
import { processes } from '../support/proc.ts';
import { redisAvailable } from '../support/redis-server.ts';

/**
 * `npm run bench` cannot rot: its quickest mode runs end to end (upstream, nginx when installed,
 * the real server with a token from the real OAuth flow) and reports every figure for every
 * target. The figures themselves are not judged here: a benchmark prints, a test never times.
 */
test('npm run bench -- --quick --json runs end to end and reports every figure', { timeout: 120_000 }, async () => {
  const child = spawn(process.execPath, ['scripts/bench/main.ts', '--quick', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  killOnExit(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const code = await new Promise<number | null>((done) => child.on('exit', done));
  assert.equal(code, 0, stderr);

  type Figures = { key: string; targets: Record<string, { median: number } | undefined> }[];
  const result = JSON.parse(stdout) as { figures: Figures; allCores: Figures };
  const figure = (key: string) => result.figures.find((f) => f.key === key);
  // node-floor: the least a Node proxy does (scripts/bench/node-floor.ts), what ours is measured against beside nginx.
  const proxies = NGINX ? ['nginx', 'node-floor', 'key2oauth'] : ['node-floor', 'key2oauth'];
  const everyone = ['direct', ...proxies];
  for (const key of [
    'c1_p50',
    'c1_p99',
    'c16_rps',
    'c16_p99',
    'c64_rps',
    'c64_p99',
    'sse_delay_p50',
    'sse_delay_p99',
    'first_event_p50',
    'disconnect_ms',
  ]) {
    for (const target of everyone) {
      const value = figure(key)?.targets[target]?.median;
      assert.ok(Number.isFinite(value) && value! > 0, `${key} for ${target}: ${value}`);
    }
  }
  for (const key of ['c16_cpu_us', 'large_cpu_us', 'large_request_cpu_us', 'idle_kib_100', 'idle_kib_500']) {
    for (const target of proxies) assert.ok(Number.isFinite(figure(key)?.targets[target]?.median), `${key} for ${target}`);
  }
  // The bench's own requests all succeed on every target: a figure over failed requests would lie.
  for (const key of ['errors', 'idle_errors_100', 'idle_errors_500']) {
    for (const target of key === 'errors' ? everyone : proxies)
      assert.equal(figure(key)?.targets[target]?.median, 0, `${key} for ${target}`);
  }
  // All cores against all cores: nginx `worker_processes auto` and WORKERS=auto.
  for (const key of ['c16_rps', 'c64_rps']) {
    for (const target of everyone.filter((name) => name !== 'node-floor')) {
      const value = result.allCores.find((f) => f.key === key)?.targets[target]?.median;
      assert.ok(Number.isFinite(value) && value! > 0, `all cores, ${key} for ${target}: ${value}`);
    }
  }
  if (!NGINX) assert.match(stderr + stdout, /nginx is not installed/);
});

/** Runs the bench with `args`; its exit code, stdout and stderr. */
async function bench(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['scripts/bench/main.ts', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  killOnExit(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const code = await new Promise<number | null>((done) => child.on('exit', done));
  return { code, stdout, stderr };
}

/**
 * The Worker run cannot rot either: our Worker under `wrangler dev` (its token from the real OAuth
 * flow) and the passthrough floor beside direct, each figure for each, workerd CPU per request for
 * both Workers, no failed request. Without --seed the seed's column is left out with a note that
 * says how to get it (a checkout of the seed is the user's, not the repository's).
 */
test('npm run bench -- --worker --quick --json measures our Worker beside direct and the passthrough', { timeout: 120_000 }, async () => {
  const { code, stdout, stderr } = await bench(['--worker', '--quick', '--json']);
  assert.equal(code, 0, stderr);
  const result = JSON.parse(stdout) as {
    notes: string[];
    figures: { key: string; targets: Record<string, { median: number } | undefined> }[];
  };
  const figure = (key: string, target: string) => result.figures.find((f) => f.key === key)?.targets[target]?.median;
  const workers = ['passthrough-worker', 'key2oauth-worker'];
  for (const key of ['c1_p50', 'c1_p99', 'c16_rps', 'c16_p99', 'c64_rps', 'c64_p99']) {
    for (const target of ['direct', ...workers]) {
      const value = figure(key, target);
      assert.ok(Number.isFinite(value) && value! > 0, `${key} for ${target}: ${value}`);
    }
  }
  for (const key of ['c16_cpu_us', 'c16_worker_cpu_us']) {
    for (const target of workers) assert.ok(figure(key, target)! > 0, `${key} for ${target}: ${figure(key, target)}`);
  }
  for (const target of ['direct', ...workers]) assert.equal(figure('errors', target), 0, `errors for ${target}`);
  assert.equal(figure('c16_rps', 'seed-worker'), undefined);
  assert.ok(
    result.notes.some((note) => note.includes('--seed') && note.includes('t0saki/MCP-Key2OAuth')),
    result.notes.join('\n'),
  );
});

/**
 * The growth bench cannot rot: its quick mode fills SQLite (and Redis, when redis-server is
 * installed) through the server's modules, serves each fill with the real server, and reports
 * every figure for every store, size and stream count, with no failed request. It refuses to run
 * at all when a sampled token of a fill is not accepted, so finishing is the check that the fills
 * are real grants.
 */
test('npm run bench -- --scale --quick --json reports the growth table for every store and size', { timeout: 120_000 }, async () => {
  const { code, stdout, stderr } = await bench(['--scale', '--quick', '--json']);
  assert.equal(code, 0, stderr);
  type Summary = { median: number; max: number } | undefined;
  const result = JSON.parse(stdout) as {
    run: { sizes: number[]; streamCounts: number[] };
    fills: { store: string; grants: number; bytesPerGrant: number }[];
    figures: { store: string; grants: number; streams: number; figures: Record<string, Summary> }[];
  };
  const stores = redisAvailable() ? ['sqlite', 'redis'] : ['sqlite'];
  for (const store of stores) {
    for (const grants of result.run.sizes) {
      const fill = result.fills.find((f) => f.store === store && f.grants === grants);
      assert.ok(fill && fill.bytesPerGrant > 0, `store bytes per grant for ${store} at ${grants}: ${JSON.stringify(fill)}`);
      for (const streams of result.run.streamCounts) {
        const row = result.figures.find((f) => f.store === store && f.grants === grants && f.streams === streams);
        for (const key of ['p50_ms', 'cpu_us', 'rss_mib'])
          assert.ok((row?.figures[key]?.median ?? 0) > 0, `${key} for ${store}, ${grants} grants, ${streams} streams`);
        assert.equal(row?.figures.errors?.max, 0, `failed requests for ${store}, ${grants} grants, ${streams} streams`);
      }
    }
  }
  // Every measurement on a freshly started server: one inherits nothing of the load another served.
  const rounds = (JSON.parse(stdout) as { rounds: { pid: number; target: string; streams: number }[] }).rounds;
  const measurements = new Set(rounds.map((figure) => `${figure.pid} ${figure.target} ${figure.streams}`));
  assert.equal(new Set(rounds.map((figure) => figure.pid)).size, measurements.size, 'one process per measurement');
  assert.equal(measurements.size, stores.length * result.run.sizes.length * result.run.streamCounts.length);
  // Each store's three flatness targets, and Redis beside SQLite when both ran.
  const targets = (JSON.parse(stdout) as { targets: { kind: string; value: number }[] }).targets;
  assert.equal(targets.filter((t) => t.kind === 'flat').length, 3 * stores.length);
  assert.equal(targets.filter((t) => t.kind === 'redis').length, stores.length === 2 ? 2 : 0);
  for (const target of targets) assert.ok(Number.isFinite(target.value), JSON.stringify(target));
});

test('the bench refuses arguments it cannot honour, saying why, before starting anything', async () => {
  const cases: [string[], RegExp][] = [
    [['--worker', '--seed', '/nonexistent-seed-checkout'], /--seed \/nonexistent-seed-checkout has no package\.json/],
    [['--seed', '/tmp'], /--seed compares Workers: give it with --worker/],
    [['--rounds', '0'], /--rounds must be a whole number/],
    [['--rounds'], /--rounds needs a value/],
    [['--fast'], /unknown argument "--fast"/],
    [['--scale', '--worker'], /--scale measures the Node server: give it without --worker/],
  ];
  for (const [args, message] of cases) {
    const { code, stdout, stderr } = await bench(args);
    assert.equal(code, 2, `${args.join(' ')}: ${stderr}`);
    assert.match(stderr, message);
    assert.match(stderr, /usage: npm run bench --/);
    assert.equal(stdout, '', `${args.join(' ')} printed a run`);
  }
});

/**
 * wrangler runs in its own process group (so that its workerd can be stopped with it), which a
 * terminal's Ctrl-C does not reach: a bench interrupted mid-run must still take every process it
 * started with it.
 */
test('an interrupted Worker bench leaves no wrangler or workerd behind', { timeout: 120_000 }, async () => {
  const child = spawn(process.execPath, ['scripts/bench/main.ts', '--worker', '--quick'], { stdio: ['ignore', 'pipe', 'pipe'] });
  killOnExit(child);
  let output = '';
  const measuring = new Promise<void>((resolve) => {
    const watch = (chunk: Buffer) => {
      output += chunk;
      if (output.includes('bench --worker:')) resolve();
    };
    child.stdout.on('data', watch);
    child.stderr.on('data', watch);
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  await Promise.race([measuring, exited]);
  const started = descendants(child.pid!);
  assert.ok(started.length > 0, output);
  child.kill('SIGINT');
  await exited;
  // SIGKILL of a group is immediate, but a process's exit takes a moment to show in /proc.
  await new Promise((wait) => setTimeout(wait, 500));
  const alive = new Set(
    processes()
      .filter(({ state }) => state !== 'Z' && state !== 'X')
      .map(({ pid }) => pid),
  );
  assert.deepEqual(
    started.filter((pid) => alive.has(pid)),
    [],
    'processes the bench started outlived it',
  );
});

function descendants(root: number): number[] {
  const all = processes();
  const found: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const parent = queue.shift()!;
    for (const { pid, ppid } of all) {
      if (ppid === parent) {
        found.push(pid);
        queue.push(pid);
      }
    }
  }
  return found;
}

/**
 * The allocation run cannot rot: the sampler is preloaded into the node floor and into Key2OAuth,
 * each reports bytes per message, and the list of where Key2OAuth allocates names our own code.
 */
test('npm run bench -- --alloc --quick reports bytes allocated per message and where they are allocated', {
  timeout: 120_000,
}, async () => {
  const { code, stdout, stderr } = await bench(['--alloc', '--quick']);
  assert.equal(code, 0, stderr);
  const row = /\| bytes allocated per message \(c16\) \| ([\d,]+) B [^|]*\| ([\d,]+) B [^|]*\|/.exec(stdout);
  assert.ok(row, stdout);
  for (const figure of [row[1]!, row[2]!]) assert.ok(Number(figure.replaceAll(',', '')) > 1000, `${figure} bytes per message`);
  assert.match(stdout, /where key2oauth allocates[\s\S]*src\/adapters\/node\//);
  const refused = await bench(['--alloc', '--worker']);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /--alloc measures the Node server alone/);
});

/**
 * The instruction count cannot rot: both proxies run under valgrind's callgrind, each reports
 * instructions per message, and the list of where Key2OAuth executes more names our own code.
 */
test('npm run bench -- --instructions --quick counts instructions per message and says where Key2OAuth executes more', {
  timeout: 300_000,
  skip: valgrindProblem() && 'valgrind not installed (apt-get install valgrind)',
}, async () => {
  const { code, stdout, stderr } = await bench(['--instructions', '--quick']);
  assert.equal(code, 0, stderr);
  const row = /\| instructions \| ([\d,]+) [^|]*\| ([\d,]+) [^|]*\| ([\d.]+)× \|/.exec(stdout);
  assert.ok(row, stdout);
  // A message through either proxy is hundreds of thousands of instructions (Node's parser, undici, the JIT's code).
  for (const figure of [row[1]!, row[2]!]) assert.ok(Number(figure.replaceAll(',', '')) > 50_000, `${figure} instructions per message`);
  assert.match(stdout, /\| conditional branches mispredicted \| [\d,]+/);
  assert.match(stdout, /where key2oauth executes more instructions than the floor[\s\S]*src\//);
  const refused = await bench(['--instructions', '--scale']);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /--instructions measures the Node server alone/);
});

test('the load says how its requests and streams failed: by status, or by the error’s code', async () => {
  const { closedLoop, openIdleStreams } = await import('../../scripts/bench/load.ts');
  const { createServer } = await import('node:http');
  let served = 0;
  // Every third request has its connection cut; the others are refused with 503.
  const server = createServer((req, res) => {
    req.resume();
    if (++served % 3 === 0) {
      req.socket.destroy();
      return;
    }
    res.writeHead(503, { 'content-type': 'application/json' });
    res.end('{}');
  });
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  const origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  try {
    const load = await closedLoop({ origin, path: '/mcp', authorization: 'Bearer x' }, 2, 0.3, 0);
    assert.equal(load.requests, 0);
    assert.ok((load.failures['status 503'] ?? 0) > 0, JSON.stringify(load.failures));
    assert.equal(
      Object.values(load.failures).reduce((sum, count) => sum + count, 0),
      load.errors,
      'every error is counted under a kind',
    );
    assert.ok(
      Object.keys(load.failures).some((kind) => kind !== 'status 503'),
      `a cut connection has a kind of its own: ${JSON.stringify(load.failures)}`,
    );
    const opened = await openIdleStreams({ origin, path: '/mcp', authorization: 'Bearer x' }, 6, 2);
    for (const stream of opened.streams) stream.close();
    assert.equal(opened.errors, 6);
    assert.ok((opened.failures['status 503'] ?? 0) > 0, JSON.stringify(opened.failures));
  } finally {
    server.closeAllConnections();
    await new Promise((closed) => server.close(closed));
  }
});
