import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { largeMessageNames } from '../activity/large-message.ts';
import { type ExchangeRecord, type JudgedMessage, type Named, namedMessage } from '../activity/note.ts';
import { keptToolCeiling, toolCeiling } from '../endpoints/tool-ceiling.ts';
import { jsonRpcError } from '../http/errors.ts';
import { isEventStream } from '../http/event-stream.ts';
import type { GrantProps, VerifiedToken } from '../oauth/engine.ts';
import type { Platform } from '../platform.ts';
import {
  allows,
  isRestricted,
  refusalMessage,
  TOOL_REFUSED_CODE,
  type ToolCeiling,
  type ToolChoice,
  type ToolFacts,
} from '../upstream/tool-policy.ts';
import { carryMessageBody, readMessageBody } from './message-body.ts';
import { repeatsJudgedMember } from './repeated-members.ts';

/**
 * The exchange of a grant whose tools are restricted (src/upstream/tool-policy.ts decides which),
 * on the web carrier: the app on Node and the Worker. The Node fast path judges one message that
 * needs no answer filtering itself, by the same functions (`judgeOnNodeCarrier`), and hands the
 * rest of a restricted grant's messages to the app. A grant that allows every tool is not judged:
 * `withinTools` sends its request as it is (its body held for the activity record: message-body.ts).
 *
 * For a restricted grant, a POST's JSON-RPC body is read (it is bounded by MAX_MCP_BODY_BYTES
 * already) and each message judged:
 * - a body that is not one JSON value is answered 400 with JSON-RPC's parse error, and one that
 *   repeats a message's `method`, `params` or tool `name` with Invalid Request; neither is sent
 *   upstream, since what was not judged (or judged by one reading of two) could still run there;
 * - a `tools/call` of a tool the grant does not include is answered here with a JSON-RPC error
 *   (`TOOL_REFUSED_CODE`) and never sent upstream; in a batch, the rest goes up and the refusals
 *   are added to the answer (into the JSON array, or as the first events of an SSE answer);
 * - the answer to a `tools/list` keeps only the allowed tools, page by page (each page's
 *   `nextCursor` is passed on as it is), for JSON and SSE answers alike, event by event.
 * `read_only` needs a called tool's annotations: they come from the `tools/list` answers this
 * grant's client already received, else from the upstream's own list, asked on the client's session.
 */

/** JSON-RPC 2.0 §5.1: the body is not valid JSON. */
const PARSE_ERROR_CODE = -32700;
const NOT_JSON =
  'Parse error: the body is not one JSON value (RFC 8259), so the tools this authorization allows cannot be checked; it was not sent to the MCP server';
/** JSON-RPC 2.0 §5.1: not a valid Request object. */
const INVALID_REQUEST_CODE = -32600;
const REPEATED_MEMBER =
  'Invalid Request: a message names its "method", "params" or tool "name" twice (RFC 8259 §4: which one counts depends on who reads it), so the tools this authorization allows cannot be checked; it was not sent to the MCP server';

export interface ToolRules {
  choice: ToolChoice | undefined;
  ceiling: ToolCeiling | undefined;
  /** Whose messages these are: tools seen in one grant's lists are never used to judge another's calls. */
  grantId?: string;
}

/** Sends a request upstream; `body`, when given, is its body already read whole. */
type Send = (request: Request, body?: Uint8Array<ArrayBuffer>) => Promise<Response>;

type Message = Record<string, unknown>;

const decoder = new TextDecoder();

/**
 * Sends `request` with `send`, judged by the grant's tool rules and the endpoint's ceiling when
 * they restrict anything. The web carrier's one call.
 */
export async function withinTools(
  platform: Platform,
  request: Request,
  props: GrantProps,
  auth: VerifiedToken,
  record: ExchangeRecord,
  send: Send,
): Promise<Response> {
  const rules: ToolRules = { choice: props.tools, ceiling: await toolCeiling(platform, props.slug) };
  if (request.method !== 'POST' || !isRestricted(rules.choice, rules.ceiling)) {
    // Held for the activity record (its names are read once the answer has ended).
    const carried = await carryMessageBody(request, record);
    return send(carried.request, carried.body);
  }
  return restrictedExchange(request, { ...rules, grantId: auth.grantId }, send, record);
}

