import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Writable } from 'node:stream';
import * as wsModule from 'ws';
import { decodeFrame, FrameError } from '../src/native/decode.js';
import { encodeFrame } from '../src/native/encode.js';
import type { Frame } from '../src/native/frames.js';
import { FrameParser } from '../src/websocket/frame-parser.js';
import {
  binaryFrameInPlace,
  closeFrame,
  frame,
  headerSize,
  MAX_HEADER_SIZE,
  writeHeader,
} from '../src/websocket/frame-writer.js';
import { CloseCode, Opcode } from '../src/websocket/opcodes.js';
import { Rng } from './prng.js';
import { at } from './element.js';

// ws's Sender and Receiver are exported at run time but missing from @types/ws.
interface SenderFrameOptions {
  fin: boolean;
  opcode: number;
  mask: boolean;
  readOnly: boolean;
  rsv1: boolean;
  generateMask?: (mask: Buffer) => void;
}
interface WsInternals {
  Sender: { frame(data: Buffer, options: SenderFrameOptions): Buffer[] };
  Receiver: new (options: {
    isServer: boolean;
    maxPayload: number;
    binaryType?: string;
    allowSynchronousEvents?: boolean;
  }) => Writable;
}
const { Sender, Receiver } = wsModule as unknown as WsInternals;

type Event =
  | ['message', string, boolean] // hex payload, isText
  | ['ping', string]
  | ['pong', string]
  | ['close', number, string]
  | ['error', number];

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const msg = (data: Buffer | string, isText = typeof data === 'string'): Event => [
  'message',
  hex(Buffer.from(data)),
  isText,
];

const rng = new Rng(0x6455);

/** A masked client frame built by ws's own Sender (with a random, non-zero mask). */
function wsFrame(
  opcode: number,
  payload: Buffer | string,
  options: { fin?: boolean; rsv1?: boolean; mask?: boolean } = {},
): Buffer {
  const data = Buffer.from(payload); // Sender masks in place
  const parts = Sender.frame(data, {
    fin: options.fin ?? true,
    opcode,
    mask: options.mask ?? true,
    readOnly: false,
    rsv1: options.rsv1 ?? false,
    generateMask(mask) {
      mask.writeUInt32BE((rng.u32() | 1) >>> 0);
    },
  });
  return Buffer.concat(parts);
}

/** A hand-written frame, for headers ws's Sender refuses to produce. */
function rawFrame(options: {
  fin?: boolean;
  rsv?: number;
  opcode: number;
  payload?: Buffer;
  mask?: boolean;
  /** Force the 16-bit or 64-bit length form, or a specific 64-bit high word. */
  lengthForm?: 7 | 16 | 64;
  high?: number;
  declaredLength?: number;
}): Buffer {
  const payload = options.payload ?? Buffer.alloc(0);
  const length = options.declaredLength ?? payload.length;
  const form = options.lengthForm ?? (length < 126 ? 7 : length < 65536 ? 16 : 64);
  const mask = options.mask ?? true;
  const head = Buffer.alloc(2 + (form === 16 ? 2 : form === 64 ? 8 : 0) + (mask ? 4 : 0));
  head[0] = ((options.fin ?? true) ? 0x80 : 0) | ((options.rsv ?? 0) << 4) | options.opcode;
  head[1] = (mask ? 0x80 : 0) | (form === 7 ? length : form === 16 ? 126 : 127);
  if (form === 16) head.writeUInt16BE(length, 2);
  if (form === 64) {
    head.writeUInt32BE(options.high ?? 0, 2);
    head.writeUInt32BE(length >>> 0, 6);
  }
  const body = Buffer.from(payload);
  if (mask) {
    const key = rng.bytes(4);
    key.copy(head, head.length - 4);
    for (let i = 0; i < body.length; i++) body[i] = at(body, i) ^ at(key, i & 3);
  }
  return Buffer.concat([head, body]);
}

const closePayload = (code: number, reason: Buffer | string = '') =>
  Buffer.concat([Buffer.from([code >> 8, code & 0xff]), Buffer.from(reason)]);

interface OurRun {
  events: Event[];
  parser: FrameParser;
  /** Events delivered after an error or a close (must stay empty). */
  late: Event[];
}

