import { AuthorizationError, type AuthRequest, CimdFetchError, type OAuthHelpers } from '@cloudflare/workers-oauth-provider';
import { recordEvent } from '../audit/trail.ts';
import { sha256Hex } from '../crypto.ts';
import { endpointUrl, slugOfEndpointUrl } from '../endpoint-urls.ts';
import { type Endpoint, endpointPreview, endpointTemplate, upstreamTarget } from '../endpoints/endpoint.ts';
import { createEndpointStore } from '../endpoints/store.ts';
import { answers, pageError, sentences } from '../http/errors.ts';
import { countMistake, mistakesUsedUp, rateLimit } from '../http/rate-limit.ts';
import { onPublicOrigin, readFormPost } from '../http/request.ts';
import { htmlResponse, redirect } from '../http/responses.ts';
import { countGrantsIssued } from '../metrics.ts';
import { authorizePage, chooseEndpointPage } from '../pages/authorize.ts';
import { viewHost } from '../pages/host-display.ts';
import type { Platform } from '../platform.ts';
import { signInUrl } from '../signin/routes.ts';
import { signInActor, whoAuthorizes } from '../signin/who.ts';
import type { CredentialField } from '../upstream/credentials.ts';
import { FAILURE_WORDS } from '../upstream/network-error.ts';
import { type ProbeResult, probeKey } from '../upstream/probe.ts';
import { type ListedTool, listUpstreamTools } from '../upstream/tool-list.ts';
import { choiceFromForm, describeChoice, MAX_CHOSEN_TOOLS, type ToolChoice } from '../upstream/tool-policy.ts';
import { alreadyApproved, approvalOf, claimApproval, keepApproval, requestedIn } from './approve-once.ts';
import { documentHost, isMetadataDocumentUrl, resolveMetadataDocument } from './client-metadata.ts';
import { type ConsentNotice, keepNotice, takeNotice } from './consent-notice.ts';
import { credentialInputName, readCredentialForm } from './credential-form.ts';
import { engine, type GrantProps, SCOPES, tokenParts } from './engine.ts';
import { grantMetadata } from './grants.ts';
import { keyAttemptLimits } from './key-attempts.ts';
import { authorizeQuery, consentForm, paramsProblem } from './params.ts';
import { appScheme } from './redirect-uri.ts';

/**
 * GET /authorize: validate the request with the engine, then show the consent page where the
 * user pastes the key. The engine keeps the request server-side behind a single-use handle bound
 * to this browser by a `__Host-` cookie, so the form cannot be forged or replayed.
 */
