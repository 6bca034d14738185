/**
 * Every setting, from environment variables (Node) or Worker vars and secrets (Cloudflare): the
 * same names on both, each parsed once by the same strict rules (a typo such as `TRUST_PROXY=ture`
 * is refused, never read as false), with defaults from `DEFAULTS`, which the settings table of
 * docs/configuration.md must match (a test compares them). A bad value stops start-up with a
 * message that names the variable, never a stack trace.
 */
export interface Config {
  /** The public origin clients reach, without a trailing slash; the OAuth issuer is exactly this. */
  publicUrl: string;
  /** Lets endpoints point at http:// and private or loopback addresses (development only). */
  allowPrivateUpstreams: boolean;
  /** Host patterns (`example.com`, `*.example.com`) upstreams must match; empty allows any public host. */
  upstreamAllowlist: string[];
  /** When set, creating endpoints requires `Authorization: Bearer <ADMIN_TOKEN>`. */
  adminToken: string | undefined;
  /** When set, `/metrics` (Prometheus text) is served to `Authorization: Bearer <METRICS_TOKEN>`; otherwise it does not exist. */
  metricsToken: string | undefined;
  accessTokenTtl: number;
  refreshTokenTtl: number;
  /** How long an exchanged refresh token still works (parallel refreshes) before using it revokes its grant. */
  refreshReuseGraceSeconds: number;
  /** Connect and first-byte timeouts for upstream requests, in milliseconds. */
  upstreamConnectTimeoutMs: number;
  upstreamFirstByteTimeoutMs: number;
  /** Largest request body accepted on MCP routes and on every other route, in bytes. */
  maxMcpBodyBytes: number;
  maxBodyBytes: number;
  /** Concurrent proxied MCP requests (streams included) per grant and per client address; 0 for none. */
  maxStreamsPerGrant: number;
  maxStreamsPerAddress: number;
  /** SSE comment heartbeats after this much upstream silence, in milliseconds; 0 for none. */
  sseHeartbeatMs: number;
  /** An upstream response body silent this long is ended, in milliseconds; 0 for never. */
  upstreamIdleTimeoutMs: number;
  /**
   * Requests per window: endpoint creation, client registration, authorization-page key
   * submissions per client address, and key submissions per endpoint (from all addresses).
   */
  rateLimits: {
    createEndpoint: RateLimit;
    registerClient: RateLimit;
    /** Wrong keys per authorization request (client and PKCE challenge) and client address. */
    authorizeSubmit: RateLimit;
    /** Wrong keys per client address, across every request and `/access` (the ceiling against guessing from one network). */
    authorizeSubmitPerAddress: RateLimit;
    /** Wrong keys per endpoint, from every address together. */
    authorizeSubmitPerEndpoint: RateLimit;
    /** Authorization pages shown per client address: each stores a consent transaction for ten minutes. */
    authorizePage: RateLimit;
    /** Requests to the manage API (`/api/slugs/:slug`) per client address, so tokens cannot be guessed. */
    manage: RateLimit;
  };
  logLevel: LogLevel;
  /** At most one "last used" write per grant per this many seconds and process; 0 records none. */
  lastUsedWriteSeconds: number;
  /** `KEY2OAUTH_SECRET`: the deployment secret when the operator sets one (replicas must share it). */
  secret: string | undefined;
  /**
   * `KEY2OAUTH_SECRET_PREVIOUS`: the secret being replaced, during a rotation. What it made is still
   * accepted; nothing new is made with it (docs/key-holders.md, Rotating the deployment secret).
   */
  secretPrevious: string | undefined;
  /** Sign-in through the company's OpenID provider, and who may do what (docs/teams.md); undefined when OIDC_* are unset. */
  signIn: SignInConfig | undefined;
  /** `ALLOWED_CLIENT_REDIRECT_HOSTS`: host patterns an app's redirect URIs must match to register; empty allows any. */
  allowedClientRedirectHosts: string[];
  /** Days the audit trail keeps each event. */
  auditRetentionDays: number;
  /** Days the activity record (src/activity/) keeps each MCP message's entry; 0 records none. */
  activityRetentionDays: number;
  /** `SELF_HOST_NOTICE`: the pages' "self-host it" notice; `off` on a deployment that is self-hosted already. */
  selfHostNotice: boolean;
}

