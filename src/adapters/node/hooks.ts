import { registerHooks } from 'node:module';

/**
 * The engine's dist imports `cloudflare:workers`, a module only workerd has. This in-thread
 * resolve hook points that one specifier at our stub; everything else resolves as usual.
 * Import this module before anything that loads the engine.
 */
const stub = new URL('./workers-stub.ts', import.meta.url).href;

registerHooks({
  resolve(specifier, context, nextResolve) {
    if (specifier === 'cloudflare:workers') return { url: stub, shortCircuit: true };
    return nextResolve(specifier, context);
  },
});
