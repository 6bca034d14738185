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
  const kept = keptToolCeiling(platform, slug);
  if (kept) return kept.ceiling;
  const ceiling = (await createEndpointStore(platform.kv).get(slug))?.toolPolicy;
  const byKv = memo.get(platform.kv) ?? new Map();
  memo.set(platform.kv, byKv);
  if (byKv.size >= KEPT) byKv.delete(byKv.keys().next().value!);
  byKv.set(slug, { at: Date.now(), ceiling });
  return ceiling;
}

/**
 * The ceiling this process holds for `slug` while it is fresh, without a promise (the Node fast
 * path asks on every message); undefined when it must be read (`toolCeiling`).
 */
export function keptToolCeiling(platform: Platform, slug: string): { ceiling: ToolCeiling | undefined } | undefined {
  const entry = memo.get(platform.kv)?.get(slug);
  return entry && Date.now() - entry.at < CEILING_KEPT_MS ? entry : undefined;
}

/** After a change of the ceiling: the next message on this process reads it again. */
export function forgetToolCeiling(platform: Platform, slug: string): void {
  memo.get(platform.kv)?.delete(slug);
}
