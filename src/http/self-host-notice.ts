import type { MiddlewareHandler } from 'hono';
import { withoutSelfHostNotice } from '../pages/layout.ts';

/**
 * `SELF_HOST_NOTICE=off` (docs/configuration.md): the pages' "self-host it" notices come out of
 * every HTML answer, in this one place, so no page template needs to know the setting. Only
 * registered when the setting is off; pages are small and never streamed.
 */
export function selfHostNoticeOff(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    if (!(c.res.headers.get('content-type') ?? '').startsWith('text/html')) return;
    const page = await c.res.text();
    c.res = new Response(withoutSelfHostNotice(page), c.res);
  };
}
