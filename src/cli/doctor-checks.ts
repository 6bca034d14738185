import { createHash, randomBytes } from 'node:crypto';
import { STREAM_CHECK_GAP_MS, STREAM_CHECK_PATH } from '../http/stream-check.ts';

/**
 * What `key2oauth doctor` checks: the path each MCP client takes against a deployment, from the
 * outside, through the URL users paste. Every step says what it saw and, when something is wrong,
 * what to change. It is an ordinary HTTP client run by the operator against their own server, so
 * it uses a plain fetch (handed in, so tests can point it anywhere), not the upstream guard.
 */

export interface Step {
  name: string;
  ok: boolean;
  detail: string;
  fix?: string;
}

export interface DoctorOptions {
  endpoint: string;
  apiKey?: string;
  fetch?: typeof fetch;
}

/** Where real clients send their users back (docs/architecture.md, "Redirect URIs"). */
const CLIENTS = [
  { name: 'Claude', redirect_uris: ['https://claude.ai/api/mcp/auth_callback', 'https://claude.com/api/mcp/auth_callback'] },
  { name: 'ChatGPT', redirect_uris: ['https://chatgpt.com/connector_platform_oauth_redirect'] },
  {
    name: 'Cursor',
    redirect_uris: ['cursor://anysphere.cursor-mcp/oauth/callback', 'http://127.0.0.1:44321/oauth/callback'],
  },
];
const BROWSER_ORIGIN = 'https://inspector.example';
const LOOPBACK = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])$/;
const TIMEOUT_MS = 10_000;

