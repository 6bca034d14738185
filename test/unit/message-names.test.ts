import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { namesInBody } from '../../src/activity/message-names.ts';
import { type Named, namedMessage } from '../../src/activity/note.ts';

/**
 * The activity record names messages by reading the body's bytes (message-names.ts) instead of
 * parsing it. What it promises is the names a parse gave: JSON.parse, then note.ts `namedMessage`
 * per message, and one `unknown` message for a body that is not JSON. Every case below is held
 * to that reference, valid or broken.
 */
function byParse(bytes: Uint8Array): Named[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return [{ method: 'unknown', tool: null }];
  }
  return (Array.isArray(parsed) ? parsed : [parsed]).map(namedMessage);
}

function byBytes(bytes: Uint8Array): Named[] {
  return namesInBody(bytes) ?? [{ method: 'unknown', tool: null }];
}

const encode = (text: string) => new TextEncoder().encode(text);

function same(text: string | Uint8Array): void {
  const bytes = typeof text === 'string' ? encode(text) : text;
  assert.deepEqual(byBytes(bytes), byParse(bytes), `for ${JSON.stringify(new TextDecoder().decode(bytes)).slice(0, 300)}`);
}

describe('activity names read from the bytes, as a parse names them', () => {
  test('the messages clients send: calls, notifications, answers, batches', () => {
    same('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}');
    same('{"jsonrpc":"2.0","method":"notifications/initialized"}');
    same('{"jsonrpc":"2.0","id":7,"result":{}}');
    same('{"jsonrpc":"2.0","id":7,"error":{"code":-32601,"message":"no"}}');
    same('[{"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"a"}}]');
    same('[]');
    same(' \r\n\t{ "method" : "tools/call" , "params" : { "name" : "spaced" } } \n');
    assert.deepEqual(byBytes(encode('{"method":"tools/call","params":{"name":"echo","arguments":{"x":[1,2,{"y":null}]}}}')), [
      { method: 'tools/call', tool: 'echo' },
    ]);
  });

  test('what only a careful reader gets right: repeats, escapes, other types, the byte order mark, invalid UTF-8', () => {
    for (const text of [
      '{"method":"a","method":"tools/call","params":{"name":"x"}}',
      '{"method":"tools/call","method":5}',
      '{"method":"tools/call","params":{"name":"x"},"params":null}',
      '{"method":"tools/call","params":{"name":"x","name":{"no":1}}}',
      '{"method":"tools/call","params":["name","x"]}',
      '{"method":"tools/call","params":{"na\\u006de":"escaped key"}}',
      '{"m\\u0065thod":"tools/call","params":{"name":"t\\u00e9l\\u00e9\\n"}}',
      '{"method":"tools\\/call","params":{"name":"x"}}',
      '{"method":"tools/call","params":{"name":"\\ud800 lone surrogate"}}',
      '{"method":null,"result":null}',
      '{"method":{},"error":1}',
      '{"result":1,"method":"late"}',
      '{"id":1}',
      '{}',
      '[{},1,"s",null,[],[{"method":"nested"}],{"method":"ok"}]',
      '"a string"',
      '42',
      'null',
      '{"method":"tools/call","params":{"name":"ünïcödé ✓"}}',
      '{"method":"x","params":{"name":"y"},"__proto__":{"method":"z"}}',
      '{"method":"tools/call","params":{"name":"x"},"":"empty key"}',
      '{"method":"n","n":[-0,0.5,-1.25e+10,3E-2,1e5,0]}',
    ])
      same(text);
    same(new Uint8Array([0xef, 0xbb, 0xbf, ...encode('{"method":"after a byte order mark"}')]));
    same(new Uint8Array([...encode('{"method":"tools/call","params":{"name":"a'), 0xff, 0xc3, ...encode('"}}')]));
    same(new Uint8Array([...encode('{"method":"ok"}'), 0xc2, 0xa0]));
  });

  test('a body that is not JSON names one unknown message', () => {
    for (const text of [
      '{',
      '{"method":"tools/call"',
      '{"method":"tools/call",}',
      '[{"method":"a"},]',
      '{"method":"a" "params":1}',
      '{"method":\'single\'}',
      '{method:"a"}',
      '{"method":"a\u0001control"}',
      '{"method":"bad \\x escape"}',
      '{"method":"short \\u12 escape"}',
      '{"method":"a"}{"method":"b"}',
      '{"method":"a"} x',
      '{"n":01}',
      '{"n":1.}',
      '{"n":.5}',
      '{"n":1e}',
      '{"n":-}',
      '{"n":+1}',
      '{"n":tru}',
      '{"n":nul}',
      '{"n":True}',
      '{"n":NaN}',
      '[',
      '[1 2]',
      ']',
      '\u00a0{"method":"a"}',
      '{"method":"unterminated',
      '{"a":[[[[}',
    ])
      same(text);
  });

  test('nesting deeper than any call stack is walked, not recursed', () => {
    const depth = 200_000;
    same(`{"method":"tools/call","params":{"name":"deep","arguments":${'['.repeat(depth)}${']'.repeat(depth)}}}`);
    same(`{"method":"deep","x":${'['.repeat(depth)}`);
  });

  test('thousands of generated messages, and every cut and corruption of them, name alike', () => {
    // A fixed seed: a failure names its input and happens again on the next run.
    let seed = 0x2545f491;
    const random = () => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) / 2 ** 32;
    };
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const strings = ['tools/call', 'tools/list', 'name', 'method', 'params', 'result', 'error', 'é', 'a"b', 'tab\there', '\\', ''];
    const value = (depth: number): unknown => {
      const kind = depth > 3 ? Math.floor(random() * 4) : Math.floor(random() * 6);
      if (kind === 0) return pick(strings);
      if (kind === 1) return pick([0, -1, 2.5, 1e21, -0.001]);
      if (kind === 2) return pick([true, false, null]);
      if (kind === 3) return pick(strings) + String(Math.floor(random() * 100));
      if (kind === 4) return Array.from({ length: Math.floor(random() * 4) }, () => value(depth + 1));
      return Object.fromEntries(Array.from({ length: Math.floor(random() * 4) }, () => [pick(strings), value(depth + 1)]));
    };
    const message = (): unknown => {
      const fields: [string, unknown][] = [['jsonrpc', '2.0']];
      if (random() < 0.8) fields.push(['id', Math.floor(random() * 1000)]);
      if (random() < 0.8) fields.push(['method', random() < 0.9 ? pick(['tools/call', 'tools/list', 'initialize', 'ping']) : value(2)]);
      if (random() < 0.7) fields.push(['params', random() < 0.8 ? { name: random() < 0.9 ? pick(strings) : value(2), arguments: value(1) } : value(1)]);
      if (random() < 0.2) fields.push([pick(['result', 'error']), value(1)]);
      // Member order varies, and a member may come twice (the last one counts).
      fields.sort(() => random() - 0.5);
      if (random() < 0.2) fields.push(fields[Math.floor(random() * fields.length)]!);
      return `{${fields.map(([name, v]) => `${JSON.stringify(name)}:${JSON.stringify(v)}`).join(random() < 0.5 ? ',' : ' , ')}}`;
    };
    let checked = 0;
    for (let i = 0; i < 2_000; i++) {
      const text = random() < 0.2 ? `[${Array.from({ length: Math.floor(random() * 4) }, message).join(',')}]` : String(message());
      const bytes = encode(text);
      same(bytes);
      checked++;
      // A cut, a byte changed, a byte dropped, a byte added: mostly broken, sometimes still JSON.
      const at = Math.floor(random() * bytes.length);
      same(bytes.subarray(0, at));
      const changed = bytes.slice();
      changed[at] = pick([0x22, 0x5c, 0x2c, 0x3a, 0x7b, 0x7d, 0x5b, 0x5d, 0x20, 0x30, 0x65, 0x2d, 0x01, 0xff, Math.floor(random() * 256)]);
      same(changed);
      same(new Uint8Array([...bytes.subarray(0, at), ...bytes.subarray(at + 1)]));
      same(new Uint8Array([...bytes.subarray(0, at), pick([0x2c, 0x22, 0x5d, 0x7d, 0x20]), ...bytes.subarray(at)]));
      checked += 4;
    }
    assert.equal(checked, 10_000);
  });
});
