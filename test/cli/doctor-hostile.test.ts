import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { diagnose, type Step } from '../../src/cli/doctor-checks.ts';
import { STREAM_CHECK_PATH } from '../../src/http/stream-check.ts';
import { makeCertificate } from '../support/tls-front.ts';

/**
 * `key2oauth doctor` pointed at a deployment that lies: real HTTP servers on loopback, reached
 * with the real fetch. The endpoint's metadata names an issuer or an OAuth endpoint on a third
 * host, which records every request it gets; the doctor must stop, say which one is foreign, and
 * never send that host anything (least of all the API key). And a server whose TLS certificate
 * nobody trusts must be named as such.
 */

const SLUG = 'AbCdEfGh1234';
const KEY = 'sk-doctor-hostile-0123456789';

interface Recorded {
  method: string;
  path: string;
  body: string;
}

interface Host {
  origin: string;
  requests: Recorded[];
  server: Server;
}

type Route = (req: IncomingMessage, body: string, res: ServerResponse) => void;

async function startHost(route: Route): Promise<Host> {
  const host: Host = { origin: '', requests: [], server: createServer() };
  host.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      host.requests.push({ method: req.method ?? '', path: req.url ?? '', body });
      route(req, body, res);
    });
  });
  await new Promise<void>((resolve) => host.server.listen(0, '127.0.0.1', resolve));
  host.origin = `http://127.0.0.1:${(host.server.address() as AddressInfo).port}`;
  return host;
}

async function stopHost(host: Host | undefined): Promise<void> {
  if (!host) return;
  host.server.closeAllConnections();
  await new Promise<void>((resolve) => host.server.close(() => resolve()));
}

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) =>
  res.writeHead(status, { 'content-type': 'application/json', 'access-control-allow-origin': '*', ...headers }).end(JSON.stringify(body));
const html = (res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}) =>
  res.writeHead(status, { 'content-type': 'text/html', ...headers }).end(body);

const CONSENT_FORM = (action = '') =>
  `<main><h1>Connect</h1><form method="post"${action ? ` action="${action}"` : ''}><input type="hidden" name="handle" value="h1"><input name="api_key"><button name="action" value="approve">Approve</button></form></main>`;

/**
 * A whole OAuth server in a few routes, enough for the doctor to go as far as it would: metadata,
 * registration, a consent page with a form, a code, tokens. The third host is one of these too, so
 * a doctor that followed it would post the key there.
 */
function oauthRoutes(origin: () => string, overrides: { metadata?: Record<string, string>; consent?: Route } = {}): Route {
  return (req, body, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const self = origin();
    if (req.method === 'OPTIONS')
      return res
        .writeHead(204, {
          'access-control-allow-origin': '*',
          'access-control-allow-methods': 'GET, POST',
          'access-control-allow-headers': '*',
        })
        .end();
    if (path === `/${SLUG}/mcp`)
      return json(
        res,
        401,
        { error: 'invalid_token' },
        {
          'www-authenticate': `Bearer resource_metadata="${self}/.well-known/oauth-protected-resource/${SLUG}/mcp"`,
          'access-control-expose-headers': 'WWW-Authenticate',
        },
      );
    if (path === `/.well-known/oauth-protected-resource/${SLUG}/mcp`)
      return json(res, 200, { resource: `${self}/${SLUG}/mcp`, authorization_servers: [overrides.metadata?.issuer ?? self] });
    if (path === '/.well-known/oauth-authorization-server')
      return json(res, 200, {
        issuer: self,
        authorization_endpoint: `${self}/authorize`,
        token_endpoint: `${self}/oauth/token`,
        registration_endpoint: `${self}/oauth/register`,
        revocation_endpoint: `${self}/oauth/token`,
        code_challenge_methods_supported: ['S256'],
        ...overrides.metadata,
      });
    if (path === '/oauth/register') return json(res, 201, { client_id: `client-${Math.random()}` });
    if (path === '/authorize' && req.method === 'GET') return html(res, 200, CONSENT_FORM());
    if (path === '/authorize' && overrides.consent) return overrides.consent(req, body, res);
    if (path === '/authorize') return res.writeHead(302, { location: 'http://127.0.0.1:44321/oauth/callback?code=c0de' }).end();
    if (path === '/oauth/token') return json(res, 200, { access_token: 'a:b:c', refresh_token: 'a:b:d', token_type: 'bearer' });
    if (path === STREAM_CHECK_PATH) return res.writeHead(200, { 'content-type': 'text/event-stream' }).end('data: 1\n\n');
    return json(res, 404, { error: 'not_found' });
  };
}

const failed = (steps: Step[]) => steps.filter((step) => !step.ok);