export interface SignInConfig {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** `ALLOWED_EMAILS`: addresses and `*@domain` patterns, lower-cased. */
  allowedEmails: string[];
  /** `ADMIN_EMAILS`: the same shapes; admins may sign in even when not in ALLOWED_EMAILS. */
  adminEmails: string[];
  /** `SIGN_IN_TO_AUTHORIZE`: the consent page also needs a signed-in allowed person. */
  toAuthorize: boolean;
}

/** Settings only the self-hosted Node server reads: a Worker has no port, disk or socket. */
export interface ServerConfig {
  port: number;
  host: string;
  dataDir: string;
  /** Take the client address from the last `X-Forwarded-For` entry (behind a reverse proxy). */
  trustProxy: boolean;
  /** `REDIS_URL`: keep all state in this Redis (several replicas) instead of SQLite in DATA_DIR. */
  redisUrl: string | undefined;
  /** Prepended to every Redis key, so one Redis can serve several deployments. */
  redisKeyPrefix: string;
  /** Open client connections at most; `undefined` derives it from the open-file limit. */
  maxConnections: number | undefined;
  /** Time a client gets to send its request headers, and its whole request (body included), in ms. */
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  /** Header lines read per request at most. */
  maxHeadersCount: number;
  /** Server processes sharing the port and the SQLite file: a number, or `auto` for one per CPU core. */
  workers: number | 'auto';
  /** `STDIO_SERVERS`: the JSON file declaring stdio MCP servers (docs/stdio.md), if any. */
  stdioServers: string | undefined;
  /** `STDIO_SANDBOX`: `required` runs each under bubblewrap and refuses to start without it; `off` is for development. */
  stdioSandbox: 'required' | 'off';
  stdioMaxProcesses: number;
  stdioMaxPerEndpoint: number;
  /** `STDIO_MEMORY_MB`: a stdio server's process tree is stopped past this resident memory (0: no limit); a server's `memory_mb` overrides it. */
  stdioMemoryMb: number;
}

