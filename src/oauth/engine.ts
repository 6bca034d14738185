import { OAuthAuthorizationServer, OAuthResourceServer } from '@cloudflare/workers-oauth-provider';
import type { Platform } from '../platform.ts';
import { checkClientRegistration } from './registration.ts';
import { isPlausibleToken } from './params.ts';
import { resourceUrl } from './resource.ts';

/**
 * The OAuth engine, set up for the endpoint in play.
 *
 * `@cloudflare/workers-oauth-provider` fixes its resource registry at construction, while slugs
 * are created at any time. Its constructor does no I/O, so we build one per request for the one
 * resource that request concerns. Registration and metadata concern no endpoint; they get an
 * engine whose only resource is the bare origin, which never authorizes anything (our
 * authorization page always names an endpoint) and which we strip from the metadata.
 */

export const SCOPES = ['mcp', 'offline_access'];
export const AUTHORIZE_PATH = '/authorize';
export const TOKEN_PATH = '/oauth/token';
export const REGISTER_PATH = '/oauth/register';

/** What the engine sees as `env`: our KV store under the binding name it expects. */
export interface EngineEnv {
  OAUTH_KV: Platform['kv'];
}

export function engineEnv(platform: Platform): EngineEnv {
  return { OAUTH_KV: platform.kv };
}

export function authorizationServer(platform: Platform, slug?: string): OAuthAuthorizationServer<EngineEnv> {
  const { config } = platform;
  return new OAuthAuthorizationServer<EngineEnv>({
    issuer: config.publicUrl,
    resources: [slug ? resourceUrl(config.publicUrl, slug) : config.publicUrl],
    authorizeEndpoint: config.publicUrl + AUTHORIZE_PATH,
    tokenEndpoint: config.publicUrl + TOKEN_PATH,
    clientRegistrationEndpoint: config.publicUrl + REGISTER_PATH,
    scopesSupported: SCOPES,
    accessTokenTTL: config.accessTokenTtl,
    refreshTokenTTL: config.refreshTokenTtl,
    clientRegistrationCallback: checkClientRegistration,
    onError: ({ status, code, description, internal }) => {
      platform.log.info('oauth error', { status, error: code, description, category: internal.category, reason: internal.reason });
    },
  });
}

/** Grant props: encrypted by the engine with a key only the token holder can unwrap. */
export interface GrantProps {
  v: 1;
  slug: string;
  apiKey: string;
  upstream: import('../endpoints/endpoint.ts').UpstreamTarget;
}

/** What the handler learns about the verified token besides its props. */
export interface VerifiedToken {
  /** The access token as presented; used only to find its grant, never logged or forwarded. */
  token: string;
  userId: string;
  clientId?: string;
}

export type ProtectedHandler = (props: GrantProps, auth: VerifiedToken) => Promise<Response>;

/** The grant an engine token belongs to: tokens read `{userId}:{grantId}:{secret}`. */
export function grantIdOf(token: string): string | undefined {
  return token.split(':')[1];
}

/**
 * The engine's resource-server role for one endpoint: serves its RFC 9728 metadata, answers
 * unauthenticated requests with a challenge that names it, validates the bearer token (no cache,
 * so revocation is immediate) and hands the decrypted props to `handler`.
 */
export function resourceServer(platform: Platform, slug: string, handler: ProtectedHandler): OAuthResourceServer<EngineEnv, GrantProps> {
  const { config } = platform;
  const as = authorizationServer(platform, slug);
  return new OAuthResourceServer<EngineEnv, GrantProps>({
    resourceMetadata: {
      resource: resourceUrl(config.publicUrl, slug),
      authorization_servers: [config.publicUrl],
      bearer_methods_supported: ['header'],
    },
    requiredScopes: ['mcp'],
    validateToken: (env) => async (resource, token) => (isPlausibleToken(token) ? as.validateToken<GrantProps>(resource, token, env) : null),
    handler: {
      fetch: (_request, _env, ctx) =>
        handler(ctx.props, {
          token: ctx.auth.token,
          userId: ctx.auth.userId ?? slug,
          ...(ctx.auth.clientId ? { clientId: ctx.auth.clientId } : {}),
        }),
    },
  });
}

/** A minimal execution context for engine calls; Workers pass their real one. */
export function executionContext(platform: Platform): ExecutionContextLike {
  return {
    waitUntil: (promise: Promise<unknown>) => platform.waitUntil(promise),
    passThroughOnException: () => {},
    props: {},
  };
}

export interface ExecutionContextLike {
  waitUntil(promise: Promise<unknown>): void;
  passThroughOnException(): void;
  props: unknown;
}
