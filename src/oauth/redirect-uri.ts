/**
 * Which redirect URIs a client may register (RFC 8252 §7.1, docs/architecture.md "Redirect URIs").
 * `https` anywhere; `http` may be listed, and the engine sends codes to it only on a loopback host;
 * a private-use scheme names a native app (Cursor's `cursor://anysphere.cursor-mcp/…`,
 * `com.example.app:/callback`). Schemes a browser or the OS gives another meaning are refused:
 * they would run script, read files, or hand the code to something that is not the client.
 */

/** Schemes that belong to browsers, the OS or other protocols, never to a native app. */
const RESERVED_SCHEMES = new Set([
  'javascript',
  'data',
  'file',
  'vbscript',
  'blob',
  'about',
  'filesystem',
  'view-source',
  'mailto',
  'tel',
  'sms',
  'ftp',
  'ws',
  'wss',
  'chrome',
  'chrome-extension',
  'edge',
  'moz-extension',
  'resource',
  'intent',
  'jar',
  'urn',
]);

/** What is wrong with one redirect URI a client registers, or undefined if it may be registered. */
export function redirectUriProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return 'redirect_uris must be strings';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `Redirect URI ${JSON.stringify(value.slice(0, 80))} is not an absolute URI`;
  }
  const scheme = url.protocol.slice(0, -1);
  if (scheme === 'https' || scheme === 'http') return undefined;
  if (RESERVED_SCHEMES.has(scheme))
    return `Redirect URI ${url.href.slice(0, 80)} uses the ${scheme}: scheme, which cannot receive an authorization code`;
  // A one- or two-letter "scheme" is a drive letter or a typo, not an app (RFC 8252 §7.1 asks for reverse-DNS names).
  if (scheme.length < 3) return `Redirect URI ${url.href.slice(0, 80)}: ${scheme}: is not an app's URI scheme`;
  if (!/^\/\/[^/]|^\/[^/]/.test(url.href.slice(scheme.length + 1)))
    return `Redirect URI ${url.href.slice(0, 80)}: a ${scheme}: redirect URI needs a path, as in ${scheme}:/callback`;
  return undefined;
}

/** The private-use scheme (with its colon) a redirect URI hands the code to, or undefined for http(s). */
export function appScheme(redirectUri: string): string | undefined {
  const scheme = redirectUri.slice(0, redirectUri.indexOf(':') + 1).toLowerCase();
  return scheme === 'https:' || scheme === 'http:' || !scheme ? undefined : scheme;
}
