/**
 * A display name is the creator's words, shown on the consent page. It must not pose as a
 * destination: a name such as `GitHub (api.github.com)` on an endpoint that sends keys elsewhere
 * is phishing. So a name may mention no host or URL but the upstream's own.
 *
 * Compared after NFKC normalisation, so full-width letters and ideographic full stops
 * (`api．github．com`) count as what they look like.
 */

/** Something that reads as a host: labels joined by dots ending in a letters-only label of two or more, or an IPv4 address. */
const HOST_LIKE =
  /(?:[\p{L}\p{N}](?:[\p{L}\p{N}-]*[\p{L}\p{N}])?\.)+(?:\p{L}{2,}|xn--[a-z0-9-]+)(?![\p{L}\p{N}])|\b\d{1,3}(?:\.\d{1,3}){3}\b/giu;

export function displayNameProblem(name: string, upstreamHost: string): string | undefined {
  const normalised = name.normalize('NFKC').replace(/[\u3002\uff61]/g, '.');
  if (/[a-z][a-z0-9+.-]*:\/\//i.test(normalised) || /\bwww\./i.test(normalised)) return problem(upstreamHost);
  const host = upstreamHost.toLowerCase();
  for (const match of normalised.matchAll(HOST_LIKE)) {
    if (match[0].toLowerCase() !== host) return problem(upstreamHost);
  }
  return undefined;
}

function problem(upstreamHost: string): string {
  return `display_name looks like a web address other than the upstream's (${upstreamHost}); users would read it as where their key goes. Use a plain name, or the upstream's host itself.`;
}