function newParser(maxMessageSize: number, requireMask = true): OurRun {
  const run: OurRun = { events: [], late: [], parser: undefined as unknown as FrameParser };
  let ended = false;
  const record = (e: Event) => {
    (ended ? run.late : run.events).push(e);
    if (e[0] === 'error' || e[0] === 'close') ended = true;
  };
  run.parser = new FrameParser(
    {
      onMessage: (data, isText) => record(['message', hex(data), isText]),
      onPing: (data) => record(['ping', hex(data)]),
      onPong: (data) => record(['pong', hex(data)]),
      onClose: (code, reason) => record(['close', code, reason]),
      onProtocolError: (code) => record(['error', code]),
    },
    { maxMessageSize, requireMask },
  );
  return run;
}

/** Runs our parser over chunks; every chunk is a fresh copy (the parser unmasks in place). */
function ours(chunks: Buffer[], maxMessageSize = 1 << 20, requireMask = true): OurRun {
  const run = newParser(maxMessageSize, requireMask);
  for (const chunk of chunks) run.parser.push(Buffer.from(chunk));
  return run;
}

const statusCodeOf = (err: Error): number | undefined => {
  const sym = Object.getOwnPropertySymbols(err).find((s) => s.description === 'status-code');
  return sym ? (err as unknown as Record<symbol, number>)[sym] : undefined;
};

/** Runs ws's Receiver over the same chunks; its events normalised like ours. */
async function theirs(
  chunks: Buffer[],
  options: { isServer: boolean; maxPayload: number },
): Promise<Event[]> {
  const events: Event[] = [];
  const receiver = new Receiver({ ...options, binaryType: 'nodebuffer' });
  let done = false;
  receiver.on('message', (data: Buffer, isBinary: boolean) => events.push(['message', hex(data), !isBinary]));
  receiver.on('ping', (data: Buffer) => events.push(['ping', hex(data)]));
  receiver.on('pong', (data: Buffer) => events.push(['pong', hex(data)]));
  receiver.on('conclude', (code: number, reason: Buffer) => {
    done = true;
    events.push(['close', code, reason.toString('utf8')]);
  });
  receiver.on('error', (err: Error) => {
    const code = statusCodeOf(err);
    if (code !== undefined && !done) events.push(['error', code]);
    done = true;
  });
  for (const chunk of chunks) {
    if (done) break;
    receiver.write(Buffer.from(chunk));
  }
  await new Promise((resolve) => setImmediate(resolve));
  return events;
}

/** Our parser and ws's server-side Receiver agree, and both give `expected`. */
async function agree(chunks: Buffer[], expected: Event[], maxMessageSize = 1 << 20): Promise<void> {
  const run = ours(chunks, maxMessageSize);
  assert.deepEqual(run.events, expected, 'FrameParser events');
  assert.deepEqual(run.late, [], 'FrameParser emitted after an error or close');
  const wsEvents = await theirs(chunks, { isServer: true, maxPayload: maxMessageSize });
  assert.deepEqual(wsEvents, expected, 'ws Receiver events (is the expectation right?)');
}

const ascii = (n: number) => Buffer.alloc(n, 'abcdefghij'.repeat(10));

test('single frames: text, binary, empty, and every length form boundary', async () => {
  await agree([wsFrame(Opcode.Text, 'hello')], [msg('hello')]);
  await agree([wsFrame(Opcode.Text, 'héllo wörld €😀')], [msg('héllo wörld €😀')]);
  await agree([wsFrame(Opcode.Text, '')], [msg('', true)]);
  await agree([wsFrame(Opcode.Binary, Buffer.alloc(0))], [msg(Buffer.alloc(0), false)]);
  for (const size of [1, 2, 3, 4, 5, 124, 125, 126, 127, 65535, 65536, 70000]) {
    const bin = rng.bytes(size);
    await agree([wsFrame(Opcode.Binary, bin)], [msg(bin, false)]);
    const text = ascii(size);
    await agree([wsFrame(Opcode.Text, text)], [msg(text, true)]);
  }
});

test('non-minimal length encodings are accepted like ws does', async () => {
  const payload = Buffer.from('short');
  for (const lengthForm of [16, 64] as const) {
    await agree([rawFrame({ opcode: Opcode.Binary, payload, lengthForm })], [msg(payload, false)]);
  }
});

test('several messages in one chunk', async () => {
  const stream = Buffer.concat([
    wsFrame(Opcode.Text, 'one'),
    wsFrame(Opcode.Binary, Buffer.from([1, 2, 3])),
    wsFrame(Opcode.Ping, 'p'),
    wsFrame(Opcode.Text, 'two'),
  ]);
  await agree(
    [stream],
    [msg('one'), msg(Buffer.from([1, 2, 3]), false), ['ping', hex(Buffer.from('p'))], msg('two')],
  );
});

