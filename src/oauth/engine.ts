import {
  type ClientInfo,
  insufficientScope,
  OAuthAuthorizationServer,
  type OAuthHelpers,
  OAuthResourceServer,
  type ValidatedAccessToken,
} from '@cloudflare/workers-oauth-provider';
import { sha256Hex } from '../crypto.ts';
import { type EndpointKind, endpointUrl, isSlug, resourceMetadataUrl } from '../endpoint-urls.ts';
import { countGrantsRevoked } from '../metrics.ts';
import type { Platform } from '../platform.ts';
import type { KVListKey, KVPutOptions } from '../storage/contract.ts';
import { MIN_EXPIRATION_TTL } from '../storage/rules.ts';
import { isStorageUnavailable } from '../storage/unavailable.ts';
import type { UpstreamTarget } from '../upstream/target.ts';
import type { ToolChoice } from '../upstream/tool-policy.ts';
import { MARKER, replacedProps } from './key-replacement.ts';
import { checkClientRegistration } from './registration.ts';
import { TokenCheckCache } from './token-cache.ts';

/**
 * The one seam to the OAuth engine, `@cloudflare/workers-oauth-provider`. Everything else talks
 * to `engine(platform, slug)`; only this file constructs the engine, knows its token format, and
 * bridges its Workers-typed `env` and `ctx` (the casts live here and nowhere else).
 *
 * The engine fixes its resource registry at construction, while slugs are created at any time.
 * Its constructor does no I/O, so one is built for the one resource a request concerns, and kept
 * for that endpoint's later requests. Registration and metadata concern no endpoint; they get an engine whose only resource
 * is the bare origin, which never authorizes anything (our authorization page always names an
 * endpoint) and which the metadata route strips.
 */

export const SCOPES = ['mcp', 'offline_access'];
/**
 * What a token must carry to be used on an endpoint (checked in src/mcp/admission.ts, on every
 * carrier); `offline_access` is the authorization server's (refresh tokens), not the resource's.
 */
export const REQUIRED_SCOPES = ['mcp'];
export const AUTHORIZE_PATH = '/authorize';
export const TOKEN_PATH = '/oauth/token';
export const REGISTER_PATH = '/oauth/register';

/** Grant props: encrypted by the engine with a key only the token holder can unwrap. */
export interface GrantProps {
  v: 1;
  slug: string;
  /** Every value of the credential, in the order of `upstream`'s template; read through grant-credentials.ts. */
  credentials?: string[];
  /** The one key of grants made before templates existed (grant-credentials.ts reads it as one value). */
  apiKey?: string;
  upstream: UpstreamTarget;
  /** Which tools the key holder allowed at consent (upstream/tool-policy.ts); absent (older grants) means all. */
  tools?: ToolChoice;
}

/** A token `verify` admitted: its grant's props, and what else is known of it. */
export interface Verified {
  props: GrantProps;
  auth: VerifiedToken;
}

/** What a handler learns about the verified token besides its props. */
export interface VerifiedToken {
  /** The grant the token belongs to (it keeps its id across refreshes). Never logged. */
  grantId: string;
  clientId?: string;
  /** The scopes the token was issued with (a refresh may narrow them, RFC 6749 §6). */
  scope: string[];
}

export interface Engine {
  /** The engine's own HTTP answer: metadata, registration, token, refresh, revocation, CORS preflights. */
  serve(request: Request): Promise<Response>;
  /** Consent transactions, clients and grants. */
  helpers(): OAuthHelpers;
  /** Revokes every grant of this endpoint (everyone on it shares its slug as userId); returns how many. */
  revokeAllGrants(): Promise<number>;
  /**
   * The token check every carrier of an MCP request makes (src/mcp/admission.ts): the props and
   * grant when `token` is valid for this endpoint now, else null. Valid means, as RFC 9068 §4 and
   * RFC 8707 have a resource server check: issued by this server (the engine finds its record and
   * decrypts its props), not expired, and for this endpoint's resource (the audience), which the
   * token's own `{slug}:` prefix must name too. A remembered check still reads the token's
   * record, so revocation is immediate. Answered without a promise when the check is remembered
   * on a store that reads synchronously (token-cache.ts). A store outage throws (or rejects).
   */
  verify(token: string): Verified | null | Promise<Verified | null>;
  /**
   * The engine's own answer to a request on the endpoint's URL that `verify()` did not admit: a
   * CORS preflight (204), no token (401 naming the resource metadata, RFC 9728 §5.1), a token
   * that is not valid here (401 `invalid_token`, RFC 6750 §3.1). `path` says which identifier of
   * the endpoint the request is for (endpoint-urls.ts): the challenge names its metadata.
   */
  challenge(request: Request, path?: EndpointKind): Promise<Response>;
  /** 403 `insufficient_scope` naming the scope and the resource metadata (RFC 6750 §3.1, MCP authorization, step-up). */
  insufficientScope(path?: EndpointKind): Response;
}

