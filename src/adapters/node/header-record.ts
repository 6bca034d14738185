/**
 * Node's and undici's parsed headers (`{name: value | value[]}`, names lower-cased) read as the
 * exchange and the Fetch standard read headers: one pair per line, or one joined value.
 */
import type { IncomingMessage } from 'node:http';

export type HeaderRecord = Record<string, string | string[] | undefined>;

/** Visits every line of a parsed header record (src/upstream/exchange.ts `EachHeader`), without building pairs. */
export function eachHeader(headers: HeaderRecord, visit: (name: string, value: string) => void): void {
  for (const name in headers) {
    const value = headers[name];
    if (Array.isArray(value)) for (const item of value) visit(name, item);
    else if (value !== undefined) visit(name, value);
  }
}

export function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}

/** A request's headers read as the platform reads a request's (one value, or null). */
export function nodeHeaders(req: IncomingMessage): { get(name: string): string | null } {
  return {
    get(name) {
      return headerValue(req.headers[name]) ?? null;
    },
  };
}
