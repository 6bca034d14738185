import type { Target } from './endpoint.ts';
import type { Findings, Get } from './findings.ts';
import { readJson } from './read-json.ts';

/** The endpoints doctor uses, all from the metadata (RFC 8414 §2) and all on the endpoint's origin. */
export interface ServerEndpoints {
  issuer: string;
  authorization: string;
  token: string;
  registration: string;
  /** RFC 7009, advertised by RFC 8414 §2's revocation_endpoint; absent when the server offers none. */
  revocation?: string;
  metadataDocuments: boolean;
}

/**
 * Endpoints a client is told about and would send something to: the user's browser (authorization),
 * the code and verifier (token), its registration, its tokens (revocation). Key2OAuth serves each
 * one itself on its own origin, so one anywhere else is not its metadata: doctor refuses it, as
 * oauth4webapi and other careful clients refuse an issuer mismatch, before anything is sent there.
 */
const ENDPOINT_FIELDS = ['authorization_endpoint', 'token_endpoint', 'registration_endpoint', 'revocation_endpoint'] as const;

/** The authorization server metadata at the issuer's root well-known URL (RFC 8414 §3). */
export async function readServerMetadata(
  get: Get,
  findings: Findings,
  target: Target,
  issuer: string,
): Promise<ServerEndpoints | undefined> {
  const name = 'authorization server metadata';
  const url = `${issuer}/.well-known/oauth-authorization-server`;
  const as = await readJson(get, url);
  if (!as.ok) {
    findings.fail(name, `${url}: ${as.problem}`, 'Forward /.well-known/ paths to Key2OAuth unchanged.');
    return undefined;
  }
  const body = as.body;
  // §3.3: the issuer in the document must be the one its URL was built from, or it is another server's.
  if (body.issuer !== issuer) {
    findings.fail(name, `${url} names the issuer ${String(body.issuer)}, not ${issuer}`, `Set PUBLIC_URL=${target.origin} and restart.`);
    return undefined;
  }
  for (const field of ENDPOINT_FIELDS) {
    const value = body[field];
    if (value === undefined && field === 'revocation_endpoint') continue;
    if (typeof value !== 'string' || !URL.canParse(value)) {
      findings.fail(name, `${field} is ${JSON.stringify(value)}, not a URL`, `Set PUBLIC_URL=${target.origin} and restart.`);
      return undefined;
    }
    if (new URL(value).origin !== target.origin) {
      findings.fail(
        name,
        `the ${field} ${value} is not on ${target.origin}, the endpoint's own origin; doctor sends it nothing`,
        'Key2OAuth serves every OAuth endpoint on its own origin, so this metadata is not its own: find what answers /.well-known/oauth-authorization-server in front of it.',
      );
      return undefined;
    }
  }
  // RFC 7636 §4.3 and MCP: clients of the 2025-11-25 revision stop without S256 listed.
  const methods = body.code_challenge_methods_supported;
  if (!Array.isArray(methods) || !methods.includes('S256')) {
    findings.fail(name, `PKCE methods ${JSON.stringify(methods)}: S256 is not listed`, `Set PUBLIC_URL=${target.origin} and restart.`);
    return undefined;
  }
  const endpoints: ServerEndpoints = {
    issuer,
    authorization: body.authorization_endpoint as string,
    token: body.token_endpoint as string,
    registration: body.registration_endpoint as string,
    ...(typeof body.revocation_endpoint === 'string' ? { revocation: body.revocation_endpoint } : {}),
    metadataDocuments: body.client_id_metadata_document_supported === true,
  };
  findings.pass(
    name,
    `issuer ${issuer}; S256; registration; every endpoint on ${target.origin}; metadata documents ${endpoints.metadataDocuments ? 'accepted' : 'not accepted'}`,
  );
  return endpoints;
}
