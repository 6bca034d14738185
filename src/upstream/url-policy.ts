import ipaddr from 'ipaddr.js';
import { checkAddress } from './address-policy.ts';

/**
 * The first gate for an upstream URL a stranger typed in: scheme, credentials, host name rules and
 * IP literals. Pure, so it runs on Node and Workers alike. It cannot see DNS: a public-looking name
 * may still resolve inside, which is why Node also checks every address at connect time
 * (`adapters/node/guarded-fetch.ts`) and Workers rely on `global_fetch_strictly_public`.
 *
 * Callers must use the returned `url` (or its `href`) from here on, never the raw string, so the
 * URL that was checked is exactly the URL that is fetched.
 */

export interface UpstreamPolicy {
  /** Development only: allows http:// and loopback or private hosts. */
  allowPrivate: boolean;
  /** Host patterns (`example.com`, `*.example.com`); when non-empty, the host must match one. */
  allowlist: string[];
}

export type UpstreamUrlCheck = { ok: true; url: URL } | { ok: false; reason: string };

/**
 * A refused upstream destination. `reason` (also the `message`) is plain English, names no secret,
 * and is safe to show to the user: answer 400 at endpoint creation, 502 on the data path.
 */
export class UpstreamBlockedError extends Error {
  override name = 'UpstreamBlockedError';
  readonly reason: string;
  constructor(reason: string) {
    super(reason);
    this.reason = reason;
  }
}

export const MAX_UPSTREAM_URL_LENGTH = 2048;

/**
 * Top-level names that never lead to the public internet: RFC 6761 / 6762 / 7686 / 8375 / 9476
 * special-use names, ICANN's reserved `.internal`, and names ICANN will not delegate because
 * private networks already use them.
 */
const PRIVATE_TLDS = new Set([
  'localhost',
  'local',
  'internal',
  'localdomain',
  'test',
  'example',
  'invalid',
  'onion',
  'alt',
  'arpa',
  'home',
  'corp',
  'mail',
  'lan',
  'intranet',
  'private',
  'svc',
]);

/** Cloud metadata names; refused even with `allowPrivate`, since they hand out cloud credentials. */
const METADATA_HOSTS = new Set(['metadata', 'metadata.google.internal', 'instance-data', 'instance-data.ec2.internal']);

export function checkUpstreamUrl(raw: string, policy: UpstreamPolicy): UpstreamUrlCheck {
  const text = raw.trim();
  if (text.length === 0) return refuse('Enter the URL of the upstream MCP server, such as https://mcp.example.com/mcp.');
  if (text.length > MAX_UPSTREAM_URL_LENGTH) {
    return refuse(`The URL is too long (the limit is ${MAX_UPSTREAM_URL_LENGTH} characters).`);
  }
  // The URL parser silently drops tabs and newlines; refusing them keeps what was typed and what is
  // fetched the same.
  if (hasSpaceOrControl(text)) return refuse('The URL must not contain spaces or control characters.');

  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return refuse('This is not a valid URL. Use the full address, such as https://mcp.example.com/mcp.');
  }
  if (url.href.length > MAX_UPSTREAM_URL_LENGTH) {
    return refuse(`The URL is too long (the limit is ${MAX_UPSTREAM_URL_LENGTH} characters).`);
  }

  if (url.protocol !== 'https:' && !(policy.allowPrivate && url.protocol === 'http:')) {
    return refuse(policy.allowPrivate ? 'The URL must start with https:// or http://.' : 'The URL must start with https://.');
  }
  if (url.username || url.password) {
    // Never echo them: a password in the URL is exactly the kind of secret this bridge protects.
    return refuse('The URL must not contain a user name or password. The API key is entered on the authorization page instead.');
  }
  if (url.hash) return refuse('The URL must not contain a #fragment.');

  const hostProblem = checkHost(url.hostname, policy.allowPrivate);
  if (hostProblem) return refuse(hostProblem);

  if (policy.allowlist.length > 0 && !matchesAllowlist(url.hostname, policy.allowlist)) {
    return refuse('This server only forwards to approved upstream hosts, and this host is not one of them.');
  }
  return { ok: true, url };
}

