/**
 * Where and how a key travels upstream. Everything under `upstream/` takes one of these and a key;
 * none of it knows about OAuth, grants or endpoints.
 */
/** `stdio`: an operator-declared process on this server (docs/stdio.md), never an HTTP upstream. */
export type UpstreamTransport = 'streamable-http' | 'sse' | 'stdio';

export interface UpstreamTarget {
  url: string;
  /** Header that carries the key, e.g. `Authorization` or `X-API-Key`. */
  headerName: string;
  /** Text before the key, joined by one space (`Bearer` gives `Bearer <key>`); empty for the bare key. */
  headerPrefix: string;
  transport: UpstreamTransport;
}

/** The header line a key becomes: `{name: 'Authorization', value: 'Bearer sk-…'}`. */
export function keyHeader(target: Pick<UpstreamTarget, 'headerName' | 'headerPrefix'>, key: string): { name: string; value: string } {
  const prefix = target.headerPrefix.trim();
  return { name: target.headerName, value: prefix ? `${prefix} ${key}` : key };
}

/** Stands in for the key where a page shows the header line before anyone typed one. */
export const KEY_PLACEHOLDER = '<your API key>';

/**
 * The header line as a person should read it, `Authorization: Bearer sk-a…`: the first four
 * characters of a real key (enough to spot a wrong paste), never more.
 */
export function headerLine(target: Pick<UpstreamTarget, 'headerName' | 'headerPrefix'>, key: string = KEY_PLACEHOLDER): string {
  const shown = key === KEY_PLACEHOLDER ? key : `${key.slice(0, 4)}…`;
  const { name, value } = keyHeader(target, shown);
  return `${name}: ${value}`;
}