type TokenValidation = ValidatedAccessToken<GrantProps>;

/** One cache of token checks per store: replicas share the store, each keeps its own cache. */
const tokenChecks = new WeakMap<Platform['kv'], TokenCheckCache<TokenValidation>>();
function tokenCheckCache(platform: Platform): TokenCheckCache<TokenValidation> {
  let cache = tokenChecks.get(platform.kv);
  if (!cache) {
    cache = new TokenCheckCache<TokenValidation>(platform.kv, platform.sha256Hex ? { sha256Hex: platform.sha256Hex } : {});
    tokenChecks.set(platform.kv, cache);
  }
  return cache;
}

/** Engines kept per platform and endpoint: construction costs about 40 µs, a request's budget is a few hundred. */
const engines = new WeakMap<Platform, Map<string, Engine>>();
/** Endpoints whose engine is kept; the least recently built beyond this is rebuilt when next needed. */
const ENGINES_KEPT = 1000;

/** The engine for one endpoint's resource (`slug`), or for none (registration, metadata, consent). */
export function engine(platform: Platform, slug?: string): Engine {
  let kept = engines.get(platform);
  if (!kept) {
    kept = new Map();
    engines.set(platform, kept);
  }
  const key = slug ?? '';
  let built = kept.get(key);
  if (!built) {
    if (kept.size >= ENGINES_KEPT) kept.delete(kept.keys().next().value!);
    built = buildEngine(platform, slug);
    kept.set(key, built);
  }
  return built;
}

