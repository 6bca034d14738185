/**
 * ALLOWED_CLIENT_REDIRECT_HOSTS: which apps may register (RFC 7591) or present a client metadata
 * document, judged by where their redirect URIs send the code (RFC 6749 §10.6: the redirect URI is
 * what binds a code to an app). Every URI must be on a listed host: `claude.ai` is that host,
 * `*.example.com` its subdomains; loopback and private-scheme URIs (`cursor://anysphere.cursor-mcp/…`)
 * count by their host part like any other, so an operator lists `127.0.0.1` to admit local tools.
 * An empty list admits every app, as before the setting existed.
 */
export function redirectHostProblem(allowed: string[], uris: unknown): string | undefined {
  if (allowed.length === 0 || !Array.isArray(uris)) return undefined;
  for (const uri of uris) {
    let host: string;
    try {
      host = new URL(String(uri)).hostname.toLowerCase().replace(/^\[|\]$/g, '');
    } catch {
      continue; // redirect-uri.ts refuses what is not a URL, in its own words.
    }
    if (!allowed.some((pattern) => (pattern.startsWith('*.') ? host.endsWith(pattern.slice(1)) : host === pattern)))
      return `This server does not accept apps that redirect to ${host || String(uri).slice(0, 40)}: its operator admits only some apps (ALLOWED_CLIENT_REDIRECT_HOSTS)`;
  }
  return undefined;
}
