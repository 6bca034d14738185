import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nameLargeMessage } from '../../src/activity/large-message.ts';
import { messagesOf, namedMessage } from '../../src/activity/note.ts';

/**
 * The activity record names a large message off its bytes (src/activity/large-message.ts) and
 * must name it exactly as parsing it would: the parse is the definition, so each case is judged
 * against `JSON.parse` of the decoded body and `namedMessage`, and the reader may only answer the
 * same or decline (the caller then parses).
 */
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function parsed(bytes: Uint8Array): unknown {
  let message: unknown;
  try {
    message = JSON.parse(decoder.decode(bytes));
  } catch {
    return { method: 'unknown', tool: null };
  }
  return Array.isArray(message) ? message.map(namedMessage) : namedMessage(message);
}

/** The reader's answer, which must be the parse's whenever it gives one; whether it gave one. */
function judge(bytes: Uint8Array): boolean {
  const read = nameLargeMessage(bytes);
  if (read !== undefined) assert.deepEqual(read, parsed(bytes), `read ${JSON.stringify(decoder.decode(bytes).slice(0, 200))}`);
  return read !== undefined;
}

const bytesOf = (text: string) => encoder.encode(text);

test('large messages: the usual shapes are named off the bytes, as the parse names them', () => {
  const big = 'x'.repeat(200_000);
  const cases = [
    { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'upload', arguments: { text: big } } },
    {
      jsonrpc: '2.0',
      id: 'a-1',
      method: 'tools/call',
      params: { arguments: { text: big, n: [1, -2.5e-3, 0, true, false, null] }, name: 'write_file' },
    },
    { jsonrpc: '2.0', id: 2, method: 'resources/read', params: { uri: big } },
    { jsonrpc: '2.0', method: 'notifications/message', params: { data: big } },
    { jsonrpc: '2.0', id: 3, result: { content: [{ type: 'text', text: big }] } },
    { jsonrpc: '2.0', id: 4, error: { code: -32000, message: big } },
    { jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 7, arguments: { text: big } } },
    { jsonrpc: '2.0', id: 6, method: 'tools/call', params: [big] },
    { jsonrpc: '2.0', id: 7, method: 42, params: { text: big } },
    { jsonrpc: '2.0', id: 8, params: { text: big } },
    { jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'outil/été', arguments: { text: `${big}\u{1F600}` } } },
    { jsonrpc: '2.0', id: 10, method: 'tools/call', params: { name: 'deep', arguments: { a: { b: { c: [[[{ d: big }]]] } } } } },
  ];
  for (const message of cases) assert.ok(judge(bytesOf(JSON.stringify(message))), `declined ${JSON.stringify(message).slice(0, 120)}`);
  // As the parse: the last of a repeated key counts, at the top and inside params.
  const repeated = `{"method":"ping","params":{"name":"a"},"method":"tools/call","params":{"name":"b","name":"c","arguments":"${big}"}}`;
  assert.ok(judge(bytesOf(repeated)));
  assert.deepEqual(nameLargeMessage(bytesOf(repeated)), { method: 'tools/call', tool: 'c' });
  // Whitespace of every kind around tokens, and a method with a UTF-8 name.
  assert.ok(judge(bytesOf(` \t\r\n{ "method" :\t"tools/call" ,\n"params":{ "name" : "ré" , "x" : "${big}" } }\r\n `)));
});

test('large messages: what the reader cannot be sure of is left to the parse', () => {
  const big = 'y'.repeat(100_000);
  const declined = [
    `[{"method":"tools/call","params":{"name":"a"}},{"method":"ping","x":"${big}"}]`, // a batch
    `\u{FEFF}{"method":"ping","x":"${big}"}`, // a byte-order mark, which the decoder drops
    `{"method":"tools\\/call","params":{"name":"a","x":"${big}"}}`, // an escape in the method
    `{"method":"tools/call","params":{"na\\u006de":"a","x":"${big}"}}`, // an escape in a key looked at
    `{"\\u006dethod":"ping","x":"${big}"}`,
    `{"method":"tools/call","params":{"name":"a\\nb","x":"${big}"}}`,
    `{"method":"ping","x":${'['.repeat(300)}${']'.repeat(300)},"y":"${big}"}`, // deeper than the reader goes
  ];
  for (const text of declined) {
    const bytes = bytesOf(text);
    assert.equal(nameLargeMessage(bytes), undefined, text.slice(0, 80));
    // And the record still names it, by parsing.
    assert.deepEqual(
      messagesOf('POST', bytes, () => null),
      [parsed(bytes)].flat(),
    );
  }
  // Escapes deep inside arguments are read, not declined.
  assert.ok(
    judge(bytesOf(`{"method":"tools/call","params":{"name":"a","arguments":{"k\\u00e9y":"\\"\\\\\\/\\b\\f\\n\\r\\t\\u12aF${big}"}}}`)),
  );
});