const fragmentedWithControls = () => [
  wsFrame(Opcode.Text, 'Hel', { fin: false }),
  wsFrame(Opcode.Ping, 'ping-1'),
  wsFrame(Opcode.Continuation, 'lo', { fin: false }),
  wsFrame(Opcode.Pong, ''),
  wsFrame(Opcode.Continuation, '', { fin: false }),
  wsFrame(Opcode.Ping, ''),
  wsFrame(Opcode.Continuation, ' world', { fin: true }),
];
const fragmentedEvents: Event[] = [
  ['ping', hex(Buffer.from('ping-1'))],
  ['pong', ''],
  ['ping', ''],
  msg('Hello world'),
];

test('fragmented messages with interleaved control frames', async () => {
  await agree(fragmentedWithControls(), fragmentedEvents);
  await agree([Buffer.concat(fragmentedWithControls())], fragmentedEvents);
  // Binary fragments, some empty, one large.
  const big = rng.bytes(70000);
  await agree(
    [
      wsFrame(Opcode.Binary, Buffer.alloc(0), { fin: false }),
      wsFrame(Opcode.Continuation, big.subarray(0, 1000), { fin: false }),
      wsFrame(Opcode.Continuation, big.subarray(1000), { fin: false }),
      wsFrame(Opcode.Continuation, Buffer.alloc(0), { fin: true }),
    ],
    [msg(big, false)],
  );
});

test('a multi-byte character split across fragments is valid UTF-8', async () => {
  const text = Buffer.from('€uro');
  await agree(
    [
      wsFrame(Opcode.Text, text.subarray(0, 1), { fin: false }),
      wsFrame(Opcode.Continuation, text.subarray(1, 2), { fin: false }),
      wsFrame(Opcode.Continuation, text.subarray(2), { fin: true }),
    ],
    [msg('€uro')],
  );
});

test('close frames: with code and reason, code only, no payload', async () => {
  await agree([wsFrame(Opcode.Close, closePayload(1000, 'bye'))], [['close', 1000, 'bye']]);
  await agree([wsFrame(Opcode.Close, closePayload(1001))], [['close', 1001, '']]);
  await agree([wsFrame(Opcode.Close, closePayload(4999, 'é'.repeat(61)))], [['close', 4999, 'é'.repeat(61)]]);
  await agree([wsFrame(Opcode.Close, Buffer.alloc(0))], [['close', 1005, '']]);
  for (const code of [
    1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4000, 4999,
  ]) {
    await agree([wsFrame(Opcode.Close, closePayload(code, 'r'))], [['close', code, 'r']]);
  }
});

test('nothing is emitted after a close frame', async () => {
  const stream = Buffer.concat([
    wsFrame(Opcode.Text, 'before'),
    wsFrame(Opcode.Close, closePayload(1000)),
    wsFrame(Opcode.Text, 'after'),
    wsFrame(Opcode.Ping, 'x'),
    Buffer.from([0xff, 0xff, 0xff]), // garbage
  ]);
  await agree([stream], [msg('before'), ['close', 1000, '']]);
  const run = ours([stream, wsFrame(Opcode.Text, 'later')]);
  assert.deepEqual(run.late, []);
  assert.equal(run.parser.bufferedBytes, 0);
});

test('chunked input at every split point gives the same events', () => {
  const streams: Array<[Buffer, Event[]]> = [
    [wsFrame(Opcode.Text, 'hello'), [msg('hello')]],
    [Buffer.concat(fragmentedWithControls()), fragmentedEvents],
    [wsFrame(Opcode.Binary, ascii(200)), [msg(ascii(200), false)]],
    [
      Buffer.concat([wsFrame(Opcode.Text, 'a'), wsFrame(Opcode.Close, closePayload(1000, 'done'))]),
      [msg('a'), ['close', 1000, 'done']],
    ],
    [wsFrame(Opcode.Text, Buffer.from([0xe2, 0x82])), [['error', CloseCode.InvalidPayload]]],
  ];
  for (const [stream, expected] of streams) {
    for (let a = 0; a <= stream.length; a++) {
      const run = ours([stream.subarray(0, a), stream.subarray(a)]);
      assert.deepEqual(run.events, expected, `split at ${a}`);
      assert.deepEqual(run.late, []);
    }
    // Three-way splits over the small streams.
    if (stream.length < 80) {
      for (let a = 0; a <= stream.length; a++) {
        for (let b = a; b <= stream.length; b++) {
          const run = ours([stream.subarray(0, a), stream.subarray(a, b), stream.subarray(b)]);
          assert.deepEqual(run.events, expected, `split at ${a}/${b}`);
        }
      }
    }
    const bytewise = ours([...stream].map((byte) => Buffer.from([byte])));
    assert.deepEqual(bytewise.events, expected, 'one byte at a time');
    assert.equal(bytewise.parser.bufferedBytes, 0);
  }
});