export async function showAuthorize(platform: Platform, incoming: Request, clientAddress = 'unknown'): Promise<Response> {
  const { publicUrl } = platform.config;
  const request = onPublicOrigin(incoming, publicUrl);
  const url = new URL(request.url);
  if (!(await whoAuthorizes(platform, incoming))) return redirect(signInUrl(url.pathname + url.search), new Headers(), 303);
  const params = url.searchParams;
  // Set by our own redirect after a refused submission; the engine never sees it.
  const noticeId = params.get('notice');
  params.delete('notice');
  const problem = paramsProblem(authorizeQuery, params);
  if (problem) return pageError(400, 'Authorization failed', `${problem}.`, 'Start again from your app.');
  // Anyone can name any URL as client_id: client-metadata.ts bounds the fetches per address.
  const documentRefused = await metadataDocumentRefusal(platform, params.get('client_id'), clientAddress);
  if (documentRefused) return documentRefused;

  // The user named the endpoint on our "which endpoint?" page: continue with `resource` set.
  const pasted = params.get('endpoint');
  if (pasted !== null) {
    const slug = slugOfEndpointUrl(publicUrl, pasted);
    if (!slug || !(await createEndpointStore(platform.kv).get(slug))) {
      return htmlResponse(chooseEndpointPage(params, sentences.notAnEndpointUrl), {
        status: 400,
      });
    }
    params.delete('endpoint');
    params.set('resource', endpointUrl(publicUrl, slug));
    return redirect(`${url.pathname}?${params}`, new Headers(), 303);
  }

  const resource = params.get('resource');
  const slug = slugOfEndpointUrl(publicUrl, resource);
  if (!slug && resource && !isBareOrigin(resource, publicUrl)) {
    // RFC 8707 §2: a resource we do not serve is `invalid_target`. Shown here, not redirected: the
    // user has not acted on our page yet (RFC 9700 §4.11.1).
    return pageError(
      400,
      'Authorization failed',
      'The app asked for access to a resource that is not an endpoint of this server (invalid_target).',
      'Start again from your app with the endpoint URL this server gave you (it ends in /mcp).',
    );
  }
  if (!slug) {
    // Ask the user only on behalf of a client that exists; the engine checks the rest once the endpoint is known.
    const client = await engine(platform)
      .helpers()
      .lookupClient(params.get('client_id')!)
      .catch(() => null);
    if (!client)
      return pageError(
        400,
        'Authorization failed',
        'The app that sent you here is not registered with this server.',
        'Start again from your app.',
      );
    return htmlResponse(chooseEndpointPage(params));
  }
  const endpoint = await createEndpointStore(platform.kv).get(slug);
  if (!endpoint)
    return pageError(
      404,
      'Endpoint not found',
      `${sentences.endpointGone} (invalid_target).`,
      'Ask whoever gave you the endpoint URL for a current one.',
    );

  // Clients send `resource` with a trailing slash or other case (docs/architecture.md); the engine
  // compares exactly, so hand it the canonical form of the endpoint we matched.
  params.set('resource', endpointUrl(publicUrl, slug));
  const oauth = engine(platform, slug).helpers();
  let authRequest: AuthRequest;
  try {
    authRequest = await oauth.parseAuthRequest(new Request(url, { headers: request.headers }));
  } catch (error) {
    return authorizationFailure(error, { userActed: false });
  }
  // Back after Approve: the request was approved already; no second consent page for it.
  const approval = await approvalOf(platform, authRequest);
  if (approval) return alreadyApproved(approval);
  // Each page stores a consent transaction (ten minutes): bounded per address, so nobody can fill the store.
  const limited = await rateLimit(platform, 'authorize-page', platform.config.rateLimits.authorizePage, clientAddress);
  if (limited)
    return limited.page('authorization pages were opened from your network', { href: `${url.pathname}?${params}`, label: 'Try again' });
  const notice = await takeNotice(platform.kv, noticeId);
  if (!notice) return consentPage(oauth, authRequest, endpoint);
  const headers = new Headers(notice.retryAfter ? { 'retry-after': String(notice.retryAfter) } : {});
  return consentPage(oauth, authRequest, endpoint, {
    error: notice.message,
    status: notice.status,
    headers,
    ...(notice.tools ? { tools: notice.tools } : {}),
  });
}

