import { timingSafeEqual } from '../crypto.ts';
import { renderMetrics } from '../metrics.ts';
import type { Platform } from '../platform.ts';
import { bearerToken } from './bearer.ts';
import { answers, jsonError } from './errors.ts';

/**
 * `GET /metrics`: Prometheus text, only when METRICS_TOKEN is set (otherwise the route does not
 * exist, as for any unknown path) and only to `Authorization: Bearer <METRICS_TOKEN>`.
 *
 * On Workers the counts would be one isolate's among many, reset whenever it is evicted: numbers
 * that look right and are not. There it answers 501 and points to Workers Analytics instead.
 */
export function metricsRoute(platform: Platform, request: Request): Response {
  const { metricsToken } = platform.config;
  if (!metricsToken) return answers.notFound();
  if (!platform.processMetrics) {
    return jsonError(
      501,
      'not_supported',
      'Metrics are not served on Cloudflare Workers: each isolate would count only its own requests. Use Workers Analytics and Workers Logs (the Observability tab of the Worker) instead.',
    );
  }
  const presented = bearerToken(request.headers.get('authorization')) ?? '';
  if (!timingSafeEqual(presented, metricsToken)) {
    return jsonError(401, 'unauthorized', 'Send the metrics token: Authorization: Bearer <METRICS_TOKEN>', {
      'www-authenticate': 'Bearer realm="key2oauth-metrics"',
    });
  }
  return new Response(renderMetrics(), {
    headers: { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'cache-control': 'no-store' },
  });
}
