/**
 * A V8 CPU profile of a Worker's isolate under `wrangler dev`, taken through the DevTools
 * inspector wrangler serves on its --inspector-port (the Chrome DevTools protocol's Profiler
 * domain), written as a .cpuprofile that scripts/bench/profile-top.ts (or Chrome's DevTools) reads.
 * Only the Worker's own isolate is sampled: wrangler's proxy in front of it and miniflare's local
 * KV beside it are not. Samples are wall-clock, so on a loaded machine the shares are more telling
 * than the absolute times.
 */
import { writeFileSync } from 'node:fs';
import { WebSocket } from 'undici';

/** Samples every 200 µs: fine enough for a request of a few milliseconds, light enough not to dominate it. */
const SAMPLING_INTERVAL_US = 200;

export async function profileWorker(inspectorPort: number, file: string, during: () => Promise<unknown>): Promise<void> {
  // wrangler's inspector proxy admits DevTools clients that name a local origin.
  const socket = new WebSocket(`ws://127.0.0.1:${inspectorPort}/ws`, { headers: { origin: 'http://127.0.0.1' } });
  const answers = new Map<number, { resolve: (result: unknown) => void; reject: (error: Error) => void }>();
  socket.addEventListener('message', (event) => {
    const message = JSON.parse(String(event.data)) as { id?: number; result?: unknown; error?: { message: string } };
    // Events have no id, and wrangler's own calls count from 1e8. workerd answers a call whose
    // result is empty by echoing it back (its id, method and params, no `result`).
    const waiting = message.id === undefined ? undefined : answers.get(message.id);
    if (!waiting) return;
    answers.delete(message.id!);
    if (message.error) waiting.reject(new Error(`inspector: ${message.error.message}`));
    else waiting.resolve(message.result);
  });
  // A connection lost mid-call fails the call instead of leaving it waiting forever.
  socket.addEventListener('close', () => {
    for (const waiting of answers.values()) waiting.reject(new Error('the inspector connection closed'));
    answers.clear();
  });
  await new Promise<void>((resolve, reject) => {
    socket.addEventListener('open', () => resolve(), { once: true });
    socket.addEventListener('error', () => reject(new Error(`no inspector on port ${inspectorPort}`)), { once: true });
  });
  let next = 0;
  const call = <T>(method: string, params: Record<string, unknown> = {}) =>
    new Promise<T>((resolve, reject) => {
      const id = ++next;
      answers.set(id, { resolve: resolve as (result: unknown) => void, reject });
      socket.send(JSON.stringify({ id, method, params }));
    });
  try {
    await call('Profiler.enable');
    await call('Profiler.setSamplingInterval', { interval: SAMPLING_INTERVAL_US });
    await call('Profiler.start');
    await during();
    const { profile } = await call<{ profile: unknown }>('Profiler.stop');
    writeFileSync(file, JSON.stringify(profile));
  } finally {
    socket.close();
  }
}
