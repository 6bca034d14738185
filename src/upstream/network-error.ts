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
