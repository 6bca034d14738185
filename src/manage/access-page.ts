import type { Context } from 'hono';
import { randomToken, sha256Hex } from '../crypto.ts';
import { endpointUrl } from '../endpoint-urls.ts';
import { endpointTemplate } from '../endpoints/endpoint.ts';
import { createEndpointStore } from '../endpoints/store.ts';
import { readFormPost } from '../http/request.ts';
import { htmlResponse, redirect } from '../http/responses.ts';
import { open, type Sealed, seal } from '../oauth/key-replacement.ts';
import { ACCESS_PATH, accessFindPage, accessListPage } from '../pages/access.ts';
import { activitySection } from '../pages/activity.ts';
import { accessesCount, CONFIRM_FIELD, CONFIRMED, confirmPage } from '../pages/confirm.ts';
import type { Platform } from '../platform.ts';
import { accessRow } from './access-rows.ts';
import { activityRows, OUTCOMES } from './activity-view.ts';
import { type Found, findAccess, NO_ACCESS, refreshed, replaceAccess, revokeAccess, slugOfInput } from './key-holder.ts';

/**
 * `/access`, the key holder's page (docs/key-holders.md): the JSON API's three calls for people,
 * with POST/redirect/GET and never a key in a URL.
 *
 * After the key is pasted (POST), the page must show the accesses on the GET that follows, without
 * the key in its URL and without keeping the key readable anywhere: the key is sealed under a
 * random handle (oauth/key-replacement.ts `seal`: HKDF, AES-GCM) in a record that expires after
 * ten minutes, and the handle goes to this browser only, in a cookie scoped to this path
 * (`HttpOnly`, `SameSite=Strict`, `Secure` on https). The record names it by its hash. The store
 * alone opens nothing; the cookie alone names nothing without the store.
 */

const COOKIE = 'k2o_access';
const SESSION_SECONDS = 600;
const PREFIX = 'k2o:access:';
const CONTEXT = 'key holder page';

interface Session {
  slug: string;
  sealed: Sealed;
  notice?: string;
}

export async function showAccess(platform: Platform, c: Context): Promise<Response> {
  const session = await readSession(platform, c.req.raw);
  if (!session) {
    const endpoint = c.req.query('endpoint')?.slice(0, 2048);
    const notice = c.req.query('done') !== undefined ? 'Your key was forgotten on this page.' : undefined;
    // A link from a consent page names its endpoint: ask for each value its template takes, by
    // the labels that page showed (anyone with the endpoint URL can see them there).
    const slug = endpoint ? slugOfInput(platform.config.publicUrl, endpoint) : undefined;
    const named = slug ? await createEndpointStore(platform.kv).get(slug) : null;
    const labels = named ? endpointTemplate(named).map((field) => field.label) : undefined;
    return htmlResponse(
      accessFindPage({ ...(endpoint ? { endpoint } : {}), ...(notice ? { notice } : {}), ...(labels ? { labels } : {}) }),
    );
  }
  const found = await sessionFound(platform, session.record, session.values);
  if (!found) return htmlResponse(accessFindPage({ error: 'This endpoint no longer exists.' }));
  if (session.record.notice) await putSession(platform, session.handle, { slug: session.record.slug, sealed: session.record.sealed });
  return listPage(platform, found, session.record.notice ? { notice: session.record.notice } : {});
}

