import type { Platform } from '../platform.ts';
import type { ToolCeiling } from '../upstream/tool-policy.ts';
import { createEndpointStore } from './store.ts';

/**
 * The endpoint creator's tool ceiling (`tool_policy`, upstream/tool-policy.ts), as every MCP
 * message asks for it. It lives on the endpoint record, which the hot path does not otherwise
 * read (admission reads the token's record only): each process keeps it for CEILING_KEPT_MS, so a
 * message costs one Map lookup and an endpoint one store read per second and a half. A change
 * made through this process (changeEndpoint) applies from the next message; through another
 * replica within CEILING_KEPT_MS (on the Worker, once Workers KV has propagated the record).
 */
export const CEILING_KEPT_MS = 1500;
const KEPT = 5000;

const memo = new WeakMap<Platform['kv'], Map<string, { at: number; ceiling: ToolCeiling | undefined }>>();

export async function toolCeiling(platform: Platform, slug: string): Promise<ToolCeiling | undefined> {
  let kept = memo.get(platform.kv);
  if (!kept) {
    kept = new Map();
    memo.set(platform.kv, kept);
  }
  const entry = kept.get(slug);
  const now = Date.now();
  if (entry && now - entry.at < CEILING_KEPT_MS) return entry.ceiling;
  const ceiling = (await createEndpointStore(platform.kv).get(slug))?.toolPolicy;
  if (kept.size >= KEPT) kept.delete(kept.keys().next().value!);
  kept.set(slug, { at: now, ceiling });
  return ceiling;
}

/** After a change of the ceiling: the next message on this process reads it again. */
export function forgetToolCeiling(platform: Platform, slug: string): void {
  memo.get(platform.kv)?.delete(slug);
}