/** POST /authorize: Deny, or check the key against the upstream and only then issue a code. */
export async function submitAuthorize(platform: Platform, incoming: Request, clientAddress: string): Promise<Response> {
  const { config } = platform;
  const request = onPublicOrigin(incoming, config.publicUrl);
  const read = await readFormPost(request, config.publicUrl);
  if (!read.ok) return read.answer;
  const form = read.value;
  // One `tool` field per chosen tool (upstream/tool-policy.ts) comes on top of the form's own fields.
  const problem = paramsProblem(consentForm, form, 50 + MAX_CHOSEN_TOOLS);
  if (problem) return answers.badForm(`${problem}.`);
  const handle = form.get('handle') ?? '';
  const action = form.get('action') ?? '';
  const actor = await whoAuthorizes(platform, request);
  if (!actor)
    return pageError(
      401,
      'Sign in first',
      'This deployment asks you to sign in before you authorize an app.',
      'Start again from your app.',
    );
  const anyEngine = engine(platform).helpers();
  // An old form of a request approved already (Back, a cached page, a second tab): nothing more.
  const requested = requestedIn(new URL(request.url));
  const approval = await approvalOf(platform, requested);
  if (approval) return alreadyApproved(approval);

  try {
    if (action === 'deny') {
      const denied = await anyEngine.denyConsent(request, handle);
      return redirect(denied.redirectTo, denied.headers);
    }
    if (action !== 'approve') {
      return answers.badForm('Choose Approve or Deny.');
    }

    const approved = await anyEngine.approveConsent(request, handle);
    // A metadata document may have changed or gone stale while the page was open.
    const documentRefused = await metadataDocumentRefusal(platform, approved.request.clientId, clientAddress, approved.headers);
    if (documentRefused) return documentRefused;
    const slug = slugOfEndpointUrl(config.publicUrl, approved.request.resource);
    const endpoint = slug ? await createEndpointStore(platform.kv).get(slug) : null;
    if (!slug || !endpoint) {
      return pageError(404, 'Endpoint not found', 'This endpoint was deleted while you were authorizing.');
    }
    const oauth = engine(platform, slug).helpers();

    // Where the page said the key would go must still be where it goes: the creator may have
    // changed the endpoint (PATCH /api/slugs/:slug) while the page was open.
    const again = (notice: ConsentNotice, headers = approved.headers) =>
      backToConsent(platform, request, notice, headers, () =>
        consentPage(oauth, approved.request, endpoint, { error: notice.message, status: notice.status, headers }),
      );
    if ((form.get('destination') ?? '') !== (await destinationOf(endpoint))) {
      return again({
        message: 'This endpoint was changed while the page was open. Check where your key will go, then approve again.',
        status: 409,
      });
    }
    // Key guessing (oauth/key-attempts.ts): only wrong keys count; once a limit is used up, the
    // person waits on this same page, which says for how long.
    const limits = keyAttemptLimits(config, {
      address: clientAddress,
      endpoint: slug,
      signIn: { clientId: approved.request.clientId, codeChallenge: approved.request.codeChallenge ?? '' },
    });
    const usedUp = await mistakesUsedUp(platform, limits);
    if (usedUp) {
      return again(
        { message: usedUp.refusal.sentence(usedUp.tooMany), status: 429, retryAfter: usedUp.refusal.retryAfter },
        usedUp.refusal.headers(approved.headers),
      );
    }

    // The key holder's choice of tools (docs/tools-and-activity.md). A legacy HTTP+SSE upstream
    // answers on its own stream and a stdio server through its process, where no answer is
    // filtered: only `all` is offered there.
    const tools = choiceFromForm(form);
    if ('problem' in tools || (tools.mode !== 'all' && endpoint.transport !== 'streamable-http')) {
      const message =
        'problem' in tools
          ? tools.problem
          : endpoint.transport === 'sse'
            ? 'This endpoint’s server speaks the legacy transport, where access can only be to all tools.'
            : 'This endpoint’s server is a program this server runs for you, where access can only be to all tools.';
      return again({ message, status: 400 });
    }
    const read = readCredentialForm(form, endpointTemplate(endpoint), endpoint.upstreamUrl);
    const problem: Problem | undefined = !read.ok
      ? { message: read.message, status: 400, log: read.log }
      : endpoint.transport === 'stdio'
        ? await stdioKeyProblem(platform, endpoint, read.values)
        : probeMessage(await probeKey(platform, upstreamTarget(endpoint), read.values), endpoint, read.values);
    if (problem) {
      // Nothing was issued. The old handle is spent, so the page comes back with a fresh one.
      platform.log.info('authorization key refused', { slug, reason: problem.log });
      if (problem.wrongKey) await countMistake(platform, limits);
      return again({ message: problem.message, status: problem.status });
    }

    const values = read.ok ? read.values : [];
    // `chosen` with no tool named yet: the second step, the page again with the upstream's tools to tick.
    if (tools.mode === 'chosen' && tools.tools.length === 0) {
      const listed = await listUpstreamTools(platform, upstreamTarget(endpoint), values);
      return again({
        message: listed?.length
          ? 'Your key works. Tick the tools the app may use, paste the key again, and approve.'
          : 'Your key works, but the server did not list its tools: choose all or read-only tools instead.',
        status: 200,
        ...(listed?.length ? { tools: listed } : {}),
      });
    }
    // Two submissions of one request that both got this far: the first approves, the other is told.
    if (!(await claimApproval(platform, approved.request)))
      return alreadyApproved(await approvalOf(platform, approved.request), approved.headers);
    const props: GrantProps = {
      v: 1,
      slug,
      credentials: values,
      upstream: upstreamTarget(endpoint),
      ...(tools.mode === 'all' ? {} : { tools }),
    };
    const { redirectTo } = await oauth.completeAuthorization({
      request: approved.request,
      userId: slug,
      metadata: {
        ...(await grantMetadata(platform, slug, values, approved.request.redirectUri, signInActor(platform, actor))),
        ...toolsMetadata(tools),
      },
      scope: grantedScopes(approved.request.scope),
      props,
      // Everyone who uses an endpoint shares its userId (the slug), and a CIMD client shares one
      // client_id across all its users: revoking "earlier grants of this user and client" would
      // sign other people out. Each authorization is its own grant.
      revokeExistingGrants: false,
    });
    // The endpoint may have been deleted or changed while the key was being checked; its grants
    // were revoked then, and this one, made for what it was before, must not outlive them.
    const current = await createEndpointStore(platform.kv).get(slug);
    if (!current || (await destinationOf(current)) !== (await destinationOf(endpoint))) {
      const grantId = tokenParts(new URL(redirectTo).searchParams.get('code'))?.grantId;
      if (grantId) await oauth.revokeGrant(grantId, slug);
      return pageError(
        409,
        'Endpoint changed',
        'This endpoint was changed or deleted while your key was being checked. Nothing was granted; start again from your app.',
        undefined,
        approved.headers,
      );
    }
    const client = await oauth.lookupClient(approved.request.clientId).catch(() => null);
    const sentTo = new URL(approved.request.redirectUri);
    await keepApproval(platform, approved.request, {
      clientName: client?.clientName || 'The app',
      redirectHost: sentTo.host || sentTo.protocol,
      ...(sentTo.protocol === 'https:' ? { appOrigin: sentTo.origin } : {}),
      endpointUrl: endpointUrl(config.publicUrl, slug),
    });
    platform.log.info('authorization granted', { slug });
    countGrantsIssued();
    await recordEvent(platform, { actor, action: 'access.granted', slug, detail: `app ${approved.request.clientId.slice(0, 100)}` });
    return redirect(redirectTo, approved.headers);
  } catch (error) {
    return authorizationFailure(error, { userActed: true });
  }
}