/** The Node fast path's first call: whether this grant's messages are judged by the tool rules at all. */
export function needsToolRules(platform: Platform, props: GrantProps): boolean | Promise<boolean> {
  // Answered at once while the ceiling is kept (nearly every message): no promise on the hot path.
  const kept = keptToolCeiling(platform, props.slug);
  if (kept) return isRestricted(props.tools, kept.ceiling);
  return toolCeiling(platform, props.slug).then((ceiling) => isRestricted(props.tools, ceiling));
}

export type CarrierVerdict =
  /** Nothing to filter: relayed as it is (`judged`: the message as the activity record names it, read once). */
  | { kind: 'relay'; judged: JudgedMessage[] }
  /** A call of a tool the grant does not include: answered with this, never sent upstream. */
  | { kind: 'refuse'; answer: Response; judged: JudgedMessage[] }
  /** Needs the whole restricted exchange (an answer to filter, a batch, annotations to ask for): the app's. */
  | { kind: 'app' };

/**
 * The Node fast path's second call, for a restricted grant's POST whose body it holds whole: one
 * message whose answer needs no filtering (a `tools/call` judged by its name, or by annotations
 * this grant's session has already listed; `initialize`, notifications, any other method) is
 * judged here by the same rules as `withinTools`, so it is relayed (or refused) without the app.
 * A `tools/list`, a batch, a body that is not one JSON-RPC message, and a `read_only` call whose
 * tool was not listed yet go to the app.
 */
export async function judgeOnNodeCarrier(
  platform: Platform,
  props: GrantProps,
  grantId: string,
  body: Uint8Array,
  sessionId: string | undefined,
): Promise<CarrierVerdict> {
  const message = oneMessage(body);
  // A repeated judged member is the app's to refuse (restrictedExchange), as a body that is not JSON is.
  if (!message || message.named.method === 'tools/list' || repeatsJudgedMember(body)) return { kind: 'app' };
  const relayed: CarrierVerdict = { kind: 'relay', judged: [{ ...message.named, errorCode: null }] };
  const name = calledTool(message.named);
  if (name === undefined) return relayed;
  const rules: ToolRules = { choice: props.tools, ceiling: await toolCeiling(platform, props.slug), grantId };
  let unknown = false;
  const allowed = await judged(rules, name, async (name) => {
    const facts = seenFacts(seenKey(sessionId, rules), name);
    unknown = facts === undefined;
    return facts;
  });
  if (allowed) return relayed;
  if (unknown) return { kind: 'app' };
  return { kind: 'refuse', answer: jsonAnswer(refusalOf({ id: message.id(), name })), judged: [refusedEntry(name)] };
}

/** One JSON-RPC message as the judge reads it: its names (note.ts `Named`), and its id, asked only to refuse it. */
interface OneMessage {
  named: Named;
  id: () => unknown;
}

/**
 * The one JSON-RPC message of a body, or undefined for a body that is not one JSON object (a
 * batch, not JSON). A large one is named off its bytes (`largeOne`), a smaller one parsed.
 */
function oneMessage(body: Uint8Array): OneMessage | undefined {
  const large = largeOne(body);
  if (large) return large;
  let message: unknown;
  try {
    message = JSON.parse(decoder.decode(body));
  } catch {
    return undefined;
  }
  if (!isObject(message)) return undefined;
  return { named: namedMessage(message), id: () => message.id ?? null };
}

/**
 * A large message named off its bytes (large-message.ts: exactly the names `JSON.parse` and
 * `namedMessage` give, or none, and then the caller parses), so a large call the grant allows is
 * never built as strings and objects: only a refusal parses it, for its id.
 */
function largeOne(body: Uint8Array): OneMessage | undefined {
  const named = largeMessageNames(body);
  return named && { named, id: () => (JSON.parse(decoder.decode(body)) as Message).id ?? null };
}

/** The tool a message calls (`''` for a `tools/call` without a string name, judged as that name), or undefined for any other method. */
function calledTool(named: Named): string | undefined {
  return named.method === 'tools/call' ? (named.tool ?? '') : undefined;
}

