import ipaddr from 'ipaddr.js';

/**
 * Which IP addresses an upstream request may connect to. Pure (no `node:` imports) so the same
 * policy runs on Node and on Cloudflare Workers.
 *
 * The rule is an allowlist, not a denylist: an address passes only when it is globally routable
 * unicast. IPv6 must sit inside 2000::/3 (the only block IANA hands out as global unicast) and
 * outside every special-purpose block; IPv4 must be outside every special-purpose block. Forms
 * that carry an IPv4 address inside IPv6 (mapped, NAT64, 6to4) are judged by that IPv4 address,
 * because that is where the packets end up.
 */

export type AddressVerdict = { allowed: true } | { allowed: false; kind: string };

export interface AddressPolicyOptions {
  /**
   * Development mode: loopback and private networks are allowed. Link-local and cloud metadata
   * addresses stay refused even then, because they hand out the host's cloud credentials.
   */
  allowPrivate?: boolean;
}

type IPv4 = ipaddr.IPv4;
type IPv6 = ipaddr.IPv6;

/**
 * IANA special-purpose blocks, kept here as well as relying on ipaddr.js's own `range()`, so the
 * policy does not silently loosen if a future library version renames or drops a range.
 * Sources: the IANA IPv4 and IPv6 Special-Purpose Address Registries.
 */
const SPECIAL_V4: Array<[string, string]> = [
  ['0.0.0.0/8', 'an unspecified address'],
  ['10.0.0.0/8', 'a private network address'],
  ['100.64.0.0/10', 'a shared (carrier-grade NAT) address'],
  ['127.0.0.0/8', 'a loopback address'],
  ['169.254.0.0/16', 'a link-local address (cloud metadata services live here)'],
  ['172.16.0.0/12', 'a private network address'],
  ['192.0.0.0/24', 'a reserved protocol address'],
  ['192.0.2.0/24', 'a documentation address'],
  ['192.88.99.0/24', 'a reserved relay address'],
  ['192.168.0.0/16', 'a private network address'],
  ['198.18.0.0/15', 'a benchmarking address'],
  ['198.51.100.0/24', 'a documentation address'],
  ['203.0.113.0/24', 'a documentation address'],
  ['224.0.0.0/4', 'a multicast address'],
  ['240.0.0.0/4', 'a reserved address'],
  ['255.255.255.255/32', 'the broadcast address'],
];

/** Special blocks inside 2000::/3; everything outside 2000::/3 is refused before this is read. */
const SPECIAL_V6: Array<[string, string]> = [
  // Teredo is refused outright rather than unwrapped: its embedded IPv4 addresses are obfuscated
  // and it tunnels through a relay, so the address says little about where packets go.
  ['2001::/32', 'a Teredo tunnel address'],
  ['2001::/23', 'a reserved IETF protocol address'],
  ['2001:db8::/32', 'a documentation address'],
  ['3fff::/20', 'a documentation address'],
  ['2620:4f:8000::/48', 'a reserved DNS (AS112) address'],
];

/** Refused even with `allowPrivate`: link-local (AWS, GCP, Azure, Oracle) and other metadata services. */
const METADATA: Array<[string, string]> = [
  ['169.254.0.0/16', 'a link-local address (cloud metadata services live here)'],
  ['100.100.100.200/32', 'a cloud metadata address'], // Alibaba Cloud
  ['fe80::/10', 'a link-local address'],
  ['fd00:ec2::254/128', 'a cloud metadata address'], // AWS IMDS over IPv6
];

/** English for ipaddr.js range names, used when its `range()` is what refused the address. */
const RANGE_KIND: Record<string, string> = {
  unspecified: 'an unspecified address',
  broadcast: 'the broadcast address',
  multicast: 'a multicast address',
  linkLocal: 'a link-local address',
  loopback: 'a loopback address',
  carrierGradeNat: 'a shared (carrier-grade NAT) address',
  private: 'a private network address',
  uniqueLocal: 'a private (unique local) IPv6 address',
  deprecatedSiteLocal: 'a site-local IPv6 address',
  discard: 'a discard-only address',
  rfc6145: 'an IPv4-translated address',
  rfc6052: 'a local-use NAT64 address',
  teredo: 'a Teredo tunnel address',
  reserved: 'a reserved or documentation address',
  benchmarking: 'a benchmarking address',
};
const DEFAULT_KIND = 'a special-purpose address';

