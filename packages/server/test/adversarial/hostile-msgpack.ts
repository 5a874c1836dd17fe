import { at } from '@pulse/protocol/test/element';
import type { Rng } from './fuzz-settings.js';
import * as mp from './msgpack-raw.js';

/**
 * Random MessagePack values of the kinds that break decoders and re-encoders: every
 * extension type, msgpackr's structured clones and records, nesting thousands deep,
 * lengths declared far past the data.
 */

const EXT_TYPES = [-1, 0, 0x42, 0x62, 0x65, 0x69, 0x70, 0x72, 0x73, 0x74, 0x75, 0x76, 0x78, 0x7f, 0x7e, 0x7d];

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};

function randomExt(rng: Rng): Buffer {
  const type = rng.bool(0.8) ? rng.pick(EXT_TYPES) : rng.range(-128, 127);
  const length = rng.pick([1, 2, 4, 8, 16, 0, 3, 12, 255, 256, 1024]);
  const form = rng.pick(['fix', 'ext8', 'ext16', 'ext32'] as const);
  return mp.ext(type, rng.bytes(length), form);
}

/** What each case of hostileBytes makes, to name inputs (and select them with PULSE_FUZZ_ONLY). */
const KINDS = [
  'random ext',
  'bigint128',
  'self-containing array',
  'typed array',
  'nested arrays',
  'nested maps',
  'timestamp',
  'huge declared length',
  'structured clone',
  'record',
  'dangling clone id',
  'odd float',
  'ext map keys',
  'bundled strings',
  'array of exts',
  'string',
];

/** A value small in bytes but hard on whoever decodes or re-encodes it, and what kind it is. */
export function hostileValueOf(rng: Rng): { kind: string; bytes: Buffer } {
  const k = rng.int(KINDS.length);
  return { kind: at(KINDS, k), bytes: hostileBytes(rng, k) };
}

export const hostileValue = (rng: Rng) => hostileValueOf(rng).bytes;

function hostileBytes(rng: Rng, kind: number): Buffer {
  switch (kind) {
    case 0:
      return randomExt(rng);
    case 1:
      return mp.bigint128();
    case 2:
      return mp.selfContainingArray();
    case 3:
      // A typed array over up to 32 KiB: a view whose buffer might be a shared slab.
      return mp.typedArray(rng.range(0, 12), rng.bytes(rng.pick([8, 64, 32 * 1024])));
    case 4:
      return mp.nestedArrays(rng.pick([3000, 10_000, 100_000]));
    case 5:
      return mp.nestedMaps(rng.pick([3000, 20_000]));
    case 6:
      // A timestamp with each of its lengths, and a bad one.
      return mp.ext(-1, rng.bytes(rng.pick([4, 8, 12, 5])));
    case 7:
      // Huge declared lengths, with a few bytes of data.
      return Buffer.concat([
        rng.pick([
          mp.strHeader(0xffffffff, true),
          mp.binHeader(0xffffffff, true),
          mp.arrayHeader(0xffffffff, true),
          mp.mapHeader(0xffffffff, true),
          mp.extHeader(rng.pick(EXT_TYPES), 0xffffffff),
          mp.strHeader(16 * 1024 * 1024 - 1, true),
        ]),
        rng.bytes(rng.range(0, 8)),
      ]);
    case 8:
      // msgpackr's structured clone of self-references, a Map, a Set, a Date, a RegExp, an Error.
      return mp.packStructured(structuredSample(rng));
    case 9:
      // A record definition (msgpackr's 0x72 "r" ext and record ids 0x40..0x7f) used at once.
      return Buffer.concat([
        mp.ext(0x72, Buffer.from([0x40])),
        mp.array([mp.str('a'), mp.str('b')]),
        Buffer.from([0x40]),
        mp.int(1),
        mp.int(2),
      ]);
    case 10:
      // An id extension pointing at itself, with no target after it.
      return Buffer.concat([mp.ext(0x69, u32(rng.u32())), mp.ext(0x70, u32(rng.u32()))]);
    case 11:
      return mp.float64(rng.pick([Number.NaN, Number.POSITIVE_INFINITY, -0, 1e308, 2 ** 64]));
    case 12:
      return mp.map([
        [randomExt(rng), mp.int(1)],
        [mp.nestedArrays(50), mp.nil()],
      ]);
    case 13:
      // Bundled strings (ext 0x62) declaring a length past the end.
      return Buffer.concat([mp.ext(0x62, u32(rng.pick([0, 8, 0x7fffffff]))), mp.str('x')]);
    case 14:
      return mp.array(Array.from({ length: rng.range(1, 5) }, () => randomExt(rng)));
    default:
      return mp.str(rng.string(rng.range(0, 40)));
  }
}

function structuredSample(rng: Rng): unknown {
  const self: unknown[] = [];
  self.push(self);
  const samples = [
    self,
    new Map<unknown, unknown>([[{ k: 1 }, [1, 2]]]),
    new Set([1, 'a', { b: 2 }]),
    new Date(rng.u32() * 1000),
    /a+$/gi,
    new Error('boom'),
    new Float64Array(rng.range(1, 4096)),
    new BigUint64Array(4),
    { big: 2n ** 127n },
    new Uint8ClampedArray(16),
    new DataView(new ArrayBuffer(16)),
  ];
  return { v: rng.pick(samples) };
}

/** `count` random bit flips, a cut, or an inserted byte: `bytes` slightly wrong. */
export function mutate(rng: Rng, bytes: Uint8Array): Buffer {
  const out = Buffer.from(bytes);
  if (out.length === 0) return rng.bytes(rng.range(1, 16));
  switch (rng.int(4)) {
    case 0:
      for (let i = rng.range(1, 4); i > 0; i--) {
        const pos = rng.int(out.length);
        out[pos] = at(out, pos) ^ (1 << rng.int(8));
      }
      return out;
    case 1:
      return out.subarray(0, rng.int(out.length));
    case 2: {
      const at = rng.int(out.length);
      return Buffer.concat([
        out.subarray(0, at),
        Buffer.from([rng.pick([0xc1, 0xdd, 0xdf, 0xc9, 0xdb, 0xff, 0x00])]),
        out.subarray(at),
      ]);
    }
    default:
      out[rng.int(out.length)] = rng.u32() & 0xff;
      return out;
  }
}
