import dns from 'node:dns';
import net from 'node:net';
import { Readable } from 'node:stream';
import { Agent, buildConnector, type Dispatcher } from 'undici';
import type { HostCheck, UpstreamFetch } from '../../platform.ts';
import { checkAddress } from '../../upstream/address-policy.ts';
import { isNullBodyStatus } from '../../upstream/exchange.ts';
import { rememberedUrlCheck, UpstreamBlockedError } from '../../upstream/url-policy.ts';
import { eachHeader } from './header-record.ts';

/**
 * The Node side of the upstream guard: a fetch whose every new connection goes only to addresses
 * the address policy allows.
 *
 * Why at connect time: checking a URL's host when the endpoint is created proves nothing later.
 * A hostile DNS server can answer a public address for the check and 127.0.0.1 a second later
 * (DNS rebinding). So the resolver is wrapped: `net.connect` receives only addresses that passed,
 * and if any address of a host fails, the host is refused as a whole. IP-literal hosts never reach
 * a resolver, so they are checked in the connector instead. Pooled keep-alive connections are
 * reused as they are; they were checked when they were opened.
 *
 * Content codings: Node's fetch (undici) sends `Accept-Encoding: br, gzip, deflate` (https) or
 * `gzip, deflate` (http) unless the request sets the header, and it decodes gzip, x-gzip, deflate,
 * br and zstd bodies on the fly whatever was asked for (at most 5 codings; an unknown coding leaves
 * the body as it came). The decoded Response still carries the upstream `Content-Encoding` and
 * `Content-Length` headers. A proxy should therefore send `Accept-Encoding: identity` and drop both
 * headers whenever it forwards a body that fetch may have decoded.
 */

export type Resolver = (
  hostname: string,
  options: dns.LookupAllOptions,
  callback: (error: NodeJS.ErrnoException | null, addresses: dns.LookupAddress[]) => void,
) => void;

export interface GuardOptions {
  /** Development only: loopback and private addresses are allowed (link-local and metadata never). */
  allowPrivate: boolean;
  /** Host patterns (`example.com`, `*.example.com`); when non-empty the host must match one. */
  allowlist: string[];
  /** Covers resolving, TCP and TLS for each new connection. */
  connectTimeoutMs: number;
  /** Resolves a host to all its addresses; `dns.lookup` unless a test injects one. */
  lookup?: Resolver;
  /** Time allowed for the response headers (undici's default, 300 s, when unset). */
  headersTimeoutMs?: number;
  /**
   * Longest silence allowed between body chunks. Defaults to 0 (off), not undici's 300 s, because
   * an MCP server-sent-event stream may legitimately stay quiet for longer; the client's abort
   * signal ends such streams instead.
   */
  bodyTimeoutMs?: number;
}

export interface UpstreamGuard {
  /** Fetch for upstream requests: URL policy first, connect-time address checks, no redirects followed. */
  fetch: UpstreamFetch;
  /** Creation-time check that every address the host resolves to is allowed. */
  checkHostResolves(hostname: string): Promise<HostCheck>;
  /**
   * undici's lowest-level `dispatch` under the same guard (the Node server's fast path): the URL
   * policy (a refusal throws), then the guarded agent. No web Request or Response, no stream
   * object for the answer: the handler gets the status, headers and chunks as they arrive.
   */
  dispatch: UpstreamDispatch;
  /** The guarded undici dispatcher, for callers that use undici's own API. */
  agent: Agent;
  close(): Promise<void>;
}

export type UpstreamDispatch = (
  url: string,
  options: Omit<Dispatcher.DispatchOptions, 'origin' | 'path'>,
  handler: Dispatcher.DispatchHandler,
) => void;

const defaultResolver: Resolver = (hostname, options, callback) => dns.lookup(hostname, options, callback);

