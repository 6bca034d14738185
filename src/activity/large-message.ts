/**
 * Past this a message is named by the reader instead of `JSON.parse`: below it the parse is the
 * faster (37 against 50 µs at 64 KiB), above 128 KiB it is 15 times slower.
 */
const LARGE_MESSAGE_BYTES = 64 * 1024;

/**
 * The names of a message past LARGE_MESSAGE_BYTES read off its bytes (`nameLargeMessage`), or
 * undefined for a smaller one or one the reader is unsure of: the caller then parses it. The
 * activity record (note.ts) and the tool judge (src/mcp/tool-exchange.ts) both ask here.
 */
export function largeMessageNames(bytes: Uint8Array): Named | undefined {
  return bytes.byteLength > LARGE_MESSAGE_BYTES ? nameLargeMessage(bytes) : undefined;
}

/**
 * A large JSON-RPC message's names (its method, and its tool for `tools/call`), read off its bytes
 * without building it: the activity record's names, and what a restricted grant's call is judged by.
 *
 * Why: `JSON.parse` needs the body as a string, and then builds every value in it. Past about
 * 128 KiB V8 puts each of those strings in its large-object space, which costs here about 3 ns a
 * byte, twice (the body, then its largest argument): a 512 KiB tool call cost the proxy 6.4 ms of
 * CPU against the node floor's 1.4 ms, two thirds of it naming the message. This reader checks
 * the same grammar (RFC 8259) in one pass over the bytes and keeps only where the names are.
 *
 * It answers only when it is sure to name the message as `JSON.parse` and `namedMessage` would
 * (note.ts), and says `undefined` for anything else, which the caller then parses: a batch, a
 * body that is not JSON (`JSON.parse` decides what it is named), a leading byte-order mark, nesting
 * deeper than MAX_DEPTH, and a key it looks at or a name written with an escape (whose text only
 * the parse knows). A repeated key is taken as `JSON.parse` takes it: the last one counts.
 */
export function nameLargeMessage(bytes: Uint8Array): Named | undefined {
  const reader = new Reader(bytes);
  try {
    return reader.message();
  } catch (error) {
    if (error === UNSURE) return undefined;
    throw error;
  }
}

/** A message's names, as note.ts `Named` (not imported: note.ts imports this module). */
interface Named {
  method: string;
  tool: string | null;
}

/** Thrown inside the reader for anything it does not name with certainty; never leaves the module. */
const UNSURE = Symbol('unsure');

/** Deeper nesting is left to `JSON.parse`: the reader recurses once per level. */
const MAX_DEPTH = 256;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COLON = 0x3a;
const COMMA = 0x2c;
const MINUS = 0x2d;
const PLUS = 0x2b;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;

/** A string's place in the body: its content between the quotes, and whether it has an escape. */
interface Span {
  start: number;
  end: number;
  escaped: boolean;
}

/** What a member's value was, as far as the names need. */
type Value = { kind: 'string'; span: Span } | { kind: 'object'; name: Value | undefined } | { kind: 'other' };

const OTHER: Value = { kind: 'other' };

const decoder = new TextDecoder();