export async function submitAccess(platform: Platform, c: Context, clientAddress: string): Promise<Response> {
  const read = await readFormPost(c.req.raw, platform.config.publicUrl);
  if (!read.ok) return read.answer;
  const form = read.value;
  const action = form.get('action') ?? 'find';
  if (action === 'find') return find(platform, form, clientAddress);

  const session = await readSession(platform, c.req.raw);
  if (action === 'done' || !session) {
    if (session) await platform.kv.delete(PREFIX + (await sha256Hex(session.handle)));
    return redirect(`${ACCESS_PATH}${action === 'done' ? '?done' : ''}`, clearCookie(platform), 303);
  }
  const found = await sessionFound(platform, session.record, session.values);
  if (!found) return redirect(ACCESS_PATH, clearCookie(platform), 303);
  const back = async (notice: string, values = found.values) => {
    await putSession(platform, session.handle, { slug: found.slug, sealed: await seal(values, [session.handle], CONTEXT), notice });
    return redirect(ACCESS_PATH, new Headers(), 303);
  };
  if (action === 'revoke' || action === 'revoke-all') {
    const id = action === 'revoke' ? (form.get('id') ?? '') : undefined;
    // Asked once more, naming the apps (pages/confirm.ts), unless this post is the answer.
    const losing = found.grants.filter((grant) => id === undefined || grant.id === id);
    if (form.get(CONFIRM_FIELD) !== CONFIRMED && losing.length > 0) {
      const one = id !== undefined ? losing[0]! : undefined;
      return htmlResponse(
        confirmPage({
          title: one ? `Revoke ${one.client_name}’s access?` : `Revoke all ${accessesCount(losing.length)} your key gave?`,
          consequence: `${one ? one.client_name : 'Every app below'} can no longer use this endpoint with your key; to use it again, approve it again from the app.`,
          lost: losing.map((grant) => `${grant.client_name} (tokens go to ${grant.redirect_host ?? 'an unknown address'})`),
          action: ACCESS_PATH,
          fields: one
            ? [
                ['action', 'revoke'],
                ['id', one.id],
              ]
            : [['action', 'revoke-all']],
          confirmLabel: one ? `Revoke ${one.client_name}’s access` : `Revoke all ${accessesCount(losing.length)}`,
          cancel: { href: ACCESS_PATH, label: 'Cancel: keep access' },
        }),
      );
    }
    const { revoked, apps: names } = await revokeAccess(platform, found, id);
    return back(
      revoked === 0
        ? 'Nothing was revoked: that access was already gone.'
        : `Done: revoked ${namesInWords(names)}. ${revoked === 1 ? 'It' : 'They'} can no longer use this endpoint.`,
    );
  }
  if (action === 'replace') {
    const newValues = [...form.keys()]
      .filter((name) => /^new_credential_\d$/.test(name))
      .sort()
      .map((name) => form.get(name) ?? '');
    const result = await replaceAccess(platform, found, newValues);
    if (!result.ok) return listPage(platform, found, { error: result.problem, status: result.status });
    return back(
      `Done: ${apps(result.replaced)} will send the new key from their next request. Nobody needs to sign in again.`,
      result.found.values,
    );
  }
  return listPage(platform, found, { error: 'That action is not one this page offers.', status: 400 });
}

/** `/revoke`, the page this one replaced: old links land here. */
export function revokeMoved(c: Context): Response {
  const endpoint = c.req.query('endpoint');
  return redirect(endpoint ? `${ACCESS_PATH}?endpoint=${encodeURIComponent(endpoint.slice(0, 2048))}` : ACCESS_PATH, new Headers(), 301);
}

async function find(platform: Platform, form: URLSearchParams, clientAddress: string): Promise<Response> {
  const endpoint = (form.get('endpoint') ?? '').slice(0, 2048);
  // `api_key` is what the page this one replaced (/revoke) posted.
  const values = [...form.keys()]
    .filter((name) => /^credential_\d$/.test(name))
    .sort()
    .map((name) => form.get(name) ?? '');
  if (values.length === 0 && form.has('api_key')) values.push(form.get('api_key') ?? '');
  // The same page whatever went wrong: its fields follow what was sent, never the endpoint's
  // template, so the answer says nothing about whether the endpoint exists.
  const labels = values.length > 1 ? values.map((_, i) => `Value ${i + 1}`) : undefined;
  const again = (error: string, status: number, headers?: Headers) =>
    htmlResponse(accessFindPage({ endpoint, error, ...(labels ? { labels } : {}) }), { status, ...(headers ? { headers } : {}) });
  const lookup = await findAccess(platform, clientAddress, endpoint, values);
  if (!lookup.ok) {
    if (lookup.kind === 'limited') return again(lookup.refusal.sentence(lookup.tooMany), 429, lookup.refusal.headers());
    if (lookup.kind === 'invalid') return again('Paste the endpoint URL and the key you gave it.', 400);
    return again(NO_ACCESS, 403);
  }
  const handle = randomToken(32);
  await putSession(platform, handle, { slug: lookup.found.slug, sealed: await seal(lookup.found.values, [handle], CONTEXT) });
  const headers = new Headers();
  headers.append('set-cookie', `${COOKIE}=${handle}; ${cookieAttributes(platform)}; Max-Age=${SESSION_SECONDS}`);
  return redirect(ACCESS_PATH, headers, 303);
}

