// A Pulse client with no SDK, as the seed engine's browser example was: MessagePack frames
// with a 4-byte big-endian length prefix over a WebSocket (docs/PROTOCOL.md, "Framing"), with
// the small MessagePack codec below standing in for any plain MessagePack library.

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

/** Plain MessagePack: nil, booleans, numbers, strings, Uint8Array (bin), arrays, maps. */
export function encode(value) {
  const out = [];
  const be = (n, size) => {
    for (let i = size - 1; i >= 0; i--) out.push(Math.floor(n / 2 ** (8 * i)) & 0xff);
  };
  // A header: the type byte, then the length (or value) in `size` big-endian bytes.
  const head = (type, n, size) => {
    out.push(type);
    be(n, size);
  };
  const write = (v) => {
    if (v === null || v === undefined) out.push(0xc0);
    else if (v === false || v === true) out.push(v ? 0xc3 : 0xc2);
    else if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 2 ** 32) {
      if (v < 0x80) out.push(v);
      else head(0xce, v, 4);
    } else if (typeof v === 'number' && Number.isInteger(v) && v < 0 && v >= -32) out.push(v & 0xff);
    else if (typeof v === 'number') {
      const f = new DataView(new ArrayBuffer(8));
      f.setFloat64(0, v);
      out.push(0xcb, ...new Uint8Array(f.buffer));
    } else if (typeof v === 'string') {
      const s = utf8.encode(v);
      if (s.length < 32) out.push(0xa0 | s.length);
      else head(0xdb, s.length, 4);
      out.push(...s);
    } else if (v instanceof Uint8Array) {
      head(0xc6, v.length, 4);
      out.push(...v);
    } else if (Array.isArray(v)) {
      if (v.length < 16) out.push(0x90 | v.length);
      else head(0xdd, v.length, 4);
      v.forEach(write);
    } else {
      const entries = Object.entries(v).filter(([, x]) => x !== undefined);
      if (entries.length < 16) out.push(0x80 | entries.length);
      else head(0xdf, entries.length, 4);
      for (const [k, x] of entries) {
        write(k);
        write(x);
      }
    }
  };
  write(value);
  return new Uint8Array(out);
}

export function decode(buf) {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let pos = 0;
  const take = (n) => {
    const part = buf.subarray(pos, pos + n);
    pos += n;
    return part;
  };
  const uint = (size) => {
    let n = 0;
    for (const b of take(size)) n = n * 256 + b;
    return n;
  };
  // A fixed-size number read with DataView's getter `get`.
  const num = (get, size) => {
    const n = view[get](pos);
    pos += size;
    return n;
  };
  const str = (n) => fromUtf8.decode(take(n));
  const arr = (n) => Array.from({ length: n }, read);
  const map = (n) => {
    const o = {};
    for (let i = 0; i < n; i++) {
      const key = read();
      o[key] = read();
    }
    return o;
  };
  const read = () => {
    const t = buf[pos++];
    if (t < 0x80) return t;
    if (t < 0x90) return map(t & 0x0f);
    if (t < 0xa0) return arr(t & 0x0f);
    if (t < 0xc0) return str(t & 0x1f);
    if (t >= 0xe0) return t - 0x100;
    if (t === 0xc0) return null;
    if (t === 0xc2 || t === 0xc3) return t === 0xc3;
    if (t >= 0xc4 && t <= 0xc6) return take(uint(1 << (t - 0xc4))).slice();
    if (t === 0xca) return num('getFloat32', 4);
    if (t === 0xcb) return num('getFloat64', 8);
    if (t >= 0xcc && t <= 0xcf) return uint(1 << (t - 0xcc));
    if (t === 0xd0) return num('getInt8', 1);
    if (t === 0xd1) return num('getInt16', 2);
    if (t === 0xd2) return num('getInt32', 4);
    if (t === 0xd3) return Number(num('getBigInt64', 8));
    if (t >= 0xd9 && t <= 0xdb) return str(uint(1 << (t - 0xd9)));
    if (t === 0xdc || t === 0xdd) return arr(uint(2 << (t - 0xdc)));
    if (t === 0xde || t === 0xdf) return map(uint(2 << (t - 0xde)));
    throw new Error(`MessagePack type 0x${t.toString(16)} is not plain`);
  };
  return read();
}

/** Opens a WebSocket to `url`; `onFrame` gets each decoded frame. Resolves with `send(frame)`. */
export function connect(url, onFrame) {
  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  let pending = new Uint8Array(0);
  ws.onmessage = (ev) => {
    // A message may hold several frames and a frame may span messages.
    const data = new Uint8Array(pending.length + ev.data.byteLength);
    data.set(pending);
    data.set(new Uint8Array(ev.data), pending.length);
    let at = 0;
    while (data.length - at >= 4) {
      const length = new DataView(data.buffer, at).getUint32(0);
      if (data.length - at - 4 < length) break;
      onFrame(decode(data.subarray(at + 4, at + 4 + length)));
      at += 4 + length;
    }
    pending = data.slice(at);
  };
  const send = (frame) => {
    const body = encode(frame);
    const out = new Uint8Array(4 + body.length);
    new DataView(out.buffer).setUint32(0, body.length);
    out.set(body, 4);
    ws.send(out);
  };
  return new Promise((resolve, reject) => {
    ws.onopen = () => resolve({ send, close: () => ws.close() });
    ws.onerror = () => reject(new Error(`cannot connect to ${url}`));
  });
}
