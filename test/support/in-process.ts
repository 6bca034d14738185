import { randomBytes } from 'node:crypto';
import type { Hono } from 'hono';
import { parse } from 'node-html-parser';
import { flushActivity } from '../../src/activity/store.ts';
import { createApp } from '../../src/app.ts';
import * as oauth from '../../src/cli/oauth-client.ts';
import { CookieJar } from '../../src/cli/oauth-client.ts';
import { type Env, parseConfig } from '../../src/config.ts';
import { createLogger } from '../../src/log.ts';
import type { Platform } from '../../src/platform.ts';
import { createMemoryStorage } from '../../src/storage/memory.ts';
import { createUpstreams, type McpUpstream, serveMcp, type Upstreams } from './in-process-upstream.ts';

/**
 * The whole app in this process: `createApp(platform).fetch(request)` with the memory store, a
 * capturing logger and upstreams that are reached without sockets (in-process-upstream.ts). No
 * port, no child process: a test file starts in milliseconds.
 *
 * The engine imports `cloudflare:workers`, so the test process must be started with
 * `--import ./src/adapters/node/hooks.ts` (test/run.ts does). Static imports resolve before any
 * module runs, so importing the hooks here would come too late.
 */

export const PUBLIC_URL = 'https://bridge.example.org';
export const KEY = 'sk-in-process-0123456789abcdef';
/** The default upstream: a real MCP SDK server behind this URL, accepting `Bearer <KEY>`. */
export const UPSTREAM_URL = 'https://echo.example.com/mcp';
export const REDIRECT_URI = 'https://client.example.net/callback';
/** The address requests come from unless a test says otherwise. */
export const CLIENT_ADDRESS = '198.51.100.7';

/** What each request carries besides itself; the platform reads the client address from it. */
interface RequestEnv {
  clientAddress: string;
}

export interface InProcess {
  app: Hono;
  platform: Platform;
  /** Every upstream request, recorded; `upstreams.serve()` adds more upstream servers. */
  upstreams: Upstreams;
  /** The default MCP upstream at UPSTREAM_URL. */
  upstream: McpUpstream;
  /** Every log line the app wrote (at debug level, whatever LOG_LEVEL says). */
  logs: string[];
  url: string;
  /** One request to the app; `path` may also be an absolute URL (on any host). */
  fetch(path: string, init?: RequestInit & { clientAddress?: string }): Promise<Response>;
  createEndpoint(
    body: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; headers: Headers; body: Record<string, string> }>;
  /** Creation for tests whose subject is not creation: anything but 201 throws. */
  mustCreateEndpoint(body?: Record<string, unknown>): Promise<Record<string, string>>;
  register(metadata?: Record<string, unknown>): Promise<Client>;
  openConsent(endpoint: string, client: Client, options?: { params?: Record<string, string>; jar?: CookieJar }): Promise<ConsentPage>;
  /** Opens an authorization URL someone else built (an MCP SDK client), as a browser does. */
  openAuthorization(url: string | URL, jar?: CookieJar): Promise<ConsentPage>;
  /** Submits the consent form; a refusal's 303 back to the page is followed, as a browser does. */
  submitConsent(page: ConsentPage, fields: Record<string, string>, headers?: Record<string, string>): Promise<Response>;
  /** The whole authorization code + PKCE flow by hand, up to the tokens. */
  authorize(endpoint: string, options?: { key?: string; client?: Client }): Promise<Grant>;
  token(fields: Record<string, string>): Promise<Response>;
  /** One MCP POST with a bearer token, as a client sends it. */
  mcp(endpoint: string, token: string | undefined, message: unknown, headers?: Record<string, string>): Promise<Response>;
  /** Waits for work handed to `waitUntil` (session cleanup on the upstream). */
  settle(): Promise<void>;
  close(): Promise<void>;
}

export interface Client {
  client_id: string;
  client_secret?: string;
  redirect_uris: string[];
  /** PKCE for this client's next authorization. */
  verifier: string;
  challenge: string;
}

export interface ConsentPage {
  url: string;
  response: Response;
  status: number;
  html: string;
  /** The form's hidden fields (handle, destination). */
  hidden: Record<string, string>;
  jar: CookieJar;
  /** The visible text of the page. */
  text: string;
}

export interface Grant {
  client: Client;
  code: string;
  accessToken: string;
  refreshToken: string;
}

