import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Just enough of the Cloudflare API (api.cloudflare.com/client/v4) for the real wrangler to log
 * in with a token, list and create KV namespaces, list secrets and deploy a Worker, so
 * `npm run deploy:cloudflare` runs end to end on this machine with the real wrangler and only
 * the final upload faked. wrangler reaches it through CLOUDFLARE_API_BASE_URL. Responses follow
 * the API's envelope (`{success, errors, messages, result}`); every request is recorded.
 */
export const ACCOUNT_ID = '0123456789abcdef0123456789abcdef';
export const SUBDOMAIN = 'example';

export interface UploadedScript {
  name: string;
  bindings: { name: string; type: string; namespace_id?: string; text?: string }[];
  keepBindings: string[];
}

export interface FakeCloudflare {
  baseUrl: string;
  requests: { method: string; path: string }[];
  namespaces: { id: string; title: string; supports_url_encoding: boolean }[];
  /** Secret names the Worker has (set by uploads that carried secret_text bindings). */
  secrets: Set<string>;
  uploads: UploadedScript[];
  /** When false, the token does not verify: wrangler is "not logged in". */
  tokenValid: boolean;
  /** The accounts the token can use. */
  accounts: { id: string; name: string }[];
  close(): Promise<void>;
}

export async function startFakeCloudflare(): Promise<FakeCloudflare> {
  let nextId = 1;
  let scriptExists = false;
  const state: FakeCloudflare = {
    baseUrl: '',
    requests: [],
    namespaces: [],
    secrets: new Set(),
    uploads: [],
    tokenValid: true,
    accounts: [{ id: ACCOUNT_ID, name: 'Example account' }],
    close: async () => {},
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const url = new URL(req.url ?? '/', 'http://fake');
      const path = url.pathname.replace(/^\/client\/v4/, '');
      const method = req.method ?? 'GET';
      state.requests.push({ method, path });
      const send = (status: number, result: unknown, extra: Record<string, unknown> = {}) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ success: status < 400, errors: [], messages: [], result, ...extra }));
      };
      const fail = (status: number, code: number, message: string) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ success: false, errors: [{ code, message }], messages: [], result: null }));
      };
      const page = (items: unknown[]) => {
        const number = Number(url.searchParams.get('page') ?? 1);
        send(200, number > 1 ? [] : items, {
          result_info: { page: number, per_page: 1000, count: items.length, total_count: items.length },
        });
      };

      // A bad token is refused everywhere, as the real API does.
      if (!state.tokenValid) return fail(400, 1000, 'Invalid API Token');
      if (path === '/user/tokens/verify') return send(200, { id: 'token', status: 'active' });
      if (path === '/user') return send(200, { id: 'user', email: 'user@example.com' });
      if (path === '/accounts') return page(state.accounts);
      if (path === '/memberships') return page(state.accounts.map((account) => ({ id: `membership-${account.id}`, account })));

      const account = `/accounts/${ACCOUNT_ID}`;
      if (path === `${account}/storage/kv/namespaces` && method === 'GET') return page(state.namespaces);
      if (path === `${account}/storage/kv/namespaces` && method === 'POST') {
        const { title } = JSON.parse(body) as { title: string };
        if (state.namespaces.some((namespace) => namespace.title === title))
          return fail(400, 10014, 'a namespace with this account ID and title already exists');
        const namespace = { id: (nextId++).toString(16).padStart(32, 'a'), title, supports_url_encoding: true };
        state.namespaces.push(namespace);
        return send(200, namespace);
      }
      if (path === `${account}/workers/subdomain`) return send(200, { subdomain: SUBDOMAIN });

      const script = /^\/accounts\/[^/]+\/workers\/(services|scripts|workers)\/([^/]+)(\/.*)?$/.exec(path);
      if (script) {
        const [, kind, name, rest = ''] = script;
        if (kind === 'scripts' && rest === '' && method === 'PUT') {
          // The multipart upload: its `metadata` part holds the bindings, secrets among them.
          const metadata = /name="metadata"[^\r]*\r\n(?:[^\r]+\r\n)*\r\n([\s\S]*?)\r\n--/.exec(body)?.[1];
          const parsed = JSON.parse(metadata ?? '{}') as { bindings?: UploadedScript['bindings']; keep_bindings?: string[] };
          const upload = { name: name!, bindings: parsed.bindings ?? [], keepBindings: parsed.keep_bindings ?? [] };
          state.uploads.push(upload);
          for (const binding of upload.bindings) if (binding.type === 'secret_text') state.secrets.add(binding.name);
          scriptExists = true;
          return send(200, { id: name, etag: 'etag', compatibility_date: '2026-11-17', handlers: ['fetch'], startup_time_ms: 10 });
        }
        if (!scriptExists) return fail(404, 10007, 'workers.api.error.script_not_found');
        if (kind === 'scripts' && rest === '/secrets')
          return send(
            200,
            [...state.secrets].map((secret) => ({ name: secret, type: 'secret_text' })),
          );
        if (kind === 'scripts' && rest === '/subdomain') return send(200, { enabled: true, previews_enabled: false });
        if (kind === 'workers' && rest === '') return send(200, { id: name, name, subdomain: { enabled: true, previews_enabled: false } });
        if (kind === 'services' && rest === '')
          return send(200, { id: name, default_environment: { environment: 'production', script: { id: name, tag: 'tag' } } });
        if (rest === '/settings') return send(200, { bindings: [], compatibility_date: '2026-11-17', compatibility_flags: [] });
        if (rest === '/deployments') return send(200, { deployments: [] });
      }
      fail(404, 7003, 'No route for that URI');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/client/v4`;
  state.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return state;
}
