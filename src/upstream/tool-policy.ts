/**
 * Which tools a grant may call: the one place that decides it, for every carrier (the web one in
 * src/mcp/tool-exchange.ts; the Node fast path hands restricted grants to it, and the Worker is
 * the web carrier). Data in, decisions out: nothing here does I/O.
 *
 * Two layers narrow what an access may do:
 * - the key holder's choice at consent (`ToolChoice`, in the grant's encrypted props): `all` (the
 *   default, and what grants made before this existed mean), `read_only` (tools the upstream marks
 *   `readOnlyHint: true`, judged live, so a tool added later is judged by its own annotations), or
 *   `chosen` (exactly the named tools; a tool added later is not among them);
 * - the endpoint creator's ceiling (`ToolCeiling`, on the endpoint record): name patterns no grant
 *   may exceed, `*` matching any run of characters; `deny` wins over `allow`, and an empty or
 *   missing `allow` allows every name.
 * A grant is restricted when either layer can refuse a tool; an unrestricted grant takes the
 * plain exchange, with no body read.
 */

export type ToolChoice = { mode: 'all' } | { mode: 'read_only' } | { mode: 'chosen'; tools: string[] };

export interface ToolCeiling {
  allow?: string[];
  deny?: string[];
}

/** What the upstream says of a tool in `tools/list` (MCP 2025-06-18, Tool and ToolAnnotations). */
export interface ToolFacts {
  name: string;
  annotations?: { readOnlyHint?: unknown; destructiveHint?: unknown } | undefined;
}

export const TOOL_MODES = ['all', 'read_only', 'chosen'] as const;
/** Bounds on what a consent form or an API body may name, so a grant's props stay small. */
export const MAX_CHOSEN_TOOLS = 200;
export const MAX_TOOL_NAME = 128;
export const MAX_PATTERNS = 50;

/** The JSON-RPC error code of a refused `tools/call`: Invalid params, as MCP answers an unknown tool. */
export const TOOL_REFUSED_CODE = -32602;

export function isRestricted(choice: ToolChoice | undefined, ceiling: ToolCeiling | undefined): boolean {
  if (choice && choice.mode !== 'all') return true;
  return Boolean(ceiling && ((ceiling.allow?.length ?? 0) > 0 || (ceiling.deny?.length ?? 0) > 0));
}

/** Whether the creator's ceiling lets a tool of this name through. */
export function underCeiling(ceiling: ToolCeiling | undefined, name: string): boolean {
  if (!ceiling) return true;
  if (ceiling.deny?.some((pattern) => matches(pattern, name))) return false;
  return !ceiling.allow?.length || ceiling.allow.some((pattern) => matches(pattern, name));
}

/**
 * Whether a tool is allowed. `facts` are needed only for `read_only` (the annotations); a tool
 * whose annotations are unknown is not read-only: the hint must be there and `true`, and a tool
 * also marked destructive is not read-only whatever else it says.
 */
export function allows(choice: ToolChoice | undefined, ceiling: ToolCeiling | undefined, facts: ToolFacts): boolean {
  if (!underCeiling(ceiling, facts.name)) return false;
  switch (choice?.mode ?? 'all') {
    case 'all':
      return true;
    case 'read_only':
      return isReadOnly(facts);
    case 'chosen':
      return (choice as { tools: string[] }).tools.includes(facts.name);
  }
  return false;
}

export function isReadOnly(facts: ToolFacts): boolean {
  return facts.annotations?.readOnlyHint === true && facts.annotations.destructiveHint !== true;
}

/** `*` matches any run of characters; everything else matches itself. */
function matches(pattern: string, name: string): boolean {
  if (!pattern.includes('*')) return pattern === name;
  const escaped = pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${escaped.join('.*')}$`, 's').test(name);
}

/**
 * The key holder's choice from the consent form (`tools` = `all` | `read_only` | `chosen`, and with
 * `chosen` one `tool` field per allowed tool), or a sentence saying what is wrong. No `tools`
 * field means `all`, as the form's default and as a client that knows nothing of this sends.
 * `chosen` with no tool yet is the consent page's second step (the tools listed to tick), never a grant.
 */
export function choiceFromForm(form: URLSearchParams): ToolChoice | { problem: string } {
  const mode = form.get('tools') ?? 'all';
  if (mode === 'all' || mode === 'read_only') return { mode };
  if (mode !== 'chosen') return { problem: 'Choose which tools the app may use: all, read-only, or the ones you pick.' };
  const tools = [...new Set(form.getAll('tool').map((name) => name.trim()))].filter(Boolean);
  if (tools.length > MAX_CHOSEN_TOOLS) return { problem: `Pick at most ${MAX_CHOSEN_TOOLS} tools.` };
  if (tools.some((name) => name.length > MAX_TOOL_NAME)) return { problem: `A tool name is at most ${MAX_TOOL_NAME} characters.` };
  return { mode: 'chosen', tools };
}

/** How an access that may call every tool is described. */
export const ALL_TOOLS = 'all tools';

/** The choice in words, wherever an access is listed. */
export function describeChoice(choice: ToolChoice | undefined): string {
  switch (choice?.mode ?? 'all') {
    case 'read_only':
      return 'read-only tools';
    case 'chosen':
      return `only ${(choice as { tools: string[] }).tools.join(', ')}`;
    default:
      return ALL_TOOLS;
  }
}

/** The sentence of a refused `tools/call`: what is missing and how to widen the access. */
export function refusalMessage(name: string): string {
  return `This access does not include the tool “${name}”. To widen it, sign in to this endpoint again from your app and allow that tool (or all tools) on the consent page; if the endpoint's creator excludes it, ask them.`;
}
