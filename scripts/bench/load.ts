/**
 * The load generator: undici's Pool (the project's own HTTP client, already a dependency) in a
 * closed loop — `concurrency` requests in flight, each followed at once by the next — timing
 * every request with the monotonic clock. Closed-loop keeps the comparison fair: every target
 * gets the same offered concurrency, and a slower one simply completes fewer requests.
 */
import { request as httpRequest } from 'node:http';
import { Pool } from 'undici';

export interface Endpoint {
  /** Origin, e.g. http://127.0.0.1:8080 */
  origin: string;
  /** Path of the MCP endpoint on it. */
  path: string;
  /** The Authorization header this target's client sends (the key for direct, a token for ours). */
  authorization: string;
}

/** A `tools/call` of 248 bytes, the size of a typical small tool call. */
/** The size of the large answer the bench asks for (`LARGE_CALL_BODY`). */
export const LARGE_ANSWER_BYTES = 256 * 1024;

/** A tool call the bench's upstream answers with one SSE event of LARGE_ANSWER_BYTES of text. */
export const LARGE_CALL_BODY = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'bench/large', params: { bytes: LARGE_ANSWER_BYTES } });

/** A tool call of LARGE_ANSWER_BYTES of arguments (a file's content, say), answered as the small one is. */
export const LARGE_REQUEST_BODY = JSON.stringify({
  jsonrpc: '2.0',
  id: 1,
  method: 'tools/call',
  params: { name: 'echo', arguments: { text: 'x'.repeat(LARGE_ANSWER_BYTES) } },
});

export const CALL_BODY = (() => {
  const base = { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: '' } } };
  const pad = 248 - JSON.stringify(base).length;
  base.params.arguments.text = 'x'.repeat(pad);
  return JSON.stringify(base);
})();

const JSON_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

export interface LoadResult {
  requests: number;
  /** Requests completed including the warm-up (what CPU time over the whole run is divided by). */
  total: number;
  errors: number;
  /** The errors by kind (`status 503`, `ECONNRESET`, ...), so a run that failed says how. */
  failures: Failures;
  seconds: number;
  /** Latencies in milliseconds, sorted. */
  latencies: number[];
}

/** Failed requests or streams by kind: an answer's status, or the error's code. */
export type Failures = Record<string, number>;

function countFailure(failures: Failures, kind: string): void {
  failures[kind] = (failures[kind] ?? 0) + 1;
}

/** An error's kind for Failures: its code (ECONNRESET, UND_ERR_SOCKET, ...), else its message. */
function failureKind(error: unknown): string {
  const { code, message } = error as { code?: string; message?: string };
  return code ?? message ?? String(error);
}

/**
 * Closed-loop load for `seconds` after `warmupSeconds` of the same load that is not counted. Given
 * several endpoints (on one origin: the growth bench's sampled grants), requests take them in turn.
 */