/** The choice in words in the grant's (unencrypted) metadata, so every list of accesses can show it. */
function toolsMetadata(choice: ToolChoice): { tools?: string } {
  return choice.mode === 'all' ? {} : { tools: describeChoice(choice) };
}

/**
 * After a refused submission: 303 back to the authorization URL the form was posted to, with the
 * message kept for the GET (consent-notice.ts), so no page in the history is a POST result. A
 * form posted without the authorization query (no browser does that) gets the page directly.
 */
async function backToConsent(
  platform: Platform,
  request: Request,
  notice: ConsentNotice,
  headers: Headers,
  direct: () => Promise<Response>,
): Promise<Response> {
  const url = new URL(request.url);
  if (!url.searchParams.has('client_id')) return direct();
  url.searchParams.set('notice', await keepNotice(platform.kv, notice));
  return redirect(`${url.pathname}?${url.searchParams}`, headers, 303);
}

async function consentPage(
  oauth: OAuthHelpers,
  authRequest: AuthRequest,
  endpoint: Endpoint,
  extra: { error?: string; status?: number; headers?: Headers; tools?: ListedTool[] } = {},
): Promise<Response> {
  const described = await oauth.describeConsent(authRequest);
  // A metadata document's host vouches for the app's name, as a registration cannot.
  const consent = isMetadataDocumentUrl(authRequest.clientId)
    ? { ...described, clientDomain: documentHost(authRequest.clientId) }
    : described;
  const transaction = await oauth.beginConsent(authRequest);
  const headers = new Headers(extra.headers);
  for (const cookie of transaction.headers.getSetCookie()) headers.append('set-cookie', cookie);
  return htmlResponse(
    authorizePage({
      handle: transaction.handle,
      destination: await destinationOf(endpoint),
      endpointName: endpoint.displayName,
      endpointUrl: authRequest.resource ?? '',
      upstreamHost: new URL(endpoint.upstreamUrl).host,
      hostView: viewHost(new URL(endpoint.upstreamUrl).hostname),
      ...(endpoint.transport === 'stdio' ? { stdio: { variables: endpointTemplate(endpoint).map((field) => field.name ?? '') } } : {}),
      createdAgo: timeAgo(endpoint.createdAt),
      fields: endpointTemplate(endpoint).map((field, index, fields) => ({
        label: field.label,
        input: credentialInputName(fields, index),
        where: whereItGoes(field),
        secret: field.in !== 'basic_user',
      })),
      preview: endpointPreview(endpoint),
      consent,
      ...(appScheme(authRequest.redirectUri) ? { appScheme: appScheme(authRequest.redirectUri)! } : {}),
      ...(extra.error ? { error: extra.error } : {}),
      tools: endpoint.transport === 'streamable-http' ? extra.tools : false,
    }),
    { status: extra.status ?? 200, headers, formAction: redirectSources(authRequest.redirectUri) },
  );
}

