import type { Context } from 'hono';
import { Hono } from 'hono';
import { configWarnings } from './config.ts';
import {
  apiActivityPath,
  apiGrantPath,
  apiGrantsPath,
  apiPath,
  endpointPath,
  isSlug,
  managePath,
  messagesPath,
  resourceMetadataPath,
} from './endpoint-urls.ts';
import { createFromApi, createFromForm, showCreated, showHome } from './endpoints/create-routes.ts';
import { accessLog } from './http/access-log.ts';
import { bodyLimits } from './http/body-limits.ts';
import { errorBodies } from './http/error-bodies.ts';
import { answers, browserAnswers, storageUnavailable } from './http/errors.ts';
import { metricsRoute } from './http/metrics-route.ts';
import { rateLimit } from './http/rate-limit.ts';
import { READINESS_PATH, readiness } from './http/readiness.ts';
import { onPublicOrigin, wantsPage } from './http/request.ts';
import { htmlResponse } from './http/responses.ts';
import { securityHeaders } from './http/security-headers.ts';
import { selfHostNoticeOff } from './http/self-host-notice.ts';
import { STREAM_CHECK_PATH, streamCheck } from './http/stream-check.ts';
import { accessApi } from './manage/access-api.ts';
import { revokeMoved, showAccess, submitAccess } from './manage/access-page.ts';
import { manageEndpoint } from './manage/manage-api.ts';
import { showManage, submitManage } from './manage/manage-page.ts';
import { type LegacyRoute, legacyRoute } from './mcp/legacy-sse.ts';
import { mcpRoute } from './mcp/mcp-route.ts';
import { createStreamLimits, type StreamLimits } from './mcp/stream-limits.ts';
import { showAuthorize, submitAuthorize } from './oauth/authorize.ts';
import { authorizationServerMetadata, protectedResourceMetadata } from './oauth/discovery.ts';
import { AUTHORIZE_PATH, engine, REGISTER_PATH, TOKEN_PATH } from './oauth/engine.ts';
import { registerClient } from './oauth/register-route.ts';
import { tokenEndpoint } from './oauth/token.ts';
import { ACCESS_PATH } from './pages/access.ts';
import { APP_JS, FAVICON_SVG, STYLE_CSS } from './pages/assets.ts';
import { SELF_HOST_PATH } from './pages/layout.ts';
import { selfHostPage } from './pages/self-host.ts';
import type { Platform } from './platform.ts';
import { CALLBACK_PATH, finishLogin, LOGIN_PATH, LOGOUT_PATH, logout, startLogin } from './signin/routes.ts';
import { isStorageUnavailable } from './storage/unavailable.ts';
import { auditApi, auditPage } from './teams/audit-routes.ts';
import { myEndpoints } from './teams/my-endpoints.ts';

/**
 * The whole HTTP surface, for any platform. Every route is wired here and nowhere else; each
 * handler lives in the folder of the data it serves (docs/architecture.md draws the walks).
 */
export interface AppOptions {
  streams?: StreamLimits;
  /**
   * The socket's peer, from what the runtime hands the app beside each request (on
   * @hono/node-server, `env.incoming.socket`). Absent where the runtime has none to give (Workers).
   */
  socketAddress?: (env: unknown) => string | undefined;
}

