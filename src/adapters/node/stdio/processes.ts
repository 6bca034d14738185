import { randomUUID } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import { type JSONRPCMessage, JSONRPCMessageSchema, type RequestId } from '@modelcontextprotocol/sdk/types.js';
import type { StdioServer } from '../../../endpoints/stdio-servers.ts';
import { jsonRpcError } from '../../../http/errors.ts';
import type { Logger } from '../../../log.ts';
import { countStdioStopped } from '../../../metrics.ts';
import type { StdioCheck, StdioGrant, StdioHost } from '../../../platform.ts';
import { StdioChild } from './child.ts';
import { type Downstream, LegacyStream } from './legacy.ts';
import type { SandboxMode } from './sandbox.ts';

export interface StdioLimits {
  /** Processes at most on this server, all endpoints together. */
  maxProcesses: number;
  /** Processes at most for one endpoint. */
  maxPerEndpoint: number;
}

export interface StdioHostOptions extends StdioLimits {
  sandbox: SandboxMode;
  hidden: string[];
  log: Logger;
  /** STDIO_MEMORY_MB: each process tree's memory limit (memory.ts), unless its server declares one. */
  memoryMb: number;
  /** Whether the grant still exists in the store, where any replica or `key2oauth grants` may have revoked it. */
  grantExists(slug: string, grantId: string): Promise<boolean>;
}

/** Why a process was stopped: the log's `why` and the metric's label. */
type StopReason = 'idle' | 'revoked' | 'replaced' | 'session_deleted' | 'stream_closed' | 'ended' | 'memory_limit' | 'shutdown';

/** Time a key check at consent gets for `initialize` and `tools/list` together. */
const CHECK_TIMEOUT_MS = 30_000;
/**
 * How often every running process's grant is looked up in the store. A revocation made in this
 * server process stops its process at once (stopGrant); this finds the others: one made by another
 * replica, by `key2oauth grants revoke` beside the server, or inside the OAuth engine (a refresh
 * token revoked by its app, RFC 7009 §2.1; a reused refresh token).
 */
const GRANT_CHECK_MS = 1000;

/**
 * One grant's process and the Streamable HTTP session that speaks for it: the SDK's
 * `WebStandardStreamableHTTPServerTransport` on our side (sessions, JSON and SSE answers, the GET
 * stream, DELETE), the process's stdin and stdout (child.ts) on the other, each message passed on
 * as it is, both ways.
 */
interface Session {
  grantId: string;
  slug: string;
  child: StdioChild;
  /** Our side: the SDK's Streamable HTTP server transport, or a legacy SSE stream (legacy.ts). */
  http: Downstream;
  /** The Streamable HTTP transport's, for its requests; absent on a legacy SSE session. */
  streamable?: WebStandardStreamableHTTPServerTransport;
  /** A legacy SSE session's id, named in its message URL. */
  legacyId?: string;
  /** Client requests not yet answered, in arrival order, for answering them if the process dies. */
  open: Map<RequestId, { progressToken?: string | number }>;
  idle?: NodeJS.Timeout;
  closing: boolean;
}

/**
 * The processes of every stdio endpoint on this server: one per grant, started at the grant's
 * first `initialize`, stopped after the endpoint's `idle_seconds` without a request, on the
 * grant's revocation, and on shutdown. A process that dies answers its open requests with an
 * error and ends its session; the client's next request gets 404 for that session (Streamable
 * HTTP's "start a new session"), and its `initialize` starts a fresh process.
 */