/**
 * What the consent page promised: the key goes to this URL in this header. Hashed, because the
 * page is public and an upstream URL may carry more than its host shows.
 */
function destinationOf(endpoint: Endpoint): Promise<string> {
  return sha256Hex(JSON.stringify([endpointTemplate(endpoint), endpoint.upstreamUrl, endpoint.transport]));
}

/** A page saying why the client's metadata document cannot be used, or undefined when it can (or there is none). */
async function metadataDocumentRefusal(
  platform: Platform,
  clientId: string | null,
  clientAddress: string,
  headers?: Headers,
): Promise<Response | undefined> {
  if (!isMetadataDocumentUrl(clientId)) return undefined;
  const result = await resolveMetadataDocument(platform, clientId, clientAddress);
  if (result.ok) return undefined;
  if ('limited' in result) return result.limited.page('apps’ metadata documents were checked for your network');
  return pageError(
    400,
    'Authorization failed',
    `The app’s metadata document at ${clientId.slice(0, 200)} cannot be used: ${result.reason}.`,
    'This is a problem with the app, not with your key. Try again later, or tell the app’s publisher.',
    headers,
  );
}

/**
 * The CSP source that lets the post-approval redirect reach the client, or none. The URI is the
 * client's own choice and URL parsing lets `;` and `,` through in a host, which would end the
 * directive and start another: only hosts of letters, digits, hyphens and dots, or IP literals, become a
 * source. A scheme (a private-use one such as `cursor:`) is letters, digits, `+`, `-` and `.` by
 * URL parsing already.
 */
function redirectSources(redirectUri: string): string[] {
  const url = new URL(redirectUri);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return [url.protocol];
  const host = url.hostname;
  const plain = /^[a-z0-9-]+(?:\.[a-z0-9-]+)*\.?$/i.test(host) || /^\[[0-9a-f:.]+\]$/i.test(host);
  return plain ? [url.origin] : [];
}

function isBareOrigin(value: string, publicUrl: string): boolean {
  try {
    const url = new URL(value.trim());
    return url.origin === new URL(publicUrl).origin && url.pathname === '/' && !url.search;
  } catch {
    return false;
  }
}

/** What to grant: the requested scopes we know, and at least `mcp` (clients may ask for none). */
function grantedScopes(requested: string[]): string[] {
  const known = requested.filter((scope) => SCOPES.includes(scope));
  return known.includes('mcp') ? known : ['mcp', ...known];
}

interface Problem {
  message: string;
  status: number;
  log: string;
  /** The upstream (or the stdio server) refused the key: a mistake the key-guessing limits count. */
  wrongKey?: true;
}

/**
 * The key check of a stdio server (docs/stdio.md): a throwaway process started with the key must
 * answer `initialize` and `tools/list`. What it said is shown with the key masked: servers quote
 * what they were given.
 */
async function stdioKeyProblem(platform: Platform, endpoint: Endpoint, values: string[]): Promise<Problem | undefined> {
  if (!platform.stdio) return { message: sentences.noProcesses, status: 501, log: 'no processes here' };
  const result = await platform.stdio.check(endpoint.slug, values);
  if (result.ok) return undefined;
  const reason = values.reduce((text, value) => text.split(value).join('[redacted]'), result.reason);
  return {
    message: `${endpoint.displayName} did not start with this key: it must answer and list its tools, and it said: ${reason}. Check the key and try again.`,
    status: 401,
    log: `stdio check failed: ${reason}`,
    wrongKey: true,
  };
}