export interface RateLimit {
  limit: number;
  windowSeconds: number;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

export type Env = Record<string, string | undefined>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Each setting's default, as docs/configuration.md's settings table writes it. A name missing here is
 * unset by default (or, PUBLIC_URL, derived: from PORT on Node, from the request on Workers).
 */
export const DEFAULTS: Readonly<Record<string, string>> = {
  PORT: '8787',
  HOST: '127.0.0.1',
  DATA_DIR: './data',
  ALLOW_PRIVATE_UPSTREAMS: 'false',
  ACCESS_TOKEN_TTL: '3600',
  REFRESH_TOKEN_TTL: '2592000',
  REFRESH_REUSE_GRACE_SECONDS: '60',
  UPSTREAM_CONNECT_TIMEOUT_MS: '10000',
  UPSTREAM_FIRST_BYTE_TIMEOUT_MS: '60000',
  MAX_MCP_BODY_BYTES: '4194304',
  MAX_BODY_BYTES: '65536',
  MAX_STREAMS_PER_GRANT: '32',
  MAX_STREAMS_PER_ADDRESS: '256',
  SSE_HEARTBEAT_SECONDS: '25',
  ACTIVITY_RETENTION_DAYS: '30',
  UPSTREAM_IDLE_TIMEOUT_SECONDS: '900',
  MAX_CONNECTIONS: 'auto',
  HEADERS_TIMEOUT_MS: '10000',
  REQUEST_TIMEOUT_MS: '60000',
  MAX_HEADERS_COUNT: '100',
  RATE_LIMIT_CREATE: '20/3600',
  RATE_LIMIT_REGISTER: '30/3600',
  RATE_LIMIT_AUTHORIZE: '20/600',
  RATE_LIMIT_AUTHORIZE_ADDRESS: '60/600',
  RATE_LIMIT_AUTHORIZE_ENDPOINT: '60/600',
  RATE_LIMIT_AUTHORIZE_PAGE: '120/600',
  RATE_LIMIT_MANAGE: '60/600',
  TRUST_PROXY: 'false',
  WORKERS: '1',
  LOG_LEVEL: 'info',
  REDIS_KEY_PREFIX: 'key2oauth:',
  LAST_USED_WRITE_SECONDS: '60',
  STDIO_SANDBOX: 'required',
  STDIO_MAX_PROCESSES: '100',
  STDIO_MAX_PER_ENDPOINT: '50',
  STDIO_MEMORY_MB: '512',
  SIGN_IN_TO_AUTHORIZE: 'false',
  AUDIT_RETENTION_DAYS: '365',
  SELF_HOST_NOTICE: 'on',
};

/** Settings with no default, documented as unset or empty. */
export const OPTIONAL = [
  'PUBLIC_URL',
  'UPSTREAM_ALLOWLIST',
  'ADMIN_TOKEN',
  'METRICS_TOKEN',
  'KEY2OAUTH_SECRET',
  'KEY2OAUTH_SECRET_PREVIOUS',
  'REDIS_URL',
  'STDIO_SERVERS',
  'OIDC_ISSUER',
  'OIDC_CLIENT_ID',
  'OIDC_CLIENT_SECRET',
  'ALLOWED_EMAILS',
  'ADMIN_EMAILS',
  'ALLOWED_CLIENT_REDIRECT_HOSTS',
] as const;

/** Least entropy a deployment secret must carry: 32 bytes. */
export const MIN_SECRET_BITS = 256;

export function parseConfig(env: Env, defaults: { publicUrl: string }): Config {
  return {
    publicUrl: parsePublicUrl(value(env, 'PUBLIC_URL') ?? defaults.publicUrl),
    allowPrivateUpstreams: parseBoolean(env, 'ALLOW_PRIVATE_UPSTREAMS'),
    upstreamAllowlist: (value(env, 'UPSTREAM_ALLOWLIST') ?? '')
      .split(/[\s,]+/)
      .map((pattern) => pattern.trim().toLowerCase())
      .filter(Boolean),
    adminToken: value(env, 'ADMIN_TOKEN'),
    metricsToken: parseToken(env, 'METRICS_TOKEN'),
    // mcp-remote refreshes a minute before expiry: a 60-second token made it refresh in a loop.
    accessTokenTtl: parseInteger(env, 'ACCESS_TOKEN_TTL', { min: 300 }),
    refreshTokenTtl: parseInteger(env, 'REFRESH_TOKEN_TTL', { min: 60 }),
    refreshReuseGraceSeconds: parseInteger(env, 'REFRESH_REUSE_GRACE_SECONDS', { min: 0, max: 3600 }),
    upstreamConnectTimeoutMs: parseInteger(env, 'UPSTREAM_CONNECT_TIMEOUT_MS', { min: 1 }),
    upstreamFirstByteTimeoutMs: parseInteger(env, 'UPSTREAM_FIRST_BYTE_TIMEOUT_MS', { min: 1 }),
    maxMcpBodyBytes: parseInteger(env, 'MAX_MCP_BODY_BYTES', { min: 1024 }),
    maxBodyBytes: parseInteger(env, 'MAX_BODY_BYTES', { min: 1024 }),
    maxStreamsPerGrant: parseInteger(env, 'MAX_STREAMS_PER_GRANT', { min: 0 }),
    maxStreamsPerAddress: parseInteger(env, 'MAX_STREAMS_PER_ADDRESS', { min: 0 }),
    sseHeartbeatMs: parseInteger(env, 'SSE_HEARTBEAT_SECONDS', { min: 0, max: 3600 }) * 1000,
    upstreamIdleTimeoutMs: parseInteger(env, 'UPSTREAM_IDLE_TIMEOUT_SECONDS', { min: 0 }) * 1000,
    activityRetentionDays: parseInteger(env, 'ACTIVITY_RETENTION_DAYS', { min: 0, max: 3650 }),
    rateLimits: {
      createEndpoint: parseRateLimit(env, 'RATE_LIMIT_CREATE'),
      registerClient: parseRateLimit(env, 'RATE_LIMIT_REGISTER'),
      authorizeSubmit: parseRateLimit(env, 'RATE_LIMIT_AUTHORIZE'),
      authorizeSubmitPerAddress: parseRateLimit(env, 'RATE_LIMIT_AUTHORIZE_ADDRESS'),
      authorizeSubmitPerEndpoint: parseRateLimit(env, 'RATE_LIMIT_AUTHORIZE_ENDPOINT'),
      manage: parseRateLimit(env, 'RATE_LIMIT_MANAGE'),
      authorizePage: parseRateLimit(env, 'RATE_LIMIT_AUTHORIZE_PAGE'),
    },
    logLevel: parseLogLevel(env),
    lastUsedWriteSeconds: parseInteger(env, 'LAST_USED_WRITE_SECONDS', { min: 0 }),
    secret: parseSecret(env, 'KEY2OAUTH_SECRET'),
    secretPrevious: parseSecret(env, 'KEY2OAUTH_SECRET_PREVIOUS'),
    signIn: parseSignIn(env),
    allowedClientRedirectHosts: parseHostPatterns(env, 'ALLOWED_CLIENT_REDIRECT_HOSTS'),
    auditRetentionDays: parseInteger(env, 'AUDIT_RETENTION_DAYS', { min: 1, max: 3650 }),
    selfHostNotice: parseBoolean(env, 'SELF_HOST_NOTICE'),
  };
}

/**
 * Settings that start but deserve a word at start-up, each with why: logged once per app built
 * (app.ts), on Node and on the Worker alike.
 */
export function configWarnings(config: Config): string[] {
  const warnings: string[] = [];
  if (config.allowPrivateUpstreams && config.publicUrl.startsWith('https:'))
    warnings.push(
      `ALLOW_PRIVATE_UPSTREAMS=true on a public deployment (${config.publicUrl}): anyone who can create an endpoint can point it at this server's private network (loopback, 10.x, 192.168.x, cloud metadata at 169.254.169.254) and reach internal services through it. It is meant for local development; unset it, or set ADMIN_TOKEN or sign-in so only you can create endpoints.`,
    );
  return warnings;
}

/**
 * The three OIDC_* settings come together or not at all: two of three is a half-configured
 * deployment that would silently let anyone create endpoints. Sign-in without ALLOWED_EMAILS or
 * ADMIN_EMAILS would let every account of the provider in (a public provider has billions), so one
 * of them is required; settings that only mean something with sign-in are refused without it.
 */
function parseSignIn(env: Env): SignInConfig | undefined {
  const names = ['OIDC_ISSUER', 'OIDC_CLIENT_ID', 'OIDC_CLIENT_SECRET'] as const;
  const set = names.filter((name) => value(env, name) !== undefined);
  const toAuthorize = parseBoolean(env, 'SIGN_IN_TO_AUTHORIZE');
  const allowedEmails = parseEmailPatterns(env, 'ALLOWED_EMAILS');
  const adminEmails = parseEmailPatterns(env, 'ADMIN_EMAILS');
  if (set.length === 0) {
    const stray = [
      toAuthorize && 'SIGN_IN_TO_AUTHORIZE',
      allowedEmails.length && 'ALLOWED_EMAILS',
      adminEmails.length && 'ADMIN_EMAILS',
    ].filter(Boolean);
    if (stray.length)
      throw new ConfigError(`${stray.join(', ')} need sign-in: set OIDC_ISSUER, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET (docs/teams.md)`);
    return undefined;
  }
  if (set.length < names.length) {
    const missing = names.filter((name) => !set.includes(name));
    throw new ConfigError(`Sign-in needs OIDC_ISSUER, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET together; ${missing.join(' and ')} missing`);
  }
  if (allowedEmails.length === 0 && adminEmails.length === 0)
    throw new ConfigError('With sign-in, set ALLOWED_EMAILS (addresses or *@your-company.com) and/or ADMIN_EMAILS: who may sign in');
  return {
    issuer: parseIssuer(value(env, 'OIDC_ISSUER')!),
    clientId: value(env, 'OIDC_CLIENT_ID')!,
    clientSecret: value(env, 'OIDC_CLIENT_SECRET')!,
    allowedEmails,
    adminEmails,
    toAuthorize,
  };
}

/** An https URL (http only on loopback, for a provider run beside the server in development or tests). */
function parseIssuer(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(
      `OIDC_ISSUER must be the provider's issuer URL, such as https://accounts.google.com (got ${JSON.stringify(raw)})`,
    );
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopbackHost(url.hostname)))
    throw new ConfigError('OIDC_ISSUER must use https (http only on localhost)');
  if (url.search || url.hash || url.username || url.password) throw new ConfigError('OIDC_ISSUER must not have a query, fragment or user');
  return raw;
}

