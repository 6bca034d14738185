import { randomToken } from '../crypto.ts';
import type { KVStore } from '../storage/contract.ts';
import type { ListedTool } from '../upstream/tool-list.ts';

/**
 * What the consent page must say after a refused submission (wrong key, upstream down, endpoint
 * changed, too many tries). The POST answers 303 to the same authorization URL with `notice=<id>`
 * (POST/redirect/GET), so reload and Back never ask to resubmit the form; the GET shows the page
 * with a fresh consent transaction and this message, with the status the refusal had.
 *
 * Read once: reloading afterwards shows the plain form again. The message holds no secret (never
 * the key), and the id is unguessable and lives ten minutes.
 */

const PREFIX = 'k2o:notice:';
const TTL_SECONDS = 600;
const ID = /^[A-Za-z0-9_-]{22}$/;

export interface ConsentNotice {
  message: string;
  status: number;
  /** Seconds, for a 429: the page keeps its Retry-After. */
  retryAfter?: number;
  /** The upstream's tools, for the second step of choosing them (pages/tool-choice.ts); no secret. */
  tools?: ListedTool[];
}

export async function keepNotice(kv: KVStore, notice: ConsentNotice): Promise<string> {
  const id = randomToken(16);
  await kv.put(PREFIX + id, JSON.stringify(notice), { expirationTtl: TTL_SECONDS });
  return id;
}

export async function takeNotice(kv: KVStore, id: string | null): Promise<ConsentNotice | null> {
  if (!id || !ID.test(id)) return null;
  const notice = (await kv.get(PREFIX + id, 'json')) as ConsentNotice | null;
  if (notice) await kv.delete(PREFIX + id);
  return notice;
}
