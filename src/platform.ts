import type { Config } from './config.ts';
import type { Logger } from './log.ts';
import type { CounterStore, KVStore } from './storage/contract.ts';

/**
 * What differs between runtimes, handed to the core (`createApp`). The core itself only uses web
 * standards; each platform adapter (Node, Cloudflare Workers) builds one of these.
 */
export interface Platform {
  config: Config;
  /** The store the OAuth engine and our endpoint records share. */
  kv: KVStore;
  /** Atomic counters for rate limits, in the same shared store. */
  counters: CounterStore;
  /**
   * Every outbound request goes through this: upstream MCP traffic, key checks, and later CIMD
   * documents. It must refuse non-public destinations at connect time (unless the config allows
   * private upstreams) and must never follow redirects.
   */
  fetchUpstream: UpstreamFetch;
  /**
   * Checks at endpoint creation that a host resolves only to addresses the policy allows.
   * Node resolves DNS itself; Workers cannot and rely on `global_fetch_strictly_public`.
   */
  checkUpstreamHost(hostname: string): Promise<HostCheck>;
  /** Deployment secret (at least 32 bytes of entropy) for keyed hashes such as rate-limit buckets. */
  secret: string;
  /**
   * The secret being replaced (`KEY2OAUTH_SECRET_PREVIOUS`), during a rotation: what it made (grant
   * key hashes, legacy SSE message URLs) is still accepted; nothing new is made with it.
   */
  previousSecret?: string;
  log: Logger;
  /**
   * The client's network address, for rate limits (Node: the socket, or X-Forwarded-For behind a
   * trusted proxy; Workers: CF-Connecting-IP). Plain data in, so any carrier of a request (the
   * app, the Node fast path on raw node:http) asks the same function.
   */
  clientAddress(request: ClientConnection): string;
  /**
   * SHA-256 as lower-case hex, synchronously, where the runtime has it (Node's `crypto.hash`). The
   * token-check cache hashes the token of every MCP request; on Node, WebCrypto's asynchronous
   * digest goes through the thread pool and cost about a tenth of a proxied request's CPU. When
   * absent (Workers, whose digest is native), WebCrypto is used.
   */
  sha256Hex?: (text: string) => string;
  /** Lets a handler keep work alive after the response (Workers' `waitUntil`); Node just runs it. */
  waitUntil(promise: Promise<unknown>): void;
  /**
   * Whether in-memory metrics describe the deployment: true for one long-lived server process;
   * false (or absent) on Workers, where each short-lived isolate would count only its own requests.
   */
  processMetrics?: boolean;
  /**
   * Runs the operator's stdio MCP servers (STDIO_SERVERS), a process per grant: Node only. Absent
   * where processes cannot run (Workers), and then a stdio endpoint's routes say so.
   */
  stdio?: StdioHost;
}

/** A grant of a stdio endpoint, as its process needs it: its credentials, in declared order. */
export interface StdioGrant {
  slug: string;
  grantId: string;
  credentials: string[];
}

export type StdioCheck = { ok: true } | { ok: false; reason: string };

export interface StdioHost {
  /** Whether this deployment declares the endpoint as a stdio server. */
  has(slug: string): boolean;
  /** One Streamable HTTP exchange with the grant's own process (started by its `initialize`). */
  serve(request: Request, grant: StdioGrant): Promise<Response>;
  /**
   * The legacy HTTP+SSE transport: the stream (starting the grant's process; its `endpoint` event
   * names `messagesUrl(sessionId)`), and a message posted to that URL.
   */
  legacyStream(grant: StdioGrant, messagesUrl: (sessionId: string) => string): Promise<Response>;
  legacyMessage(request: Request, grant: StdioGrant, sessionId: string): Promise<Response>;
  /** The key check at consent: a throwaway process with these credentials answers `initialize` and `tools/list`. */
  check(slug: string, credentials: string[]): Promise<StdioCheck>;
  /** Stops the grant's process at once (revocation). */
  stopGrant(grantId: string): Promise<void>;
}

/** What a client's address is read from: the request's headers and, where the runtime sees one, the socket's peer. */
export interface ClientConnection {
  headers: { get(name: string): string | null };
  socketAddress?: string | undefined;
}

export type UpstreamFetch = (url: string, init: RequestInit & { signal?: AbortSignal | null }) => Promise<Response>;

export type HostCheck = { ok: true } | { ok: false; reason: string };
