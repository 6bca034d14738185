/**
 * Preloaded (`node --import`) into a proxy process by `npm run bench -- --alloc` (alloc-run.ts):
 * V8's sampling heap profiler, through the process's own inspector session, counting every
 * allocation, the ones collected since included. The bench sends SIGUSR2 once to start sampling
 * and once more to stop it; the profile is then written to `$K2O_ALLOC_OUT` (a .heapprofile, as
 * Chrome's DevTools read them). Allocation volume is what a garbage-collected proxy pays for in CPU
 * (allocating, then collecting) and in memory between collections; unlike CPU time on a shared
 * machine, it barely moves from run to run, so a change's effect shows in one round.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';

/** Bytes between samples: small enough that a message's few dozen allocations are seen. */
const SAMPLING_INTERVAL = 1024;

const out = process.env.K2O_ALLOC_OUT;
if (out) {
  const session = new Session();
  session.connect();
  const post = <T>(method: string, params: object = {}) =>
    new Promise<T>((resolve, reject) => session.post(method, params, (error, result) => (error ? reject(error) : resolve(result as T))));
  await post('HeapProfiler.enable');
  let sampling = false;
  process.on('SIGUSR2', () => {
    const step = sampling
      ? post<{ profile: unknown }>('HeapProfiler.stopSampling').then(({ profile }) => writeFileSync(out, JSON.stringify(profile)))
      : post('HeapProfiler.startSampling', {
          samplingInterval: SAMPLING_INTERVAL,
          includeObjectsCollectedByMajorGC: true,
          includeObjectsCollectedByMinorGC: true,
        });
    sampling = !sampling;
    step.catch((error: unknown) => process.stderr.write(`alloc-sampler: ${String(error)}\n`));
  });
}