/** URLs whose verdict `rememberedUrlCheck` keeps; the oldest goes first. */
const VERDICTS_KEPT = 1000;

/**
 * `checkUpstreamUrl` for a fixed policy, remembering its verdict per URL: the check is pure, and
 * every MCP message of an endpoint goes to the same URL, so the data path (Node's guard, the
 * Worker's fetch) checks each URL once per process or isolate instead of on every message. The
 * verdict, its `url` included, is shared between callers: read it, never change it.
 */
export function rememberedUrlCheck(policy: UpstreamPolicy): (raw: string) => UpstreamUrlCheck {
  const verdicts = new Map<string, UpstreamUrlCheck>();
  return (raw) => {
    let verdict = verdicts.get(raw);
    if (!verdict) {
      verdict = checkUpstreamUrl(raw, policy);
      if (verdicts.size >= VERDICTS_KEPT) verdicts.delete(verdicts.keys().next().value!);
      verdicts.set(raw, verdict);
    }
    return verdict;
  };
}

/** The reason a host is refused, or null. `hostname` is a WHATWG-parsed `URL#hostname`. */
function checkHost(hostname: string, allowPrivate: boolean): string | null {
  if (hostname.startsWith('[')) return checkLiteral(hostname.slice(1, -1), allowPrivate);

  // `localhost.` and `localhost` are the same name to a resolver.
  const name = hostname.replace(/\.+$/, '');
  const labels = name.split('.');
  if (name === '' || labels.some((label) => label === '')) return 'The host name is not valid.';

  // The URL parser turns every IPv4 notation (2130706433, 0x7f.1, 0177.0.0.1, 127.1) into a dotted
  // quad, and fails on a number it cannot read; a numeric last label that survived parsing is
  // therefore an address, or something no resolver should be asked about.
  const last = labels[labels.length - 1] ?? '';
  if (ipaddr.IPv4.isValidFourPartDecimal(name)) return checkLiteral(name, allowPrivate);
  if (/^(0x[0-9a-f]*|[0-9]+)$/i.test(last)) return 'The host name is not valid.';

  if (METADATA_HOSTS.has(name)) return 'Cloud metadata services cannot be used as upstreams.';
  if (allowPrivate) return null;
  if (name === 'localhost' || name.endsWith('.localhost')) return 'Local host names such as localhost cannot be used as upstreams.';
  if (labels.length === 1) return 'The host must be a full public domain name, such as mcp.example.com.';
  if (PRIVATE_TLDS.has(last)) return `Host names ending in .${last} are private and cannot be used as upstreams.`;
  return null;
}

function checkLiteral(address: string, allowPrivate: boolean): string | null {
  const verdict = checkAddress(address, { allowPrivate });
  if (verdict.allowed) return null;
  return `The upstream address is ${verdict.kind}; only public internet addresses are allowed.`;
}

/** `example.com` matches only itself; `*.example.com` matches any subdomain, not the apex. */
export function matchesAllowlist(hostname: string, patterns: string[]): boolean {
  const host = hostname.replace(/\.+$/, '').toLowerCase();
  return patterns.some((pattern) => {
    const wildcard = pattern.startsWith('*.');
    const base = normalizePatternHost(wildcard ? pattern.slice(2) : pattern);
    if (!base) return false;
    return wildcard ? host.endsWith(`.${base}`) : host === base;
  });
}

/** Lowercases and punycodes a pattern the way the URL parser treats hosts, so `Bücher.de` matches. */
function normalizePatternHost(pattern: string): string {
  const trimmed = pattern.trim().replace(/\.+$/, '');
  try {
    return new URL(`http://${trimmed}/`).hostname;
  } catch {
    return trimmed.toLowerCase();
  }
}

function hasSpaceOrControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code <= 0x20 || code === 0x7f) return true;
  }
  return false;
}

function refuse(reason: string): UpstreamUrlCheck {
  return { ok: false, reason };
}