test('random streams in random chunks agree with ws', async () => {
  const local = new Rng(2024);
  for (let trial = 0; trial < 40; trial++) {
    const frames: Buffer[] = [];
    const expected: Event[] = [];
    const count = local.range(1, 10);
    for (let i = 0; i < count; i++) {
      const kind = local.int(4);
      if (kind === 0) {
        const text = local.string(local.int(300));
        frames.push(wsFrame(Opcode.Text, text));
        expected.push(msg(text));
      } else if (kind === 1) {
        const bin = local.bytes(local.bool(0.9) ? local.int(300) : local.int(70000));
        frames.push(wsFrame(Opcode.Binary, bin));
        expected.push(msg(bin, false));
      } else if (kind === 2) {
        const data = local.bytes(local.int(126));
        frames.push(wsFrame(Opcode.Ping, data));
        expected.push(['ping', hex(data)]);
      } else {
        const parts = local.range(2, 5);
        const whole = local.bytes(local.int(500));
        let pos = 0;
        for (let p = 0; p < parts; p++) {
          const end = p === parts - 1 ? whole.length : local.range(pos, whole.length);
          frames.push(
            wsFrame(p === 0 ? Opcode.Binary : Opcode.Continuation, whole.subarray(pos, end), {
              fin: p === parts - 1,
            }),
          );
          pos = end;
          if (local.bool(0.3) && p < parts - 1) {
            frames.push(wsFrame(Opcode.Pong, 'pong'));
            expected.push(['pong', hex(Buffer.from('pong'))]);
          }
        }
        expected.push(msg(whole, false));
      }
    }
    const stream = Buffer.concat(frames);
    const chunks = local.split(stream, local.pick([1, 3, 17, 200, 5000, stream.length]));
    const run = ours(chunks);
    assert.deepEqual(run.events, expected, `trial ${trial}`);
    assert.equal(run.parser.bufferedBytes, 0);
    assert.deepEqual(
      await theirs(chunks, { isServer: true, maxPayload: 1 << 20 }),
      expected,
      `ws, trial ${trial}`,
    );
  }
});

test('message views stay valid after later input', () => {
  const kept: Buffer[] = [];
  const parser = new FrameParser(
    {
      onMessage: (data) => kept.push(data),
      onPing() {},
      onPong() {},
      onClose() {},
      onProtocolError: (code) => assert.fail(`protocol error ${code}`),
    },
    { maxMessageSize: 1 << 20 },
  );
  const first = wsFrame(Opcode.Binary, Buffer.from('first message'));
  const second = wsFrame(Opcode.Binary, Buffer.from('second message'));
  parser.push(first.subarray(0, 5));
  parser.push(Buffer.concat([first.subarray(5), second.subarray(0, 7)]));
  parser.push(second.subarray(7));
  parser.push(wsFrame(Opcode.Text, 'h', { fin: false }));
  parser.push(wsFrame(Opcode.Continuation, 'i', { fin: true }));
  assert.deepEqual(
    kept.map((b) => b.toString()),
    ['first message', 'second message', 'hi'],
  );
});

// ---------------------------------------------------------------------------------------------
// Protocol errors.

async function refused(chunks: Buffer[], code: number, maxMessageSize = 1 << 20): Promise<void> {
  // Whatever follows the offending frame is ignored.
  const trailing = [wsFrame(Opcode.Text, 'after'), wsFrame(Opcode.Close, closePayload(1000))];
  await agree([...chunks, ...trailing], [['error', code]], maxMessageSize);
  const run = ours([Buffer.concat([...chunks, ...trailing])], maxMessageSize);
  assert.deepEqual(run.events, [['error', code]]);
  assert.deepEqual(run.late, []);
  assert.equal(run.parser.bufferedBytes, 0);
}

