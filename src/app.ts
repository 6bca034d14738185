import { Hono } from 'hono';
import type { Context } from 'hono';
import { createEndpoint } from './endpoints/create.ts';
import { describeEndpoint } from './endpoints/endpoint.ts';
import { manageEndpoint } from './manage/manage-api.ts';
import { isSlug } from './endpoints/slug.ts';
import { createEndpointStore } from './endpoints/store.ts';
import { htmlResponse, jsonError } from './http/responses.ts';
import { bodyLimits, errorBodies, requestLog, securityHeaders } from './http/middleware.ts';
import { isCrossSiteFormPost, onPublicOrigin } from './http/request.ts';
import { showAuthorize, submitAuthorize } from './oauth/authorize.ts';
import { authorizationServer, engineEnv, executionContext, AUTHORIZE_PATH, REGISTER_PATH, TOKEN_PATH } from './oauth/engine.ts';
import { tokenEndpoint } from './oauth/token.ts';
import { APP_JS, STYLE_CSS } from './pages/assets.ts';
import { createdPage } from './pages/created.ts';
import { errorPage } from './pages/error.ts';
import { homePage, type HomeForm } from './pages/home.ts';
import type { Platform } from './platform.ts';
import { legacyRoute, type LegacyRoute } from './mcp/legacy-sse.ts';
import { mcpRoute, protect } from './mcp/mcp-route.ts';
import { rateLimit } from './http/rate-limit.ts';
import { timingSafeEqual } from './crypto.ts';

/**
 * The whole HTTP surface, for any platform. Every route is wired here and nowhere else.
 */
