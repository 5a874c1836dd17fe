/**
 * Deepest nesting of maps and arrays in one frame, the frame's own map counting as level 1.
 * Deep enough for any real presence `data`; shallow enough that no encoder's recursion
 * (msgpackr's, JSON.stringify's) can run out of stack on what a client sent.
 */
export const MAX_NESTING_DEPTH = 32;

/**
 * Most array elements plus map keys and values in one frame. A frame of 16 MiB of one-byte
 * items would otherwise decode to a JavaScript structure of about 130 MB, built in a third of
 * a second on the event loop; no frame a client sends needs more than a few hundred.
 */
export const MAX_FRAME_ITEMS = 65_536;

// Items still to read in each open container, and whether it is a map (keys on even counts).
// Int32 suffices: a container past MAX_FRAME_ITEMS is refused before it is pushed.
const remaining = new Int32Array(MAX_NESTING_DEPTH + 1);
const isMap = new Uint8Array(MAX_NESTING_DEPTH + 1);

/**
 * Why `bytes` is not exactly one plain MessagePack value, or undefined when it is. Plain:
 * only nil, booleans, numbers, str, bin, arrays and maps with str keys, nested at most
 * `maxDepth` deep, each declared length within the bytes that are there, nothing after it.
 * Extension types (msgpackr's records, structured clones, typed arrays, BigInts, Dates) and
 * the never-used 0xc1 are refused: msgpackr decodes them all and has no switch to turn them
 * off, and what they decode to cannot be encoded again for every protocol.
 * One pass, no allocation; strings and binaries are skipped, not read.
 */
export function plainMessagePackProblem(bytes: Uint8Array, maxDepth = MAX_NESTING_DEPTH): string | undefined {
  const end = bytes.length;
  const depthCap = Math.min(maxDepth, MAX_NESTING_DEPTH);
  let pos = 0;
  let depth = 0;
  let itemsLeft = MAX_FRAME_ITEMS;
  // The `!` and `as number` reads below are safe: each byte read is behind the `room` check
  // before it, and `remaining` has a slot for every depth up to MAX_NESTING_DEPTH.
  for (;;) {
    const b = bytes[pos++];
    if (b === undefined) return 'MessagePack ends inside a value';
    const wantKey = depth > 0 && isMap[depth] === 1 && (remaining[depth]! & 1) === 0;
    let length = -1; // bytes of str/bin content to skip
    let items = -1; // items of a new container
    let map = false;
    let str = false;
    if (b <= 0x7f || b >= 0xe0) {
      // positive and negative fixint
    } else if (b <= 0x8f) {
      items = b & 0x0f;
      map = true;
    } else if (b <= 0x9f) items = b & 0x0f;
    else if (b <= 0xbf) {
      length = b & 0x1f;
      str = true;
    } else {
      const room = end - pos;
      switch (b) {
        case 0xc0:
        case 0xc2:
        case 0xc3:
          break;
        case 0xc4:
          if (room < 1) return 'MessagePack ends inside a bin header';
          length = bytes[pos] as number;
          pos += 1;
          break;
        case 0xc5:
          if (room < 2) return 'MessagePack ends inside a bin header';
          length = (bytes[pos]! << 8) | bytes[pos + 1]!;
          pos += 2;
          break;
        case 0xc6:
          if (room < 4) return 'MessagePack ends inside a bin header';
          length = readU32(bytes, pos);
          pos += 4;
          break;
        case 0xca:
        case 0xce:
        case 0xd2:
          pos += 4;
          break;
        case 0xcb:
        case 0xcf:
        case 0xd3:
          pos += 8;
          break;
        case 0xcc:
        case 0xd0:
          pos += 1;
          break;
        case 0xcd:
        case 0xd1:
          pos += 2;
          break;
        case 0xd9:
          if (room < 1) return 'MessagePack ends inside a str header';
          length = bytes[pos] as number;
          pos += 1;
          str = true;
          break;
        case 0xda:
          if (room < 2) return 'MessagePack ends inside a str header';
          length = (bytes[pos]! << 8) | bytes[pos + 1]!;
          pos += 2;
          str = true;
          break;
        case 0xdb:
          if (room < 4) return 'MessagePack ends inside a str header';
          length = readU32(bytes, pos);
          pos += 4;
          str = true;
          break;
        case 0xdc:
        case 0xde:
          if (room < 2) return 'MessagePack ends inside a container header';
          items = (bytes[pos]! << 8) | bytes[pos + 1]!;
          pos += 2;
          map = b === 0xde;
          break;
        case 0xdd:
        case 0xdf:
          if (room < 4) return 'MessagePack ends inside a container header';
          items = readU32(bytes, pos);
          pos += 4;
          map = b === 0xdf;
          break;
        case 0xc1:
          return 'MessagePack byte 0xc1 is never used';
        default:
          // 0xc7-0xc9 ext 8/16/32, 0xd4-0xd8 fixext
          return `MessagePack extension types are not accepted (byte 0x${b.toString(16)})`;
      }
      if (pos > end) return 'MessagePack ends inside a number';
    }
    if (wantKey && !str) return 'MessagePack map keys must be strings';
    if (length >= 0) {
      if (length > end - pos) return `a str/bin declares ${length} bytes, ${end - pos} are left`;
      pos += length;
    }
    if (depth > 0) remaining[depth]!--;
    if (items >= 0) {
      if (map) items *= 2;
      // Every item takes at least one byte: a count past the bytes left is a lie.
      if (items > end - pos) return `a container declares ${items} items, ${end - pos} bytes are left`;
      itemsLeft -= items;
      if (itemsLeft < 0) return `MessagePack holds more than ${MAX_FRAME_ITEMS} items`;
      if (items > 0) {
        if (depth >= depthCap) return `MessagePack nests deeper than ${depthCap} levels`;
        depth++;
        remaining[depth] = items;
        isMap[depth] = map ? 1 : 0;
        continue;
      }
    }
    while (depth > 0 && remaining[depth] === 0) depth--;
    if (depth === 0) return pos === end ? undefined : `${end - pos} bytes after the MessagePack value`;
  }
}

/** Callers checked that 4 bytes are left at `pos`. */
const readU32 = (bytes: Uint8Array, pos: number): number =>
  bytes[pos]! * 0x1000000 + ((bytes[pos + 1]! << 16) | (bytes[pos + 2]! << 8) | bytes[pos + 3]!);
