import type { KVStore } from '../storage/contract.ts';
import type { Endpoint } from './endpoint.ts';
import { generateSlug } from './slug.ts';

/** Endpoint records live in the shared KV under their own prefix, beside the OAuth engine's keys. */
const PREFIX = 'k2o:endpoint:';

export class SlugExhaustedError extends Error {}

export function createEndpointStore(kv: KVStore) {
  return {
    async get(slug: string): Promise<Endpoint | null> {
      return (await kv.get(PREFIX + slug, 'json')) as Endpoint | null;
    },

    /**
     * Stores a new endpoint under a fresh slug. A collision among 62^12 values is essentially
     * impossible, but checking costs one read and makes "impossible" a guarantee rather than a bet.
     */
    async create(fields: Omit<Endpoint, 'slug'>, newSlug: () => string = generateSlug): Promise<Endpoint> {
      for (let attempt = 0; attempt < 5; attempt++) {
        const slug = newSlug();
        if (await kv.get(PREFIX + slug)) continue;
        const endpoint: Endpoint = { slug, ...fields };
        await kv.put(PREFIX + slug, JSON.stringify(endpoint));
        return endpoint;
      }
      throw new SlugExhaustedError('could not find a free slug');
    },

    async put(endpoint: Endpoint): Promise<void> {
      await kv.put(PREFIX + endpoint.slug, JSON.stringify(endpoint));
    },

    async delete(slug: string): Promise<void> {
      await kv.delete(PREFIX + slug);
    },

    /** Every endpoint, in slug order, a page of the store at a time (for operators, never a request path). */
    async *all(): AsyncGenerator<Endpoint> {
      let cursor: string | undefined;
      do {
        const page = await kv.list({ prefix: PREFIX, ...(cursor ? { cursor } : {}) });
        for (const key of page.keys) {
          // Read again: a key listed may be deleted before it is read.
          const endpoint = (await kv.get(key.name, 'json')) as Endpoint | null;
          if (endpoint) yield endpoint;
        }
        cursor = page.list_complete ? undefined : page.cursor;
      } while (cursor);
    },
  };
}

export type EndpointStore = ReturnType<typeof createEndpointStore>;