/** `alice@example.com, *@example.org`: lower-cased; anything else is refused by name. */
function parseEmailPatterns(env: Env, name: string): string[] {
  const patterns = (value(env, name) ?? '')
    .split(/[\s,]+/)
    .map((pattern) => pattern.trim().toLowerCase())
    .filter(Boolean);
  for (const pattern of patterns) {
    if (!/^(\*|[^@\s*]+)@[a-z0-9.-]+\.[a-z0-9-]+$/.test(pattern))
      throw new ConfigError(`${name} takes addresses and *@domain patterns, comma-separated (got ${JSON.stringify(pattern)})`);
  }
  return patterns;
}

/** `claude.ai, *.example.com`: lower-cased host names, a leading `*.` for any subdomain. */
function parseHostPatterns(env: Env, name: string): string[] {
  const patterns = (value(env, name) ?? '')
    .split(/[\s,]+/)
    .map((pattern) => pattern.trim().toLowerCase())
    .filter(Boolean);
  for (const pattern of patterns) {
    if (!/^(\*\.)?[a-z0-9-]+(\.[a-z0-9-]+)*$/.test(pattern))
      throw new ConfigError(
        `${name} takes host names such as claude.ai or *.example.com, comma-separated (got ${JSON.stringify(pattern)})`,
      );
  }
  return patterns;
}