export async function diagnose(options: DoctorOptions): Promise<Step[]> {
  const fetchFn = options.fetch ?? fetch;
  const steps: Step[] = [];
  const pass = (name: string, detail: string) => steps.push({ name, ok: true, detail });
  const fail = (name: string, detail: string, fix: string) => steps.push({ name, ok: false, detail, fix });
  const get = (url: string, init: RequestInit = {}) =>
    fetchFn(url, { redirect: 'manual', signal: AbortSignal.timeout(TIMEOUT_MS), ...init });

  let endpoint: URL;
  try {
    endpoint = new URL(options.endpoint);
  } catch {
    fail(
      'endpoint URL',
      `${JSON.stringify(options.endpoint)} is not a URL`,
      'Pass the endpoint URL exactly as you gave it to your client, e.g. https://bridge.example.com/AbCdEfGh1234/mcp.',
    );
    return steps;
  }
  const shape = /^(.*)\/([A-Za-z0-9]{12})\/(mcp|sse)\/?$/.exec(endpoint.pathname);
  if (!shape) {
    fail(
      'endpoint URL',
      `${endpoint.pathname} does not end in /{slug}/mcp or /{slug}/sse`,
      'Use the mcp_endpoint URL Key2OAuth gave you when the endpoint was created.',
    );
    return steps;
  }
  const [, prefix = '', slug, kind] = shape;
  const url = `${endpoint.origin}${prefix}/${slug}/${kind}`;
  if (endpoint.protocol === 'http:' && !LOOPBACK.test(endpoint.hostname)) {
    fail(
      'https',
      `${endpoint.origin} is plain http on a host that is not this computer: tokens and your users' API keys would cross the network unencrypted, and clients refuse it`,
      'Put TLS in front (a reverse proxy such as Caddy or nginx with a certificate, or Cloudflare) and set PUBLIC_URL to the https URL.',
    );
  } else pass('https', endpoint.protocol === 'https:' ? 'https' : 'plain http on loopback (fine for local testing only)');

  // 1. The 401 challenge every client starts from.
  let challenge: Response;
  try {
    challenge =
      kind === 'mcp'
        ? await get(url, {
            method: 'POST',
            headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
            body: JSON.stringify({
              jsonrpc: '2.0',
              id: 1,
              method: 'initialize',
              params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'key2oauth-doctor', version: '1' } },
            }),
          })
        : await get(url, { headers: { accept: 'text/event-stream' } });
    await challenge.body?.cancel();
  } catch (error) {
    fail(
      'reachable',
      `${url} could not be reached (${describe(error)})`,
      'Check the host name, the port, and that the server (or its reverse proxy) is running and reachable from here.',
    );
    return steps;
  }
  const header = challenge.headers.get('www-authenticate') ?? '';
  const metadataUrl = /resource_metadata="([^"]+)"/.exec(header)?.[1];
  if (challenge.status === 404) {
    fail(
      'challenge',
      `${url} answered 404: no endpoint here`,
      prefix
        ? `The request reached the server without the ${prefix} prefix, or the slug is wrong. Key2OAuth must be served at the root of its own host name; give it its own (sub)domain instead of a path.`
        : 'Check the slug (it was printed when the endpoint was created), and that your reverse proxy forwards the path unchanged.',
    );
    return steps;
  }
  if (challenge.status !== 401 || !metadataUrl) {
    fail(
      'challenge',
      `without a token ${url} answered HTTP ${challenge.status}${header ? ` with WWW-Authenticate: ${header}` : ' with no WWW-Authenticate header'}`,
      'Clients learn where to sign in from a 401 whose WWW-Authenticate names resource_metadata. Make sure nothing in front of Key2OAuth answers for it or drops that header.',
    );
    return steps;
  }
  pass('challenge', `401 names ${metadataUrl}`);

  const named = new URL(metadataUrl);
  if (named.origin !== endpoint.origin) {
    fail(
      'PUBLIC_URL',
      `the server calls itself ${named.origin}, but you reached it at ${endpoint.origin}; clients compare these and stop`,
      `Set PUBLIC_URL=${endpoint.origin} (the origin users paste), and restart.`,
    );
    return steps;
  }
  pass('PUBLIC_URL', `the server calls itself ${named.origin}, as clients reach it`);

  // 2. The protected resource metadata, by the challenge's URL and by the path-inserted well-known URL.
  const resource = await readJson(get, metadataUrl, { origin: BROWSER_ORIGIN });
  if (!resource.ok) {
    fail(
      'resource metadata',
      `${metadataUrl}: ${resource.problem}`,
      'Make sure your reverse proxy forwards /.well-known/ paths to Key2OAuth unchanged.',
    );
    return steps;
  }
  const advertised = String(resource.body.resource ?? '');
  if (advertised !== url) {
    const stripped = prefix && advertised === `${endpoint.origin}/${slug}/${kind}`;
    fail(
      'resource metadata',
      `the metadata names ${advertised || 'no resource'}, not ${url}; clients refuse a resource that is not the URL they connect to`,
      stripped
        ? `Your reverse proxy strips the ${prefix} prefix. Key2OAuth must be at the root of its own host name (its issuer is a bare origin): give it its own (sub)domain.`
        : `Set PUBLIC_URL=${endpoint.origin} and restart.`,
    );
    return steps;
  }
  pass('resource metadata', `resource is ${advertised}`);
  const wellKnown = `${endpoint.origin}/.well-known/oauth-protected-resource${new URL(url).pathname}`;
  if (wellKnown !== metadataUrl) {
    const inserted = await readJson(get, wellKnown);
    if (!inserted.ok || inserted.body.resource !== url)
      fail(
        'resource metadata (well-known)',
        `${wellKnown}: ${inserted.ok ? 'names another resource' : inserted.problem}`,
        'Forward /.well-known/ paths to Key2OAuth unchanged.',
      );
    else pass('resource metadata (well-known)', wellKnown);
  }

  // 3. The authorization server metadata at the issuer's root well-known URL.
  const issuer = Array.isArray(resource.body.authorization_servers) ? String(resource.body.authorization_servers[0]) : '';
  const asUrl = `${issuer}/.well-known/oauth-authorization-server`;
  const as = issuer ? await readJson(get, asUrl) : { ok: false as const, problem: 'no authorization_servers in the resource metadata' };
  if (!as.ok) {
    fail('authorization server metadata', `${asUrl}: ${as.problem}`, 'Forward /.well-known/ paths to Key2OAuth unchanged.');
    return steps;
  }
  const methods = as.body.code_challenge_methods_supported;
  if (
    as.body.issuer !== issuer ||
    !Array.isArray(methods) ||
    !methods.includes('S256') ||
    typeof as.body.registration_endpoint !== 'string'
  ) {
    fail(
      'authorization server metadata',
      `issuer ${String(as.body.issuer)}, PKCE ${JSON.stringify(methods)}, registration ${String(as.body.registration_endpoint)}`,
      `Set PUBLIC_URL=${endpoint.origin} and restart.`,
    );
    return steps;
  }
  pass(
    'authorization server metadata',
    `issuer ${issuer}; S256; registration; metadata documents ${as.body.client_id_metadata_document_supported ? 'accepted' : 'not accepted'}`,
  );

  // 4. CORS, for browser clients (the Inspector, web apps).
  const cors = await corsProblem(get, url, kind === 'mcp' ? 'POST' : 'GET', metadataUrl);
  if (cors)
    fail(
      'CORS',
      cors,
      'Let OPTIONS requests and Access-Control-* headers pass through your reverse proxy unchanged; Key2OAuth answers them itself.',
    );
  else pass('CORS', 'preflight allowed, WWW-Authenticate exposed, metadata readable from a browser');

  // 5. Registration as real clients register, and the authorization page for one of them.
  const registered: Record<string, string> = {};
  for (const client of CLIENTS) {
    const response = await get(String(as.body.registration_endpoint), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        client_name: `${client.name} (key2oauth doctor)`,
        redirect_uris: client.redirect_uris,
        token_endpoint_auth_method: 'none',
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
      }),
    });
    const body = (await response.json().catch(() => ({}))) as Record<string, unknown>;
    if (response.status === 201 && typeof body.client_id === 'string') {
      registered[client.name] = body.client_id;
      pass(`registration as ${client.name}`, `client ${body.client_id.slice(0, 8)}…`);
    } else
      fail(
        `registration as ${client.name}`,
        `HTTP ${response.status}: ${String(body.error_description ?? body.error ?? '')}`,
        'See the server log for this registration.',
      );
  }
  const authorizeEndpoint = String(as.body.authorization_endpoint ?? '');
  if (registered.Claude) {
    const { challenge: codeChallenge } = pkce();
    const page = await get(authorizationUrl(authorizeEndpoint, registered.Claude, CLIENTS[0]!.redirect_uris[0]!, codeChallenge, url));
    const html = await page.text();
    if (page.status === 200 && /<form method="post"/.test(html))
      pass('authorization page', 'the consent page opens for a Claude-style request');
    else
      fail(
        'authorization page',
        `HTTP ${page.status}: ${pageText(html).slice(0, 200)}`,
        `Open ${authorizeEndpoint} yourself and read what it says; check PUBLIC_URL=${endpoint.origin}.`,
      );
  }

  // 6. Streaming through whatever is in front of the server.
  steps.push(await streamStep(get, `${endpoint.origin}${prefix}${STREAM_CHECK_PATH}`));

  // 7. With a key: the whole flow, headlessly, and the upstream's tools.
  if (options.apiKey && authorizeEndpoint)
    steps.push(
      ...(await signIn(get, {
        url,
        kind: kind ?? 'mcp',
        authorizeEndpoint,
        registration: String(as.body.registration_endpoint),
        token: String(as.body.token_endpoint ?? ''),
        apiKey: options.apiKey,
      })),
    );
  return steps;
}

