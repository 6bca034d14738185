/**
 * In-memory metrics in the Prometheus text format (exposition format 0.0.4), for `/metrics`.
 *
 * They count what this process saw since it started, which is what a scraper of a long-lived
 * server wants. A Workers isolate is short-lived and one of many, so its counts would mislead:
 * there, `/metrics` says so and points to Workers Analytics (app.ts). Labels are low-cardinality by
 * construction: route patterns (never a path with a slug), status codes, rate-limit bucket names.
 */

type Labels = Record<string, string>;

const counters = new Map<string, { help: string; values: Map<string, number> }>();
const gauges = new Map<string, { help: string; value: number }>();

/** Upper bounds of the upstream latency buckets, in seconds (time to the upstream's headers). */
const LATENCY_BUCKETS = [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const latency = { counts: LATENCY_BUCKETS.map(() => 0), sum: 0, count: 0 };

const HELP = {
  key2oauth_http_requests_total: 'HTTP requests answered, by route pattern, method and status.',
  key2oauth_grants_issued_total: 'Authorizations completed (grants issued).',
  key2oauth_grants_revoked_total: 'Grants revoked: by the creator, the operator, the key holder, or because the upstream refused the key.',
  key2oauth_rate_limited_total: 'Requests refused by a rate limit, by bucket.',
  key2oauth_mcp_messages_total:
    'MCP messages through a grant, by outcome (ok, refused, jsonrpc_error, client_error, upstream_error; not_recorded when the activity record was full).',
  key2oauth_stdio_processes_stopped_total:
    'Stdio server processes stopped, by why (idle, revoked, replaced, session_deleted, stream_closed, ended, memory_limit, shutdown).',
} as const;

export function countRequest(route: string, method: string, status: number): void {
  count('key2oauth_http_requests_total', { route, method, status: String(status) });
}

export function countGrantsIssued(n = 1): void {
  count('key2oauth_grants_issued_total', {}, n);
}

export function countGrantsRevoked(n: number): void {
  if (n > 0) count('key2oauth_grants_revoked_total', {}, n);
}

export function countRateLimited(bucket: string): void {
  count('key2oauth_rate_limited_total', { bucket });
}

const outcomeLabels = new Map<string, string>();

export function countMcpMessage(outcome: string): void {
  // Once per MCP message: the label string of each outcome (a bounded set) is made once.
  let key = outcomeLabels.get(outcome);
  if (key === undefined) {
    key = formatLabels({ outcome });
    outcomeLabels.set(outcome, key);
  }
  const metric = counterOf('key2oauth_mcp_messages_total');
  metric.values.set(key, (metric.values.get(key) ?? 0) + 1);
}

export function countStdioStopped(why: string): void {
  count('key2oauth_stdio_processes_stopped_total', { why });
}

export function observeUpstreamLatency(seconds: number): void {
  latency.count++;
  latency.sum += seconds;
  for (let i = 0; i < LATENCY_BUCKETS.length; i++) if (seconds <= LATENCY_BUCKETS[i]!) latency.counts[i]!++;
}

/** Event streams open right now (relayed SSE). */
export function streamOpened(): void {
  gauge('key2oauth_open_streams').value++;
}

export function streamClosed(): void {
  gauge('key2oauth_open_streams').value--;
}

export function renderMetrics(): string {
  const lines: string[] = [];
  for (const [name, help] of Object.entries(HELP)) {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} counter`);
    const values = counters.get(name)?.values ?? new Map([['', 0]]);
    for (const [labels, value] of values) lines.push(`${name}${labels} ${value}`);
  }
  lines.push(
    '# HELP key2oauth_upstream_latency_seconds Time from sending a request upstream to its response headers.',
    '# TYPE key2oauth_upstream_latency_seconds histogram',
  );
  LATENCY_BUCKETS.forEach((bound, i) => {
    lines.push(`key2oauth_upstream_latency_seconds_bucket{le="${bound}"} ${latency.counts[i]}`);
  });
  lines.push(
    `key2oauth_upstream_latency_seconds_bucket{le="+Inf"} ${latency.count}`,
    `key2oauth_upstream_latency_seconds_sum ${latency.sum}`,
    `key2oauth_upstream_latency_seconds_count ${latency.count}`,
    '# HELP key2oauth_open_streams Event streams being relayed now.',
    '# TYPE key2oauth_open_streams gauge',
    `key2oauth_open_streams ${gauges.get('key2oauth_open_streams')?.value ?? 0}`,
  );
  return `${lines.join('\n')}\n`;
}

function count(name: keyof typeof HELP, labels: Labels, n = 1): void {
  const metric = counterOf(name);
  const key = formatLabels(labels);
  metric.values.set(key, (metric.values.get(key) ?? 0) + n);
}

function counterOf(name: keyof typeof HELP): { help: string; values: Map<string, number> } {
  let metric = counters.get(name);
  if (!metric) {
    metric = { help: HELP[name], values: new Map() };
    counters.set(name, metric);
  }
  return metric;
}

function gauge(name: string): { help: string; value: number } {
  let metric = gauges.get(name);
  if (!metric) {
    metric = { help: '', value: 0 };
    gauges.set(name, metric);
  }
  return metric;
}

function formatLabels(labels: Labels): string {
  const parts = Object.entries(labels).map(
    ([name, value]) => `${name}="${value.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`))}"`,
  );
  return parts.length ? `{${parts.join(',')}}` : '';
}