export function parseServerConfig(env: Env): ServerConfig {
  const server: ServerConfig = {
    port: parseInteger(env, 'PORT', { min: 1, max: 65535 }),
    host: value(env, 'HOST') ?? DEFAULTS.HOST!,
    dataDir: value(env, 'DATA_DIR') ?? DEFAULTS.DATA_DIR!,
    trustProxy: parseBoolean(env, 'TRUST_PROXY'),
    redisUrl: parseRedisUrl(value(env, 'REDIS_URL')),
    redisKeyPrefix: parseKeyPrefix(env, 'REDIS_KEY_PREFIX'),
    maxConnections: valueOrDefault(env, 'MAX_CONNECTIONS') === 'auto' ? undefined : parseInteger(env, 'MAX_CONNECTIONS', { min: 16 }),
    headersTimeoutMs: parseInteger(env, 'HEADERS_TIMEOUT_MS', { min: 1000 }),
    requestTimeoutMs: parseInteger(env, 'REQUEST_TIMEOUT_MS', { min: 1000 }),
    maxHeadersCount: parseInteger(env, 'MAX_HEADERS_COUNT', { min: 20 }),
    workers: valueOrDefault(env, 'WORKERS') === 'auto' ? 'auto' : parseWorkerCount(env),
    stdioServers: value(env, 'STDIO_SERVERS'),
    stdioSandbox: parseSandbox(valueOrDefault(env, 'STDIO_SANDBOX')),
    stdioMaxProcesses: parseInteger(env, 'STDIO_MAX_PROCESSES', { min: 1 }),
    stdioMaxPerEndpoint: parseInteger(env, 'STDIO_MAX_PER_ENDPOINT', { min: 1 }),
    stdioMemoryMb: parseStdioMemory(env),
  };
  // A grant's process lives in the server process that started it; workers sharing the port would
  // send its requests to processes that do not have it.
  if (server.stdioServers && server.workers !== 1)
    throw new ConfigError('STDIO_SERVERS needs WORKERS=1: a stdio server process lives in the server process that started it');
  // Node refuses to start with a header timeout longer than the whole request's.
  if (server.headersTimeoutMs > server.requestTimeoutMs)
    throw new ConfigError('HEADERS_TIMEOUT_MS must not be longer than REQUEST_TIMEOUT_MS');
  return server;
}

