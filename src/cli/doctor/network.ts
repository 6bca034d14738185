import { TIMEOUT_MS } from './findings.ts';

/**
 * What a failed request means, in words an operator can act on. Node's fetch (undici) throws
 * `TypeError('fetch failed')` with the socket's or TLS layer's error as `cause`; its `code` says
 * which. A certificate the client does not trust is the usual fault of a new deployment (a
 * self-signed or private-CA certificate, a missing intermediate, a name it was not issued for),
 * and every MCP client refuses it exactly as this command does, so it is named as such.
 */

/** OpenSSL's verification failures, as Node reports them, with what each means. */
const UNTRUSTED: Record<string, string> = {
  DEPTH_ZERO_SELF_SIGNED_CERT: 'it is self-signed',
  SELF_SIGNED_CERT_IN_CHAIN: 'its chain ends in a self-signed certificate no client trusts',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'its issuer is unknown (an intermediate certificate is missing, or a private CA)',
  UNABLE_TO_GET_ISSUER_CERT: 'its issuer is unknown (an intermediate certificate is missing, or a private CA)',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'its issuer is unknown (an intermediate certificate is missing, or a private CA)',
  CERT_HAS_EXPIRED: 'it has expired',
  CERT_NOT_YET_VALID: 'it is not valid yet (check the server clock)',
  ERR_TLS_CERT_ALTNAME_INVALID: 'it was issued for another host name',
  CERT_REVOKED: 'it has been revoked',
  CERT_UNTRUSTED: 'it is not trusted for this purpose',
};

export interface NetworkProblem {
  detail: string;
  /** Set when the cause has a fix of its own (an untrusted certificate); otherwise the step says what to check. */
  fix?: string;
}

export function networkProblem(error: unknown): NetworkProblem {
  if (!(error instanceof Error)) return { detail: String(error) };
  const cause = error.cause as { code?: string; message?: string } | undefined;
  const code = cause?.code ?? (error as { code?: string }).code;
  if (code && code in UNTRUSTED) {
    const fix =
      code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID'
        ? 'Renew the certificate (Caddy and certbot renew Let’s Encrypt certificates by themselves when they run), and check the server’s clock.'
        : 'Serve a certificate from a public CA for this host name, with its full chain (Caddy, certbot with Let’s Encrypt, or Cloudflare in front). If the certificate comes from your own CA on purpose, every client machine must trust that CA; to run doctor against it, set NODE_EXTRA_CA_CERTS=/path/to/ca.pem.';
    return { detail: `the server's TLS certificate is not trusted: ${UNTRUSTED[code]} (${cause?.message ?? code}, ${code})`, fix };
  }
  if (error.name === 'TimeoutError') return { detail: `no answer within ${TIMEOUT_MS / 1000} s` };
  return { detail: code ?? cause?.message ?? error.message };
}
