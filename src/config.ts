/**
 * Configuration from environment variables (Node) or Worker vars (Cloudflare): the same names on
 * both. Parsed once, validated, with defaults; a bad value stops start-up with a message that
 * names the variable, never a stack trace.
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

export function parseConfig(env: Env, defaults: { publicUrl: string }): Config {
  return {
    publicUrl: parsePublicUrl(env.PUBLIC_URL ?? defaults.publicUrl),
    allowPrivateUpstreams: parseBoolean(env, 'ALLOW_PRIVATE_UPSTREAMS', false),
    upstreamAllowlist: (env.UPSTREAM_ALLOWLIST ?? '')
      .split(/[\s,]+/)
      .map((pattern) => pattern.trim().toLowerCase())
      .filter(Boolean),
    adminToken: env.ADMIN_TOKEN ? env.ADMIN_TOKEN : undefined,
    accessTokenTtl: parseInteger(env, 'ACCESS_TOKEN_TTL', 3600, { min: 60 }),
    refreshTokenTtl: parseInteger(env, 'REFRESH_TOKEN_TTL', 30 * 24 * 3600, { min: 60 }),
    upstreamConnectTimeoutMs: parseInteger(env, 'UPSTREAM_CONNECT_TIMEOUT_MS', 10_000, { min: 1 }),
    upstreamFirstByteTimeoutMs: parseInteger(env, 'UPSTREAM_FIRST_BYTE_TIMEOUT_MS', 60_000, { min: 1 }),
    maxMcpBodyBytes: parseInteger(env, 'MAX_MCP_BODY_BYTES', 4 * 1024 * 1024, { min: 1024 }),
    maxBodyBytes: parseInteger(env, 'MAX_BODY_BYTES', 64 * 1024, { min: 1024 }),
    rateLimits: {
      createEndpoint: parseRateLimit(env, 'RATE_LIMIT_CREATE', { limit: 20, windowSeconds: 3600 }),
      registerClient: parseRateLimit(env, 'RATE_LIMIT_REGISTER', { limit: 30, windowSeconds: 3600 }),
      authorizeSubmit: parseRateLimit(env, 'RATE_LIMIT_AUTHORIZE', { limit: 10, windowSeconds: 600 }),
      authorizeSubmitPerEndpoint: parseRateLimit(env, 'RATE_LIMIT_AUTHORIZE_ENDPOINT', { limit: 60, windowSeconds: 600 }),
      manage: parseRateLimit(env, 'RATE_LIMIT_MANAGE', { limit: 60, windowSeconds: 600 }),
      authorizePage: parseRateLimit(env, 'RATE_LIMIT_AUTHORIZE_PAGE', { limit: 120, windowSeconds: 600 }),
    },
    logLevel: parseLogLevel(env.LOG_LEVEL),
  };
}

function parsePublicUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`PUBLIC_URL must be an absolute URL such as https://mcp.example.com (got ${JSON.stringify(raw)})`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new ConfigError('PUBLIC_URL must use https (or http for a local server)');
  if (url.pathname !== '/' || url.search || url.hash || url.username || url.password) {
    // The issuer sits at the origin root: the most compatible choice (see CLIENTS.md).
    throw new ConfigError('PUBLIC_URL must be a bare origin such as https://mcp.example.com, without a path');
  }
  return url.origin;
}

function parseBoolean(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new ConfigError(`${name} must be true or false (got ${JSON.stringify(raw)})`);
}

function parseInteger(env: Env, name: string, fallback: number, { min }: { min: number }): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(`${name} must be a whole number (got ${JSON.stringify(raw)})`);
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < min) throw new ConfigError(`${name} must be at least ${min}`);
  return value;
}

/** `RATE_LIMIT_X=20/3600` means 20 requests per 3600 seconds; `0` turns the limit off. */
function parseRateLimit(env: Env, name: string, fallback: RateLimit): RateLimit {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (raw === '0') return { limit: 0, windowSeconds: fallback.windowSeconds };
  const match = /^(\d+)\/(\d+)$/.exec(raw);
  if (!match || Number(match[2]) < 1) throw new ConfigError(`${name} must look like 20/3600 (requests per seconds), or 0 to turn it off`);
  return { limit: Number(match[1]), windowSeconds: Number(match[2]) };
}

function parseLogLevel(raw: string | undefined): LogLevel {
  const value = (raw ?? 'info').toLowerCase();
  if (value === 'debug' || value === 'info' || value === 'warn' || value === 'error' || value === 'silent') return value;
  throw new ConfigError(`LOG_LEVEL must be one of debug, info, warn, error, silent (got ${JSON.stringify(raw)})`);
}
