import { randomToken } from '../crypto.ts';
import type { KVStore } from '../storage/contract.ts';

/**
 * The "your endpoint" page after the form's POST redirects to GET (so reload and Back create
 * nothing): a short-lived record under an unguessable id that carries the new slug, the warnings
 * and the manage token. The token is shown on the first view only; the record then keeps the rest,
 * so a reload still shows the endpoint URL and says the token was shown once.
 *
 * KV has no compare-and-swap: two views racing within milliseconds could both see the token.
 * Both would be the creator's own browser (only it knows the id), so nothing leaks.
 */

const PREFIX = 'k2o:created:';
/** Long enough to survive a slow redirect, short enough that the record is gone soon after. */
const TTL_SECONDS = 600;
const ID = /^[A-Za-z0-9_-]{43}$/;

export interface CreatedView {
  slug: string;
  manageToken?: string;
  warnings: string[];
  /** Unix seconds; the record keeps its original expiry when the token is dropped. */
  expiresAt: number;
}

export async function keepCreatedView(kv: KVStore, view: Omit<CreatedView, 'expiresAt'>): Promise<string> {
  const id = randomToken();
  const expiresAt = Math.floor(Date.now() / 1000) + TTL_SECONDS;
  await kv.put(PREFIX + id, JSON.stringify({ ...view, expiresAt }), { expiration: expiresAt });
  return id;
}

/** The view for `id`, with the manage token if it was not shown yet; the token is dropped as it is read. */
export async function takeCreatedView(kv: KVStore, id: string): Promise<CreatedView | null> {
  if (!ID.test(id)) return null;
  const view = (await kv.get(PREFIX + id, 'json')) as CreatedView | null;
  if (!view) return null;
  if (view.manageToken) {
    const { manageToken: _shown, ...rest } = view;
    // Workers KV wants an expiry at least 60 s ahead; a record that close to its end just goes.
    if (view.expiresAt - Date.now() / 1000 > 60) await kv.put(PREFIX + id, JSON.stringify(rest), { expiration: view.expiresAt });
    else await kv.delete(PREFIX + id);
  }
  return view;
}