export async function closedLoop(
  target: Endpoint | Endpoint[],
  concurrency: number,
  seconds: number,
  warmupSeconds = 0.3,
): Promise<LoadResult> {
  const targets = Array.isArray(target) ? target : [target];
  const pool = new Pool(targets[0]!.origin, { connections: concurrency, pipelining: 1 });
  const requests = targets.map(({ path, authorization }) => ({ path, headers: { ...JSON_HEADERS, authorization } }));
  let turn = 0;
  const latencies: number[] = [];
  let errors = 0;
  const failures: Failures = {};
  let total = 0;
  const warmEnd = performance.now() + warmupSeconds * 1000;
  const end = warmEnd + seconds * 1000;
  const worker = async () => {
    for (;;) {
      const started = performance.now();
      if (started >= end) return;
      let failure: string | undefined;
      const { path, headers } = requests[turn++ % requests.length]!;
      try {
        const answer = await pool.request({ path, method: 'POST', headers, body: CALL_BODY });
        await answer.body.dump();
        if (answer.statusCode !== 200) failure = `status ${answer.statusCode}`;
      } catch (error) {
        failure = failureKind(error);
      }
      if (failure === undefined) total++;
      if (started >= warmEnd) {
        if (failure === undefined) latencies.push(performance.now() - started);
        else {
          errors++;
          countFailure(failures, failure);
        }
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    await pool.close();
  }
  latencies.sort((a, b) => a - b);
  return { requests: latencies.length, total, errors, failures, seconds, latencies };
}

/**
 * Exactly `count` requests, `concurrency` at a time (no clock: a process run under valgrind is many
 * times slower, and the instruction counts are divided by the requests made). Throws on a failed one.
 */
export async function fixedLoad(target: Endpoint, concurrency: number, count: number, body: string = CALL_BODY): Promise<void> {
  const pool = new Pool(target.origin, { connections: concurrency, pipelining: 1 });
  const headers = { ...JSON_HEADERS, authorization: target.authorization };
  let left = count;
  const worker = async () => {
    while (left-- > 0) {
      const answer = await pool.request({ path: target.path, method: 'POST', headers, body });
      await answer.body.dump();
      if (answer.statusCode !== 200) throw new Error(`${target.origin}${target.path} answered ${answer.statusCode}`);
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    await pool.close();
  }
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export interface SseResult {
  /** Per event: arrival minus the upstream's send time, ms, sorted. */
  eventDelays: number[];
  /** Per stream: request start to the first event's arrival, ms, sorted. */
  firstEvent: number[];
  errors: number;
}

/** `streams` POSTs answered with SSE, one after another; every event's travel time measured. */
export async function sseStreams(target: Endpoint, streams: number, events: number, intervalMs: number): Promise<SseResult> {
  const pool = new Pool(target.origin, { connections: 1 });
  const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'bench/sse', params: { count: events, interval: intervalMs } });
  const eventDelays: number[] = [];
  const firstEvent: number[] = [];
  let errors = 0;
  try {
    for (let i = 0; i < streams; i++) {
      const started = process.hrtime.bigint();
      try {
        const answer = await pool.request({
          path: target.path,
          method: 'POST',
          headers: { ...JSON_HEADERS, authorization: target.authorization },
          body,
        });
        if (answer.statusCode !== 200) {
          errors++;
          await answer.body.dump();
          continue;
        }
        let buffered = '';
        let seen = 0;
        for await (const chunk of answer.body) {
          const now = process.hrtime.bigint();
          buffered += chunk.toString();
          let consumed = 0;
          for (const match of buffered.matchAll(/data: \{"t":"(\d+)"/g)) {
            if (seen === 0) firstEvent.push(Number(now - started) / 1e6);
            eventDelays.push(Number(now - BigInt(match[1]!)) / 1e6);
            seen++;
            consumed = match.index + match[0].length;
          }
          buffered = buffered.slice(consumed);
        }
        if (seen !== events) errors++;
      } catch {
        errors++;
      }
    }
  } finally {
    await pool.close();
  }
  eventDelays.sort((a, b) => a - b);
  firstEvent.sort((a, b) => a - b);
  return { eventDelays, firstEvent, errors };
}

export interface IdleStream {
  /** Resolves when the stream's first bytes arrived; rejects on failure. */
  ready: Promise<void>;
  close(): void;
}

/** One idle server stream (GET), on its own connection, as a client holding a session would. */
export function openIdleStream(target: Endpoint, watch?: string): IdleStream {
  const url = new URL(target.path, target.origin);
  const req = httpRequest(url, {
    method: 'GET',
    agent: false,
    headers: { accept: 'text/event-stream', authorization: target.authorization, ...(watch ? { 'mcp-session-id': watch } : {}) },
  });
  const ready = new Promise<void>((resolve, reject) => {
    req.on('response', (res) => {
      if (res.statusCode !== 200) {
        reject(Object.assign(new Error(`idle stream answered ${res.statusCode}`), { code: `status ${res.statusCode}` }));
        res.resume();
        return;
      }
      res.once('data', () => resolve());
      res.on('error', () => {});
    });
    req.on('error', reject);
  });
  ready.catch(() => {});
  req.end();
  return { ready, close: () => req.destroy() };
}

/**
 * Opens `count` idle streams, at most `parallel` being opened at a time; returns them and the
 * failures. Given several endpoints, the streams take them in turn.
 */
export async function openIdleStreams(
  target: Endpoint | Endpoint[],
  count: number,
  parallel = 100,
): Promise<{ streams: IdleStream[]; errors: number; failures: Failures }> {
  const targets = Array.isArray(target) ? target : [target];
  const streams: IdleStream[] = [];
  let errors = 0;
  const failures: Failures = {};
  let next = 0;
  const opener = async () => {
    while (next < count) {
      const stream = openIdleStream(targets[next++ % targets.length]!);
      streams.push(stream);
      try {
        await stream.ready;
      } catch (error) {
        errors++;
        countFailure(failures, failureKind(error));
      }
    }
  };
  await Promise.all(Array.from({ length: parallel }, opener));
  return { streams, errors, failures };
}