function buildEngine(platform: Platform, slug?: string): Engine {
  const { config } = platform;
  const env: EngineEnv = { OAUTH_KV: platform.kv };
  // The engine writes the verified props and auth onto ctx: one per request, since engines are kept.
  const newCtx = () => ({
    waitUntil: (promise: Promise<unknown>) => platform.waitUntil(promise),
    passThroughOnException: () => {},
    props: {},
  });
  const server = new OAuthAuthorizationServer<EngineEnv>({
    issuer: config.publicUrl,
    resources: [slug ? endpointUrl(config.publicUrl, slug) : config.publicUrl],
    authorizeEndpoint: config.publicUrl + AUTHORIZE_PATH,
    tokenEndpoint: config.publicUrl + TOKEN_PATH,
    clientRegistrationEndpoint: config.publicUrl + REGISTER_PATH,
    scopesSupported: SCOPES,
    accessTokenTTL: config.accessTokenTtl,
    refreshTokenTTL: config.refreshTokenTtl,
    clientRegistrationCallback: checkClientRegistration,
    // Native apps (Cursor) sign in through a private-use scheme; registration refuses the dangerous ones (redirect-uri.ts).
    allowPrivateUseRedirectUris: true,
    // A refresh (or a code exchange) writes a replaced key into the grant's props for good.
    tokenExchangeCallback: async ({ props, userId, grantId }) => {
      const replaced = await replacedProps(platform.kv, userId, grantId, props as GrantProps);
      return replaced.props === props ? undefined : { newProps: replaced.props };
    },
    onError: ({ status, code, description, internal }) => {
      platform.log.info('oauth error', { status, error: code, description, category: internal.category, reason: internal.reason });
    },
  });
  let helpers: OAuthHelpers | undefined;
  const api = () => (helpers ??= server.getOAuthApi(env));
  const audience = slug ? endpointUrl(config.publicUrl, slug) : config.publicUrl;
  // One resource server per identifier of the endpoint, kept like the engine (building one
  // validates its options and canonicalizes URLs: a share of every request's CPU on Workers).
  // It only ever answers what verify() did not admit: preflights and challenges.
  const resourceServers = new Map<EndpointKind, OAuthResourceServer<ChallengeEnv, GrantProps>>();
  const resourceServer = (path: EndpointKind) => {
    let built = resourceServers.get(path);
    if (!built) {
      built = new OAuthResourceServer<ChallengeEnv, GrantProps>({
        resourceMetadata: {
          resource: endpointUrl(config.publicUrl, slug!, path),
          authorization_servers: [config.publicUrl],
          bearer_methods_supported: ['header'],
        },
        requiredScopes: REQUIRED_SCOPES,
        // The engine turns any failure of token validation into a bare 503; a store outage is
        // kept on the call and rethrown by challenge(), so the app answers it like every other
        // route (503 with Retry-After), and no storage error can ever read as an invalid token.
        validateToken: (callEnv) => async (alias, token) => {
          try {
            const valid = await verified(token);
            return valid ? { ...valid, audience: alias } : null;
          } catch (error) {
            callEnv.call.outage = error;
            throw error;
          }
        },
        // Reached only when a token turned valid between verify() and here, which tokens do not:
        // answered as the invalid token it was a moment ago.
        handler: { fetch: () => invalidTokenChallenge(config.publicUrl, slug!, 'The access token is not valid here') },
      });
      resourceServers.set(path, built);
    }
    return built;
  };
  // The token names its endpoint; one of another endpoint is refused without a read. Read once per
  // check: its grant id also names the grant `verify` answers with.
  const partsOf = (token: string) => (slug ? tokenParts(token, slug) : undefined);
  // Remembered per token (token-cache.ts): each check still confirms the token's record in the
  // store. Not an async function: the cache answers a remembered check synchronously where it can,
  // and `verify` settles no promise then (each costs a microtask turn, and a lookup of `then` on
  // what it settles with).
  const checked = (token: string, parts: { slug: string; grantId: string }): TokenValidation | null | Promise<TokenValidation | null> =>
    tokenCheckCache(platform).validate(
      audience,
      token,
      parts,
      () => server.validateToken<GrantProps>(audience, token, env),
      // A key the holder replaced is sent from the next request on (key-replacement.ts).
      async (validation, seen) => {
        if (!('props' in validation) || !validation.props) return { validation, version: 0 };
        const replaced = seen.reopen
          ? await replacedProps(platform.kv, parts.slug, parts.grantId, validation.props)
          : { props: validation.props, version: seen.version };
        // A replacement rewrites the records of the grant's tokens (markGrantTokens); one rewritten
        // while the grant was being revoked must not bring its token back, so a grant with
        // replacements is confirmed to exist (untouched grants skip this read).
        if (replaced.version > 0 && !(await grantExists(platform, parts.slug, parts.grantId))) return null;
        return { validation: { ...validation, props: replaced.props }, version: replaced.version };
      },
    );
  // What a resource server accepts besides a record: its audience is this endpoint (RFC 8707 §2),
  // it has props, and it has not expired.
  const accepted = (valid: TokenValidation | null): TokenValidation | null => {
    if (!valid || valid.audience !== audience || !('props' in valid)) return null;
    if (valid.expiresAt !== undefined && valid.expiresAt <= Date.now() / 1000) return null;
    return valid;
  };
  const verified = async (token: string): Promise<TokenValidation | null> => {
    const parts = partsOf(token);
    return parts ? accepted(await checked(token, parts)) : null;
  };
  /** What `verify` answers for a checked token of grant `grantId`: its props and who it is, or null. */
  const verifiedAs = (grantId: string, checkedValid: TokenValidation | null): Verified | null => {
    const valid = accepted(checkedValid);
    return valid ? { props: valid.props, auth: verifiedToken(grantId, valid) } : null;
  };

  return {
    serve: (request) => server.fetch(request, env as never, newCtx() as never),
    helpers: api,
    async revokeAllGrants() {
      if (!slug) return 0;
      const ids: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await api().listUserGrants(slug, { limit: 1000, ...(cursor ? { cursor } : {}) });
        ids.push(...page.items.map((grant) => grant.id));
        cursor = page.cursor;
      } while (cursor);
      for (const id of ids) {
        await api().revokeGrant(id, slug);
        // A stdio server's process holds the revoked key: stopped now, not at its next check.
        await platform.stdio?.stopGrant(id);
      }
      countGrantsRevoked(ids.length);
      return ids.length;
    },
    verify(token) {
      const parts = partsOf(token);
      if (!parts) return null;
      const pending = checked(token, parts);
      return pending instanceof Promise ? pending.then((valid) => verifiedAs(parts.grantId, valid)) : verifiedAs(parts.grantId, pending);
    },
    async challenge(request, path = 'mcp') {
      if (!slug) throw new Error('challenge() needs an endpoint');
      const call: ChallengeCall = {};
      const response = await resourceServer(path).fetch(request, { OAUTH_KV: platform.kv, call } as never, newCtx() as never);
      if (call.outage !== undefined && isStorageUnavailable(call.outage)) throw call.outage;
      return response;
    },
    insufficientScope(path = 'mcp') {
      return insufficientScope(
        { audience: endpointUrl(config.publicUrl, slug!, path), token: '', scope: [] } as never,
        REQUIRED_SCOPES,
        'The access token does not carry the mcp scope; authorize again to use this endpoint',
      );
    },
  };
}