export function createApp(platform: Platform, options: AppOptions = {}): Hono {
  const app = new Hono();
  const { config } = platform;
  const address = (c: Context) => platform.clientAddress({ headers: c.req.raw.headers, socketAddress: options.socketAddress?.(c.env) });
  // Route patterns come from the same grammar as the URLs handed out, with `:slug` for the slug.
  const SLUG = ':slug';

  app.use(
    accessLog(platform.log, { countStreams: Boolean(config.metricsToken && platform.processMetrics) }),
    securityHeaders(),
    errorBodies(),
    bodyLimits(config),
  );
  if (!config.selfHostNotice) app.use(selfHostNoticeOff());
  for (const warning of configWarnings(config)) platform.log.warn(warning);

  app.get('/healthz', (c) => c.json({ ok: true }));
  app.get(READINESS_PATH, () => readiness(platform));
  app.get(STREAM_CHECK_PATH, () => streamCheck());
  app.get('/metrics', (c) => metricsRoute(platform, c.req.raw));
  app.get('/assets/style.css', () => asset(STYLE_CSS, 'text/css; charset=utf-8'));
  app.get('/assets/app.js', () => asset(APP_JS, 'text/javascript; charset=utf-8'));
  app.get('/favicon.ico', () => asset(FAVICON_SVG, 'image/svg+xml'));

  // Creating endpoints: the home page form and the JSON API.
  app.get('/', (c) => showHome(platform, c.req.raw));
  app.post('/', (c) => createFromForm(platform, c, address(c)));
  app.post('/api/slugs', (c) => createFromApi(platform, c, address(c)));
  app.get('/created/:id', (c) => showCreated(platform, c.req.param('id')));
  app.get(SELF_HOST_PATH, () => htmlResponse(selfHostPage()));

  // Teams (docs/teams.md): sign-in through the company's OpenID provider, my endpoints, the audit
  // trail. Each answers 404 when sign-in and ADMIN_TOKEN leave it nothing to do.
  app.get(LOGIN_PATH, (c) => startLogin(platform, c.req.raw, address(c)));
  app.get(CALLBACK_PATH, (c) => finishLogin(platform, c.req.raw));
  app.on(['GET', 'POST'], LOGOUT_PATH, (c) => logout(platform, c.req.raw));
  app.get('/endpoints', (c) => myEndpoints(platform, c.req.raw));
  app.get('/api/audit', (c) => auditApi(platform, c.req.raw, address(c)));
  app.get('/audit', (c) => auditPage(platform, c.req.raw));

  // The creator's controls: read, change or delete an endpoint with its manage token.
  app.on(['GET', 'PATCH', 'DELETE'], apiPath(SLUG), (c) => manageEndpoint(platform, c.req.raw, c.req.param('slug'), address(c)));
  app.on(['GET', 'DELETE'], apiGrantsPath(SLUG), (c) => manageEndpoint(platform, c.req.raw, c.req.param('slug'), address(c), {}));
  // The person who pasted a key sees, revokes or re-keys the accesses it gave (docs/key-holders.md).
  app.get(ACCESS_PATH, (c) => showAccess(platform, c));
  app.post(ACCESS_PATH, (c) => submitAccess(platform, c, address(c)));
  // Its old address: links land on the new page; a form the old page posted still works.
  app.get('/revoke', (c) => revokeMoved(c));
  app.post('/revoke', (c) => submitAccess(platform, c, address(c)));
  const listAccess = accessApi(platform, 'list');
  const replaceAccess = accessApi(platform, 'replace');
  const revokeAccess = accessApi(platform, 'revoke');
  app.post('/api/access', (c) => listAccess(c, address(c)));
  app.post('/api/access/replace', (c) => replaceAccess(c, address(c)));
  app.post('/api/access/revoke', (c) => revokeAccess(c, address(c)));
  const accessActivity = accessApi(platform, 'activity');
  app.post('/api/access/activity', (c) => accessActivity(c, address(c)));
  app.get(apiActivityPath(SLUG), (c) => manageEndpoint(platform, c.req.raw, c.req.param('slug'), address(c), 'activity'));
  app.get(managePath(SLUG), (c) => showManage(platform, c, c.req.param('slug'), address(c)));
  app.post(managePath(SLUG), (c) => submitManage(platform, c, c.req.param('slug'), address(c)));
  app.delete(apiGrantPath(SLUG, ':grantId'), (c) =>
    manageEndpoint(platform, c.req.raw, c.req.param('slug'), address(c), { grantId: c.req.param('grantId') }),
  );

  // OAuth: discovery, registration and tokens are the engine's; the authorization page is ours.
  app.on(['GET', 'HEAD', 'OPTIONS'], '/.well-known/oauth-authorization-server', (c) => authorizationServerMetadata(platform, c.req.raw));
  app.all(resourceMetadataPath(SLUG), (c) => protectedResourceMetadata(platform, c.req.raw, c.req.param('slug'), 'mcp'));
  app.all(resourceMetadataPath(SLUG, 'sse'), (c) => protectedResourceMetadata(platform, c.req.raw, c.req.param('slug'), 'sse'));
  app.on(['POST', 'OPTIONS'], REGISTER_PATH, async (c) => {
    if (c.req.method === 'POST') {
      const limited = await rateLimit(platform, 'register', config.rateLimits.registerClient, address(c));
      if (limited) return limited.json('registrations');
    }
    return registerClient(platform, c.req.raw);
  });
  app.on(['POST', 'OPTIONS'], TOKEN_PATH, (c) =>
    c.req.method === 'POST'
      ? tokenEndpoint(platform, c.req.raw, address(c))
      : engine(platform).serve(onPublicOrigin(c.req.raw, config.publicUrl)),
  );
  app.get(AUTHORIZE_PATH, (c) => showAuthorize(platform, c.req.raw, address(c)));
  app.post(AUTHORIZE_PATH, (c) => submitAuthorize(platform, c.req.raw, address(c)));

  // The proxy: Streamable HTTP, and legacy HTTP+SSE (2024-11-05), its event stream and the
  // message URL its endpoint event names.
  // Open streams are counted per grant and per client address (mcp/stream-limits.ts); a server
  // that also answers MCP requests outside the app (the Node fast path) hands in the counts it shares.
  const streams = options.streams ?? createStreamLimits(config);
  const client = (c: Context) => ({ streams, address: address(c) });
  app.all(endpointPath(SLUG), (c) =>
    isSlug(c.req.param('slug')) ? mcpRoute(platform, c.req.raw, c.req.param('slug'), client(c)) : unknownEndpoint(c),
  );
  const legacy = (route: LegacyRoute) => (c: Context) => {
    const slug = c.req.param('slug')!;
    return isSlug(slug) ? legacyRoute(platform, c.req.raw, slug, route, client(c)) : unknownEndpoint(c);
  };
  app.all(endpointPath(SLUG, 'sse'), legacy('sse'));
  app.all(messagesPath(SLUG), legacy('messages'));

  // A person's browser gets these as pages (http/errors.ts `browserAnswers`); programs keep the JSON.
  app.notFound((c) => (wantsPage(c.req.raw) ? browserAnswers.notFound() : answers.notFound()));
  app.onError((error, c) => {
    // A store outage reaches here from any route (the guard rethrows it past the engine): the
    // client waits and retries, and keeps its tokens.
    if (isStorageUnavailable(error)) {
      platform.log.warn('storage unavailable', { error: error.message, cause: String(error.cause ?? '') });
      return wantsPage(c.req.raw)
        ? browserAnswers.storageUnavailable(error.retryAfter, c.req.method === 'GET' ? sameUrl(c) : '/')
        : storageUnavailable(error.retryAfter);
    }
    platform.log.error('unhandled error', { error });
    return answers.serverError();
  });
  return app;
}

/** The path and query of this request, for a "try again" link. */
function sameUrl(c: Context): string {
  const url = new URL(c.req.url);
  return url.pathname + url.search;
}

function unknownEndpoint(c: Context): Response | Promise<Response> {
  return wantsPage(c.req.raw) ? browserAnswers.unknownEndpoint() : answers.unknownEndpoint();
}

function asset(body: string, type: string): Response {
  return new Response(body, {
    headers: { 'content-type': type, 'cache-control': 'public, max-age=3600', 'x-content-type-options': 'nosniff' },
  });
}
