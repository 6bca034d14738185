import type { Context } from 'hono';
import { getCookie } from 'hono/cookie';
import { isSlug, managePath } from '../endpoint-urls.ts';
import { describeEndpoint, type Endpoint, endpointPreview, endpointTemplate } from '../endpoints/endpoint.ts';
import { FIELD_LIMITS, firstIssue, updateEndpointInput } from '../endpoints/input.ts';
import { createEndpointStore } from '../endpoints/store.ts';
import { templateFromForm, templateRows } from '../endpoints/template-form.ts';
import { answers } from '../http/errors.ts';
import { rateLimit } from '../http/rate-limit.ts';
import { readFormPost } from '../http/request.ts';
import { htmlResponse, redirect } from '../http/responses.ts';
import { type GrantView, listGrants, revokeAllGrants, revokeGrant } from '../oauth/grants.ts';
import { activitySection } from '../pages/activity.ts';
import { accessesCount, CONFIRM_FIELD, CONFIRMED, confirmPage } from '../pages/confirm.ts';
import { inFormWords } from '../pages/home.ts';
import { manageGonePage, managePage, manageTokenPage } from '../pages/manage.ts';
import { patternsOf } from '../pages/tool-policy-form.ts';
import type { Platform } from '../platform.ts';
import { signedInPerson } from '../signin/session.ts';
import { mayManageAsPerson } from '../signin/who.ts';
import { accessRow } from './access-rows.ts';
import { activityFilter, activityRows, OUTCOMES } from './activity-view.ts';
import { changeEndpoint, deleteEndpoint } from './change.ts';
import { manageActor, mayManage } from './manage-api.ts';

/**
 * `/manage/:slug`, the creator's page, on top of the same rules as the JSON API (change.ts).
 *
 * The manage link from creation carries the token in its fragment, which never leaves the browser
 * (no access log, proxy or Referer sees it); the page's script posts it once. The server answers
 * with an HttpOnly, SameSite=Strict cookie scoped to this endpoint's page path, for an hour, and a
 * redirect: every button afterwards is a same-origin form post answered 303 back here
 * (POST/redirect/GET), so reload and Back never resubmit anything. A browser without scripts gets
 * the same page by pasting the token into the form.
 */

const COOKIE = 'k2o_manage';
const COOKIE_SECONDS = 3600;

/**
 * What the page says once after an action (POST/redirect/GET): carried by a short cookie on this
 * page's path, read and cleared by the GET it redirects to, so a reload does not bring it back.
 * The value is the kind and a count: `revoked-all.3`.
 */
const NOTICE_COOKIE = 'k2o_notice';
function noticeText(kind: string, count: number): string | undefined {
  switch (kind) {
    case 'saved':
      return 'Saved.';
    case 'saved-revoked':
      return `Saved. Where or how the key is sent changed, so ${accessesCount(count)} ${count === 1 ? 'was' : 'were'} revoked: each person approves again with their key.`;
    case 'revoked':
      return 'Access revoked: that app can no longer use this endpoint.';
    case 'revoked-all':
      return `${count === 1 ? 'The one access was' : `All ${count} accesses were`} revoked: no app can use this endpoint until someone approves one again.`;
    default:
      return undefined;
  }
}

export async function showManage(platform: Platform, c: Context, slug: string, clientAddress: string): Promise<Response> {
  const limited = await rateLimit(platform, 'manage', platform.config.rateLimits.manage, clientAddress);
  if (limited) return limited.page('requests to manage endpoints from your network');
  const endpoint = isSlug(slug) ? await createEndpointStore(platform.kv).get(slug) : null;
  if (!endpoint) return htmlResponse(manageGonePage(c.req.query('done') === 'deleted'), { status: 404 });
  if (!(await pageActor(platform, c, endpoint))) return htmlResponse(manageTokenPage({ slug }));
  const flash = getCookie(c, NOTICE_COOKIE);
  const [kind = '', count = '0'] = (flash ?? '').split('.');
  const notice = noticeText(kind, Number(count) || 0);
  const response = await page(platform, endpoint, { ...(notice ? { notice } : {}), query: new URL(c.req.url).searchParams });
  if (flash !== undefined) response.headers.append('set-cookie', noticeCookie(platform, slug, '', 0));
  return response;
}

/** Back to the manage page, with what it should say once. */
function done(platform: Platform, slug: string, kind: string, count = 0): Response {
  return redirect(managePath(slug), new Headers({ 'set-cookie': noticeCookie(platform, slug, `${kind}.${count}`, 60) }), 303);
}