function verifiedToken(grantId: string, valid: TokenValidation): VerifiedToken {
  return { grantId, ...(valid.clientId ? { clientId: valid.clientId } : {}), scope: valid.scope ?? [] };
}

/** A client known by its metadata document (client-metadata.ts), as the engine reads registered clients. */
export interface DocumentClient {
  clientId: string;
  clientName: string;
  redirectUris: string[];
  clientUri?: string;
  logoUri?: string;
  grantTypes: string[];
}

/**
 * Stores a metadata-document client where the engine looks clients up (`client:{id}`). The engine's
 * own CIMD support fetches with the global fetch, past our upstream guard, so it stays off and the
 * engine sees these clients as registered ones: public, no secret.
 */
export async function putDocumentClient(platform: Platform, client: DocumentClient, ttlSeconds: number): Promise<void> {
  const info: ClientInfo = {
    clientId: client.clientId,
    clientName: client.clientName,
    redirectUris: client.redirectUris,
    ...(client.clientUri ? { clientUri: client.clientUri } : {}),
    ...(client.logoUri ? { logoUri: client.logoUri } : {}),
    grantTypes: client.grantTypes,
    responseTypes: ['code'],
    tokenEndpointAuthMethod: 'none',
    registrationDate: Math.floor(Date.now() / 1000),
  };
  await platform.kv.put(`client:${client.clientId}`, JSON.stringify(info), { expirationTtl: ttlSeconds });
}

/** What the engine sees as `env`: our KV store under the binding name it expects. */
interface EngineEnv {
  OAUTH_KV: Platform['kv'];
}

/** One challenge() call: the store outage its token check met, if any. */
interface ChallengeCall {
  outage?: unknown;
}

/** The env of a challenge() call: the store, and the call itself (resource servers are shared). */
interface ChallengeEnv extends EngineEnv {
  call: ChallengeCall;
}

/** Engine tokens and codes read `{userId}:{grantId}:{secret}`, well under this. */
export const TOKEN_MAX = 512;

/**
 * The parts of an engine-issued code, access or refresh token: `{userId}:{grantId}:{secret}`, where
 * the userId is always the endpoint's slug. Anything else is no token of ours, and is refused without a
 * storage read (a long part would become an oversized key). With `of`, a token of that endpoint only.
 */
export function tokenParts(token: string | null | undefined, of?: string): { slug: string; grantId: string } | undefined {
  if (!token || token.length > TOKEN_MAX) return undefined;
  // Three parts between two colons, each 1 to 128 characters (read with indexOf: this runs on every
  // MCP message, and `split` builds an array of three new strings).
  const first = token.indexOf(':');
  const second = first === -1 ? -1 : token.indexOf(':', first + 1);
  if (second === -1 || token.indexOf(':', second + 1) !== -1) return undefined;
  if (!partLength(first) || !partLength(second - first - 1) || !partLength(token.length - second - 1)) return undefined;
  const slug = token.slice(0, first);
  // `of`, the endpoint the token must name (every MCP message), is a slug: equal to it is enough,
  // and costs less than the slug grammar's expression.
  if (of === undefined ? !isSlug(slug) : slug !== of) return undefined;
  return { slug, grantId: token.slice(first + 1, second) };
}

function partLength(length: number): boolean {
  return length > 0 && length <= 128;
}

/**
 * The answer to a token whose grant is gone (the upstream refused its key and the grant was
 * revoked): the engine's own `invalid_token` challenge, in the form its resource server writes it
 * (realm, metadata URL, error, required scopes), so the client re-authorizes and the user can paste
 * a new key.
 */
export function invalidTokenChallenge(publicUrl: string, slug: string, message: string, path: EndpointKind = 'mcp'): Response {
  const challenge = `Bearer realm="OAuth", resource_metadata="${resourceMetadataUrl(publicUrl, slug, path)}", error="invalid_token", scope="${REQUIRED_SCOPES.join(' ')}"`;
  return Response.json(
    { error: 'invalid_token', error_description: message, message },
    { status: 401, headers: { 'www-authenticate': challenge, 'cache-control': 'no-store' } },
  );
}

