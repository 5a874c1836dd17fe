import { at } from '@pulse/protocol/test/element';
import { Packr } from 'msgpackr';

/**
 * MessagePack written byte by byte, so that a test can say exactly what a hostile client
 * sends: every extension type, declared lengths that the data does not back, nesting
 * deeper than any encoder would write.
 */

const u8 = (...bytes: number[]) => Buffer.from(bytes);

function be(value: number, width: 1 | 2 | 4): Buffer {
  const out = Buffer.alloc(width);
  if (width === 1) out.writeUInt8(value);
  else if (width === 2) out.writeUInt16BE(value);
  else out.writeUInt32BE(value >>> 0);
  return out;
}

/** The smallest header of a str, bin, array or map of `length`, or the widest when `wide`. */
function sized(length: number, small: number | undefined, smallMax: number, codes: number[], wide = false) {
  if (!wide && small !== undefined && length <= smallMax) return u8(small | length);
  const widths = [1, 2, 4] as const;
  for (let i = 0; i < codes.length; i++) {
    const width = widths[i + (3 - codes.length)] as 1 | 2 | 4; // codes are the last 1 to 3 widths
    if (wide ? i === codes.length - 1 : length < 2 ** (8 * width))
      return Buffer.concat([u8(at(codes, i)), be(length, width)]);
  }
  throw new RangeError(`length ${length} does not fit MessagePack`);
}

export const strHeader = (length: number, wide = false) => sized(length, 0xa0, 31, [0xd9, 0xda, 0xdb], wide);
export const binHeader = (length: number, wide = false) =>
  sized(length, undefined, 0, [0xc4, 0xc5, 0xc6], wide);
export const arrayHeader = (length: number, wide = false) => sized(length, 0x90, 15, [0xdc, 0xdd], wide);
export const mapHeader = (length: number, wide = false) => sized(length, 0x80, 15, [0xde, 0xdf], wide);

export const nil = () => u8(0xc0);
export const bool = (v: boolean) => u8(v ? 0xc3 : 0xc2);

export function int(n: number): Buffer {
  if (n >= 0 && n < 128) return u8(n);
  if (n < 0 && n >= -32) return u8(n & 0xff);
  if (n >= 0 && n <= 0xffffffff) return Buffer.concat([u8(0xce), be(n, 4)]);
  const out = Buffer.alloc(9);
  out[0] = 0xd3;
  out.writeBigInt64BE(BigInt(n), 1);
  return out;
}

export function float64(n: number): Buffer {
  const out = Buffer.alloc(9);
  out[0] = 0xcb;
  out.writeDoubleBE(n, 1);
  return out;
}

export function str(s: string): Buffer {
  const bytes = Buffer.from(s, 'utf8');
  return Buffer.concat([strHeader(bytes.length), bytes]);
}

export const bin = (data: Uint8Array) => Buffer.concat([binHeader(data.length), data]);
export const array = (items: Buffer[]) => Buffer.concat([arrayHeader(items.length), ...items]);

/** A map; string keys are written as str, Buffers as they are (already encoded keys). */
export function map(entries: Record<string, Buffer> | [Buffer, Buffer][]): Buffer {
  const pairs = Array.isArray(entries) ? entries : Object.entries(entries).map(([k, v]) => [str(k), v]);
  return Buffer.concat([mapHeader(pairs.length), ...pairs.flat()]);
}

const FIXEXT: Record<number, number> = { 1: 0xd4, 2: 0xd5, 4: 0xd6, 8: 0xd7, 16: 0xd8 };

/**
 * An extension value of `type` (-128..127) with `data`; fixext when the length allows and
 * `form` is not forced, else ext8/16/32 as `form` says.
 */
export function ext(
  type: number,
  data: Uint8Array,
  form: 'fix' | 'ext8' | 'ext16' | 'ext32' = 'fix',
): Buffer {
  const t = type & 0xff;
  const fixed = FIXEXT[data.length];
  if (form === 'fix' && fixed !== undefined) return Buffer.concat([u8(fixed, t), data]);
  if (form === 'fix' || form === 'ext8') {
    if (data.length < 256) return Buffer.concat([u8(0xc7, data.length, t), data]);
  }
  if (form !== 'ext32' && data.length < 65536)
    return Buffer.concat([u8(0xc8), be(data.length, 2), u8(t), data]);
  return Buffer.concat([u8(0xc9), be(data.length, 4), u8(t), data]);
}

/** An ext header that declares `length` bytes of data, without the data. */
export const extHeader = (type: number, length: number) =>
  Buffer.concat([u8(0xc9), be(length, 4), u8(type & 0xff)]);

/** `depth` arrays of one element each around `leaf`: 0x91 0x91 ... leaf. */
export const nestedArrays = (depth: number, leaf: Buffer = nil()) =>
  Buffer.concat([Buffer.alloc(depth, 0x91), leaf]);

/** `depth` maps of one entry `"a"` each around `leaf`. */
export function nestedMaps(depth: number, leaf: Buffer = nil()): Buffer {
  const level = u8(0x81, 0xa1, 0x61);
  const out = Buffer.alloc(depth * level.length + leaf.length);
  for (let i = 0; i < depth; i++) level.copy(out, i * level.length);
  leaf.copy(out, depth * level.length);
  return out;
}

/** The extension types msgpackr gives a meaning to, and what it makes of them. */
export const MSGPACKR_EXTENSIONS = {
  timestamp: -1,
  undefined: 0,
  bigint: 0x42,
  bundledStrings: 0x62,
  error: 0x65,
  structuredCloneId: 0x69,
  structuredClonePointer: 0x70,
  record: 0x72,
  set: 0x73,
  typedArray: 0x74,
  regexp: 0x78,
} as const;

/** A 128-bit BigInt, as msgpackr's ext 0x42 writes it. */
export const bigint128 = () => ext(0x42, Buffer.from('7fffffffffffffffffffffffffffffff', 'hex'));

/** A typed array of `type` (msgpackr's list: 0 Int8 ... 8 Float64, 9/10 BigInt64/BigUint64) over `data`. */
export const typedArray = (type: number, data: Uint8Array) =>
  ext(0x74, Buffer.concat([u8(type), data]), data.length + 1 < 256 ? 'fix' : 'ext32');

/**
 * An array that contains itself, in msgpackr's structured-clone form: ext 0x69 (id 0)
 * announcing the target, the array, and inside it ext 0x70 (pointer to id 0).
 */
export const selfContainingArray = () => Buffer.concat([ext(0x69, be(0, 4)), u8(0x91), ext(0x70, be(0, 4))]);

const structured = new Packr({
  structuredClone: true,
  moreTypes: true,
  useRecords: true,
} as ConstructorParameters<typeof Packr>[0]);

/** `value` as msgpackr writes it with structured clones, records and every extra type on. */
export const packStructured = (value: unknown) => Buffer.from(structured.pack(value));