export function createUpstreamGuard(options: GuardOptions): UpstreamGuard {
  const agent = createGuardedAgent(options);
  const policy = { allowPrivate: options.allowPrivate, allowlist: options.allowlist };

  // The same verdicts for both: the policy is fixed for the guard's life (url-policy.ts).
  const check = rememberedUrlCheck(policy);
  const fetchUpstream: UpstreamFetch = async (url, init) => {
    const checked = check(url);
    if (!checked.ok) throw new UpstreamBlockedError(checked.reason);
    try {
      return await requestAsFetch(agent, checked.url, init);
    } catch (error) {
      // Surface a refusal as itself (it may come as the cause of a connection error) so callers
      // can answer with its reason.
      throw findBlockedError(error) ?? error;
    }
  };

  // undici's `origin` and `path` for each checked URL, built once: the same strings on every
  // message, so neither the URL's getters nor undici's lookup of its pool by origin (which hashes
  // the string, once per string) cost per message. Keyed by the verdict's URL, which is never
  // changed and goes when its verdict is forgotten.
  const targets = new WeakMap<URL, { origin: string; path: string }>();
  const dispatch: UpstreamDispatch = (url, dispatchOptions, handler) => {
    const checked = check(url);
    if (!checked.ok) throw new UpstreamBlockedError(checked.reason);
    let target = targets.get(checked.url);
    if (!target) {
      target = { origin: checked.url.origin, path: checked.url.pathname + checked.url.search };
      targets.set(checked.url, target);
    }
    agent.dispatch({ ...dispatchOptions, origin: target.origin, path: target.path }, handler);
  };

  return {
    fetch: fetchUpstream,
    dispatch,
    checkHostResolves: (hostname) => checkHostResolves(hostname, options),
    agent,
    close: () => agent.close(),
  };
}

/**
 * A fetch on undici's `request` through the guarded agent, with fetch's shape (a web Response)
 * and none of its additions: the Fetch standard has a client add `Accept-Language`,
 * `Sec-Fetch-Mode` and a `User-Agent`, stream a body chunked whatever length it declared, and
 * decode content codings; the upstream must get the headers the exchange decided
 * (src/upstream/exchange.ts), as from the Node carrier's `dispatch`, and the client the bytes as
 * they came. Redirects are never followed (`request` follows none).
 */
async function requestAsFetch(agent: Agent, url: URL, init: RequestInit & { signal?: AbortSignal | null }): Promise<Response> {
  const headers: Record<string, string> = {};
  new Headers(init.headers).forEach((value, name) => {
    headers[name] = value;
  });
  const method = (init.method ?? 'GET') as Dispatcher.HttpMethod;
  const body = init.body;
  const answer = await agent.request({
    origin: url.origin,
    path: url.pathname + url.search,
    method,
    headers,
    body:
      body == null
        ? null
        : body instanceof ReadableStream
          ? Readable.fromWeb(body as import('node:stream/web').ReadableStream)
          : typeof body === 'string' || body instanceof Uint8Array
            ? body
            : String(body),
    signal: init.signal ?? undefined,
  });
  // An aborted request (the client left, a timeout) destroys the body with an AbortError: a
  // reader gets it from the iterator, and it must never become an uncaught 'error' event.
  answer.body.on('error', () => {});
  const responseHeaders = new Headers();
  eachHeader(answer.headers, (name, value) => responseHeaders.append(name, value));
  const status = answer.statusCode;
  if (method === 'HEAD' || isNullBodyStatus(status)) {
    answer.body.destroy();
    return new Response(null, { status, headers: responseHeaders });
  }
  return new Response(pulled(answer.body), { status, headers: responseHeaders });
}

/**
 * undici's answer body as a web stream read on demand (backpressure kept: nothing is read before
 * the reader asks); cancelling it destroys the body, which ends the upstream request.
 */
function pulled(body: Readable): ReadableStream<Uint8Array> {
  const chunks = body[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const { value, done } = await chunks.next();
        if (done) controller.close();
        else controller.enqueue(new Uint8Array(value as Buffer));
      },
      cancel() {
        body.destroy();
      },
    },
    { highWaterMark: 0 },
  );
}

/** An undici Agent whose connections reach only addresses the policy allows. */
export function createGuardedAgent(options: GuardOptions): Agent {
  const lookup = createGuardedLookup(options.lookup ?? defaultResolver, options.allowPrivate);
  const connectBase = buildConnector({ timeout: options.connectTimeoutMs, lookup });

  const connect: buildConnector.connector = (connectOptions, callback) => {
    // undici hands over IPv6 literals without brackets; net.connect skips `lookup` for any literal.
    const host = connectOptions.hostname;
    if (net.isIP(host) !== 0) {
      const verdict = checkAddress(host, { allowPrivate: options.allowPrivate });
      if (!verdict.allowed) {
        // Asynchronously, as a real connection failure would be reported.
        queueMicrotask(() => callback(new UpstreamBlockedError(addressReason(verdict.kind)), null));
        return;
      }
    }
    connectBase(connectOptions, callback);
  };

  return new Agent({
    connect,
    bodyTimeout: options.bodyTimeoutMs ?? 0,
    ...(options.headersTimeoutMs === undefined ? {} : { headersTimeout: options.headersTimeoutMs }),
  });
}

