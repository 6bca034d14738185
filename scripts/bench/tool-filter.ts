/**
 * What a restricted access costs per message, in-process (docs/tools-and-activity.md): the web
 * carrier's `withinTools` with an upstream that answers at once from memory, for
 * - an access that may call every tool (the plain exchange: no body read);
 * - a `chosen` access: a `tools/list` whose JSON answer of 40 tools is filtered, a `tools/call`
 *   that goes through, and one that is refused here;
 * - the same `tools/list` answered as an SSE stream;
 * each with its activity entry noted as the guard notes it once the answer has ended (a page
 * gathered in memory; the store write per page is the last row);
 * - and the activity record's cost per message on SQLite, pages written (every access pays it, off the path).
 * Run: npm run bench:tool-filter. The machine's load shows in the numbers: compare rows, not runs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExchangeRecord, noteExchange } from '../../src/activity/note.ts';
import { flushActivity, recordActivity } from '../../src/activity/store.ts';
import { createSqliteStorage } from '../../src/adapters/node/sqlite.ts';
import { withinTools } from '../../src/mcp/tool-exchange.ts';
import type { GrantProps, VerifiedToken } from '../../src/oauth/engine.ts';
import { startApp } from '../../test/support/in-process.ts';

const app = await startApp();
const created = await app.mustCreateEndpoint();
const slug = created.slug!;
const auth: VerifiedToken = { grantId: 'bench', scope: ['mcp'] };
const base: GrantProps = {
  v: 1,
  slug,
  apiKey: 'sk-bench',
  upstream: { url: 'https://u.example/mcp', headerName: 'Authorization', headerPrefix: 'Bearer', transport: 'streamable-http' },
};
const chosen: GrantProps = { ...base, tools: { mode: 'chosen', tools: ['tool_1', 'tool_7'] } };

const tools = Array.from({ length: 40 }, (_, i) => ({
  name: `tool_${i}`,
  description: `Tool number ${i}`,
  inputSchema: { type: 'object' },
}));
const listAnswer = JSON.stringify({ jsonrpc: '2.0', id: 1, result: { tools } });
const callAnswer = JSON.stringify({ jsonrpc: '2.0', id: 2, result: { content: [{ type: 'text', text: 'ok' }] } });
const json = (body: string) => () => Promise.resolve(new Response(body, { headers: { 'content-type': 'application/json' } }));
const sse = (body: string) => () =>
  Promise.resolve(new Response(`event: message\ndata: ${body}\n\n`, { headers: { 'content-type': 'text/event-stream' } }));
const post = (message: object) =>
  new Request(`${app.url}/${slug}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(message) });
const list = { jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} };
const call = (name: string) => ({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name, arguments: { q: 'x' } } });

async function time(label: string, once: () => Promise<Response>): Promise<void> {
  for (let i = 0; i < 2000; i++) await (await once()).text();
  const rounds = 20_000;
  const started = performance.now();
  const cpu = process.cpuUsage();
  for (let i = 0; i < rounds; i++) await (await once()).text();
  const used = process.cpuUsage(cpu);
  const us = ((performance.now() - started) * 1000) / rounds;
  // Process CPU time beside wall time: on shared cores the wall clock also counts other processes' turns.
  const cpuUs = (used.user + used.system) / rounds;
  console.log(`${label.padEnd(58)} ${us.toFixed(1).padStart(7)} µs/message, ${cpuUs.toFixed(1).padStart(7)} µs CPU`);
}

/** One message as the web carrier carries it: the exchange, its answer read, its activity entry noted. */
const exchange = (props: GrantProps, message: object, answer: () => Promise<Response>) => async () => {
  const request = post(message);
  const record = new ExchangeRecord();
  const response = await withinTools(app.platform, request, props, auth, record, answer);
  const text = await response.text();
  record.bytesOut = text.length;
  noteExchange(app.platform, slug, auth, record, 'POST', (name) => request.headers.get(name), response.status);
  return new Response(text);
};
await time('all tools: tools/list (plain exchange)', exchange(base, list, json(listAnswer)));
await time('chosen: tools/list, 40 tools filtered to 2, JSON', exchange(chosen, list, json(listAnswer)));
await time('chosen: tools/list, 40 tools filtered to 2, SSE', exchange(chosen, list, sse(listAnswer)));
await time('all tools: tools/call (plain exchange)', exchange(base, call('tool_7'), json(callAnswer)));
await time('chosen: tools/call allowed', exchange(chosen, call('tool_7'), json(callAnswer)));
await time('chosen: tools/call refused (never sent)', exchange(chosen, call('tool_9'), json(callAnswer)));
await time('baseline: the request and answer objects alone', () => {
  post(list);
  return json(listAnswer)();
});
await app.close();

// The activity record's own cost per message, on SQLite: the entry written off the request's path.
const dir = mkdtempSync(join(tmpdir(), 'key2oauth-bench-activity-'));
const sqlite = createSqliteStorage(join(dir, 'key2oauth.db'));
const onSqlite = await startApp({ platform: { kv: sqlite.kv } });
const entry = {
  at: '',
  access_id: 'bench',
  method: 'tools/call',
  tool: 'tool_7',
  status: 200,
  error_code: null,
  duration_ms: 3,
  bytes_in: 248,
  bytes_out: 120,
};
const rounds = 5000;
const started = performance.now();
for (let i = 0; i < rounds; i++) recordActivity(onSqlite.platform, slug, { ...entry, at: Date.now() });
await flushActivity(onSqlite.platform);
await onSqlite.settle();
console.log(
  `${'activity entry written to SQLite (pages, with trimming)'.padEnd(58)} ${(((performance.now() - started) * 1000) / rounds).toFixed(1).padStart(7)} µs/message`,
);
await onSqlite.close();
await sqlite.close();
rmSync(dir, { recursive: true, force: true });