/**
 * `redis://[user:password@]host[:port][/db]`, or `rediss://` for TLS. Checked here so a typo stops
 * start-up with a clear message instead of a connection error; the message never repeats the URL,
 * which may hold a password.
 */
function parseRedisUrl(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  const problem = 'REDIS_URL must look like redis://[:password@]host[:port][/db] (or rediss:// for TLS)';
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(problem);
  }
  if ((url.protocol !== 'redis:' && url.protocol !== 'rediss:') || !url.hostname) throw new ConfigError(problem);
  if (!/^\/?(\d+)?$/.test(url.pathname) || url.search || url.hash) throw new ConfigError(`${problem}; the database is a number`);
  return raw;
}

function parseKeyPrefix(env: Env, name: string): string {
  const raw = valueOrDefault(env, name);
  if (!/^[A-Za-z0-9._:{}-]{1,64}$/.test(raw)) {
    throw new ConfigError(`${name} must be 1 to 64 letters, digits or . _ : - { } (got ${JSON.stringify(raw)})`);
  }
  return raw;
}

function parseSandbox(raw: string): 'required' | 'off' {
  if (raw !== 'required' && raw !== 'off') throw new ConfigError(`STDIO_SANDBOX must be required or off (got ${JSON.stringify(raw)})`);
  return raw;
}

function parseWorkerCount(env: Env): number {
  try {
    return parseInteger(env, 'WORKERS', { min: 1, max: 256 });
  } catch {
    throw new ConfigError(`WORKERS must be auto or a whole number from 1 to 256 (got ${JSON.stringify(valueOrDefault(env, 'WORKERS'))})`);
  }
}

/** The raw value; an empty one (easy to leave in a dashboard or an env file) counts as unset. */
function value(env: Env, name: string): string | undefined {
  const raw = env[name];
  return raw === undefined || raw === '' ? undefined : raw;
}

function valueOrDefault(env: Env, name: string): string {
  const raw = value(env, name) ?? DEFAULTS[name];
  if (raw === undefined) throw new Error(`no default for ${name}`);
  return raw;
}

function parsePublicUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`PUBLIC_URL must be an absolute URL such as https://mcp.example.com (got ${JSON.stringify(raw)})`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new ConfigError('PUBLIC_URL must use https (or http for a local server)');
  // The OAuth engine refuses a plain-http issuer on any host but loopback (RFC 8252 §7.3), and would
  // answer 500 to every OAuth and MCP request: better to stop here and say why.
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname)) {
    throw new ConfigError(
      `PUBLIC_URL must use https on a host other than localhost (got ${url.origin}): OAuth clients and the OAuth engine refuse a plain-http issuer. Put the server behind a reverse proxy that terminates TLS (README: Production) and set PUBLIC_URL to its https origin.`,
    );
  }
  if (url.pathname !== '/' || url.search || url.hash || url.username || url.password) {
    // The issuer sits at the origin root: the most compatible choice (docs/architecture.md).
    throw new ConfigError('PUBLIC_URL must be a bare origin such as https://mcp.example.com, without a path');
  }
  return url.origin;
}

/** `localhost`, 127.0.0.0/8 and ::1: the hosts where the engine accepts plain http. */
function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase();
  return host === 'localhost' || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

function parseBoolean(env: Env, name: string): boolean {
  const raw = valueOrDefault(env, name);
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new ConfigError(`${name} must be true or false (got ${JSON.stringify(raw)})`);
}

function parseInteger(env: Env, name: string, { min, max = Number.MAX_SAFE_INTEGER }: { min: number; max?: number }): number {
  const raw = valueOrDefault(env, name);
  if (!/^\d+$/.test(raw)) throw new ConfigError(`${name} must be a whole number (got ${JSON.stringify(raw)})`);
  const parsed = Number(raw);
  if (!Number.isSafeInteger(parsed) || parsed < min) throw new ConfigError(`${name} must be at least ${min}`);
  if (parsed > max) throw new ConfigError(`${name} must be at most ${max}`);
  return parsed;
}