test('unmasked client frames are refused', async () => {
  await refused([wsFrame(Opcode.Text, 'hi', { mask: false })], CloseCode.ProtocolError);
  await refused([wsFrame(Opcode.Ping, '', { mask: false })], CloseCode.ProtocolError);
  await refused(
    [wsFrame(Opcode.Text, 'a', { fin: false }), wsFrame(Opcode.Continuation, 'b', { mask: false })],
    CloseCode.ProtocolError,
  );
});

test('reserved bits are refused', async () => {
  await refused([wsFrame(Opcode.Text, 'hi', { rsv1: true })], CloseCode.ProtocolError);
  for (const rsv of [1, 2, 3, 4, 7]) {
    await refused(
      [rawFrame({ rsv, opcode: Opcode.Binary, payload: Buffer.from('x') })],
      CloseCode.ProtocolError,
    );
  }
});

test('unknown opcodes are refused', async () => {
  for (const opcode of [3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf]) {
    await refused([rawFrame({ opcode, payload: Buffer.from('x') })], CloseCode.ProtocolError);
  }
});

test('fragmented or oversized control frames are refused', async () => {
  for (const opcode of [Opcode.Ping, Opcode.Pong, Opcode.Close]) {
    await refused([rawFrame({ opcode, fin: false, payload: closePayload(1000) })], CloseCode.ProtocolError);
    await refused([rawFrame({ opcode, payload: Buffer.alloc(126, 0x61) })], CloseCode.ProtocolError);
  }
  // 125 bytes is the largest allowed control payload.
  await agree([wsFrame(Opcode.Ping, ascii(125))], [['ping', hex(ascii(125))]]);
});

test('continuation without a started message is refused', async () => {
  await refused([wsFrame(Opcode.Continuation, 'x')], CloseCode.ProtocolError);
  await refused([wsFrame(Opcode.Continuation, 'x', { fin: false })], CloseCode.ProtocolError);
  // After a message has been completed, too.
  await agree(
    [
      wsFrame(Opcode.Text, 'a', { fin: false }),
      wsFrame(Opcode.Continuation, 'b'),
      wsFrame(Opcode.Continuation, 'c'),
    ],
    [msg('ab'), ['error', CloseCode.ProtocolError]],
  );
});

test('a new message during a fragmented one is refused', async () => {
  for (const opcode of [Opcode.Text, Opcode.Binary]) {
    await refused(
      [wsFrame(Opcode.Binary, 'a', { fin: false }), wsFrame(opcode, 'b', { fin: true })],
      CloseCode.ProtocolError,
    );
  }
});

test('messages over maxMessageSize are refused with 1009; exactly the limit is fine', async () => {
  const max = 1000;
  await agree([wsFrame(Opcode.Binary, ascii(max))], [msg(ascii(max), false)], max);
  await refused([wsFrame(Opcode.Binary, ascii(max + 1))], CloseCode.MessageTooBig, max);
  await refused([wsFrame(Opcode.Text, ascii(70000))], CloseCode.MessageTooBig, max);
  // Over the limit after reassembly.
  await agree(
    [wsFrame(Opcode.Binary, ascii(600), { fin: false }), wsFrame(Opcode.Continuation, ascii(400))],
    [msg(ascii(1000), false)],
    max,
  );
  await refused(
    [wsFrame(Opcode.Binary, ascii(600), { fin: false }), wsFrame(Opcode.Continuation, ascii(401))],
    CloseCode.MessageTooBig,
    max,
  );
  // Control frames do not count towards the message size.
  await agree(
    [
      wsFrame(Opcode.Binary, ascii(950), { fin: false }),
      wsFrame(Opcode.Ping, ascii(100)),
      wsFrame(Opcode.Continuation, ascii(50)),
    ],
    [['ping', hex(ascii(100))], msg(ascii(1000), false)],
    max,
  );
  // A 64-bit length with the high word set.
  await refused(
    [rawFrame({ opcode: Opcode.Binary, payload: Buffer.from('x'), lengthForm: 64, high: 1 })],
    CloseCode.MessageTooBig,
    max,
  );
});

