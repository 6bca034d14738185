/**
 * The floor for the Worker run: the least a Worker can do to put a key on a request, under the
 * same `wrangler dev` and workerd as ours and the seed's. No token, no store, no checks: it sets
 * the key header and hands the upstream's answer back as it came. What ours or the seed's costs
 * above this is what their design adds; this itself is the local runtime's own cost.
 */
interface Env {
  UPSTREAM_URL: string;
  API_KEY: string;
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const headers = new Headers(request.headers);
    headers.set('authorization', `Bearer ${env.API_KEY}`);
    return fetch(env.UPSTREAM_URL, { method: request.method, headers, body: request.body });
  },
};
