import assert from 'node:assert/strict';
import { test } from 'node:test';
import { repeatsJudgedMember } from '../../src/mcp/repeated-members.ts';

/**
 * The tool judge refuses a message that repeats `method`, `params` or its `params`' `name`
 * (src/mcp/repeated-members.ts): an upstream that keeps the first of a repeated name would run
 * another tool than the one `JSON.parse` (the last) showed the judge.
 */

const bytesOf = (text: string) => new TextEncoder().encode(text);
const repeats = (text: string) => {
  JSON.parse(text.replace(/^\uFEFF/, '')); // the precondition: one JSON value
  return repeatsJudgedMember(bytesOf(text));
};

test('a judged name given twice is found, in a message and in each message of a batch', () => {
  for (const text of [
    '{"method":"a","method":"b"}',
    '{"params":{},"id":1,"params":{}}',
    '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_item","arguments":{},"name":"delete_item"}}',
    '{ "method" : "a" ,\n\t"method" : "b" }',
    // Written with escapes: the same name once decoded.
    '{"method":"tools/call","params":{"name":"get_item","n\\u0061me":"delete_item"}}',
    '{"met\\u0068od":"ping","method":"tools/call"}',
    '[{"method":"a"},{"method":"b","method":"c"}]',
    '[1,"x",{"params":{"name":"a","name":"b"}}]',
    // A long string (found by the runtime's byte search) ending in an escaped backslash.
    `{"x":"${'a'.repeat(70)}\\\\","method":"a","method":"b"}`,
    '\uFEFF{"method":"a","method":"b"}',
  ]) {
    assert.equal(repeats(text), true, text);
  }
});

test('repeats anywhere else, and judged names once per object, are not', () => {
  for (const text of [
    '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":{"name":"x","name":"y","method":"z","method":"w"}}}',
    '{"method":"a","params":{"name":"b"},"result":1,"result":2,"id":1,"id":2}',
    '[{"method":"a","params":{"name":"x"}},{"method":"b","params":{"name":"y"}}]',
    // Quotes, brackets and commas inside strings, and strings that end in an escaped backslash.
    '{"method":"a\\"},{\\"method","params":{"name":"x,\\"name\\":y"}}',
    '{"method":"a\\\\","params":{"name":"b\\\\\\\\"},"x":"\\\\"}',
    '{"x":{"method":1,"method":2},"params":[{"name":1},{"name":2}]}',
    '{"params":{"arguments":[{"name":1},{"name":2}],"name":"a"}}',
    `{"x":"${'a'.repeat(70)}\\",\\"method\\":1,\\"method\\":2","method":"a"}`,
    '"method"',
    '[[{"method":1,"method":2}]]',
    '{}',
    '[]',
  ]) {
    assert.equal(repeats(text), false, text);
  }
});

/** A JSON value whose objects may repeat names, built as pairs so the expected answer is known. */
type Value = { object: [string, Value][] } | { array: Value[] } | { text: string } | { number: number };

test('seeded random messages: found exactly when a judged name repeats', () => {
  let seed = 24;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const pick = <T>(items: T[]) => items[Math.floor(random() * items.length)]!;
  // Longer than what the walk scans byte by byte, with quotes and names inside.
  const LONG = `${'long '.repeat(15)}","method":1,"params":{"name":2}`;
  const KEYS = ['method', 'params', 'name', 'id', 'arguments', 'jsonrpc', 'x"y', 'a\\b', 'méthode'];
  const value = (depth: number): Value => {
    const kind = depth > 3 ? pick(['text', 'number']) : pick(['object', 'object', 'array', 'text', 'number']);
    if (kind === 'object') {
      return { object: Array.from({ length: Math.floor(random() * 5) }, () => [pick(KEYS), value(depth + 1)] as [string, Value]) };
    }
    if (kind === 'array') return { array: Array.from({ length: Math.floor(random() * 4) }, () => value(depth + 1)) };
    if (kind === 'text') return { text: pick(['', 'name', '"method"', '{"params":[', 'a\\"', '\\', 'é', ',:}]', LONG, `${LONG}\\`]) };
    return { number: Math.floor(random() * 1000) - 500 };
  };
  const space = () => pick(['', '', ' ', '\n', '\t ']);
  // A name is sometimes written with \u escapes, as a client may.
  const quoted = (text: string) => {
    const plain = JSON.stringify(text);
    return random() < 0.2 ? plain.replace(/[a-z]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`) : plain;
  };
  const write = (v: Value): string => {
    if ('object' in v) return `{${v.object.map(([k, m]) => `${space()}${quoted(k)}${space()}:${space()}${write(m)}${space()}`).join(',')}}`;
    if ('array' in v) return `[${v.array.map((item) => `${space()}${write(item)}${space()}`).join(',')}]`;
    if ('text' in v) return quoted(v.text);
    return String(v.number);
  };
  const count = (members: [string, Value][], key: string) => members.filter(([k]) => k === key).length;
  const messageRepeats = (v: Value): boolean => {
    if (!('object' in v)) return false;
    if (count(v.object, 'method') > 1 || count(v.object, 'params') > 1) return true;
    const params = v.object.find(([k]) => k === 'params')?.[1];
    return params !== undefined && 'object' in params && count(params.object, 'name') > 1;
  };
  const expected = (v: Value) => ('array' in v ? v.array.some(messageRepeats) : messageRepeats(v));

  let found = 0;
  for (let i = 0; i < 10_000; i++) {
    // Messages that mostly look like JSON-RPC, so the judged names come up often.
    const body = random() < 0.3 ? { array: Array.from({ length: 1 + Math.floor(random() * 3) }, () => value(0)) } : value(0);
    const text = write(body);
    const want = expected(body);
    if (want) found++;
    assert.equal(repeats(text), want, text);
  }
  assert.ok(found > 300, `the run must hold repeats to find (${found})`);
});