async function restrictedExchange(request: Request, rules: ToolRules, send: Send, record: ExchangeRecord): Promise<Response> {
  const bytes = (await readMessageBody(request, record)) ?? new Uint8Array();
  const known = (name: string) => lookupFacts(request, rules, send, name);
  const large = largeOne(bytes);
  let parsed: unknown;
  if (!large) {
    try {
      parsed = JSON.parse(decoder.decode(bytes));
    } catch {
      // Fails closed: what was not judged is not sent. An upstream may still find a call in a body
      // that is not one JSON value (RFC 8259 §2), e.g. one that decodes only the first value and
      // ignores what follows (Go's json.Decoder), so it is refused here as JSON-RPC's parse error.
      return unjudged(record, PARSE_ERROR_CODE, NOT_JSON);
    }
  }
  // One JSON value from here (parsed, or read whole off its bytes). A repeated `method`, `params`
  // or tool `name` is refused too: which one counts is up to whoever reads it (repeated-members.ts).
  if (repeatsJudgedMember(bytes)) {
    return unjudged(record, INVALID_REQUEST_CODE, REPEATED_MEMBER);
  }
  if (large) {
    // A large message that is not a list (whose answer is filtered by its id) is judged by the
    // names read off its bytes and sent on as it came, never parsed unless refused.
    if (large.named.method !== 'tools/list') {
      const name = calledTool(large.named);
      if (name === undefined || (await judged(rules, name, known))) {
        record.judged = [{ ...large.named, errorCode: null }];
        return send(rebuilt(request, bytes));
      }
      record.judged = [refusedEntry(name)];
      return jsonAnswer(refusalOf({ id: large.id(), name }));
    }
    parsed = JSON.parse(decoder.decode(bytes));
  }
  const batch = Array.isArray(parsed);
  const messages = (batch ? parsed : [parsed]) as unknown[];
  const listIds = new Set<string>();
  const refusals: Message[] = [];
  const kept: unknown[] = [];
  for (const message of messages) {
    const call = toolCall(message);
    if (call && !(await judged(rules, call.name, known))) {
      refusals.push(refusalOf(call));
      continue;
    }
    if (isObject(message) && message.method === 'tools/list' && 'id' in message) listIds.add(JSON.stringify(message.id));
    kept.push(message);
  }

  // The activity record: each refused call, then each message sent up, with the answer's status.
  const refused = refusals.map((refusal) => refusedEntry((refusal.error as { data: { tool: string } }).data.tool));
  record.judged = [...refused, ...kept.map((message) => ({ ...namedMessage(message), errorCode: null }))];
  if (kept.length === 0) return jsonAnswer(batch ? refusals : refusals[0]!);
  const upstream = await send(
    refusals.length === 0 ? rebuilt(request, bytes) : rebuilt(request, encode(JSON.stringify(batch ? kept : kept[0]))),
  );
  if (listIds.size === 0 && refusals.length === 0) return upstream;
  if (upstream.status === 202 && refusals.length > 0) {
    await upstream.body?.cancel().catch(() => {});
    return jsonAnswer(refusals);
  }
  if (upstream.status < 200 || upstream.status >= 300 || !upstream.body) return upstream;
  const filter = (message: unknown) => filterListAnswer(message, listIds, rules, request);
  if (isEventStream(upstream.headers.get('content-type'))) return filteredEvents(upstream, filter, refusals);
  if (!(upstream.headers.get('content-type') ?? '').toLowerCase().startsWith('application/json')) return upstream;
  let answer: unknown;
  const text = await upstream.text();
  try {
    answer = JSON.parse(text);
  } catch {
    return new Response(text, { status: upstream.status, headers: withoutLength(upstream.headers) });
  }
  const filtered = Array.isArray(answer)
    ? [...answer.map(filter), ...refusals]
    : refusals.length
      ? [filter(answer), ...refusals]
      : filter(answer);
  return new Response(JSON.stringify(filtered), { status: upstream.status, headers: withoutLength(upstream.headers) });
}