/**
 * Wraps a resolver for `net.connect`: resolves all addresses, refuses the host if any one fails
 * the policy, and otherwise answers in whichever shape net asked for. With Node's default
 * `autoSelectFamily` (happy eyeballs) net asks for all addresses and tries them in turn, which is
 * safe because every one of them has passed.
 */
export function createGuardedLookup(resolve: Resolver, allowPrivate: boolean): net.LookupFunction {
  return (hostname, lookupOptions, callback) => {
    resolve(hostname, { ...lookupOptions, all: true }, (error, addresses) => {
      if (error) return callback(error, '', 0);
      const first = addresses[0];
      if (!first) return callback(notFound(hostname), '', 0);
      const blocked = checkAddresses(addresses, allowPrivate);
      if (blocked) return callback(blocked, '', 0);
      if (lookupOptions.all) return callback(null, addresses);
      return callback(null, first.address, first.family);
    });
  };
}

/**
 * For endpoint creation: does `hostname` (bare, or a bracketed IPv6 literal) resolve only to
 * allowed addresses? Uses the same resolver and policy as the connections will.
 */
export async function checkHostResolves(
  hostname: string,
  options: Pick<GuardOptions, 'allowPrivate' | 'connectTimeoutMs' | 'lookup'>,
): Promise<HostCheck> {
  const host = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  if (net.isIP(host) !== 0) {
    const verdict = checkAddress(host, { allowPrivate: options.allowPrivate });
    return verdict.allowed ? { ok: true } : { ok: false, reason: addressReason(verdict.kind) };
  }

  let addresses: dns.LookupAddress[];
  try {
    addresses = await resolveAll(options.lookup ?? defaultResolver, host, options.connectTimeoutMs);
  } catch (error) {
    if (error instanceof ResolveTimeout) return { ok: false, reason: 'Looking up the upstream host name timed out.' };
    return { ok: false, reason: 'The upstream host name could not be found. Check the spelling.' };
  }
  if (addresses.length === 0) return { ok: false, reason: 'The upstream host name could not be found. Check the spelling.' };
  const blocked = checkAddresses(addresses, options.allowPrivate);
  return blocked ? { ok: false, reason: blocked.reason } : { ok: true };
}

/** The refusal somewhere in an error's `cause` chain, if there is one. */
export function findBlockedError(error: unknown): UpstreamBlockedError | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 8 && current instanceof Error; depth++) {
    if (current instanceof UpstreamBlockedError) return current;
    current = current.cause;
  }
  return undefined;
}

function checkAddresses(addresses: dns.LookupAddress[], allowPrivate: boolean): UpstreamBlockedError | null {
  for (const { address } of addresses) {
    const verdict = checkAddress(address, { allowPrivate });
    if (!verdict.allowed) {
      return new UpstreamBlockedError(`The upstream host name resolves to ${verdict.kind}; only public internet addresses are allowed.`);
    }
  }
  return null;
}

function addressReason(kind: string): string {
  return `The upstream address is ${kind}; only public internet addresses are allowed.`;
}

class ResolveTimeout extends Error {
  override name = 'ResolveTimeout';
}

function resolveAll(resolve: Resolver, hostname: string, timeoutMs: number): Promise<dns.LookupAddress[]> {
  return new Promise((resolvePromise, reject) => {
    // dns.lookup has no timeout of its own and getaddrinfo can stall for many seconds.
    const timer = setTimeout(() => reject(new ResolveTimeout()), timeoutMs);
    timer.unref();
    resolve(hostname, { all: true }, (error, addresses) => {
      clearTimeout(timer);
      if (error) reject(error);
      else resolvePromise(addresses);
    });
  });
}

function notFound(hostname: string): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new Error(`getaddrinfo ENOTFOUND ${hostname}`);
  error.code = 'ENOTFOUND';
  return error;
}
