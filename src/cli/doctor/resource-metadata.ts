import { BROWSER_ORIGIN } from './cors.ts';
import type { Target } from './endpoint.ts';
import type { Findings, Get } from './findings.ts';
import { readJson } from './read-json.ts';

/**
 * The protected resource metadata (RFC 9728), by the challenge's URL and by the path-inserted
 * well-known URL (§3.1), and the issuer it names. Returns the issuer, or undefined where doctor
 * must stop.
 */
export async function readResourceMetadata(get: Get, findings: Findings, target: Target, metadataUrl: string): Promise<string | undefined> {
  const resource = await readJson(get, metadataUrl, { origin: BROWSER_ORIGIN });
  if (!resource.ok) {
    findings.fail(
      'resource metadata',
      `${metadataUrl}: ${resource.problem}`,
      'Make sure your reverse proxy forwards /.well-known/ paths to Key2OAuth unchanged.',
    );
    return undefined;
  }
  // §3.3: the resource must be the URL the client connects to, character for character.
  const advertised = String(resource.body.resource ?? '');
  if (advertised !== target.url) {
    const stripped = target.prefix && advertised === `${target.origin}/${target.slug}/${target.kind}`;
    findings.fail(
      'resource metadata',
      `the metadata names ${advertised || 'no resource'}, not ${target.url}; clients refuse a resource that is not the URL they connect to`,
      stripped
        ? `Your reverse proxy strips the ${target.prefix} prefix. Key2OAuth must be at the root of its own host name (its issuer is a bare origin): give it its own (sub)domain.`
        : `Set PUBLIC_URL=${target.origin} and restart.`,
    );
    return undefined;
  }
  findings.pass('resource metadata', `resource is ${advertised}`);

  const wellKnown = `${target.origin}/.well-known/oauth-protected-resource${new URL(target.url).pathname}`;
  if (wellKnown !== metadataUrl) {
    const inserted = await readJson(get, wellKnown);
    if (!inserted.ok || inserted.body.resource !== target.url)
      findings.fail(
        'resource metadata (well-known)',
        `${wellKnown}: ${inserted.ok ? 'names another resource' : inserted.problem}`,
        'Forward /.well-known/ paths to Key2OAuth unchanged.',
      );
    else findings.pass('resource metadata (well-known)', wellKnown);
  }

  // §2 authorization_servers: the issuers a client may sign in with. Key2OAuth is its own
  // authorization server at its bare origin, so an issuer anywhere else did not come from it; and
  // a client that followed one would take the user (and doctor would take the key) to that host.
  const servers = resource.body.authorization_servers;
  const issuer = Array.isArray(servers) && typeof servers[0] === 'string' ? servers[0] : '';
  if (!issuer) {
    findings.fail(
      'issuer',
      `${metadataUrl} names no authorization_servers`,
      'Key2OAuth always names itself here; make sure the answer comes from it and not from something in front of it.',
    );
    return undefined;
  }
  if (issuer !== target.origin) {
    const origin = URL.canParse(issuer) ? new URL(issuer).origin : issuer;
    findings.fail(
      'issuer',
      origin === target.origin
        ? `the issuer ${issuer} is not the bare origin ${target.origin}; doctor asks it nothing`
        : `the issuer ${issuer} is not on ${target.origin}, the endpoint's own origin; doctor asks it nothing and sends it no key`,
      `Key2OAuth is its own issuer at the origin users reach: set PUBLIC_URL=${target.origin} and restart. If you did, something between you and the server answers for it; find out what.`,
    );
    return undefined;
  }
  findings.pass('issuer', `${issuer}, the endpoint's own origin`);
  return issuer;
}
