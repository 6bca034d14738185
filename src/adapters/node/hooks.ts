import { registerHooks } from 'node:module';

/**
 * In-thread module hooks for running the engine on Node. Import this module before anything that
 * loads the engine.
 *
 * - The engine's dist imports `cloudflare:workers`, a module only workerd has: that one specifier
 *   resolves to our stub; everything else resolves as usual.
 * - At load, the engine prints a line telling the user to add a compatibility flag to
 *   `wrangler.jsonc` to enable its CIMD support. On Node that means nothing (there is no
 *   wrangler.jsonc, and metadata documents are resolved by `oauth/client-metadata.ts`, through the
 *   upstream guard), so that one statement is left out of the engine's source. If an engine
 *   upgrade changes it, the line comes back and test/cli/cli.test.ts says so.
 */
// Beside this file under its own extension: .ts from a clone, .js in the npm package's dist/.
const stub = new URL(`./workers-stub${import.meta.url.slice(import.meta.url.lastIndexOf('.'))}`, import.meta.url).href;
const ENGINE = '/@cloudflare/workers-oauth-provider/dist/oauth-provider.js';
const WORKERS_ONLY_ADVICE =
  /^if \(!\(typeof Cloudflare !== "undefined"[^\n]*\) console\.warn\("CIMD \(Client ID Metadata Document\) is disabled[^\n]*$/m;

registerHooks({
  resolve(specifier, context, nextResolve) {
    if (specifier === 'cloudflare:workers') return { url: stub, shortCircuit: true };
    return nextResolve(specifier, context);
  },
  load(url, context, nextLoad) {
    const loaded = nextLoad(url, context);
    if (!url.endsWith(ENGINE) || loaded.source === undefined) return loaded;
    return { ...loaded, source: String(loaded.source).replace(WORKERS_ONLY_ADVICE, '') };
  },
});
