/** What an activity entry names a message by (note.ts). */
export interface Named {
  /** The JSON-RPC method; `response` for a client's answer to the server; the HTTP method of a GET stream or DELETE. */
  method: string;
  tool: string | null;
}

/**
 * What a JSON-RPC body names, read from its bytes without building it: for each message, the
 * method, or `response` for an answer to the server, and the tool of a `tools/call`. The answer is
 * exactly what `JSON.parse` followed by note.ts `namedMessage` gives (test/unit/message-names.test.ts
 * holds the two to each other on valid and broken bodies alike), at a fraction of the cost: the
 * parse built every argument of every call only for the activity record to read two names, and
 * was the largest single cost Key2OAuth adds to a relayed message (about 9,000 of the 66,000
 * instructions above the node floor; docs/performance.md).
 *
 * The grammar is RFC 8259's, checked whole (a body that is not JSON names one `unknown` message,
 * as a failed parse did); the bytes are read as TextDecoder and JSON.parse read them: a leading
 * UTF-8 byte order mark is skipped, and a name is decoded with the same decoder (an invalid byte
 * in a string reads as U+FFFD, as before). Nesting is walked with a stack of its own, not the call
 * stack, so no depth of brackets can overflow it. Returns undefined for a body that is not JSON.
 */
export function namesInBody(bytes: Uint8Array): Named[] | undefined {
  const reader = new Reader(bytes);
  let at = reader.space(hasByteOrderMark(bytes) ? 3 : 0);
  const names: Named[] = [];
  if (bytes[at] === OPEN_ARRAY) {
    // A batch (JSON-RPC 2.0 §6): each element is a message; an empty batch names none.
    at = reader.space(at + 1);
    if (bytes[at] === CLOSE_ARRAY) at++;
    else {
      for (;;) {
        at = bytes[at] === OPEN_OBJECT ? reader.message(at, names) : reader.unknown(at, names);
        if (at < 0) return undefined;
        at = reader.space(at);
        if (bytes[at] === COMMA) at = reader.space(at + 1);
        else if (bytes[at] === CLOSE_ARRAY) {
          at++;
          break;
        } else return undefined;
      }
    }
  } else at = bytes[at] === OPEN_OBJECT ? reader.message(at, names) : reader.unknown(at, names);
  if (at < 0 || reader.space(at) !== bytes.length) return undefined;
  return names;
}

const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const MINUS = 0x2d;

/** Member names a message is read for, as bytes, to compare with a key that has no escape in it. */
const METHOD = bytesOf('method');
const PARAMS = bytesOf('params');
const NAME = bytesOf('name');
const RESULT = bytesOf('result');
const ERROR = bytesOf('error');
const KNOWN = [METHOD, PARAMS, NAME, RESULT, ERROR];

const decoder = new TextDecoder();

/** The `method` member: absent, or present with a value that is not a string. */
const NO_METHOD = 0;
const NOT_A_STRING = 1;

class Reader {
  readonly #bytes: Uint8Array;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  /** Past JSON's four whitespace bytes (RFC 8259 §2) from `at`. */
  space(at: number): number {
    const bytes = this.#bytes;
    for (;;) {
      const byte = bytes[at];
      if (byte !== 0x20 && byte !== 0x0a && byte !== 0x0d && byte !== 0x09) return at;
      at++;
    }
  }

  /** A value that is not an object where a message goes: one `unknown` message, as namedMessage names it. */
  unknown(at: number, names: Named[]): number {
    names.push({ method: 'unknown', tool: null });
    return this.value(at);
  }