/** Cookies as a browser keeps them for our origin: the raw client's jar. */
export { CookieJar };

/** A PKCE pair, from the raw client doctor and the bench use (src/cli/oauth-client.ts). */
export const pkce = oauth.pkce;

export const INITIALIZE = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'in-process', version: '1' } },
};

/** The JSON-RPC answer in a response, whether sent as JSON or as an SSE stream. */
// biome-ignore lint/suspicious/noExplicitAny: tests read whatever shape the upstream's result has.
export async function readRpc(response: Response): Promise<{ id?: unknown; result?: any; error?: { code: number; message: string } }> {
  const text = await response.text();
  if (!(response.headers.get('content-type') ?? '').startsWith('text/event-stream')) return JSON.parse(text);
  const messages = text
    .split(/\r?\n\r?\n/)
    .map((event) =>
      event
        .split(/\r?\n/)
        .filter((line) => line.startsWith('data:'))
        .map((line) => line.slice(5).trim())
        .join('\n'),
    )
    .filter(Boolean)
    .map((data) => JSON.parse(data));
  const answer = messages.find((message) => 'result' in message || 'error' in message);
  if (!answer) throw new Error(`no JSON-RPC answer in the stream:\n${text}`);
  return answer;
}

export interface StartOptions {
  /** Environment variables, as the server reads them (PUBLIC_URL and LOG_LEVEL are set). */
  env?: Env;
  /** The key the default upstream accepts. */
  key?: string;
  /** Platform parts to replace, e.g. a `checkUpstreamHost` that refuses. */
  platform?: Partial<
    Pick<Platform, 'checkUpstreamHost' | 'fetchUpstream' | 'kv' | 'counters' | 'processMetrics' | 'sha256Hex' | 'secret' | 'previousSecret'>
  >;
}