export async function submitManage(platform: Platform, c: Context, slug: string, clientAddress: string): Promise<Response> {
  const { config } = platform;
  const read = await readFormPost(c.req.raw, config.publicUrl);
  if (!read.ok) return read.answer;
  const limited = await rateLimit(platform, 'manage', config.rateLimits.manage, clientAddress);
  if (limited) return limited.page('requests to manage endpoints from your network');
  const endpoint = isSlug(slug) ? await createEndpointStore(platform.kv).get(slug) : null;
  if (!endpoint) return htmlResponse(manageGonePage(false), { status: 404 });
  const field = (name: string) => read.value.get(name) ?? '';
  const here = managePath(slug);
  const action = field('action');

  if (action === 'open') {
    const token = field('token').trim();
    if (!(await mayManage(platform, token, endpoint))) {
      return htmlResponse(manageTokenPage({ slug, error: 'That is not the manage token of this endpoint.' }), { status: 401 });
    }
    return redirect(here, cookieHeaders(platform, slug, token, COOKIE_SECONDS), 303);
  }
  if (action === 'sign-out') return redirect('/', cookieHeaders(platform, slug, '', 0), 303);
  // Every other action needs the cookie (or, with sign-in, the owner or an admin); without it, the token page again.
  const actor = await pageActor(platform, c, endpoint);
  if (!actor) {
    return htmlResponse(
      manageTokenPage({ slug, error: 'Open the manage link (or paste the token) again: this browser no longer holds it.' }),
      {
        status: 401,
      },
    );
  }

  const confirmed = field(CONFIRM_FIELD) === CONFIRMED;
  switch (action) {
    case 'save': {
      // The Advanced rows are the template; a form without them may still name the one header.
      const credentials = templateFromForm((name) => read.value.get(name));
      const input = {
        ...Object.fromEntries(['display_name', 'upstream_url', 'transport'].map((name) => [name, field(name)])),
        ...(credentials
          ? { credentials }
          : read.value.get('auth_header_name')
            ? { auth_header_name: field('auth_header_name'), auth_header_prefix: field('auth_header_prefix') }
            : {}),
      };
      const parsed = updateEndpointInput.safeParse(input);
      if (!parsed.success) return page(platform, endpoint, { error: firstIssue(parsed.error), status: 400 });
      const changed = await changeEndpoint(platform, endpoint, parsed.data, actor, { unlessItRevokes: !confirmed });
      if (!changed.ok && 'wouldRevoke' in changed) {
        const count = changed.wouldRevoke.length;
        return htmlResponse(
          confirmPage({
            title: `Save and revoke ${accessesCount(count)}?`,
            consequence: `This change moves where or how the key is sent (the upstream URL, the credential fields or the transport). The people who approved saw the old destination, so every access is revoked and each person must approve again with their key.`,
            lost: changed.wouldRevoke.map(lostLine),
            action: here,
            fields: [...read.value].filter(([name]) => name !== CONFIRM_FIELD),
            confirmLabel: `Save and revoke ${accessesCount(count)}`,
            cancel: { href: here, label: 'Cancel: save nothing' },
          }),
        );
      }
      if (!changed.ok) return page(platform, endpoint, { error: changed.message, status: changed.status ?? 400 });
      return done(platform, slug, changed.revoked > 0 ? 'saved-revoked' : 'saved', changed.revoked);
    }
    case 'tool-policy': {
      const allow = patternsOf(field('tool_allow'));
      const deny = patternsOf(field('tool_deny'));
      const parsed = updateEndpointInput.safeParse({ tool_policy: allow.length || deny.length ? { allow, deny } : null });
      if (!parsed.success) return page(platform, endpoint, { error: firstIssue(parsed.error), status: 400 });
      const changed = await changeEndpoint(platform, endpoint, parsed.data);
      if (!changed.ok) return page(platform, endpoint, { error: changed.message, status: changed.status ?? 400 });
      return done(platform, slug, 'saved');
    }
    case 'revoke': {
      const grant = (await listGrants(platform, slug)).find((one) => one.id === field('grant'));
      if (!grant) return done(platform, slug, 'revoked');
      if (!confirmed)
        return htmlResponse(
          confirmPage({
            title: `Revoke ${grant.client_name}’s access?`,
            consequence: `${grant.client_name} can no longer use this endpoint: its next request is refused, and only approving again with the key brings it back. Other apps keep their access.`,
            lost: [lostLine(grant)],
            action: here,
            fields: [
              ['action', 'revoke'],
              ['grant', grant.id],
            ],
            confirmLabel: `Revoke ${grant.client_name}’s access`,
            cancel: { href: here, label: 'Cancel: keep it' },
          }),
        );
      await revokeGrant(platform, slug, grant.id, actor);
      return done(platform, slug, 'revoked');
    }
    case 'revoke-all': {
      const grants = await listGrants(platform, slug);
      if (!confirmed && grants.length > 0)
        return htmlResponse(
          confirmPage({
            title: `Revoke all ${accessesCount(grants.length)}?`,
            consequence: 'Every app below loses access to this endpoint at once; each person must approve again with their key to use it.',
            lost: grants.map(lostLine),
            action: here,
            fields: [['action', 'revoke-all']],
            confirmLabel: `Revoke all ${accessesCount(grants.length)}`,
            cancel: { href: here, label: 'Cancel: keep them' },
          }),
        );
      const revoked = await revokeAllGrants(platform, slug, actor);
      return done(platform, slug, 'revoked-all', revoked);
    }
    case 'delete':
      // Typed, like GitHub's: the endpoint's ID, which the delete section shows (pages/manage.ts).
      if (field(CONFIRM_FIELD).trim() !== slug)
        return page(platform, endpoint, {
          error: `Nothing was deleted: to delete the endpoint, type its ID, ${slug}, in the box next to the Delete button.`,
          status: 400,
        });
      await deleteEndpoint(platform, slug, actor);
      return redirect(`${here}?done=deleted`, cookieHeaders(platform, slug, '', 0), 303);
    default:
      return answers.badForm('Unknown action.');
  }
}