test('large messages: JSON the parse refuses is never named by the reader', () => {
  const big = 'z'.repeat(70_000);
  const broken = [
    `{"method":"ping","x":"${big}"`, // cut short
    `{"method":"ping","x":"${big}"}}`, // more after the value
    `{"method":"ping","x":"${big}"} x`,
    `{"method":"ping" "x":"${big}"}`,
    `{"method":"ping",,"x":"${big}"}`,
    `{"method":"ping","x":"${big}",}`,
    `{"method":"ping","x":["${big}",]}`,
    `{method:"ping","x":"${big}"}`,
    `{"method":"ping","x":"${big}\u0001"}`, // a control character inside a string
    `{"method":"ping","x":"${big}\\x"}`, // an escape JSON does not have
    `{"method":"ping","x":"${big}\\u12G4"}`,
    `{"method":"ping","n":01,"x":"${big}"}`,
    `{"method":"ping","n":1.,"x":"${big}"}`,
    `{"method":"ping","n":.5,"x":"${big}"}`,
    `{"method":"ping","n":-,"x":"${big}"}`,
    `{"method":"ping","n":1e,"x":"${big}"}`,
    `{"method":"ping","n":+1,"x":"${big}"}`,
    `{"method":"ping","b":tru,"x":"${big}"}`,
    `{"method":"ping","b":nulll,"x":"${big}"}`,
    `{"method":"ping","b":NaN,"x":"${big}"}`,
  ];
  for (const text of broken) {
    assert.throws(() => JSON.parse(text), SyntaxError, `the parse accepts ${text.slice(0, 60)}`);
    assert.equal(nameLargeMessage(bytesOf(text)), undefined, text.slice(0, 60));
    assert.deepEqual(
      messagesOf('POST', bytesOf(text), () => null),
      [{ method: 'unknown', tool: null }],
    );
  }
  // What the parse does accept at those places.
  for (const number of ['0', '-0', '1.5', '-12.25e+3', '7E-2', '1e5'])
    assert.ok(judge(bytesOf(`{"method":"ping","n":${number},"x":"${big}"}`)), number);
  // A malformed UTF-8 sequence inside a string decodes to U+FFFD, which the parse accepts.
  const malformed = new Uint8Array([...bytesOf(`{"method":"tools/call","params":{"name":"a`), 0xe2, 0x28, ...bytesOf(`b","x":"${big}"}}`)]);
  assert.ok(judge(malformed));
  assert.deepEqual(nameLargeMessage(malformed), { method: 'tools/call', tool: 'a\u{FFFD}(b' });
});

test('large messages: random damage to a message is named as the parse names it, or declined', () => {
  // A seeded generator: the same cases on every run.
  let seed = 0x2545f491;
  const random = (n: number) => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % n;
  };
  const alphabet = bytesOf('{}[]:,"\\ \t\n0123456789-+.eEtrufalsn/abcxyz');
  const seeds = [
    '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"a":[1,2.5,true,null],"b":"c"}}}',
    '{"jsonrpc":"2.0","id":2,"result":{"content":[{"type":"text","text":"ok"}]}}',
    '[{"method":"ping"},{"method":"tools/call","params":{"name":"x"}}]',
  ].map(bytesOf);
  let answered = 0;
  for (let i = 0; i < 20_000; i++) {
    const bytes = [...seeds[random(seeds.length)]!];
    for (let edits = 1 + random(3); edits > 0; edits--) {
      const at = random(bytes.length + 1);
      const kind = random(4);
      const byte = random(10) === 0 ? [0x01, 0x80, 0xc3, 0xff][random(4)]! : alphabet[random(alphabet.length)]!;
      if (kind === 0) bytes.splice(at, 1);
      else if (kind === 1) bytes.splice(at, 0, byte);
      else bytes[Math.min(at, bytes.length - 1)] = byte;
    }
    if (judge(new Uint8Array(bytes))) answered++;
  }
  // About a fifth of the damaged messages are still JSON the reader names (3,871 today): a reader
  // that always declined would pass everything else.
  assert.ok(answered > 2_000, `answered ${answered}`);
});

test('the activity record names a large tool call by its tool', () => {
  const body = bytesOf(
    JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'tools/call',
      params: { name: 'upload', arguments: { text: 'x'.repeat(512 * 1024) } },
    }),
  );
  assert.deepEqual(
    messagesOf('POST', body, () => null),
    [{ method: 'tools/call', tool: 'upload' }],
  );
});