export async function startApp(options: StartOptions = {}): Promise<InProcess> {
  const config = parseConfig({ PUBLIC_URL, LOG_LEVEL: 'silent', ...options.env }, { publicUrl: PUBLIC_URL });
  const storage = createMemoryStorage();
  const upstreams = createUpstreams();
  const upstream = serveMcp(upstreams, { url: UPSTREAM_URL, key: options.key ?? KEY });
  const logs: string[] = [];
  const pending = new Set<Promise<unknown>>();
  const platform: Platform = {
    config,
    kv: storage.kv,
    counters: storage.counters,
    fetchUpstream: upstreams.fetch,
    checkUpstreamHost: async () => ({ ok: true }),
    secret: randomBytes(32).toString('base64url'),
    log: createLogger('debug', (line) => logs.push(line)),
    // As on a server, the socket's peer (handed in below from the RequestEnv each request is sent with).
    clientAddress: (request) => request.socketAddress ?? 'unknown',
    waitUntil: (promise) => {
      const tracked: Promise<unknown> = promise.catch(() => {}).finally(() => pending.delete(tracked));
      pending.add(tracked);
    },
    // One process, like the Node server: /metrics counts what it saw.
    processMetrics: true,
    ...options.platform,
  };
  const app = createApp(platform, { socketAddress: (env) => (env as RequestEnv).clientAddress });

  const fetch: InProcess['fetch'] = async (path, init = {}) => {
    const { clientAddress = CLIENT_ADDRESS, ...rest } = init;
    const env: RequestEnv = { clientAddress };
    return app.fetch(new Request(new URL(path, PUBLIC_URL), rest), env);
  };

  const createEndpoint: InProcess['createEndpoint'] = async (body, headers = {}) => {
    const response = await fetch('/api/slugs', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
    return { status: response.status, headers: response.headers, body: (await response.json()) as Record<string, string> };
  };

  const register: InProcess['register'] = async (metadata = {}) => {
    const registered = await oauth.register(fetch, `${PUBLIC_URL}/oauth/register`, {
      client_name: 'In-process Client',
      redirect_uris: [REDIRECT_URI],
      ...metadata,
    });
    if (!registered.clientId) throw new Error(`registration answered ${registered.status}: ${JSON.stringify(registered.body)}`);
    return { ...(registered.body as Omit<Client, 'verifier' | 'challenge'>), ...pkce() };
  };

  const openConsent: InProcess['openConsent'] = async (endpoint, client, { params = {}, jar = new CookieJar() } = {}) => {
    const url = oauth.authorizationUrl(`${PUBLIC_URL}/authorize`, {
      clientId: client.client_id,
      redirectUri: client.redirect_uris[0]!,
      challenge: client.challenge,
      state: 'state-ünicode-✓',
      scope: 'mcp offline_access',
      resource: endpoint,
    });
    // Tests replace any parameter a correct client sends, to send what none would.
    for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
    return openAuthorization(url, jar);
  };

  const openAuthorization: InProcess['openAuthorization'] = async (url, jar = new CookieJar()) => {
    // A top-level navigation from the client app: another site.
    const response = await fetch(String(url), { headers: { ...jar.header(), accept: 'text/html', 'sec-fetch-site': 'cross-site' } });
    jar.keep(response);
    return consentPage(String(url), response, await response.text(), jar);
  };

  const submitConsent: InProcess['submitConsent'] = async (page, fields, headers = {}) => {
    const response = await oauth.postForm(fetch, page.url, page.jar, { ...page.hidden, ...fields }, headers);
    // A refusal answers 303 back to the consent page (POST/redirect/GET): follow it as a browser
    // does; the redirect to the client (302, another origin) is returned as is.
    const back = response.status === 303 ? new URL(response.headers.get('location')!, page.url) : undefined;
    if (back?.origin === PUBLIC_URL) {
      const followed = await fetch(back.href, { headers: { ...page.jar.header(), accept: 'text/html', 'sec-fetch-site': 'same-origin' } });
      page.jar.keep(followed);
      return followed;
    }
    return response;
  };

  const token: InProcess['token'] = (fields) =>
    fetch('/oauth/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields),
    });

  const authorize: InProcess['authorize'] = async (endpoint, { key = KEY, client } = {}) => {
    const registered = client ?? (await register());
    const page = await openConsent(endpoint, registered);
    if (page.status !== 200) throw new Error(`authorization page answered ${page.status}: ${page.text}`);
    const approved = await submitConsent(page, { api_key: key, action: 'approve' });
    if (approved.status !== 302) throw new Error(`approval answered ${approved.status}: ${await approved.text()}`);
    const code = new URL(approved.headers.get('location')!).searchParams.get('code')!;
    const fields = oauth.codeExchangeFields({
      code,
      verifier: registered.verifier,
      clientId: registered.client_id,
      redirectUri: registered.redirect_uris[0]!,
      resource: endpoint,
      ...(registered.client_secret ? { clientSecret: registered.client_secret } : {}),
    });
    const response = await token(fields);
    if (response.status !== 200) throw new Error(`token exchange answered ${response.status}: ${await response.text()}`);
    const tokens = (await response.json()) as { access_token: string; refresh_token: string };
    return { client: registered, code, accessToken: tokens.access_token, refreshToken: tokens.refresh_token };
  };

  return {
    app,
    platform,
    upstreams,
    upstream,
    logs,
    url: PUBLIC_URL,
    fetch,
    createEndpoint,
    async mustCreateEndpoint(body = { upstream_url: UPSTREAM_URL }) {
      const created = await createEndpoint(body);
      if (created.status !== 201) throw new Error(`creating the endpoint answered ${created.status}: ${JSON.stringify(created.body)}`);
      return created.body;
    },
    register,
    openConsent,
    openAuthorization,
    submitConsent,
    authorize,
    token,
    mcp: (endpoint, bearer, message, headers = {}) =>
      fetch(endpoint, {
        method: 'POST',
        headers: {
          ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          ...headers,
        },
        body: typeof message === 'string' ? message : JSON.stringify(message),
      }),
    settle: async () => {
      // The activity record's gathered pages are written now rather than a second from now.
      await flushActivity(platform);
      while (pending.size) await Promise.all(pending);
    },
    async close() {
      await flushActivity(platform);
      while (pending.size) await Promise.all(pending);
      await upstreams.close();
      await storage.close();
    },
  };
}

/** Reads a consent page (or the error page in its place) as the user sees it. */
export function consentPage(url: string, response: Response, html: string, jar: CookieJar): ConsentPage {
  const root = parse(html);
  const hidden: Record<string, string> = {};
  for (const input of root.querySelectorAll('form[method="post"] input[type="hidden"]'))
    hidden[input.getAttribute('name')!] = input.getAttribute('value') ?? '';
  const text = root.querySelector('main')?.text.replace(/\s+/g, ' ').trim() ?? '';
  return { url, response, status: response.status, html, hidden, jar, text };
}
