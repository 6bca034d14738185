import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { NGINX } from '../../scripts/bench/targets.ts';
import { killOnExit } from '../support/exit-cleanup.ts';

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
  const proxies = NGINX ? ['nginx', 'key2oauth'] : ['key2oauth'];
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
  for (const key of ['c16_cpu_us', 'idle_kib_100', 'idle_kib_500']) {
    for (const target of proxies) assert.ok(Number.isFinite(figure(key)?.targets[target]?.median), `${key} for ${target}`);
  }
  // The bench's own requests all succeed on every target: a figure over failed requests would lie.
  for (const key of ['errors', 'idle_errors_100', 'idle_errors_500']) {
    for (const target of key === 'errors' ? everyone : proxies)
      assert.equal(figure(key)?.targets[target]?.median, 0, `${key} for ${target}`);
  }
  // All cores against all cores: nginx `worker_processes auto` and WORKERS=auto.
  for (const key of ['c16_rps', 'c64_rps']) {
    for (const target of everyone) {
      const value = result.allCores.find((f) => f.key === key)?.targets[target]?.median;
      assert.ok(Number.isFinite(value) && value! > 0, `all cores, ${key} for ${target}: ${value}`);
    }
  }
  if (!NGINX) assert.match(stderr + stdout, /nginx is not installed/);
});
