import type { CredentialField } from './credentials.ts';

/**
 * Where and how a key travels upstream. Everything under `upstream/` takes one of these and the
 * credential's values; none of it knows about OAuth, grants or endpoints.
 */
/** `stdio`: an operator-declared process on this server (docs/stdio.md), never an HTTP upstream. */
export type UpstreamTransport = 'streamable-http' | 'sse' | 'stdio';

export interface UpstreamTarget {
  /** The upstream URL as stored: never with a credential's query parameter in it. */
  url: string;
  /** Where each value goes (credentials.ts). Absent in targets snapshotted before templates existed. */
  credentials?: CredentialField[];
  /** The one-header shape of older snapshots (credentials.ts `templateOf` reads it as a one-field template). */
  headerName?: string;
  headerPrefix?: string;
  transport: UpstreamTransport;
}