async function judged(rules: ToolRules, name: string, known: (name: string) => Promise<ToolFacts | undefined>): Promise<boolean> {
  // Only `read_only` needs more than the name; a name the ceiling or the choice refuses is refused without asking.
  if (!allows(rules.choice?.mode === 'read_only' ? { mode: 'all' } : rules.choice, rules.ceiling, { name })) return false;
  if (rules.choice?.mode !== 'read_only') return true;
  const facts = await known(name);
  return facts !== undefined && allows(rules.choice, rules.ceiling, facts);
}

/** The answer to a body the judge cannot read one way (never sent up): 400 with JSON-RPC's `code`, noted as such in the record. */
function unjudged(record: ExchangeRecord, code: number, message: string): Response {
  record.judged = [{ method: 'unknown', tool: null, status: 400, errorCode: code }];
  return jsonRpcError(400, message, code);
}

/** The JSON-RPC error that answers a call of a tool the grant does not include. */
function refusalOf(call: { id: unknown; name: string }): Message {
  return {
    jsonrpc: '2.0',
    id: call.id,
    error: { code: TOOL_REFUSED_CODE, message: refusalMessage(call.name), data: { tool: call.name } },
  };
}

/** A refused call's activity entry: answered here, 200 with the refusal's code. */
function refusedEntry(tool: string): JudgedMessage {
  return { method: 'tools/call', tool, status: 200, errorCode: TOOL_REFUSED_CODE };
}

function toolCall(message: unknown): { id: unknown; name: string } | undefined {
  const name = calledTool(namedMessage(message));
  return name === undefined ? undefined : { id: (message as Message).id ?? null, name };
}

/** A `tools/list` result for one of our request ids, with only the allowed tools. */
function filterListAnswer(message: unknown, listIds: Set<string>, rules: ToolRules, request: Request): unknown {
  if (!isObject(message) || !listIds.has(JSON.stringify(message.id)) || !isObject(message.result)) return message;
  const tools = message.result.tools;
  if (!Array.isArray(tools)) return message;
  remember(request, rules, tools);
  return {
    ...message,
    result: {
      ...message.result,
      tools: tools.filter(
        (tool) => isObject(tool) && typeof tool.name === 'string' && allows(rules.choice, rules.ceiling, tool as unknown as ToolFacts),
      ),
    },
  };
}

/** An SSE answer, event by event: each `data` that is a JSON-RPC message is filtered; the refusals go first. */
function filteredEvents(upstream: Response, filter: (message: unknown) => unknown, refusals: Message[]): Response {
  const encoder = new TextEncoder();
  let controller!: TransformStreamDefaultController<Uint8Array>;
  const parser = createParser({
    onEvent: (event) => controller.enqueue(encoder.encode(serializeEvent(event, filter))),
    onRetry: (retry) => controller.enqueue(encoder.encode(`retry: ${retry}\n\n`)),
    onComment: (comment) => controller.enqueue(encoder.encode(`:${comment}\n\n`)),
  });
  const decoder = new TextDecoder();
  const transform = new TransformStream<Uint8Array, Uint8Array>({
    start(c) {
      controller = c;
      for (const refusal of refusals) c.enqueue(encoder.encode(`event: message\ndata: ${JSON.stringify(refusal)}\n\n`));
    },
    transform(chunk) {
      parser.feed(decoder.decode(chunk, { stream: true }));
    },
    flush() {
      parser.feed(decoder.decode());
    },
  });
  return new Response(upstream.body!.pipeThrough(transform), { status: upstream.status, headers: withoutLength(upstream.headers) });
}

function serializeEvent(event: EventSourceMessage, filter: (message: unknown) => unknown): string {
  let data = event.data;
  try {
    data = JSON.stringify(filter(JSON.parse(data)));
  } catch {
    // Not JSON: passed on as it came.
  }
  let out = '';
  if (event.id !== undefined) out += `id: ${event.id}\n`;
  if (event.event !== undefined) out += `event: ${event.event}\n`;
  for (const line of data.split('\n')) out += `data: ${line}\n`;
  return `${out}\n`;
}

// --- the annotations of a called tool, for `read_only` grants -------------------------------------