test('an oversized message is detected from its header, before the payload arrives', () => {
  const max = 1000;
  const cases: Array<[string, Buffer]> = [
    ['7-bit length', rawFrame({ opcode: Opcode.Binary, declaredLength: 100 }).subarray(0, 2)],
    ['16-bit length', rawFrame({ opcode: Opcode.Binary, declaredLength: 2000 }).subarray(0, 4)],
    ['64-bit length', rawFrame({ opcode: Opcode.Binary, declaredLength: 65536 }).subarray(0, 10)],
    ['64-bit 4 GiB', rawFrame({ opcode: Opcode.Binary, declaredLength: 0xffffffff }).subarray(0, 10)],
    [
      'huge continuation',
      rawFrame({ opcode: Opcode.Continuation, declaredLength: 0xffffffff }).subarray(0, 10),
    ],
  ];
  for (const [name, header] of cases) {
    const limit = name === '7-bit length' ? 50 : max;
    const run = newParser(limit);
    // All but the last byte of the header: nothing yet.
    run.parser.push(Buffer.from(header.subarray(0, header.length - 1)));
    assert.deepEqual(run.events, [], `${name}: early`);
    run.parser.push(Buffer.from(header.subarray(header.length - 1)));
    if (name === 'huge continuation') {
      // Over the limit wins over "continuation without a message": either way the connection closes.
      assert.equal(run.events.length, 1);
      assert.equal(at(run.events, 0)[0], 'error');
    } else {
      assert.deepEqual(run.events, [['error', CloseCode.MessageTooBig]], name);
    }
    assert.equal(run.parser.bufferedBytes, 0, `${name}: nothing buffered`);
  }
  // A continuation header that takes a fragmented message over the limit.
  const run = newParser(max);
  run.parser.push(wsFrame(Opcode.Binary, ascii(900), { fin: false }));
  assert.deepEqual(run.events, []);
  run.parser.push(rawFrame({ opcode: Opcode.Continuation, declaredLength: 101 }).subarray(0, 2));
  assert.deepEqual(run.events, [['error', CloseCode.MessageTooBig]]);
  assert.equal(run.parser.bufferedBytes, 0, 'fragments released');
});

test('invalid UTF-8 in text messages is refused with 1007', async () => {
  const invalid = [
    [0xff],
    [0xc0, 0x80], // overlong NUL
    [0xed, 0xa0, 0x80], // UTF-16 surrogate
    [0xe2, 0x82], // truncated
    [0xf4, 0x90, 0x80, 0x80], // beyond U+10FFFF
    [0x61, 0x80, 0x62], // lone continuation byte
  ];
  for (const bytes of invalid) {
    await refused([wsFrame(Opcode.Text, Buffer.from(bytes))], CloseCode.InvalidPayload);
    await refused(
      [
        wsFrame(Opcode.Text, Buffer.from('ok'), { fin: false }),
        wsFrame(Opcode.Continuation, Buffer.from(bytes), { fin: true }),
      ],
      CloseCode.InvalidPayload,
    );
  }
  // The same bytes are fine in a binary message.
  await agree([wsFrame(Opcode.Binary, Buffer.from([0xff]))], [msg(Buffer.from([0xff]), false)]);
});

test('invalid close frames are refused', async () => {
  for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535]) {
    await refused([wsFrame(Opcode.Close, closePayload(code))], CloseCode.ProtocolError);
  }
  await refused([wsFrame(Opcode.Close, Buffer.from([0x03]))], CloseCode.ProtocolError);
  await refused([wsFrame(Opcode.Close, closePayload(1000, Buffer.from([0xc3])))], CloseCode.InvalidPayload);
});

test('after a protocol error nothing else is emitted, even from later pushes', () => {
  const run = newParser(1 << 20);
  run.parser.push(
    Buffer.concat([
      wsFrame(Opcode.Text, 'ok'),
      wsFrame(Opcode.Text, 'bad', { mask: false }),
      wsFrame(Opcode.Text, 'after'),
    ]),
  );
  run.parser.push(wsFrame(Opcode.Ping, 'p'));
  run.parser.push(wsFrame(Opcode.Close, closePayload(1000)));
  assert.deepEqual(run.events, [msg('ok'), ['error', CloseCode.ProtocolError]]);
  assert.deepEqual(run.late, []);
  assert.equal(run.parser.bufferedBytes, 0);
});

test('stop() discards buffered data and ignores later input', () => {
  const run = newParser(1 << 20);
  const frameBytes = wsFrame(Opcode.Binary, ascii(300), { fin: false });
  run.parser.push(frameBytes);
  run.parser.push(wsFrame(Opcode.Continuation, 'x', { fin: false }).subarray(0, 3));
  assert.ok(run.parser.bufferedBytes >= 300);
  run.parser.stop();
  assert.equal(run.parser.bufferedBytes, 0);
  run.parser.push(wsFrame(Opcode.Text, 'ignored'));
  assert.deepEqual(run.events, []);
});