export function createStdioHost(servers: StdioServer[], options: StdioHostOptions): StdioHost & { stopAll(): Promise<void> } {
  const bySlug = new Map(servers.map((server) => [server.slug, server]));
  const sessions = new Map<string, Session>();
  const { log } = options;

  const count = (slug?: string) => [...sessions.values()].filter((s) => !s.closing && (!slug || s.slug === slug)).length;

  const stop = async (session: Session, why: StopReason) => {
    if (session.closing) return;
    session.closing = true;
    clearTimeout(session.idle);
    if (sessions.get(session.grantId) === session) sessions.delete(session.grantId);
    log.info('stdio server stopped', { slug: session.slug, why });
    countStdioStopped(why);
    await session.child.close();
    await session.http.close().catch(() => {});
  };

  const touch = (session: Session, server: StdioServer) => {
    clearTimeout(session.idle);
    session.idle = setTimeout(() => void stop(session, 'idle'), server.idleSeconds * 1000);
    session.idle.unref();
  };

  const start = async (server: StdioServer, grant: StdioGrant, legacy?: LegacyStream): Promise<Session | Response> => {
    const existing = sessions.get(grant.grantId);
    // One process per grant: a new session (a reconnect, or a second app on the same grant)
    // replaces the old one, whose process is stopped.
    if (existing) await stop(existing, 'replaced');
    if (count(server.slug) >= options.maxPerEndpoint || count() >= options.maxProcesses) {
      log.warn('stdio process limit reached', { slug: server.slug });
      return jsonRpcError(503, 'This server runs as many processes as it may; try again later', -32000, { 'retry-after': '30' });
    }
    const child = new StdioChild(server, grant.credentials, options);
    const streamable = legacy ? undefined : new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: randomUUID });
    const http: Downstream = streamable ?? legacy!;
    const session: Session = {
      grantId: grant.grantId,
      slug: server.slug,
      child,
      http,
      ...(streamable ? { streamable } : { legacyId: legacy!.id }),
      open: new Map(),
      closing: false,
    };
    sessions.set(grant.grantId, session);
    log.info('stdio server started', { slug: server.slug, transport: legacy ? 'sse' : 'streamable-http' });
    const fromClient = (message: JSONRPCMessage) => {
      if ('id' in message && 'method' in message) {
        const token = (message.params as { _meta?: { progressToken?: string | number } } | undefined)?._meta?.progressToken;
        session.open.set(message.id, token === undefined ? {} : { progressToken: token });
      }
      child.send(message).catch(() => {});
    };
    if (streamable) streamable.onmessage = fromClient;
    else legacy!.onmessage = fromClient;
    child.onmessage = (message) => {
      if (('result' in message || 'error' in message) && 'id' in message) session.open.delete(message.id as RequestId);
      http.send(message, { relatedRequestId: relatedRequest(session, message) }).catch((error: Error) => {
        log.debug('stdio message not delivered', { slug: server.slug, error: error.message });
      });
    };
    child.onerror = (error) => log.warn('stdio server output', { slug: server.slug, error: error.message });
    child.onclose = () => {
      if (session.closing) return;
      log.warn('stdio server ended', { slug: server.slug, how: child.ended ?? 'ended' });
      // Every request still waiting is answered, so no client hangs on a dead process.
      for (const id of session.open.keys()) {
        void http
          .send({
            jsonrpc: '2.0',
            id,
            error: { code: -32603, message: `The server process ${child.ended ?? 'ended'}; reconnect to start it again` },
          })
          .catch(() => {});
      }
      session.open.clear();
      void stop(session, child.overMemory ? 'memory_limit' : 'ended');
    };
    await streamable?.start();
    touch(session, server);
    return session;
  };

  // Every running process's grant, looked up in the store: one revoked anywhere stops its process.
  let checking = false;
  const grantChecks = setInterval(async () => {
    if (checking || sessions.size === 0) return;
    checking = true;
    try {
      for (const session of [...sessions.values()]) {
        if (session.closing) continue;
        if (!(await options.grantExists(session.slug, session.grantId))) await stop(session, 'revoked');
      }
    } catch (error) {
      // The store is unreachable: nothing is known to be revoked; the next check tries again.
      log.debug('stdio grant check failed', { error: (error as Error).message });
    } finally {
      checking = false;
    }
  }, GRANT_CHECK_MS).unref();

  return {
    has: (slug) => bySlug.has(slug),

    async serve(request, grant) {
      const server = bySlug.get(grant.slug);
      if (!server) return jsonRpcError(404, 'This stdio server is no longer declared on this deployment', -32000);
      let body: unknown;
      if (request.method === 'POST') {
        try {
          body = await request.json();
        } catch {
          return jsonRpcError(400, 'Parse error: the body is not JSON', -32700);
        }
      }
      let session = sessions.get(grant.grantId);
      if (isInitialize(body)) {
        const started = await start(server, grant);
        if (started instanceof Response) return started;
        session = started;
      }
      if (!session?.streamable || session.closing) {
        // Streamable HTTP: 404 tells the client its session is gone and to initialize again.
        return jsonRpcError(404, 'Session not found: the server process was stopped; initialize again to start it', -32001);
      }
      touch(session, server);
      const answer = await session.streamable.handleRequest(request, body === undefined ? {} : { parsedBody: body });
      if (request.method === 'DELETE' && answer.ok) void stop(session, 'session_deleted');
      return answer;
    },

    async legacyStream(grant, messagesUrl) {
      const server = bySlug.get(grant.slug);
      if (!server) return jsonRpcError(404, 'This stdio server is no longer declared on this deployment', -32000);
      const stream = new LegacyStream(randomUUID());
      const started = await start(server, grant, stream);
      if (started instanceof Response) return started;
      return stream.response(messagesUrl(stream.id), () => void stop(started, 'stream_closed'));
    },

    async legacyMessage(request, grant, sessionId) {
      const session = sessions.get(grant.grantId);
      const server = bySlug.get(grant.slug);
      if (!server || !session || session.closing || session.legacyId !== sessionId) {
        return jsonRpcError(404, 'Session not found: the server process was stopped; open the SSE stream again', -32001);
      }
      let body: unknown;
      try {
        body = await request.json();
      } catch {
        return jsonRpcError(400, 'Parse error: the body is not JSON', -32700);
      }
      const parsed = JSONRPCMessageSchema.safeParse(body);
      if (!parsed.success) return jsonRpcError(400, 'Invalid Request: not a JSON-RPC message', -32600);
      touch(session, server);
      (session.http as LegacyStream).onmessage?.(parsed.data);
      return new Response('Accepted', { status: 202 });
    },

    async check(slug, credentials): Promise<StdioCheck> {
      const server = bySlug.get(slug);
      if (!server) return { ok: false, reason: 'this stdio server is no longer declared on this deployment' };
      if (count() >= options.maxProcesses) return { ok: false, reason: 'this server runs as many processes as it may; try again later' };
      const child = new StdioChild(server, credentials, options);
      const client = new Client({ name: 'key2oauth-key-check', version: '1' });
      const timeout = AbortSignal.timeout(CHECK_TIMEOUT_MS);
      try {
        await client.connect(child, { signal: timeout, timeout: CHECK_TIMEOUT_MS });
        await client.listTools(undefined, { signal: timeout, timeout: CHECK_TIMEOUT_MS });
        return { ok: true };
      } catch (error) {
        const how = child.ended ? `the server ${child.ended}` : timeout.aborted ? 'no answer within 30 seconds' : (error as Error).message;
        return { ok: false, reason: how.slice(0, 300) };
      } finally {
        await client.close().catch(() => {});
        await child.close();
      }
    },

    async stopGrant(grantId) {
      const session = sessions.get(grantId);
      if (session) await stop(session, 'revoked');
    },

    async stopAll() {
      clearInterval(grantChecks);
      await Promise.all([...sessions.values()].map((session) => stop(session, 'shutdown')));
    },
  };
}

function isInitialize(body: unknown): boolean {
  const messages = Array.isArray(body) ? body : [body];
  return messages.some(
    (message) => typeof message === 'object' && message !== null && (message as { method?: unknown }).method === 'initialize',
  );
}

/**
 * Which open client request a message from the process belongs with, so it travels on that
 * request's event stream: a progress notification by its token; a request of the server's own
 * (elicitation, sampling) or another notification, when exactly one client request is open, with
 * that one (it is what the server is working on). Otherwise none: the session's GET stream.
 */
function relatedRequest(session: Session, message: JSONRPCMessage): RequestId | undefined {
  if ('result' in message || 'error' in message) return undefined;
  if ('method' in message && message.method === 'notifications/progress') {
    const token = (message.params as { progressToken?: string | number } | undefined)?.progressToken;
    for (const [id, open] of session.open) if (open.progressToken === token) return id;
  }
  if (session.open.size === 1) return session.open.keys().next().value;
  return undefined;
}