type Get = (url: string, init?: RequestInit) => Promise<Response>;

async function readJson(
  get: Get,
  url: string,
  headers: Record<string, string> = {},
): Promise<{ ok: true; body: Record<string, unknown>; response: Response } | { ok: false; problem: string }> {
  try {
    const response = await get(url, { headers });
    if (response.status !== 200) {
      await response.body?.cancel();
      return { ok: false, problem: `HTTP ${response.status}` };
    }
    return { ok: true, body: (await response.json()) as Record<string, unknown>, response };
  } catch (error) {
    return { ok: false, problem: describe(error) };
  }
}

async function corsProblem(get: Get, url: string, method: string, metadataUrl: string): Promise<string | undefined> {
  const preflight = await get(url, {
    method: 'OPTIONS',
    headers: {
      origin: BROWSER_ORIGIN,
      'access-control-request-method': method,
      'access-control-request-headers': 'authorization, content-type, mcp-protocol-version',
    },
  });
  await preflight.body?.cancel();
  if (!preflight.headers.get('access-control-allow-origin'))
    return `the preflight (OPTIONS ${url}) answered HTTP ${preflight.status} without Access-Control-Allow-Origin`;
  const challenge = await get(
    url,
    method === 'POST'
      ? { method, headers: { origin: BROWSER_ORIGIN, 'content-type': 'application/json' }, body: '{}' }
      : { headers: { origin: BROWSER_ORIGIN, accept: 'text/event-stream' } },
  );
  await challenge.body?.cancel();
  const exposed = (challenge.headers.get('access-control-expose-headers') ?? '').toLowerCase();
  if (!challenge.headers.get('access-control-allow-origin') || !(exposed.includes('www-authenticate') || exposed.includes('*')))
    return 'the 401 challenge does not let a browser read WWW-Authenticate (Access-Control-Allow-Origin / Access-Control-Expose-Headers missing)';
  const metadata = await get(metadataUrl, { headers: { origin: BROWSER_ORIGIN } });
  await metadata.body?.cancel();
  if (!metadata.headers.get('access-control-allow-origin')) return 'the resource metadata has no Access-Control-Allow-Origin';
  return undefined;
}