function probeMessage(result: ProbeResult, endpoint: Endpoint, values: string[]): Problem | undefined {
  const host = new URL(endpoint.upstreamUrl).host;
  if (result.ok) return undefined;
  switch (result.kind) {
    case 'rejected':
      // The key may be right and the way it is sent wrong (another header, another prefix): say
      // exactly what was sent, key masked, so the user can tell which.
      return {
        message: `${host} rejected this key (HTTP ${result.status}). It was sent as “${sentAs(endpoint, values)}”. Check the key and try again. If the key is right, ${host} may expect it in another header or prefix: whoever created this endpoint can change that on its manage page.`,
        status: 401,
        log: `rejected ${result.status}`,
        wrongKey: true,
      };
    // Said as it is: creation already tells anyone whether a host:port answers (upstream/detect.ts),
    // within the upstream guard and RATE_LIMIT_CREATE, so hiding it here would protect nothing.
    case 'unreachable':
      return {
        message: `The key could not be checked: ${host} is not reachable (${FAILURE_WORDS[result.failure]}). Nothing was saved. ${
          result.failure === 'timeout' || result.failure === 'network'
            ? 'Try again in a minute; if it keeps failing, the server may be down: tell whoever runs this endpoint.'
            : 'This is not about your key: tell whoever runs this endpoint that its server cannot be reached.'
        }`,
        status: result.failure === 'timeout' ? 504 : 502,
        log: `unreachable: ${result.reason}`,
      };
    case 'not-mcp':
      return {
        message: `The key could not be checked: ${host} answered with ${result.what}, not as an MCP server. Nothing was saved. The endpoint's upstream URL may point at a website rather than the MCP server: tell whoever runs this endpoint.`,
        status: 502,
        log: `not mcp: ${result.what}`,
      };
    case 'unexpected':
      return {
        message: `The key could not be checked: ${host} answered HTTP ${result.status} to the MCP handshake. Nothing was saved. Try again in a minute; if it keeps failing, tell whoever runs this endpoint.`,
        status: 502,
        log: `unexpected ${result.status}`,
      };
  }
}

/**
 * An error from the engine. It offers a redirect back to the client once it has validated the
 * client and its redirect URI; but a self-registered client chose that URI itself, so sending
 * the browser there from our trusted origin, before the user did anything on our page, would be
 * an open redirect (RFC 9700 §4.11.1). Before the user acted, errors are shown here.
 */
async function authorizationFailure(error: unknown, { userActed }: { userActed: boolean }): Promise<Response> {
  if (error instanceof AuthorizationError) {
    if (error.redirectTo && userActed) return redirect(error.redirectTo);
    return pageError(400, 'Authorization failed', `${error.description} (${error.code})`, 'Start again from your app.');
  }
  if (error instanceof CimdFetchError) {
    return pageError(400, 'Authorization failed', 'The app’s metadata document could not be fetched, so it cannot be verified.');
  }
  throw error;
}

/** The request's key lines, values masked; with its request line when a value travels in the query. */
function sentAs(endpoint: Endpoint, values: string[]): string {
  const lines = endpointPreview(endpoint, values);
  return (endpointTemplate(endpoint).some((field) => field.in === 'query') ? lines : lines.slice(1)).join(' · ');
}

/** Where a field's value goes, in words for the consent page. */
function whereItGoes(field: CredentialField): string {
  if (field.in === 'header') return `in the ${field.name} header`;
  if (field.in === 'query') return `as the query parameter ${field.name}`;
  return field.in === 'basic_user' ? 'as the HTTP Basic user name' : 'as the HTTP Basic password';
}

/** An endpoint's age in words: a link to one created minutes ago deserves a second look. */
function timeAgo(createdAt: number): string {
  const seconds = Math.max(0, Math.floor(Date.now() / 1000) - createdAt);
  const units: [number, string][] = [
    [86_400 * 365, 'year'],
    [86_400 * 30, 'month'],
    [86_400, 'day'],
    [3600, 'hour'],
    [60, 'minute'],
  ];
  for (const [size, name] of units) {
    const count = Math.floor(seconds / size);
    if (count >= 1) return `${count} ${name}${count === 1 ? '' : 's'} ago`;
  }
  return 'less than a minute ago';
}