test('requireMask: false accepts unmasked frames and refuses masked ones', () => {
  const plain = ours([frame(Opcode.Text, Buffer.from('server'))], 1 << 20, false);
  assert.deepEqual(plain.events, [msg('server')]);
  const masked = ours([wsFrame(Opcode.Text, 'client')], 1 << 20, false);
  assert.deepEqual(masked.events, [['error', CloseCode.ProtocolError]]);
});

// ---------------------------------------------------------------------------------------------
// The reverse direction: frames written by frame-writer.ts, read by ws as a client.

const clientSide = (chunks: Buffer[]) => theirs(chunks, { isServer: false, maxPayload: 0 });

test('frame() output is read by ws as the same messages', async () => {
  for (const size of [0, 1, 125, 126, 127, 65535, 65536, 70000]) {
    const bin = rng.bytes(size);
    assert.deepEqual(await clientSide([frame(Opcode.Binary, bin)]), [msg(bin, false)], `binary ${size}`);
    const text = ascii(size);
    assert.deepEqual(await clientSide([frame(Opcode.Text, text)]), [msg(text, true)], `text ${size}`);
    // Our own parser agrees (in client mode).
    assert.deepEqual(ours([frame(Opcode.Binary, bin)], 1 << 20, false).events, [msg(bin, false)]);
  }
  assert.deepEqual(await clientSide([frame(Opcode.Ping, Buffer.from('p'))]), [
    ['ping', hex(Buffer.from('p'))],
  ]);
  assert.deepEqual(await clientSide([frame(Opcode.Pong, Buffer.alloc(0))]), [['pong', '']]);
  // Payload given as a plain Uint8Array view.
  const backing = new Uint8Array([9, 9, 1, 2, 3, 9]);
  assert.deepEqual(await clientSide([frame(Opcode.Binary, backing.subarray(2, 5))]), [
    msg(Buffer.from([1, 2, 3]), false),
  ]);
});

test('frame() headers match the ones ws writes', () => {
  for (const size of [0, 1, 125, 126, 65535, 65536, 100000]) {
    for (const opcode of [Opcode.Text, Opcode.Binary, Opcode.Ping, Opcode.Close]) {
      if (opcode >= 0x8 && size > 125) continue;
      const payload = Buffer.alloc(size, 0x41);
      const theirHeader = at(
        Sender.frame(payload, {
          fin: true,
          opcode,
          mask: false,
          readOnly: false,
          rsv1: false,
        }),
        0,
      );
      const mine = frame(opcode, payload);
      assert.equal(headerSize(size), theirHeader.length, `headerSize(${size})`);
      assert.ok(
        mine.subarray(0, theirHeader.length).equals(theirHeader),
        `header for ${size} bytes, opcode ${opcode}`,
      );
      assert.equal(mine.length, theirHeader.length + size);
      assert.ok(mine.subarray(theirHeader.length).equals(payload));
    }
  }
});

test('headerSize and writeHeader at an offset', () => {
  assert.deepEqual([0, 125, 126, 65535, 65536, 2 ** 32, 2 ** 40].map(headerSize), [2, 2, 4, 4, 10, 10, 10]);
  const target = Buffer.alloc(20, 0xee);
  assert.equal(writeHeader(target, 3, Opcode.Binary, 2 ** 32 + 5), 10);
  assert.equal(target[2], 0xee, 'nothing written before the offset');
  assert.equal(target[3], 0x82);
  assert.equal(target[4], 127);
  assert.equal(target.readUInt32BE(5), 1);
  assert.equal(target.readUInt32BE(9), 5);
  assert.equal(target[13], 0xee, 'nothing written after the header');
  assert.equal(writeHeader(target, 0, Opcode.Text, 300), 4);
  assert.deepEqual([...target.subarray(0, 4)], [0x81, 126, 0x01, 0x2c]);
  assert.equal(writeHeader(target, 1, Opcode.Pong, 7), 2);
  assert.deepEqual([...target.subarray(1, 3)], [0x8a, 7]);
});

test('closeFrame() is read by ws as the same close', async () => {
  assert.deepEqual(await clientSide([closeFrame(1000, 'bye')]), [['close', 1000, 'bye']]);
  assert.deepEqual(await clientSide([closeFrame(4000)]), [['close', 4000, '']]);
  assert.deepEqual(await clientSide([closeFrame(CloseCode.MessageTooBig, 'x'.repeat(200))]), [
    ['close', 1009, 'x'.repeat(123)],
  ]);
  const own = ours([closeFrame(1001, 'going')], 1 << 20, false);
  assert.deepEqual(own.events, [['close', 1001, 'going']]);
});