async function listPage(
  platform: Platform,
  found: Found,
  options: { notice?: string; error?: string; status?: number },
): Promise<Response> {
  const accesses = found.grants.map(accessRow);
  return htmlResponse(
    accessListPage({
      endpoint: endpointUrl(platform.config.publicUrl, found.slug),
      host: new URL(found.endpoint.upstreamUrl).host,
      accesses,
      labels: endpointTemplate(found.endpoint).map((field) => field.label),
      activity: activitySection(
        await activityRows(platform, found.slug, found.grants, { accessIds: new Set(found.grants.map((grant) => grant.id)), limit: 100 }),
        { accesses: [], outcomes: OUTCOMES },
      ),
      ...(options.notice ? { notice: options.notice } : {}),
      ...(options.error ? { error: options.error } : {}),
    }),
    { status: options.status ?? 200 },
  );
}

async function readSession(
  platform: Platform,
  request: Request,
): Promise<{ handle: string; record: Session; values: string[] } | undefined> {
  const handle = cookieValue(request.headers.get('cookie'), COOKIE);
  if (!handle || !/^[A-Za-z0-9_-]{43}$/.test(handle)) return undefined;
  const record = (await platform.kv.get(PREFIX + (await sha256Hex(handle)), 'json')) as Session | null;
  if (!record) return undefined;
  const values = await open(record.sealed, [handle], CONTEXT);
  return values ? { handle, record, values } : undefined;
}

/** The accesses of the session's key now (the key was proved when the session began). */
async function sessionFound(platform: Platform, record: Session, values: string[]): Promise<Found | undefined> {
  const endpoint = await createEndpointStore(platform.kv).get(record.slug);
  if (!endpoint) return undefined;
  return refreshed(platform, { slug: record.slug, endpoint, values, grants: [] });
}

async function putSession(platform: Platform, handle: string, record: Session): Promise<void> {
  await platform.kv.put(PREFIX + (await sha256Hex(handle)), JSON.stringify(record), { expirationTtl: SESSION_SECONDS });
}

function cookieAttributes(platform: Platform): string {
  return `Path=${ACCESS_PATH}; HttpOnly; SameSite=Strict${platform.config.publicUrl.startsWith('https:') ? '; Secure' : ''}`;
}

function clearCookie(platform: Platform): Headers {
  const headers = new Headers();
  headers.append('set-cookie', `${COOKIE}=; ${cookieAttributes(platform)}; Max-Age=0`);
  return headers;
}

function cookieValue(header: string | null, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return rest.join('=');
  }
  return undefined;
}

/** `Claude`, `Claude and Cursor`, `Claude, Cursor and Zed`: each name once, with how many when it repeats. */
function namesInWords(names: string[]): string {
  const counts = new Map<string, number>();
  for (const name of names) counts.set(name, (counts.get(name) ?? 0) + 1);
  const words = [...counts].map(([name, count]) => (count === 1 ? name : `${name} (${count} accesses)`));
  return words.length === 1 ? words[0]! : `${words.slice(0, -1).join(', ')} and ${words.at(-1)}`;
}

function apps(count: number): string {
  return count === 1 ? 'one app' : `${count} apps`;
}
