import { STREAM_CHECK_GAP_MS, STREAM_CHECK_PATH } from '../../http/stream-check.ts';
import type { Target } from './endpoint.ts';
import type { Findings, Get } from './findings.ts';
import { networkProblem } from './network.ts';

/**
 * Streaming through whatever is in front of the server: the stream check sends one event at once
 * and one a second later, so a first event that arrives late, with the end, was buffered.
 */
export async function checkStreaming(get: Get, findings: Findings, target: Target): Promise<void> {
  const name = 'streaming';
  const probe = `${target.origin}${target.prefix}${STREAM_CHECK_PATH}`;
  const started = performance.now();
  try {
    const response = await get(probe, { headers: { accept: 'text/event-stream' } });
    if (response.status !== 200 || !response.body) {
      await response.body?.cancel();
      findings.fail(
        name,
        `${probe} answered HTTP ${response.status}`,
        'Forward every path to Key2OAuth unchanged (this one is its stream check).',
      );
      return;
    }
    const reader = response.body.getReader();
    const first = await reader.read();
    const firstMs = Math.round(performance.now() - started);
    await reader.cancel();
    if (first.done || firstMs >= STREAM_CHECK_GAP_MS * 0.8)
      findings.fail(
        name,
        `the first event arrived after ${firstMs} ms, together with the end of the stream: something in front of the server buffers responses, so MCP progress and SSE streams stall`,
        'Turn response buffering off for Key2OAuth: nginx `proxy_buffering off;` (and `proxy_http_version 1.1;`), Caddy `flush_interval -1`; no compression of text/event-stream.',
      );
    else findings.pass(name, `first event after ${firstMs} ms`);
  } catch (error) {
    findings.fail(name, `${probe}: ${networkProblem(error).detail}`, 'Forward every path to Key2OAuth unchanged.');
  }
}
