/**
 * Every setting, from environment variables (Node) or Worker vars and secrets (Cloudflare): the
 * same names on both, each parsed once by the same strict rules (a typo such as `TRUST_PROXY=ture`
 * is refused, never read as false), with defaults from `DEFAULTS`, which the README's
 * Configuration table must match (a test compares them). A bad value stops start-up with a
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
  accessTokenTtl: number;
  refreshTokenTtl: number;
  /** Connect and first-byte timeouts for upstream requests, in milliseconds. */
  upstreamConnectTimeoutMs: number;
  upstreamFirstByteTimeoutMs: number;
  /** Largest request body accepted on MCP routes and on every other route, in bytes. */
  maxMcpBodyBytes: number;
  maxBodyBytes: number;
  /**
   * Requests per window: endpoint creation, client registration, authorization-page key
   * submissions per client address, and key submissions per endpoint (from all addresses).
   */
  rateLimits: {
    createEndpoint: RateLimit;
    registerClient: RateLimit;
    authorizeSubmit: RateLimit;
    authorizeSubmitPerEndpoint: RateLimit;
    /** Authorization pages shown per client address: each stores a consent transaction for ten minutes. */
    authorizePage: RateLimit;
    /** Requests to the manage API (`/api/slugs/:slug`) per client address, so tokens cannot be guessed. */
    manage: RateLimit;
  };
  logLevel: LogLevel;
  /** `KEY2OAUTH_SECRET`: the deployment secret when the operator sets one (replicas must share it). */
  secret: string | undefined;
}

/** Settings only the self-hosted Node server reads: a Worker has no port, disk or socket. */
export interface ServerConfig {
  port: number;
  host: string;
  dataDir: string;
  /** Take the client address from the last `X-Forwarded-For` entry (behind a reverse proxy). */
  trustProxy: boolean;
  /** Server processes sharing the port and the SQLite file: a number, or `auto` for one per CPU core. */
  workers: number | 'auto';
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
 * Each setting's default, as the README's Configuration table writes it. A name missing here is
 * unset by default (or, PUBLIC_URL, derived: from PORT on Node, from the request on Workers).
 */
export const DEFAULTS: Readonly<Record<string, string>> = {
  PORT: '8787',
  HOST: '127.0.0.1',
  DATA_DIR: './data',
  ALLOW_PRIVATE_UPSTREAMS: 'false',
  ACCESS_TOKEN_TTL: '3600',
  REFRESH_TOKEN_TTL: '2592000',
  UPSTREAM_CONNECT_TIMEOUT_MS: '10000',
  UPSTREAM_FIRST_BYTE_TIMEOUT_MS: '60000',
  MAX_MCP_BODY_BYTES: '4194304',
  MAX_BODY_BYTES: '65536',
  RATE_LIMIT_CREATE: '20/3600',
  RATE_LIMIT_REGISTER: '30/3600',
  RATE_LIMIT_AUTHORIZE: '10/600',
  RATE_LIMIT_AUTHORIZE_ENDPOINT: '60/600',
  RATE_LIMIT_AUTHORIZE_PAGE: '120/600',
  RATE_LIMIT_MANAGE: '60/600',
  TRUST_PROXY: 'false',
  WORKERS: '1',
  LOG_LEVEL: 'info',
};

/** Settings with no default, documented as unset or empty. */
export const OPTIONAL = ['PUBLIC_URL', 'UPSTREAM_ALLOWLIST', 'ADMIN_TOKEN', 'KEY2OAUTH_SECRET'] as const;

/** Shortest `KEY2OAUTH_SECRET` accepted, in characters. */
export const MIN_SECRET_LENGTH = 32;

export function parseConfig(env: Env, defaults: { publicUrl: string }): Config {
  return {
    publicUrl: parsePublicUrl(value(env, 'PUBLIC_URL') ?? defaults.publicUrl),
    allowPrivateUpstreams: parseBoolean(env, 'ALLOW_PRIVATE_UPSTREAMS'),
    upstreamAllowlist: (value(env, 'UPSTREAM_ALLOWLIST') ?? '')
      .split(/[\s,]+/)
      .map((pattern) => pattern.trim().toLowerCase())
      .filter(Boolean),
    adminToken: value(env, 'ADMIN_TOKEN'),
    accessTokenTtl: parseInteger(env, 'ACCESS_TOKEN_TTL', { min: 60 }),
    refreshTokenTtl: parseInteger(env, 'REFRESH_TOKEN_TTL', { min: 60 }),
    upstreamConnectTimeoutMs: parseInteger(env, 'UPSTREAM_CONNECT_TIMEOUT_MS', { min: 1 }),
    upstreamFirstByteTimeoutMs: parseInteger(env, 'UPSTREAM_FIRST_BYTE_TIMEOUT_MS', { min: 1 }),
    maxMcpBodyBytes: parseInteger(env, 'MAX_MCP_BODY_BYTES', { min: 1024 }),
    maxBodyBytes: parseInteger(env, 'MAX_BODY_BYTES', { min: 1024 }),
    rateLimits: {
      createEndpoint: parseRateLimit(env, 'RATE_LIMIT_CREATE'),
      registerClient: parseRateLimit(env, 'RATE_LIMIT_REGISTER'),
      authorizeSubmit: parseRateLimit(env, 'RATE_LIMIT_AUTHORIZE'),
      authorizeSubmitPerEndpoint: parseRateLimit(env, 'RATE_LIMIT_AUTHORIZE_ENDPOINT'),
      manage: parseRateLimit(env, 'RATE_LIMIT_MANAGE'),
      authorizePage: parseRateLimit(env, 'RATE_LIMIT_AUTHORIZE_PAGE'),
    },
    logLevel: parseLogLevel(env),
    secret: parseSecret(env, 'KEY2OAUTH_SECRET'),
  };
}

export function parseServerConfig(env: Env): ServerConfig {
  return {
    port: parseInteger(env, 'PORT', { min: 1, max: 65535 }),
    host: value(env, 'HOST') ?? DEFAULTS.HOST!,
    dataDir: value(env, 'DATA_DIR') ?? DEFAULTS.DATA_DIR!,
    trustProxy: parseBoolean(env, 'TRUST_PROXY'),
    workers: valueOrDefault(env, 'WORKERS') === 'auto' ? 'auto' : parseWorkerCount(env),
  };
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
  if (url.pathname !== '/' || url.search || url.hash || url.username || url.password) {
    // The issuer sits at the origin root: the most compatible choice (docs/architecture.md).
    throw new ConfigError('PUBLIC_URL must be a bare origin such as https://mcp.example.com, without a path');
  }
  return url.origin;
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

function parseLogLevel(env: Env): LogLevel {
  const raw = valueOrDefault(env, 'LOG_LEVEL');
  const level = raw.toLowerCase();
  if (level === 'debug' || level === 'info' || level === 'warn' || level === 'error' || level === 'silent') return level;
  throw new ConfigError(`LOG_LEVEL must be one of debug, info, warn, error, silent (got ${JSON.stringify(raw)})`);
}

function parseSecret(env: Env, name: string): string | undefined {
  const raw = value(env, name);
  if (raw === undefined) return undefined;
  if (raw.trim().length < MIN_SECRET_LENGTH) {
    throw new ConfigError(`${name} must be at least ${MIN_SECRET_LENGTH} random characters (32 bytes as base64: openssl rand -base64 32)`);
  }
  return raw.trim();
}