/** `RATE_LIMIT_X=20/3600` means 20 requests per 3600 seconds; `0` turns the limit off. */
function parseRateLimit(env: Env, name: string): RateLimit {
  const raw = valueOrDefault(env, name);
  const fallbackWindow = Number(DEFAULTS[name]!.split('/')[1]);
  if (raw === '0') return { limit: 0, windowSeconds: fallbackWindow };
  const match = /^(\d+)\/(\d+)$/.exec(raw);
  if (!match || Number(match[2]) < 1) throw new ConfigError(`${name} must look like 20/3600 (requests per seconds), or 0 to turn it off`);
  return { limit: Number(match[1]), windowSeconds: Number(match[2]) };
}

/**
 * A stdio process tree's memory limit in MB, for `STDIO_MEMORY_MB` and a server's `memory_mb` alike:
 * 0 for none, else from 32 (below that, Node itself does not start) to 1 TB.
 */
export function isStdioMemoryMb(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && (value === 0 || (value >= 32 && value <= 1_048_576));
}

function parseStdioMemory(env: Env): number {
  const raw = valueOrDefault(env, 'STDIO_MEMORY_MB');
  const parsed = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!isStdioMemoryMb(parsed))
    throw new ConfigError(
      `STDIO_MEMORY_MB must be a whole number of MB from 32 to 1048576, or 0 for no limit (got ${JSON.stringify(raw)})`,
    );
  return parsed;
}

function parseLogLevel(env: Env): LogLevel {
  const raw = valueOrDefault(env, 'LOG_LEVEL');
  const level = raw.toLowerCase();
  if (level === 'debug' || level === 'info' || level === 'warn' || level === 'error' || level === 'silent') return level;
  throw new ConfigError(`LOG_LEVEL must be one of debug, info, warn, error, silent (got ${JSON.stringify(raw)})`);
}

/** A bearer token an operator picks: long enough that guessing it is hopeless. */
function parseToken(env: Env, name: string): string | undefined {
  const raw = value(env, name);
  if (raw === undefined) return undefined;
  if (raw.length < 16 || /\s/.test(raw))
    throw new ConfigError(`${name} must be at least 16 characters without spaces (openssl rand -hex 24)`);
  return raw;
}

function parseSecret(env: Env, name: string): string | undefined {
  const raw = value(env, name);
  if (raw === undefined) return undefined;
  const problem = secretProblem(name, raw.trim());
  if (problem) throw new ConfigError(problem);
  return raw.trim();
}

/**
 * Why `secret` is too weak to key our MACs (legacy SSE message URLs, rate-limit buckets), or
 * undefined. Entropy cannot be measured from one string, so this is an upper estimate that random
 * secrets pass and the usual mistakes fail: the length times the bits per character of the
 * smallest alphabet the secret fits in (hex 4, base64 6, any printable ASCII 6.5), and, against a
 * repeated pattern, the length times the Shannon entropy of its own characters must reach half that
 * (a random secret's is close to its alphabet's; `abab…` has 1 bit). Never echoes the value.
 */
export function secretProblem(name: string, secret: string): string | undefined {
  const length = secret.replace(/=+$/, '').length;
  const perCharacter = /^[0-9a-f]+$/i.test(secret) ? 4 : /^[A-Za-z0-9+/_-]+=*$/.test(secret) ? 6 : 6.5;
  const counts = new Map<string, number>();
  for (const character of secret) counts.set(character, (counts.get(character) ?? 0) + 1);
  let shannon = 0;
  for (const count of counts.values()) shannon -= (count / secret.length) * Math.log2(count / secret.length);
  const bits = length * perCharacter;
  if (bits >= MIN_SECRET_BITS && secret.length * shannon >= MIN_SECRET_BITS / 2 && shannon >= 3) return undefined;
  return `${name} must hold at least 32 random bytes (64 hex digits or 43 base64 characters); this one looks like less. Generate one with: openssl rand -base64 32`;
}