describe('key2oauth doctor against a hostile deployment', () => {
  let thief: Host;
  before(async () => {
    thief = await startHost(oauthRoutes(() => thief.origin));
  });
  after(() => stopHost(thief));

  /** A deployment whose metadata is `metadata` (an issuer or endpoints), the rest of it well-behaved. */
  async function withDeployment(
    overrides: { metadata?: Record<string, string>; consent?: Route },
    check: (steps: Step[], origin: string) => void,
  ): Promise<void> {
    let deployment: Host | undefined;
    thief.requests.length = 0;
    try {
      deployment = await startHost(oauthRoutes(() => deployment!.origin, overrides));
      const steps = await diagnose({ endpoint: `${deployment.origin}/${SLUG}/mcp`, apiKey: KEY });
      assert.deepEqual(thief.requests, [], 'the third host was sent nothing');
      check(steps, deployment.origin);
    } finally {
      await stopHost(deployment);
    }
  }

  test('an issuer on another origin: doctor stops before asking it anything, and names it', async () => {
    await withDeployment({ metadata: { issuer: thief.origin } }, (steps, origin) => {
      const problems = failed(steps);
      assert.equal(problems.length, 1, JSON.stringify(steps, null, 1));
      assert.equal(problems[0]!.name, 'issuer');
      assert.match(
        problems[0]!.detail,
        new RegExp(`issuer ${thief.origin.replaceAll('.', '\\.')} is not on ${origin.replaceAll('.', '\\.')}`),
      );
      assert.match(problems[0]!.fix!, /PUBLIC_URL/);
      assert.equal(steps.at(-1), problems[0], 'nothing runs after it');
    });
  });

  for (const field of ['authorization_endpoint', 'token_endpoint', 'registration_endpoint', 'revocation_endpoint'])
    test(`a ${field} on another origin: doctor stops, names it, and sends it nothing`, async () => {
      await withDeployment({ metadata: { [field]: `${thief.origin}/${field}` } }, (steps) => {
        const problems = failed(steps);
        assert.equal(problems.length, 1, JSON.stringify(steps, null, 1));
        assert.equal(problems[0]!.name, 'authorization server metadata');
        assert.match(problems[0]!.detail, new RegExp(`${field} ${thief.origin.replaceAll('.', '\\.')}/${field} is not on`));
        assert.equal(steps.at(-1), problems[0], 'nothing runs after it');
      });
    });

  test('a consent form that posts to another origin: the key is not sent there', async () => {
    let deployment: Host | undefined;
    thief.requests.length = 0;
    try {
      deployment = await startHost((req, body, res) => {
        if (req.method === 'GET' && req.url?.startsWith('/authorize')) return html(res, 200, CONSENT_FORM(`${thief.origin}/authorize`));
        return oauthRoutes(() => deployment!.origin)(req, body, res);
      });
      const steps = await diagnose({ endpoint: `${deployment.origin}/${SLUG}/mcp`, apiKey: KEY });
      const signIn = steps.find((step) => step.name === 'sign in with the key')!;
      assert.equal(signIn.ok, false);
      assert.match(signIn.detail, new RegExp(`posts to ${thief.origin.replaceAll('.', '\\.')}`));
      assert.deepEqual(thief.requests, []);
    } finally {
      await stopHost(deployment);
    }
  });

  test('a refusal that redirects to another origin: doctor does not follow it', async () => {
    await withDeployment(
      { consent: (_req, _body, res) => res.writeHead(303, { location: `${thief.origin}/authorize?said=no` }).end() },
      (steps) => {
        const signIn = steps.find((step) => step.name === 'sign in with the key')!;
        assert.equal(signIn.ok, false);
        assert.match(signIn.detail, new RegExp(`sent to ${thief.origin.replaceAll('.', '\\.')}`));
      },
    );
  });
});

describe('key2oauth doctor against a TLS certificate nobody trusts', () => {
  let dir: string;
  let server: Server;
  let origin: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'key2oauth-doctor-tls-'));
    const certificate = makeCertificate('localhost', dir);
    server = createHttpsServer({ key: certificate.key, cert: certificate.cert }, (_req, res) => res.writeHead(401).end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server?.closeAllConnections();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    rmSync(dir, { recursive: true, force: true });
  });

  test('a self-signed certificate: named as not trusted, with what to do', async () => {
    const steps = await diagnose({ endpoint: `${origin}/${SLUG}/mcp` });
    const problem = steps.find((step) => step.name === 'reachable')!;
    assert.equal(problem.ok, false);
    assert.match(problem.detail, /the server's TLS certificate is not trusted: .*self-signed/);
    assert.match(problem.fix!, /certificate/);
    assert.match(problem.fix!, /NODE_EXTRA_CA_CERTS/);
  });
});
