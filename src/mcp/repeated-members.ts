/**
 * Whether a JSON-RPC body repeats a member the tool judge reads: `method` or `params` of a message
 * (the body's object, or each object of a batch), or `name` inside that message's `params`.
 *
 * Why: `JSON.parse` keeps the last of a repeated name, and the judge (tool-exchange.ts) decides on
 * what it gives. RFC 8259 §4 says only that the names within an object SHOULD be unique, and that
 * software receiving one whose names are not behaves unpredictably: an upstream that keeps the
 * first `name` would run another tool than the one judged. A restricted grant's message with such
 * a repeat is refused, so whoever reads a message that goes upstream reads the tool that was judged.
 *
 * `bytes` must be one JSON value already checked (`JSON.parse` accepted it, or large-message.ts read
 * it whole), so the walk needs no grammar of its own: only where strings, objects and arrays begin
 * and end (`closingQuote` skips a long string with the runtime's byte search). A name written with
 * escapes is compared by its decoded text (`"n\u0061me"` is `name`).
 */
export function repeatsJudgedMember(bytes: Uint8Array): boolean {
  // Each open object or array, innermost last: whether it is an object, its role, and for an
  // object the judged names seen in it.
  const objects: boolean[] = [];
  const roles: Role[] = [];
  const seen: number[] = [];
  // The role of an object, or of an array, that begins next.
  let objectRole: Role = ROLE.message;
  let arrayRole: Role = ROLE.batch;
  // Whether the next string is a name (in an object, after `{` or `,`).
  let name = false;
  // A byte-order mark is skipped, as the decoder before `JSON.parse` skips it.
  let at = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  for (; at < bytes.length; at++) {
    const byte = bytes[at];
    if (byte === QUOTE) {
      const end = closingQuote(bytes, at);
      if (name) {
        const depth = roles.length - 1;
        const bit = judgedBit(roles[depth]!, bytes, at + 1, end);
        if (bit !== 0) {
          if ((seen[depth]! & bit) !== 0) return true;
          seen[depth]! |= bit;
        }
        // The member's value: `params` of a message is judged for its `name`, nothing else is.
        objectRole = bit === PARAMS ? ROLE.params : ROLE.other;
        arrayRole = ROLE.other;
        name = false;
      }
      at = end;
    } else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) {
      const object = byte === OPEN_BRACE;
      const role: Role = object ? objectRole : arrayRole;
      objects.push(object);
      roles.push(role);
      seen.push(0);
      name = object;
      objectRole = role === ROLE.batch ? ROLE.message : ROLE.other;
      arrayRole = ROLE.other;
    } else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) {
      objects.pop();
      roles.pop();
      seen.pop();
    } else if (byte === COMMA) {
      // In an object a name comes next; in an array the next element, a message in a batch.
      const depth = roles.length - 1;
      name = objects[depth]!;
      objectRole = roles[depth] === ROLE.batch ? ROLE.message : ROLE.other;
      arrayRole = ROLE.other;
    }
  }
  return false;
}

/** What an object or array is to the judge. */
type Role = (typeof ROLE)[keyof typeof ROLE];
const ROLE = {
  /** A message: the body's object, or an object in the body's array. */
  message: 0,
  /** The object that is a message's `params`. */
  params: 1,
  /** The body's array (a batch). */
  batch: 2,
  /** Anything else: its names are not judged. */
  other: 3,
} as const;

/** The judged names, one bit each per object. */
const METHOD = 1;
const PARAMS = 2;
const NAME = 4;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;

const decoder = new TextDecoder();
const WORDS = { method: bytesOf('method'), params: bytesOf('params'), name: bytesOf('name') };

/** The judged name's bit, or 0, for the name between `start` and `end` in an object of `role`. */
function judgedBit(role: Role, bytes: Uint8Array, start: number, end: number): number {
  if (role !== ROLE.message && role !== ROLE.params) return 0;
  for (let i = start; i < end; i++) {
    // Written with escapes: decoded as JSON.parse decodes it (quotes are ASCII: the name alone decodes as in the body).
    if (bytes[i] === BACKSLASH) return bitOf(role, JSON.parse(decoder.decode(bytes.subarray(start - 1, end + 1))) as string);
  }
  if (role === ROLE.params) return isWord(bytes, start, end, WORDS.name) ? NAME : 0;
  return isWord(bytes, start, end, WORDS.method) ? METHOD : isWord(bytes, start, end, WORDS.params) ? PARAMS : 0;
}

function bitOf(role: Role, text: string): number {
  if (role === ROLE.params) return text === 'name' ? NAME : 0;
  return text === 'method' ? METHOD : text === 'params' ? PARAMS : 0;
}

function isWord(bytes: Uint8Array, start: number, end: number, word: Uint8Array): boolean {
  if (end - start !== word.length) return false;
  for (let i = 0; i < word.length; i++) if (bytes[start + i] !== word[i]) return false;
  return true;
}

function bytesOf(word: string): Uint8Array {
  return new TextEncoder().encode(word);
}

/**
 * Where the string opened at `at` closes. Its first bytes are looked at one by one (a backslash
 * skips the byte it escapes): most strings are short, and a call into the runtime costs more than
 * they do. Past that, the runtime's byte search finds each quote, which closes the string when an
 * even run of backslashes (none, or escaped ones) stands before it.
 */
function closingQuote(bytes: Uint8Array, at: number): number {
  let i = at + 1;
  const near = Math.min(bytes.length, i + SHORT_STRING);
  for (; i < near; i++) {
    const byte = bytes[i];
    if (byte === QUOTE) return i;
    if (byte === BACKSLASH) i++;
  }
  for (;;) {
    const quote = bytes.indexOf(QUOTE, i);
    let backslashes = 0;
    while (bytes[quote - 1 - backslashes] === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return quote;
    i = quote + 1;
  }
}

/** Strings up to this many bytes are scanned in JavaScript (`closingQuote`). */
const SHORT_STRING = 64;