export function createApp(platform: Platform): Hono {
  const app = new Hono();
  const { config } = platform;
  const address = (c: Context) => platform.clientAddress(c.req.raw, c.env);
  const engine = (slug?: string) => authorizationServer(platform, slug);
  const engineFetch = (request: Request, slug?: string) =>
    engine(slug).fetch(onPublicOrigin(request, config.publicUrl), engineEnv(platform) as never, executionContext(platform) as never);

  app.use(requestLog(platform.log), securityHeaders(), errorBodies(), bodyLimits(config));

  app.get('/healthz', (c) => c.json({ ok: true }));
  app.get('/assets/style.css', () => asset(STYLE_CSS, 'text/css; charset=utf-8'));
  app.get('/assets/app.js', () => asset(APP_JS, 'text/javascript; charset=utf-8'));

  // Creating endpoints: the home page form and the JSON API share one service.
  app.get('/', () => htmlResponse(homePage({ adminRequired: Boolean(config.adminToken) })));
  app.post('/', async (c) => {
    if (isCrossSiteFormPost(c.req.raw, config.publicUrl)) return htmlResponse(errorPage('Request refused', 'This form can only be submitted from this site.'), { status: 403 });
    const formData = await c.req.formData().catch(() => null);
    if (!formData) return htmlResponse(errorPage('Bad request', 'The form could not be read.'), { status: 400 });
    const form = Object.fromEntries([...formData].map(([name, value]) => [name, String(value)]));
    const { admin_token: adminToken, ...fields } = form;
    const input: HomeForm = Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== '')) as HomeForm;
    const home = (error: string, status: number, headers?: Headers) => htmlResponse(homePage({ error, form: input, adminRequired: Boolean(config.adminToken) }), { status, headers });
    // Counted before the admin token is checked, so the limit also stops guessing it.
    const retryAfter = await rateLimit(platform, 'create', config.rateLimits.createEndpoint, address(c));
    if (retryAfter !== null) return home(`Too many endpoints created from your network; try again in ${retryAfter} seconds.`, 429, new Headers({ 'retry-after': String(retryAfter) }));
    if (config.adminToken && !timingSafeEqual(adminToken ?? '', config.adminToken)) return home('The admin token is not right.', 401);
    const result = await createEndpoint(platform, input);
    if (!result.ok) return home(result.message, result.status);
    const view = describeEndpoint(result.endpoint, config.publicUrl);
    return htmlResponse(
      createdPage({ mcpEndpoint: view.mcp_endpoint, displayName: view.display_name, upstreamHost: new URL(view.upstream_url).host, manageToken: result.manageToken }),
      { status: 201 },
    );
  });

  app.post('/api/slugs', async (c) => {
    // Counted before the admin token is checked, so the limit also stops guessing it.
    const retryAfter = await rateLimit(platform, 'create', config.rateLimits.createEndpoint, address(c));
    if (retryAfter !== null) return jsonError(429, 'rate_limited', `Too many endpoints created; try again in ${retryAfter} seconds`, { 'retry-after': String(retryAfter) });
    if (config.adminToken) {
      const presented = c.req.header('authorization')?.replace(/^Bearer\s+/i, '') ?? '';
      if (!timingSafeEqual(presented, config.adminToken)) return jsonError(401, 'unauthorized', 'This deployment requires the admin token: Authorization: Bearer <ADMIN_TOKEN>');
    }
    if (!(c.req.header('content-type') ?? '').toLowerCase().startsWith('application/json')) {
      return jsonError(415, 'unsupported_media_type', 'Send a JSON body with Content-Type: application/json');
    }
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      return jsonError(400, 'invalid_json', 'The body is not valid JSON');
    }
    const result = await createEndpoint(platform, body);
    if (!result.ok) return jsonError(result.status, result.error, result.message);
    return c.json({ ...describeEndpoint(result.endpoint, config.publicUrl), manage_token: result.manageToken }, 201);
  });

  // The creator's controls: read, change or delete an endpoint with its manage token.
  app.on(['GET', 'PATCH', 'DELETE'], '/api/slugs/:slug', (c) => manageEndpoint(platform, c.req.raw, c.req.param('slug'), address(c)));

  // OAuth: discovery, registration and tokens are the engine's; the authorization page is ours.
  app.on(['GET', 'HEAD', 'OPTIONS'], '/.well-known/oauth-authorization-server', async (c) => {
    const response = await engineFetch(c.req.raw);
    if (c.req.method !== 'GET' || !response.ok) return response; // CORS preflight (browser clients), HEAD
    const metadata = (await response.json()) as Record<string, unknown>;
    // The engine lists its resources here; ours is a per-request stand-in, not a real resource.
    delete metadata.protected_resources;
    return new Response(JSON.stringify(metadata), { status: response.status, headers: response.headers });
  });
  app.all('/.well-known/oauth-protected-resource/:slug/mcp', async (c) => {
    const slug = c.req.param('slug');
    if (!isSlug(slug) || !(await createEndpointStore(platform.kv).get(slug))) return jsonError(404, 'not_found', 'No endpoint with this URL exists on this server');
    return protect(platform, slug, onPublicOrigin(c.req.raw, config.publicUrl), async () => jsonError(404, 'not_found', 'Not found'));
  });
  app.on(['POST', 'OPTIONS'], REGISTER_PATH, async (c) => {
    if (c.req.method === 'POST') {
      const retryAfter = await rateLimit(platform, 'register', config.rateLimits.registerClient, address(c));
      if (retryAfter !== null) return jsonError(429, 'rate_limited', `Too many registrations; try again in ${retryAfter} seconds`, { 'retry-after': String(retryAfter) });
    }
    return engineFetch(c.req.raw);
  });
  app.on(['POST', 'OPTIONS'], TOKEN_PATH, (c) => (c.req.method === 'POST' ? tokenEndpoint(platform, c.req.raw) : engineFetch(c.req.raw)));
  app.get(AUTHORIZE_PATH, (c) => showAuthorize(platform, c.req.raw, address(c)));
  app.post(AUTHORIZE_PATH, (c) => submitAuthorize(platform, c.req.raw, address(c)));

  // The proxy.
  app.all('/:slug/mcp', (c) => {
    const slug = c.req.param('slug');
    if (!isSlug(slug)) return jsonError(404, 'not_found', 'No endpoint with this URL exists on this server');
    return mcpRoute(platform, c.req.raw, slug);
  });
  // Legacy HTTP+SSE (2024-11-05): the event stream and the message URL its endpoint event names.
  const legacy = (route: LegacyRoute) => (c: Context) => {
    const slug = c.req.param('slug')!;
    if (!isSlug(slug)) return jsonError(404, 'not_found', 'No endpoint with this URL exists on this server');
    return legacyRoute(platform, c.req.raw, slug, route);
  };
  app.all('/:slug/sse', legacy('sse'));
  app.all('/:slug/messages', legacy('messages'));

  app.notFound(() => jsonError(404, 'not_found', 'Not found'));
  app.onError((error) => {
    platform.log.error('unhandled error', { error });
    return jsonError(500, 'server_error', 'Something went wrong on our side');
  });
  return app;
}

function asset(body: string, type: string): Response {
  return new Response(body, { headers: { 'content-type': type, 'cache-control': 'public, max-age=3600', 'x-content-type-options': 'nosniff' } });
}
