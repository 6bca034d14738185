import type { Fetch } from '../oauth-client.ts';

/** One thing doctor looked at: what it saw, and when something is wrong, what to change. */
export interface Step {
  name: string;
  ok: boolean;
  detail: string;
  fix?: string;
}

/** The steps of one run, in the order they were taken. */
export class Findings {
  readonly steps: Step[] = [];
  pass(name: string, detail: string): true {
    this.steps.push({ name, ok: true, detail });
    return true;
  }
  /** Returns false so a step can `return findings.fail(…)` where it stops. */
  fail(name: string, detail: string, fix: string): false {
    this.steps.push({ name, ok: false, detail, fix });
    return false;
  }
}

/** Doctor's fetch: never follows a redirect, and gives up on a server that does not answer. */
export type Get = Fetch;

export const TIMEOUT_MS = 10_000;

export function doctorFetch(fetchFn: typeof fetch): Get {
  return (url, init = {}) => fetchFn(url, { redirect: 'manual', signal: AbortSignal.timeout(TIMEOUT_MS), ...init });
}