async function streamStep(get: Get, probe: string): Promise<Step> {
  const name = 'streaming';
  const started = performance.now();
  try {
    const response = await get(probe, { headers: { accept: 'text/event-stream' } });
    if (response.status !== 200 || !response.body)
      return {
        name,
        ok: false,
        detail: `${probe} answered HTTP ${response.status}`,
        fix: 'Forward every path to Key2OAuth unchanged (this one is its stream check).',
      };
    const reader = response.body.getReader();
    const first = await reader.read();
    const firstMs = Math.round(performance.now() - started);
    await reader.cancel();
    if (first.done || firstMs >= STREAM_CHECK_GAP_MS * 0.8)
      return {
        name,
        ok: false,
        detail: `the first event arrived after ${firstMs} ms, together with the end of the stream: something in front of the server buffers responses, so MCP progress and SSE streams stall`,
        fix: 'Turn response buffering off for Key2OAuth: nginx `proxy_buffering off;` (and `proxy_http_version 1.1;`), Caddy `flush_interval -1`; no compression of text/event-stream.',
      };
    return { name, ok: true, detail: `first event after ${firstMs} ms` };
  } catch (error) {
    return { name, ok: false, detail: `${probe}: ${describe(error)}`, fix: 'Forward every path to Key2OAuth unchanged.' };
  }
}

interface FlowTarget {
  url: string;
  kind: string;
  authorizeEndpoint: string;
  registration: string;
  token: string;
  apiKey: string;
}

/** The whole authorization with the key, as a user in a browser does it, then the upstream's tools. */
async function signIn(get: Get, target: FlowTarget): Promise<Step[]> {
  const name = 'sign in with the key';
  const redirectUri = 'http://127.0.0.1:44321/callback';
  const registered = (await (
    await get(target.registration, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_name: 'key2oauth doctor', redirect_uris: [redirectUri], token_endpoint_auth_method: 'none' }),
    })
  ).json()) as { client_id?: string };
  if (!registered.client_id) return [{ name, ok: false, detail: 'registration failed', fix: 'See the registration steps above.' }];
  const { verifier, challenge } = pkce();
  const pageUrl = authorizationUrl(target.authorizeEndpoint, registered.client_id, redirectUri, challenge, target.url);
  const page = await get(pageUrl);
  const cookies = page.headers
    .getSetCookie()
    .map((line) => line.split(';')[0])
    .join('; ');
  const html = await page.text();
  const hidden = Object.fromEntries(
    [...html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((match) => [match[1]!, decodeEntities(match[2]!)]),
  );
  const approved = await get(pageUrl, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      cookie: cookies,
      origin: new URL(pageUrl).origin,
      'sec-fetch-site': 'same-origin',
    },
    body: new URLSearchParams({ ...hidden, api_key: target.apiKey, action: 'approve' }),
  });
  const location = approved.headers.get('location');
  const next = location ? new URL(location, pageUrl) : null;
  const code = next?.searchParams.get('code') ?? null;
  if (approved.status !== 302 || !code) {
    // A refused key is sent back to the consent page (POST/redirect/GET): read what it says there.
    const shown = approved.status === 303 && next ? await get(next.href, { headers: { cookie: cookies } }) : approved;
    const html = await shown.text();
    // The consent page says why in its alert (the upstream refused the key, …); otherwise its whole text.
    const alert = /<p class="error" role="alert">([\s\S]*?)<\/p>/.exec(html)?.[1];
    const text = pageText(alert ?? html);
    return [
      {
        name,
        ok: false,
        detail: `the consent page answered HTTP ${approved.status}: ${text.slice(0, 300)}`,
        fix: 'Check the key with the upstream server; the page above says what it answered.',
      },
    ];
  }
  const tokenResponse = await get(target.token, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      code_verifier: verifier,
      client_id: registered.client_id,
      redirect_uri: redirectUri,
      resource: target.url,
    }),
  });
  const tokens = (await tokenResponse.json()) as { access_token?: string; error_description?: string };
  if (!tokens.access_token)
    return [
      {
        name,
        ok: false,
        detail: `the token exchange answered HTTP ${tokenResponse.status}: ${tokens.error_description ?? ''}`,
        fix: 'See the server log.',
      },
    ];
  const steps: Step[] = [{ name, ok: true, detail: 'the key was accepted and tokens were issued' }];
  if (target.kind !== 'mcp') {
    steps.push({ name: 'tools', ok: true, detail: 'listing tools is done on the /mcp URL; run doctor on it' });
    return steps;
  }
  try {
    steps.push({
      name: 'tools',
      ok: true,
      detail: (await listTools(get, target.url, tokens.access_token)).join(', ') || '(the server offers no tools)',
    });
  } catch (error) {
    steps.push({
      name: 'tools',
      ok: false,
      detail: describe(error),
      fix: 'The upstream answered the key check but not tools/list; see the server log.',
    });
  }
  return steps;
}

