/**
 * A short, secret-free reason for a failed upstream fetch. fetch wraps network failures as
 * `TypeError: fetch failed` with the real cause (ECONNREFUSED, ENOTFOUND, a blocked address…)
 * inside; we report the cause's code or message, never the request (which holds the key).
 */
export function describeUpstreamError(error: unknown): string {
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (current && typeof current === 'object' && !seen.has(current)) {
    seen.add(current);
    const { name, code, message, cause } = current as { name?: string; code?: string; message?: string; cause?: unknown };
    if (name === 'UpstreamBlockedError' && message) return message;
    if (typeof code === 'string' && KNOWN_CODES[code]) return KNOWN_CODES[code];
    // A message that quotes a URL is never repeated: the URL fetched may carry a key in its query.
    if (!cause) return message && message !== 'fetch failed' && !QUOTES_URL.test(message) ? message : 'network error';
    current = cause;
  }
  return 'network error';
}

const QUOTES_URL = /[a-z][a-z0-9+.-]*:\/\/|[?&][^\s=&]+=/i;

const KNOWN_CODES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'DNS lookup failed',
  ETIMEDOUT: 'connection timed out',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  UND_ERR_SOCKET: 'connection closed unexpectedly',
  CERT_HAS_EXPIRED: 'TLS certificate has expired',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'TLS certificate is self-signed',
  ERR_TLS_CERT_ALTNAME_INVALID: 'TLS certificate does not match the host',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'TLS certificate could not be verified',
};

/** Codes of failures that mean "too slow" rather than "refused" or "gone". */
const TIMEOUT_CODES = new Set(['ETIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT']);

/**
 * Whether a failed upstream fetch timed out (connecting, or waiting for headers): such failures
 * are answered with 504, every other network failure with 502.
 */
export function isUpstreamTimeout(error: unknown): boolean {
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (current && typeof current === 'object' && !seen.has(current)) {
    seen.add(current);
    const { name, code, cause } = current as { name?: string; code?: string; cause?: unknown };
    if (name === 'TimeoutError' || (typeof code === 'string' && TIMEOUT_CODES.has(code))) return true;
    current = cause;
  }
  return false;
}

/** What kind of failure a fetch met, for a person deciding what to do: each is said differently. */
export type FailureKind = 'refused' | 'timeout' | 'dns' | 'tls' | 'blocked' | 'network';

const KIND_OF_CODE: Record<string, FailureKind> = {
  ECONNREFUSED: 'refused',
  ENOTFOUND: 'dns',
  EAI_AGAIN: 'dns',
  ETIMEDOUT: 'timeout',
  UND_ERR_CONNECT_TIMEOUT: 'timeout',
  UND_ERR_HEADERS_TIMEOUT: 'timeout',
  CERT_HAS_EXPIRED: 'tls',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'tls',
  SELF_SIGNED_CERT_IN_CHAIN: 'tls',
  ERR_TLS_CERT_ALTNAME_INVALID: 'tls',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'tls',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'tls',
  ERR_SSL_WRONG_VERSION_NUMBER: 'tls',
};

/**
 * The kind of a failed upstream fetch, read from the error's causes (undici's codes on Node).
 * On Workers a fetch failure carries no code: its message is read for the few Cloudflare writes.
 */
export function failureKind(error: unknown): FailureKind {
  if (isUpstreamTimeout(error)) return 'timeout';
  const seen = new Set<unknown>();
  let current: unknown = error;
  while (current && typeof current === 'object' && !seen.has(current)) {
    seen.add(current);
    const { name, code, message, cause } = current as { name?: string; code?: string; message?: string; cause?: unknown };
    if (name === 'UpstreamBlockedError') return 'blocked';
    if (typeof code === 'string' && KIND_OF_CODE[code]) return KIND_OF_CODE[code];
    if (typeof message === 'string') {
      if (/refused/i.test(message)) return 'refused';
      if (/timed? ?out/i.test(message)) return 'timeout';
      if (/dns|not resolve|getaddrinfo|no such host/i.test(message)) return 'dns';
      if (/tls|ssl|certificate/i.test(message)) return 'tls';
    }
    current = cause;
  }
  return 'network';
}

/** The failure in words, for pages and API messages: what happened, never the request. */
export const FAILURE_WORDS: Record<FailureKind, string> = {
  refused: 'the connection was refused (nothing listens on that port)',
  timeout: 'it did not answer in time',
  dns: 'its host name was not found',
  tls: 'its TLS certificate could not be verified',
  blocked: 'its address is not allowed here',
  network: 'the connection failed',
};