test('closeFrame() truncates long reasons to 123 bytes on a character boundary', async () => {
  for (const reason of [
    'é'.repeat(100),
    '€'.repeat(60),
    '😀'.repeat(40),
    `a${'😀'.repeat(40)}`,
    `ab${'€'.repeat(50)}`,
  ]) {
    const bytes = closeFrame(1000, reason);
    const payloadLength = at(bytes, 1);
    assert.ok(payloadLength <= 125, 'control frame payload limit');
    const reasonBytes = bytes.subarray(4);
    assert.ok(
      reasonBytes.length <= 123 && reasonBytes.length >= 120,
      `reason of ${reasonBytes.length} bytes`,
    );
    const events = await clientSide([bytes]);
    assert.equal(events.length, 1);
    assert.equal(
      at(events, 0)[0],
      'close',
      `ws refused the close frame for ${reason.slice(0, 4)}...: ${events[0]}`,
    );
    const got = at(events, 0)[2] as string;
    assert.ok(reason.startsWith(got), 'the reason is a prefix of the original');
    assert.equal(Buffer.byteLength(got), reasonBytes.length);
    // Our own parser accepts it as well.
    assert.deepEqual(ours([bytes], 1 << 20, false).events, [['close', 1000, got]]);
  }
  // Short reasons are kept whole.
  assert.deepEqual(await clientSide([closeFrame(1000, 'é'.repeat(61))]), [['close', 1000, 'é'.repeat(61)]]);
});

const NATIVE_FRAMES: Frame[] = [
  { type: 'ping', timestamp: 5 },
  { type: 'publish', channel: 'c', event: 'e', payload: Buffer.alloc(100, 1) },
  { type: 'publish', channel: 'c', payload: Buffer.alloc(200, 2) },
  { type: 'publish', channel: 'c', payload: Buffer.alloc(70000, 3) },
];

test('binaryFrameInPlace() wraps an encoded native frame without copying', async () => {
  for (const nativeFrame of NATIVE_FRAMES) {
    const plain = encodeFrame(nativeFrame);
    const withRoom = encodeFrame(nativeFrame, MAX_HEADER_SIZE);
    const wsBytes = binaryFrameInPlace(withRoom, MAX_HEADER_SIZE);
    assert.equal(wsBytes.buffer, withRoom.buffer, 'a view of the same memory');
    assert.equal(wsBytes.length, headerSize(plain.length) + plain.length);
    const events = await clientSide([wsBytes]);
    assert.deepEqual(events, [msg(plain, false)]);
    const decoded = decodeFrame(plain.subarray(4));
    assert.ok(!(decoded instanceof FrameError));
    assert.equal(decoded.type, nativeFrame.type);
  }
  // Exactly enough headroom, too little headroom.
  const payload = Buffer.alloc(300, 7);
  const exact = Buffer.concat([Buffer.alloc(4), payload]);
  const view = binaryFrameInPlace(exact, 4);
  assert.equal(view.length, exact.length);
  assert.deepEqual(await clientSide([view]), [msg(payload, false)]);
  assert.throws(() => binaryFrameInPlace(Buffer.concat([Buffer.alloc(2), payload]), 2), RangeError);
  assert.throws(() => binaryFrameInPlace(Buffer.alloc(9 + 70000), 9), RangeError);
  assert.equal(binaryFrameInPlace(Buffer.alloc(2), 2).length, 2, 'empty payload');
});

test('a stream of our frames in random chunks is read by ws in order', async () => {
  const local = new Rng(77);
  const frames: Buffer[] = [];
  const expected: Event[] = [];
  for (let i = 0; i < 30; i++) {
    const data = local.bytes(local.bool(0.9) ? local.int(200) : local.int(70000));
    if (local.bool(0.2)) {
      const ping = data.subarray(0, Math.min(data.length, 125));
      frames.push(frame(Opcode.Ping, ping));
      expected.push(['ping', hex(ping)]);
    } else {
      frames.push(frame(Opcode.Binary, data));
      expected.push(msg(data, false));
    }
  }
  frames.push(closeFrame(1000, 'end'));
  expected.push(['close', 1000, 'end']);
  const chunks = local.split(Buffer.concat(frames), 1500);
  assert.deepEqual(await clientSide(chunks), expected);
  assert.deepEqual(ours(chunks, 1 << 20, false).events, expected);
});