  /**
   * The object at `at` (its `{`) as one message: `method` when it is a string, else `response`
   * when it has a `result` or an `error` member; `params.name` for a `tools/call`. A repeated
   * member counts by its last occurrence, as in JSON.parse. Returns the index past its `}`, or -1.
   */
  message(at: number, names: Named[]): number {
    const bytes = this.#bytes;
    let method: string | typeof NO_METHOD | typeof NOT_A_STRING = NO_METHOD;
    let answered = false;
    /** The last `params` member's `name`, when that member is an object and its name a string. */
    let tool: string | null = null;
    at = this.space(at + 1);
    if (bytes[at] === CLOSE_OBJECT) at++;
    else {
      for (;;) {
        const keyEnd = this.string(at);
        if (keyEnd < 0) return -1;
        const key = this.#memberName(at, keyEnd);
        at = this.space(keyEnd);
        if (bytes[at] !== COLON) return -1;
        at = this.space(at + 1);
        if (key === METHOD) {
          if (bytes[at] === QUOTE) {
            const end = this.string(at);
            if (end < 0) return -1;
            method = this.#text(at, end);
            at = end;
          } else {
            method = NOT_A_STRING;
            at = this.value(at);
          }
        } else if (key === PARAMS) {
          tool = null;
          if (bytes[at] === OPEN_OBJECT) {
            const read = this.#params(at);
            if (read === null) return -1;
            ({ at, tool } = read);
          } else at = this.value(at);
        } else {
          if (key === RESULT || key === ERROR) answered = true;
          at = this.value(at);
        }
        if (at < 0) return -1;
        at = this.space(at);
        if (bytes[at] === COMMA) at = this.space(at + 1);
        else if (bytes[at] === CLOSE_OBJECT) {
          at++;
          break;
        } else return -1;
      }
    }
    if (typeof method === 'string') names.push({ method, tool: method === 'tools/call' ? tool : null });
    else names.push({ method: answered ? 'response' : 'unknown', tool: null });
    return at;
  }