/** Who is at the page: the manage link's cookie, or a signed-in owner or admin (their email); undefined for nobody. */
async function pageActor(platform: Platform, c: Context, endpoint: Endpoint): Promise<string | undefined> {
  const byLink = await manageActor(platform, getCookie(c, COOKIE), endpoint);
  if (byLink) return byLink;
  const person = await signedInPerson(platform, c.req.raw);
  return mayManageAsPerson(person, endpoint.owner) ? person!.email : undefined;
}

async function page(
  platform: Platform,
  endpoint: Endpoint,
  extra: { notice?: string; error?: string; status?: number; query?: URLSearchParams },
): Promise<Response> {
  const view = describeEndpoint(endpoint, platform.config.publicUrl);
  const grants = await listGrants(platform, endpoint.slug);
  const query = extra.query ?? new URLSearchParams();
  const filter = activityFilter((name) => query.get(name));
  const activity = activitySection(await activityRows(platform, endpoint.slug, grants, { ...filter, limit: 200 }), {
    action: managePath(endpoint.slug),
    ...(filter.tool ? { tool: filter.tool } : {}),
    ...(filter.outcome ? { outcome: filter.outcome } : {}),
    ...(filter.accessIds ? { access: [...filter.accessIds][0]! } : {}),
    accesses: grants.map((grant) => ({ id: grant.id, clientName: grant.client_name })),
    outcomes: OUTCOMES,
  });
  return htmlResponse(
    managePage({
      endpoint: {
        slug: endpoint.slug,
        mcpEndpoint: view.mcp_endpoint,
        displayName: endpoint.displayName,
        upstreamUrl: endpoint.upstreamUrl,
        transport: endpoint.transport,
        preview: endpointPreview(endpoint),
        rows: templateRows(endpointTemplate(endpoint)),
      },
      grants: grants.map(accessRow),
      ...(extra.notice ? { notice: extra.notice } : {}),
      ...(extra.error ? { error: inFormWords(extra.error) } : {}),
      limits: FIELD_LIMITS,
      ...(endpoint.toolPolicy ? { toolPolicy: endpoint.toolPolicy } : {}),
      activity,
    }),
    { status: extra.status ?? 200 },
  );
}

/** One app that loses access, as a confirmation lists it. */
function lostLine(grant: GrantView): string {
  return `${grant.client_name} (tokens go to ${grant.redirect_host ?? 'an unknown address'}; authorized ${grant.created_at.slice(0, 10)})`;
}

function noticeCookie(platform: Platform, slug: string, value: string, maxAge: number): string {
  const secure = platform.config.publicUrl.startsWith('https:') ? '; Secure' : '';
  return `${NOTICE_COOKIE}=${value}; Path=${managePath(slug)}; Max-Age=${maxAge}; HttpOnly; SameSite=Strict${secure}`;
}

function cookieHeaders(platform: Platform, slug: string, token: string, maxAge: number): Headers {
  const secure = platform.config.publicUrl.startsWith('https:') ? '; Secure' : '';
  return new Headers({
    'set-cookie': `${COOKIE}=${encodeURIComponent(token)}; Path=${managePath(slug)}; Max-Age=${maxAge}; HttpOnly; SameSite=Strict${secure}`,
  });
}