class Reader {
  readonly #bytes: Uint8Array;
  #at = 0;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  message(): Named {
    this.#space();
    if (this.#bytes[this.#at] !== OPEN_BRACE) throw UNSURE;
    let method: Value | undefined;
    let params: Value | undefined;
    let answer = false;
    this.#object((key) => {
      if (this.#keyIs(key, 'method')) method = this.#value(1, false);
      else if (this.#keyIs(key, 'params')) params = this.#value(1, true);
      else {
        if (this.#keyIs(key, 'result') || this.#keyIs(key, 'error')) answer = true;
        this.#value(1, false);
      }
    });
    this.#space();
    // RFC 8259 §2: one value, and only whitespace after it.
    if (this.#at !== this.#bytes.length) throw UNSURE;
    // As note.ts `namedMessage`, for a message that parsed to an object.
    if (method?.kind !== 'string') return { method: answer ? 'response' : 'unknown', tool: null };
    const named = this.#text(method.span);
    const name = named === 'tools/call' && params?.kind === 'object' ? params.name : undefined;
    return { method: named, tool: name?.kind === 'string' ? this.#text(name.span) : null };
  }

  /**
   * The text of a string without escapes, decoded alone as the whole body would decode it: its
   * quotes are ASCII, which no UTF-8 sequence swallows (a broken one before a quote ends there).
   */
  #text(span: Span): string {
    if (span.escaped) throw UNSURE;
    return decoder.decode(this.#bytes.subarray(span.start, span.end));
  }

  /** Whether a key is `word` as written, without escapes (one with an escape makes the reader unsure). */
  #keyIs(key: Span, word: string): boolean {
    if (key.escaped) throw UNSURE;
    if (key.end - key.start !== word.length) return false;
    for (let i = 0; i < word.length; i++) if (this.#bytes[key.start + i] !== word.charCodeAt(i)) return false;
    return true;
  }

  /** An object's members (RFC 8259 §4), each key handed to `member`, which reads the value. */
  #object(member: (key: Span) => void): void {
    if (this.#opens(CLOSE_BRACE)) return;
    do {
      if (this.#bytes[this.#at] !== QUOTE) throw UNSURE;
      const key = this.#string();
      this.#space();
      if (this.#bytes[this.#at] !== COLON) throw UNSURE;
      this.#at++;
      this.#space();
      member(key);
    } while (!this.#closes(CLOSE_BRACE));
  }

  /** Any value (RFC 8259 §3); with `named`, an object's `name` member is kept (the tool's name in `params`). */
  #value(depth: number, named: boolean): Value {
    if (depth > MAX_DEPTH) throw UNSURE;
    const byte = this.#bytes[this.#at];
    if (byte === QUOTE) return { kind: 'string', span: this.#string() };
    if (byte === OPEN_BRACE) {
      let name: Value | undefined;
      this.#object((key) => {
        // Only `params` asks for its `name`; keys deeper down are not looked at.
        if (named && this.#keyIs(key, 'name')) name = this.#value(depth + 1, false);
        else this.#value(depth + 1, false);
      });
      return { kind: 'object', name };
    }
    if (byte === OPEN_BRACKET) {
      this.#array(depth);
      return OTHER;
    }
    if (byte === MINUS || isDigit(byte)) {
      this.#number();
      return OTHER;
    }
    this.#literal();
    return OTHER;
  }

  /** An array (RFC 8259 §5). */
  #array(depth: number): void {
    if (this.#opens(CLOSE_BRACKET)) return;
    do this.#value(depth + 1, false);
    while (!this.#closes(CLOSE_BRACKET));
  }

  /** Steps over an object's or array's opening byte; true when it is empty (`close` follows), the reader then past it. */
  #opens(close: number): boolean {
    this.#at++;
    this.#space();
    if (this.#bytes[this.#at] !== close) return false;
    this.#at++;
    return true;
  }

  /** After a member or element: true at `close` (the reader past it), false after a comma (the reader on the next one). */
  #closes(close: number): boolean {
    this.#space();
    const next = this.#bytes[this.#at];
    this.#at++;
    if (next === close) return true;
    if (next !== COMMA) throw UNSURE;
    this.#space();
    return false;
  }

  /**
   * A string (RFC 8259 §7), the reader on its opening quote: no byte below 0x20, and each escape
   * one of `\" \\ \/ \b \f \n \r \t \uXXXX`. Other bytes are taken as they are: JSON.parse of the
   * decoded body accepts any character there (a malformed UTF-8 sequence decodes to U+FFFD).
   */
  #string(): Span {
    const bytes = this.#bytes;
    let at = this.#at + 1;
    const start = at;
    let escaped = false;
    for (;;) {
      const byte = bytes[at];
      if (byte === undefined || byte < 0x20) throw UNSURE;
      if (byte === QUOTE) break;
      if (byte === BACKSLASH) {
        escaped = true;
        const after = bytes[at + 1];
        if (after === 0x75) {
          // \uXXXX
          for (let i = at + 2; i < at + 6; i++) if (!isHexDigit(bytes[i])) throw UNSURE;
          at += 6;
        } else if (after !== undefined && SIMPLE_ESCAPES.has(after)) at += 2;
        else throw UNSURE;
        continue;
      }
      at++;
    }
    this.#at = at + 1;
    return { start, end: at, escaped };
  }

  /** A number (RFC 8259 §6): `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`. */
  #number(): void {
    const bytes = this.#bytes;
    let at = this.#at;
    if (bytes[at] === MINUS) at++;
    if (bytes[at] === ZERO) at++;
    else if (isDigit(bytes[at])) while (isDigit(bytes[at])) at++;
    else throw UNSURE;
    if (bytes[at] === DOT) {
      at++;
      if (!isDigit(bytes[at])) throw UNSURE;
      while (isDigit(bytes[at])) at++;
    }
    if (bytes[at] === 0x65 || bytes[at] === 0x45) {
      at++;
      if (bytes[at] === PLUS || bytes[at] === MINUS) at++;
      if (!isDigit(bytes[at])) throw UNSURE;
      while (isDigit(bytes[at])) at++;
    }
    this.#at = at;
  }

  /** `true`, `false` or `null` (RFC 8259 §3). */
  #literal(): void {
    for (const literal of LITERALS) {
      if (literal.every((byte, i) => this.#bytes[this.#at + i] === byte)) {
        this.#at += literal.length;
        return;
      }
    }
    throw UNSURE;
  }

  /** Whitespace between tokens (RFC 8259 §2): space, tab, line feed, carriage return. */
  #space(): void {
    const bytes = this.#bytes;
    let at = this.#at;
    for (;;) {
      const byte = bytes[at];
      if (byte !== 0x20 && byte !== 0x09 && byte !== 0x0a && byte !== 0x0d) break;
      at++;
    }
    this.#at = at;
  }
}

/** `" \ / b f n r t` after a backslash. */
const SIMPLE_ESCAPES = new Set([0x22, 0x5c, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74]);
const LITERALS = ['true', 'false', 'null'].map((word) => [...word].map((char) => char.charCodeAt(0)));

function isDigit(byte: number | undefined): boolean {
  return byte !== undefined && byte >= ZERO && byte <= NINE;
}

function isHexDigit(byte: number | undefined): boolean {
  return byte !== undefined && ((byte >= ZERO && byte <= NINE) || (byte >= 0x41 && byte <= 0x46) || (byte >= 0x61 && byte <= 0x66));
}