  /** The `params` object at `at`: its last `name` member when that is a string. */
  #params(at: number): { at: number; tool: string | null } | null {
    const bytes = this.#bytes;
    let tool: string | null = null;
    at = this.space(at + 1);
    if (bytes[at] === CLOSE_OBJECT) return { at: at + 1, tool };
    for (;;) {
      const keyEnd = this.string(at);
      if (keyEnd < 0) return null;
      const key = this.#memberName(at, keyEnd);
      at = this.space(keyEnd);
      if (bytes[at] !== COLON) return null;
      at = this.space(at + 1);
      if (key === NAME) {
        if (bytes[at] === QUOTE) {
          const end = this.string(at);
          if (end < 0) return null;
          tool = this.#text(at, end);
          at = end;
        } else {
          tool = null;
          at = this.value(at);
        }
      } else at = this.value(at);
      if (at < 0) return null;
      at = this.space(at);
      if (bytes[at] === COMMA) at = this.space(at + 1);
      else if (bytes[at] === CLOSE_OBJECT) return { at: at + 1, tool };
      else return null;
    }
  }

  /**
   * Past one whole value at `at` (no space before it), checked and not built: -1 when it is not
   * JSON. Objects and arrays are walked with `closers`, the brackets still open, innermost last.
   */
  value(at: number): number {
    const bytes = this.#bytes;
    const first = bytes[at];
    // Most values are scalars: no stack for them.
    if (first === QUOTE) return this.string(at);
    if (first !== OPEN_OBJECT && first !== OPEN_ARRAY) return first === MINUS || isDigit(first) ? this.#number(at) : this.#literal(at);
    const closers: number[] = [];
    for (;;) {
      // A value begins here.
      const byte = bytes[at];
      if (byte === OPEN_OBJECT || byte === OPEN_ARRAY) {
        const close = byte === OPEN_OBJECT ? CLOSE_OBJECT : CLOSE_ARRAY;
        at = this.space(at + 1);
        if (bytes[at] === close) at++;
        else {
          closers.push(close);
          if (close === CLOSE_OBJECT) {
            at = this.#memberStart(at);
            if (at < 0) return -1;
          }
          continue;
        }
      } else if (byte === QUOTE) at = this.string(at);
      else if (byte === MINUS || isDigit(byte)) at = this.#number(at);
      else at = this.#literal(at);
      if (at < 0) return -1;
      // The value ended: close what it ended, until a comma asks for the next one.
      for (;;) {
        if (closers.length === 0) return at;
        at = this.space(at);
        const close = closers[closers.length - 1]!;
        if (bytes[at] === close) {
          closers.pop();
          at++;
          continue;
        }
        if (bytes[at] !== COMMA) return -1;
        at = this.space(at + 1);
        if (close === CLOSE_OBJECT) {
          at = this.#memberStart(at);
          if (at < 0) return -1;
        }
        break;
      }
    }
  }

  /** Past a member's name and its colon, to where its value begins; -1 when there is none. */
  #memberStart(at: number): number {
    at = this.string(at);
    if (at < 0) return -1;
    at = this.space(at);
    return this.#bytes[at] === COLON ? this.space(at + 1) : -1;
  }

  /**
   * Past the string at `at` (its opening quote), checked as JSON.parse checks it: no raw control
   * character, and only the escapes of RFC 8259 §7. -1 when it is not a string.
   */
  string(at: number): number {
    const bytes = this.#bytes;
    if (bytes[at] !== QUOTE) return -1;
    at++;
    for (;;) {
      const byte = bytes[at];
      if (byte === QUOTE) return at + 1;
      if (byte === undefined || byte < 0x20) return -1;
      if (byte === BACKSLASH) {
        const escaped = bytes[at + 1];
        if (escaped === 0x75) {
          for (let digit = at + 2; digit < at + 6; digit++) if (!isHexDigit(bytes[digit])) return -1;
          at += 6;
          continue;
        }
        if (
          escaped !== QUOTE &&
          escaped !== BACKSLASH &&
          escaped !== 0x2f &&
          escaped !== 0x62 &&
          escaped !== 0x66 &&
          escaped !== 0x6e &&
          escaped !== 0x72 &&
          escaped !== 0x74
        )
          return -1;
        at += 2;
        continue;
      }
      at++;
    }
  }

  /** The text of the string between `start` (its opening quote) and `end` (past its closing one). */
  #text(start: number, end: number): string {
    const bytes = this.#bytes;
    const inside = bytes.subarray(start + 1, end - 1);
    // With an escape in it, JSON.parse reads it (the string is already checked); else its bytes are its text.
    return inside.includes(BACKSLASH) ? (JSON.parse(decoder.decode(bytes.subarray(start, end))) as string) : decoder.decode(inside);
  }

  /** Which of the names a message is read for the member name between `start` and `end` is, or null. */
  #memberName(start: number, end: number): Uint8Array | null {
    const length = end - start - 2;
    const bytes = this.#bytes;
    for (const known of KNOWN) {
      if (known.length !== length) continue;
      let same = true;
      for (let i = 0; i < length; i++)
        if (bytes[start + 1 + i] !== known[i]) {
          same = false;
          break;
        }
      if (same) return known;
    }
    // An escaped name may still spell one of them ("m\u0065thod" is "method" to JSON.parse).
    if (length > 0 && bytes.subarray(start + 1, end - 1).includes(BACKSLASH)) {
      const text = this.#text(start, end);
      for (const known of KNOWN) if (text === decoder.decode(known)) return known;
    }
    return null;
  }

  /** Past a number (RFC 8259 §6: `-`, no leading zero, a fraction and an exponent each with digits); -1 when it is not one. */
  #number(at: number): number {
    const bytes = this.#bytes;
    if (bytes[at] === MINUS) at++;
    if (bytes[at] === 0x30) at++;
    else if (isDigit(bytes[at]) && bytes[at] !== 0x30) while (isDigit(bytes[at])) at++;
    else return -1;
    if (bytes[at] === 0x2e) {
      at++;
      if (!isDigit(bytes[at])) return -1;
      while (isDigit(bytes[at])) at++;
    }
    if (bytes[at] === 0x65 || bytes[at] === 0x45) {
      at++;
      if (bytes[at] === 0x2b || bytes[at] === MINUS) at++;
      if (!isDigit(bytes[at])) return -1;
      while (isDigit(bytes[at])) at++;
    }
    return at;
  }

  /** Past `true`, `false` or `null`; -1 for anything else. */
  #literal(at: number): number {
    for (const literal of LITERALS) {
      let same = true;
      for (let i = 0; i < literal.length; i++)
        if (this.#bytes[at + i] !== literal[i]) {
          same = false;
          break;
        }
      if (same) return at + literal.length;
    }
    return -1;
  }
}

const LITERALS = [bytesOf('true'), bytesOf('false'), bytesOf('null')];

function bytesOf(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

function isDigit(byte: number | undefined): boolean {
  return byte !== undefined && byte >= 0x30 && byte <= 0x39;
}

function isHexDigit(byte: number | undefined): boolean {
  return byte !== undefined && ((byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x46) || (byte >= 0x61 && byte <= 0x66));
}

/** TextDecoder drops a leading UTF-8 byte order mark before JSON.parse ever saw the text. */
function hasByteOrderMark(bytes: Uint8Array): boolean {
  return bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
}