/**
 * Tools seen in `tools/list` answers, by the grant and session they came on: a `read_only` grant's client lists tools before it calls one, so a call is usually judged
 * without asking. Kept briefly, so a tool the upstream re-annotates is judged anew soon.
 */
const SEEN_MS = 30_000;
const SEEN_KEPT = 1000;
const seen = new Map<string, { at: number; tools: Map<string, ToolFacts> }>();

function seenKey(sessionId: string | null | undefined, rules: ToolRules): string {
  return `${rules.grantId ?? ''} ${sessionId ?? ''}`;
}

function remember(request: Request, rules: ToolRules, tools: unknown[]): void {
  const key = seenKey(request.headers.get('mcp-session-id'), rules);
  let entry = seen.get(key);
  if (!entry || Date.now() - entry.at > SEEN_MS) {
    if (seen.size >= SEEN_KEPT) seen.delete(seen.keys().next().value!);
    entry = { at: Date.now(), tools: new Map() };
    seen.set(key, entry);
  }
  for (const tool of tools) if (isObject(tool) && typeof tool.name === 'string') entry.tools.set(tool.name, tool as unknown as ToolFacts);
}

/** A tool's annotations as this grant's session listed them lately, if it did. */
function seenFacts(key: string, name: string): ToolFacts | undefined {
  const entry = seen.get(key);
  return entry && Date.now() - entry.at <= SEEN_MS ? entry.tools.get(name) : undefined;
}

const MAX_LIST_PAGES = 20;

async function lookupFacts(request: Request, rules: ToolRules, send: Send, name: string): Promise<ToolFacts | undefined> {
  const listed = seenFacts(seenKey(request.headers.get('mcp-session-id'), rules), name);
  if (listed) return listed;
  // Ask the upstream's own list on the client's session, page by page, until the tool is found.
  let cursor: string | undefined;
  for (let page = 0; page < MAX_LIST_PAGES; page++) {
    const body = encode(
      JSON.stringify({ jsonrpc: '2.0', id: `key2oauth-tools-${page}`, method: 'tools/list', params: cursor ? { cursor } : {} }),
    );
    const answer = await send(
      rebuilt(request, body, { accept: 'application/json, text/event-stream', 'content-type': 'application/json' }),
    );
    const result = await listResult(answer);
    if (!result) return undefined;
    remember(request, rules, result.tools);
    const found = result.tools.find((tool) => isObject(tool) && tool.name === name);
    if (found) return found as unknown as ToolFacts;
    if (typeof result.nextCursor !== 'string') return undefined;
    cursor = result.nextCursor;
  }
  return undefined;
}

async function listResult(answer: Response): Promise<{ tools: unknown[]; nextCursor?: unknown } | undefined> {
  if (!answer.ok || !answer.body) {
    await answer.body?.cancel().catch(() => {});
    return undefined;
  }
  const text = await answer.text();
  const payloads: string[] = [];
  if (isEventStream(answer.headers.get('content-type'))) {
    const parser = createParser({ onEvent: (event) => payloads.push(event.data) });
    parser.feed(text);
  } else payloads.push(text);
  for (const payload of payloads) {
    try {
      const message = JSON.parse(payload);
      if (isObject(message) && isObject(message.result) && Array.isArray(message.result.tools)) {
        return message.result as { tools: unknown[]; nextCursor?: unknown };
      }
    } catch {}
  }
  return undefined;
}

// --- small helpers -------------------------------------------------------------------------------

function rebuilt(request: Request, body: Uint8Array<ArrayBuffer>, set: Record<string, string> = {}): Request {
  const headers = new Headers(request.headers);
  for (const [name, value] of Object.entries(set)) headers.set(name, value);
  headers.set('content-length', String(body.byteLength));
  return new Request(request.url, { method: 'POST', headers, body, signal: request.signal });
}

function jsonAnswer(body: unknown): Response {
  return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } });
}

function withoutLength(headers: Headers): Headers {
  const copy = new Headers(headers);
  copy.delete('content-length');
  return copy;
}

function encode(text: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(text) as Uint8Array<ArrayBuffer>;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
