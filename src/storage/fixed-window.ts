/**
 * The one counting rule of rate limits, for every counter store: fixed windows aligned to the
 * epoch, so every process computes the same window without talking to the others. A stored window
 * that is not older than the current one keeps counting; an older one starts again at 1. (The
 * SQLite store says the same in one SQL statement, so that it is atomic across processes.)
 */

export interface Window {
  count: number;
  /** End of the window, Unix seconds. */
  resetAt: number;
}

/** End of the fixed window holding `nowMs`, in Unix seconds. */
export function windowEnd(nowMs: number, windowSeconds: number): number {
  if (!Number.isSafeInteger(windowSeconds) || windowSeconds < 1) {
    throw new RangeError(`Counter windows are whole seconds, at least 1 (got ${windowSeconds})`);
  }
  return (Math.floor(nowMs / 1000 / windowSeconds) + 1) * windowSeconds;
}

/** The current window as stored, or an empty one: what a peek sees (the same rule as countOne). */
export function currentWindow(stored: Window | undefined, resetAt: number): Window {
  return stored && stored.resetAt >= resetAt ? { count: stored.count, resetAt: stored.resetAt } : { count: 0, resetAt };
}

/** The window after one more request, given the stored one (if any) and the current window's end. */
export function countOne(stored: Window | undefined, resetAt: number): Window {
  return stored && stored.resetAt >= resetAt ? { count: stored.count + 1, resetAt: stored.resetAt } : { count: 1, resetAt };
}