async function listTools(get: Get, url: string, token: string): Promise<string[]> {
  const headers: Record<string, string> = {
    authorization: `Bearer ${token}`,
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
  };
  const rpc = async (message: Record<string, unknown>) => {
    const response = await get(url, { method: 'POST', headers, body: JSON.stringify(message) });
    const session = response.headers.get('mcp-session-id');
    if (session) headers['mcp-session-id'] = session;
    if (!response.ok) throw new Error(`${String(message.method)} answered HTTP ${response.status}`);
    if (!('id' in message)) {
      await response.body?.cancel();
      return undefined;
    }
    return readRpc(await response.text(), response.headers.get('content-type') ?? '');
  };
  await rpc({
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'key2oauth-doctor', version: '1' } },
  });
  headers['mcp-protocol-version'] = '2025-06-18';
  await rpc({ jsonrpc: '2.0', method: 'notifications/initialized' });
  const listed = (await rpc({ jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} })) as {
    result?: { tools?: { name: string }[] };
    error?: { message: string };
  };
  if (listed?.error) throw new Error(`tools/list: ${listed.error.message}`);
  return (listed?.result?.tools ?? []).map((tool) => tool.name);
}

function readRpc(text: string, type: string): unknown {
  if (!type.startsWith('text/event-stream')) return JSON.parse(text);
  for (const event of text.split(/\r?\n\r?\n/)) {
    const data = event
      .split(/\r?\n/)
      .filter((line) => line.startsWith('data:'))
      .map((line) => line.slice(5).trim())
      .join('\n');
    if (!data) continue;
    const message = JSON.parse(data) as Record<string, unknown>;
    if ('result' in message || 'error' in message) return message;
  }
  throw new Error('no answer in the event stream');
}

function authorizationUrl(authorizeEndpoint: string, clientId: string, redirectUri: string, challenge: string, resource: string): string {
  const query = new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: redirectUri,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state: randomBytes(8).toString('hex'),
    scope: 'mcp offline_access',
    resource,
  });
  return `${authorizeEndpoint}?${query}`;
}

function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

function pageText(html: string): string {
  const main = /<main[^>]*>([\s\S]*)<\/main>/.exec(html)?.[1] ?? html;
  return decodeEntities(main.replace(/<[^>]+>/g, ' '))
    .replace(/\s+/g, ' ')
    .trim();
}

function decodeEntities(text: string): string {
  return text.replace(
    /&(amp|lt|gt|quot|#39|#x27);/g,
    (_, entity: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'", '#x27': "'" })[entity] ?? '',
  );
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error.cause as { code?: string; message?: string } | undefined) ?? undefined;
    return cause?.code ?? cause?.message ?? error.message;
  }
  return String(error);
}