const parsedV4 = SPECIAL_V4.map(([cidr, kind]) => ({ range: ipaddr.IPv4.parseCIDR(cidr), kind }));
const parsedV6 = SPECIAL_V6.map(([cidr, kind]) => ({ range: ipaddr.IPv6.parseCIDR(cidr), kind }));
const parsedMetadata = METADATA.map(([cidr, kind]) => ({ range: ipaddr.parseCIDR(cidr), kind }));
const GLOBAL_UNICAST_V6 = ipaddr.IPv6.parseCIDR('2000::/3');
const MAPPED = ipaddr.IPv6.parseCIDR('::ffff:0:0/96');
const NAT64_WELL_KNOWN = ipaddr.IPv6.parseCIDR('64:ff9b::/96');
const SIX_TO_FOUR = ipaddr.IPv6.parseCIDR('2002::/16');

/** True when `ip` is a globally routable unicast address that upstream requests may reach. */
export function isPublicAddress(ip: string): boolean {
  return checkAddress(ip).allowed;
}

/**
 * Judges one address in canonical text form: dotted-quad IPv4 (no octal, hex or short forms) or
 * IPv6 without a zone id. Anything else is refused, so a caller that forgot to normalise fails closed.
 */
export function checkAddress(ip: string, options: AddressPolicyOptions = {}): AddressVerdict {
  const address = parseCanonical(ip);
  if (!address) return { allowed: false, kind: 'not a valid IP address' };
  return address.kind() === 'ipv4' ? checkV4(address as IPv4, options) : checkV6(address as IPv6, options);
}

function parseCanonical(ip: string): IPv4 | IPv6 | null {
  if (ipaddr.IPv4.isValidFourPartDecimal(ip)) return ipaddr.IPv4.parse(ip);
  // A zone id (fe80::1%eth0) names a local interface: never a public destination.
  if (ip.includes('%') || !ipaddr.IPv6.isValid(ip)) return null;
  return ipaddr.IPv6.parse(ip);
}

function checkV4(address: IPv4, options: AddressPolicyOptions): AddressVerdict {
  const metadata = findRange(address, parsedMetadata);
  if (metadata) return { allowed: false, kind: metadata };
  if (options.allowPrivate) return { allowed: true };
  const special = findRange(address, parsedV4);
  if (special) return { allowed: false, kind: special };
  const range = address.range();
  if (range !== 'unicast') return { allowed: false, kind: RANGE_KIND[range] ?? DEFAULT_KIND };
  return { allowed: true };
}

function checkV6(address: IPv6, options: AddressPolicyOptions): AddressVerdict {
  const embedded = embeddedV4(address);
  if (embedded) return checkV4(embedded, options);
  const metadata = findRange(address, parsedMetadata);
  if (metadata) return { allowed: false, kind: metadata };
  if (options.allowPrivate) return { allowed: true };
  const range = address.range();
  if (!address.match(GLOBAL_UNICAST_V6)) {
    // Covers ::, ::1, IPv4-compatible ::/96, 64:ff9b:1::/48, 100::/64, ULA, link-local, multicast.
    const kind = isV4Compatible(address) ? 'an IPv4-compatible IPv6 address' : RANGE_KIND[range];
    return { allowed: false, kind: kind ?? 'a reserved IPv6 address' };
  }
  const special = findRange(address, parsedV6);
  if (special) return { allowed: false, kind: special };
  if (range !== 'unicast') return { allowed: false, kind: RANGE_KIND[range] ?? DEFAULT_KIND };
  return { allowed: true };
}

/** The IPv4 address an IPv6 form delivers to: mapped (::ffff:a.b.c.d), NAT64 (64:ff9b::a.b.c.d), 6to4. */
function embeddedV4(address: IPv6): IPv4 | null {
  const [, p1 = 0, p2 = 0, , , , p6 = 0, p7 = 0] = address.parts;
  if (address.match(MAPPED) || address.match(NAT64_WELL_KNOWN)) return v4FromParts(p6, p7);
  // 6to4 (2002:AABB:CCDD::/48) carries the IPv4 address of the site's relay in bits 16 to 48.
  if (address.match(SIX_TO_FOUR)) return v4FromParts(p1, p2);
  return null;
}

function v4FromParts(high: number, low: number): IPv4 {
  return new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
}

/** ::a.b.c.d (deprecated by RFC 4291), other than :: and ::1 which have their own names. */
function isV4Compatible(address: IPv6): boolean {
  const parts = address.parts;
  return parts.slice(0, 6).every((part) => part === 0) && (parts[6] !== 0 || (parts[7] ?? 0) > 1);
}

function findRange(address: IPv4 | IPv6, ranges: Array<{ range: [IPv4 | IPv6, number]; kind: string }>): string | null {
  for (const { range, kind } of ranges) {
    if (range[0].kind() === address.kind() && address.match(range)) return kind;
  }
  return null;
}