/** Whether the engine still holds this grant (its record `grant:{userId}:{grantId}`): false once revoked or expired. */
export async function grantExists(platform: Platform, slug: string, grantId: string): Promise<boolean> {
  return (await platform.kv.get(`grant:${slug}:${grantId}`)) !== null;
}

/**
 * Whether a grant still waits for its authorization code to be exchanged: the user approved, but
 * the app never came back for its tokens (it was closed, or the user went Back and approved
 * again). The engine writes such a grant without `expiresAt`, the record itself expiring with the
 * code (ten minutes), and sets `expiresAt` when the code is exchanged: to the refresh token's
 * lifetime, which is never unset here (REFRESH_TOKEN_TTL is at least 60).
 */
export function awaitsCodeExchange(grant: { expiresAt?: number }): boolean {
  return grant.expiresAt === undefined;
}

/** Where a refresh token stands in its grant, as the engine stores it. */
export type RefreshTokenState = 'current' | 'previous' | 'other' | 'no-grant';

/**
 * Reads the engine's grant record (`grant:{userId}:{grantId}`), which keeps the SHA-256 of the
 * grant's current refresh token and of the one it replaced (`refreshTokenId`,
 * `previousRefreshTokenId`): the engine accepts both, so a token that was exchanged keeps working
 * until the next rotation. Knowing which one was presented lets the token route detect reuse
 * without changing the engine. Returns the token's hash too, as its identity (never the token).
 */
export async function refreshTokenState(
  platform: Platform,
  token: string,
): Promise<{ state: RefreshTokenState; hash: string } | undefined> {
  const parts = tokenParts(token);
  if (!parts) return undefined;
  const hash = await sha256Hex(token);
  const grant = (await platform.kv.get(`grant:${parts.slug}:${parts.grantId}`, 'json')) as {
    refreshTokenId?: string;
    previousRefreshTokenId?: string;
  } | null;
  if (!grant) return { state: 'no-grant', hash };
  if (grant.refreshTokenId === hash) return { state: 'current', hash };
  if (grant.previousRefreshTokenId === hash) return { state: 'previous', hash };
  return { state: 'other', hash };
}

/**
 * Tells every live access token of a grant that its key was replaced: writes the replacement
 * `version` into each token record (key-replacement.ts `MARKER`), which the token check reads on
 * every request anyway, so cached checks on every replica pick the new key up at their next use.
 */
export async function markGrantTokens(platform: Platform, slug: string, grantId: string, version: number): Promise<void> {
  let cursor: string | undefined;
  do {
    const page = await platform.kv.list({ prefix: `token:${slug}:${grantId}:`, ...(cursor ? { cursor } : {}) });
    for (const key of page.keys) {
      const record = (await platform.kv.get(key.name, 'json')) as Record<string, unknown> | null;
      if (!record) continue;
      record[MARKER] = version;
      await platform.kv.put(key.name, JSON.stringify(record), kept(key));
    }
    cursor = page.list_complete ? undefined : page.cursor;
  } while (cursor);
}

/** Rewrites the plain metadata stored beside a grant (grants.ts), keeping the grant's expiry. */
export async function updateGrantMetadata(
  platform: Platform,
  slug: string,
  grantId: string,
  change: (metadata: Record<string, unknown>) => void,
): Promise<void> {
  const key = `grant:${slug}:${grantId}`;
  const listed = (await platform.kv.list({ prefix: key, limit: 1 })).keys.find((entry) => entry.name === key);
  const grant = (await platform.kv.get(key, 'json')) as { metadata?: Record<string, unknown> } | null;
  if (!grant) return;
  const metadata = { ...(grant.metadata ?? {}) };
  change(metadata);
  grant.metadata = metadata;
  await platform.kv.put(key, JSON.stringify(grant), kept(listed));
}

/**
 * What a rewritten record keeps: its key metadata (the engine lists grants by it) and its expiry.
 * Workers KV refuses an expiry under a minute away; the record's own `expiresAt`, which the engine
 * checks, still ends it on time.
 */
function kept(listed: KVListKey | undefined): KVPutOptions {
  return {
    ...(listed?.expiration ? { expiration: Math.max(listed.expiration, Math.ceil(Date.now() / 1000) + MIN_EXPIRATION_TTL + 1) } : {}),
    ...(listed?.metadata !== undefined ? { metadata: listed.metadata } : {}),
  };
}
