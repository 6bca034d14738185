import type { Context } from 'hono';
import { manageLink } from '../endpoint-urls.ts';
import { bearerToken } from '../http/bearer.ts';
import { jsonError, pageError } from '../http/errors.ts';
import { rateLimit } from '../http/rate-limit.ts';
import { readFormPost, readJsonBody } from '../http/request.ts';
import { htmlResponse, redirect } from '../http/responses.ts';
import { createdPage } from '../pages/created.ts';
import { type HomeForm, homePage, inFormWords } from '../pages/home.ts';
import type { Platform } from '../platform.ts';
import { signInUrl } from '../signin/routes.ts';
import { signedInPerson } from '../signin/session.ts';
import { whoCreates } from '../signin/who.ts';
import { createEndpoint, previewEndpoint } from './create.ts';
import { keepCreatedView, takeCreatedView } from './created-view.ts';
import { describeEndpoint, endpointPreview } from './endpoint.ts';
import { FIELD_LIMITS } from './input.ts';
import { createEndpointStore } from './store.ts';
import { templateFromForm, templateRows } from './template-form.ts';

/**
 * The two ways to create an endpoint, the home-page form (`POST /`) and the JSON API
 * (`POST /api/slugs`): the same limit, the same admin check and the same `createEndpoint` rules;
 * they differ only in how they read the input and answer.
 *
 * The create limit is counted before the admin token is checked, so it also stops guessing it.
 */

export async function showHome(platform: Platform, request: Request): Promise<Response> {
  // With sign-in configured, creating needs a signed-in allowed person: the page sends them to sign in.
  const person = platform.config.signIn ? await signedInPerson(platform, request) : undefined;
  if (platform.config.signIn && !person) return redirect(signInUrl('/'), new Headers(), 303);
  return htmlResponse(
    homePage({
      rows: templateRows(),
      limits: FIELD_LIMITS,
      adminRequired: Boolean(platform.config.adminToken) && !platform.config.signIn,
      ...(person ? { person } : {}),
    }),
  );
}

export async function createFromForm(platform: Platform, c: Context, clientAddress: string): Promise<Response> {
  const { config } = platform;
  const read = await readFormPost(c.req.raw, config.publicUrl);
  if (!read.ok) return read.answer;
  const form = Object.fromEntries(read.value);
  const { admin_token: adminToken, intent, ...fields } = form;
  const typed = Object.entries(fields).filter(([name, value]) => value !== '' && !name.startsWith('credential_'));
  const input: HomeForm = Object.fromEntries(typed) as HomeForm;
  const credentials = templateFromForm((name) => read.value.get(name));
  const rows = templateRows(credentials);
  const body = credentials ? { ...input, credentials } : input;
  const home = (error: string | undefined, status: number, headers?: Headers, preview?: string[]) =>
    htmlResponse(
      homePage({
        ...(error ? { error: inFormWords(error) } : {}),
        form: input,
        rows,
        limits: FIELD_LIMITS,
        ...(preview ? { preview } : {}),
        adminRequired: Boolean(config.adminToken) && !config.signIn,
      }),
      { status, ...(headers ? { headers } : {}) },
    );
  // Preview: the request the upstream would get, from the same rules as creation; nothing is stored.
  if (intent === 'preview') {
    if (config.signIn && !(await signedInPerson(platform, c.req.raw))) return redirect(signInUrl('/'), new Headers(), 303);
    const previewed = previewEndpoint(body);
    return previewed.ok ? home(undefined, 200, undefined, previewed.preview) : home(previewed.message, 400);
  }

  const limited = await rateLimit(platform, 'create', config.rateLimits.createEndpoint, clientAddress);
  if (limited) return home(limited.sentence('endpoints created from your network'), 429, limited.headers());
  const creator = await whoCreates(platform, c.req.raw, adminToken ?? '');
  if (!creator && config.signIn) return redirect(signInUrl('/'), new Headers(), 303);
  if (!creator) return home('The admin token is not right.', 401);
  const result = await createEndpoint(platform, body, creator);
  if (!result.ok) return home(result.message, result.status, retryHeaders(result.retryAfter));
  // POST/redirect/GET: reloading or going Back to the result must not create a second endpoint.
  const id = await keepCreatedView(platform.kv, { slug: result.endpoint.slug, manageToken: result.manageToken, warnings: result.warnings });
  return redirect(`/created/${id}`, new Headers(), 303);
}

/** GET /created/:id: the result of the form, with the manage link on its first view only. */
export async function showCreated(platform: Platform, id: string): Promise<Response> {
  const { publicUrl } = platform.config;
  const view = await takeCreatedView(platform.kv, id);
  const endpoint = view ? await createEndpointStore(platform.kv).get(view.slug) : null;
  if (!view) {
    // An unknown id and an expired one look alike: nothing here says whether any endpoint exists.
    return pageError(
      404,
      'Page expired',
      'This page is shown once, for ten minutes after an endpoint is created; that time has passed, or the link is not one this server gave.',
      'Open an endpoint you created with the manage link you saved from this page, or create a new one on the start page.',
    );
  }
  if (!endpoint)
    return pageError(404, 'Endpoint deleted', 'The endpoint created here has since been deleted.', 'Create a new one on the start page.');
  const described = describeEndpoint(endpoint, publicUrl);
  return htmlResponse(
    createdPage({
      mcpEndpoint: described.mcp_endpoint,
      displayName: endpoint.displayName,
      upstreamHost: new URL(endpoint.upstreamUrl).host,
      preview: endpointPreview(endpoint),
      ...(view.manageToken ? { manageLink: manageLink(publicUrl, endpoint.slug, view.manageToken) } : {}),
      warnings: view.warnings,
    }),
  );
}

/** `Retry-After` for a refusal that may pass later (an upstream down for a moment). */
function retryHeaders(retryAfter: number | undefined): Headers | undefined {
  return retryAfter ? new Headers({ 'retry-after': String(retryAfter) }) : undefined;
}

export async function createFromApi(platform: Platform, c: Context, clientAddress: string): Promise<Response> {
  const { config } = platform;
  const limited = await rateLimit(platform, 'create', config.rateLimits.createEndpoint, clientAddress);
  if (limited) return limited.json('endpoints created');
  const creator = await whoCreates(platform, c.req.raw, bearerToken(c.req.header('authorization')) ?? '');
  if (!creator) {
    const how = config.signIn
      ? `This deployment requires signing in (${config.publicUrl}/login)${config.adminToken ? ' or the admin token: Authorization: Bearer <ADMIN_TOKEN>' : ''}`
      : 'This deployment requires the admin token: Authorization: Bearer <ADMIN_TOKEN>';
    return jsonError(401, 'unauthorized', how);
  }
  const body = await readJsonBody(c.req.raw);
  if (!body.ok) return body.answer;
  const result = await createEndpoint(platform, body.value, creator);
  if (!result.ok) return jsonError(result.status, result.error, result.message, retryHeaders(result.retryAfter));
  return Response.json(
    {
      ...describeEndpoint(result.endpoint, config.publicUrl),
      manage_token: result.manageToken,
      manage_url: manageLink(config.publicUrl, result.endpoint.slug, result.manageToken),
      warnings: result.warnings,
    },
    { status: 201 },
  );
}
