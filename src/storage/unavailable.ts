/**
 * Thrown by a store that cannot be reached right now (a Redis outage, a restart still loading its
 * data). Distinct from every other error so the HTTP layer can answer `503` with `Retry-After`:
 * the client should wait and retry, never drop its tokens (a `401`) or see a generic `500`.
 */
export class StorageUnavailableError extends Error {
  override name = 'StorageUnavailableError';
  /** Seconds a client should wait before trying again. */
  readonly retryAfter: number;
  constructor(message: string, options: { cause?: unknown; retryAfter?: number } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.retryAfter = options.retryAfter ?? 5;
  }
}

/** True for the storage outage itself or anything that wraps it (the engine sometimes rethrows). */
export function isStorageUnavailable(error: unknown): error is StorageUnavailableError {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; current = current.cause, depth++) {
    if (current instanceof StorageUnavailableError) return true;
  }
  return false;
}
