// msgpack.js: a small msgpack encoder and decoder, and the
// switchboard.v1.msgpack codec for switchboard.js. No dependencies: the
// chat's page loads it as it is, with no build step, which is why it is
// written here rather than taken from npm.
//
//   import { Switchboard } from "/switchboard.js";
//   import { msgpackCodec } from "/msgpack.js";
//   const sb = new Switchboard(url, { codec: msgpackCodec });
//
// Values map as JSON's do: null and undefined (in arrays) to nil, objects
// to maps with string keys (undefined values left out), numbers to the
// smallest integer format or to float64, strings to str. Beyond JSON:
// Uint8Array, ArrayBuffer and other views to bin (decoded as Uint8Array),
// BigInt to int64 or uint64, the timestamp extension to Date (decoded;
// encoded as a string, as JSON does). Integers beyond 2^53 decode as
// BigInt; other extensions as {type, data}. A decoder refuses truncated
// input, extra bytes, the never-used byte 0xc1, lengths past the input
// and nesting deeper than 100 levels.

const MAX_DEPTH = 100;
const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder("utf-8", { fatal: true });

// encode returns value as msgpack.
export function encode(value) {
  const w = new Writer();
  write(w, value, 0);
  return w.bytes();
}

// decode returns the one msgpack value in input (a Uint8Array, another
// view or an ArrayBuffer); it throws a RangeError on malformed input.
export function decode(input) {
  const bytes =
    input instanceof Uint8Array ? input : ArrayBuffer.isView(input) ? new Uint8Array(input.buffer, input.byteOffset, input.byteLength) : new Uint8Array(input);
  const r = new Reader(bytes);
  const value = r.read(0);
  if (r.pos !== bytes.length) throw new RangeError("msgpack: extra bytes after the value");
  return value;
}

// msgpackCodec is the switchboard.v1.msgpack codec: envelopes as msgpack
// maps in binary frames.
export const msgpackCodec = Object.freeze({ subprotocol: "switchboard.v1.msgpack", binary: true, encode, decode });

class Writer {
  constructor() {
    this.buf = new Uint8Array(128);
    this.view = new DataView(this.buf.buffer);
    this.pos = 0;
  }
  ensure(n) {
    if (this.pos + n <= this.buf.length) return;
    const buf = new Uint8Array(Math.max(2 * this.buf.length, this.pos + n));
    buf.set(this.buf.subarray(0, this.pos));
    this.buf = buf;
    this.view = new DataView(buf.buffer);
  }
  u8(x) {
    this.ensure(1);
    this.buf[this.pos++] = x;
  }
  head(byte, x, size) {
    this.ensure(1 + size);
    this.buf[this.pos++] = byte;
    if (size === 1) this.view.setUint8(this.pos, x);
    else if (size === 2) this.view.setUint16(this.pos, x);
    else if (size === 4) this.view.setUint32(this.pos, x);
    this.pos += size;
  }
  raw(bytes) {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }
  bytes() {
    return this.buf.slice(0, this.pos);
  }
}

// length writes the header of a str, bin, array or map of n items:
// fixed is the fix format's first byte (or -1 without one, for bin) and
// b8, b16 and b32 the other formats' bytes (b8 0 without one).
function length(w, n, fixed, fixMax, b8, b16, b32) {
  if (fixed >= 0 && n <= fixMax) w.u8(fixed | n);
  else if (b8 && n < 0x100) w.head(b8, n, 1);
  else if (n < 0x10000) w.head(b16, n, 2);
  else w.head(b32, n, 4);
}

function write(w, v, depth) {
  if (depth > MAX_DEPTH) throw new RangeError("msgpack: nested too deeply");
  switch (typeof v) {
    case "boolean":
      return w.u8(v ? 0xc3 : 0xc2);
    case "number":
      return Number.isSafeInteger(v) ? writeInt(w, v) : writeFloat(w, v);
    case "bigint":
      return writeBig(w, v);
    case "string": {
      const b = utf8Encoder.encode(v);
      length(w, b.length, 0xa0, 31, 0xd9, 0xda, 0xdb);
      return w.raw(b);
    }
    case "object":
      if (v === null) return w.u8(0xc0);
      if (v instanceof ArrayBuffer || ArrayBuffer.isView(v)) {
        const b = v instanceof Uint8Array ? v : v instanceof ArrayBuffer ? new Uint8Array(v) : new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
        length(w, b.length, -1, 0, 0xc4, 0xc5, 0xc6);
        return w.raw(b);
      }
      if (Array.isArray(v)) {
        length(w, v.length, 0x90, 15, 0, 0xdc, 0xdd);
        for (const item of v) write(w, item, depth + 1);
        return;
      }
      if (typeof v.toJSON === "function") return write(w, v.toJSON(), depth + 1);
      {
        const keys = Object.keys(v).filter((k) => v[k] !== undefined && typeof v[k] !== "function");
        length(w, keys.length, 0x80, 15, 0, 0xde, 0xdf);
        for (const k of keys) {
          write(w, k, depth + 1);
          write(w, v[k], depth + 1);
        }
        return;
      }
    default: // undefined, functions and symbols, as JSON has them in arrays
      return w.u8(0xc0);
  }
}

function writeInt(w, n) {
  if (n >= 0) {
    if (n < 0x80) w.u8(n);
    else if (n < 0x100) w.head(0xcc, n, 1);
    else if (n < 0x10000) w.head(0xcd, n, 2);
    else if (n < 0x100000000) w.head(0xce, n, 4);
    else writeBig(w, BigInt(n));
    return;
  }
  if (n >= -32) w.u8(n & 0xff);
  else if (n >= -0x80) w.head(0xd0, n & 0xff, 1);
  else if (n >= -0x8000) w.head(0xd1, n & 0xffff, 2);
  else if (n >= -0x80000000) w.head(0xd2, n >>> 0, 4);
  else writeBig(w, BigInt(n));
}

function writeBig(w, n) {
  if (n >= 0n) {
    if (n >= 1n << 64n) throw new RangeError("msgpack: integer over 64 bits");
    w.u8(0xcf);
    w.ensure(8);
    w.view.setBigUint64(w.pos, n);
  } else {
    if (n < -(1n << 63n)) throw new RangeError("msgpack: integer over 64 bits");
    w.u8(0xd3);
    w.ensure(8);
    w.view.setBigInt64(w.pos, n);
  }
  w.pos += 8;
}

function writeFloat(w, x) {
  w.u8(0xcb);
  w.ensure(8);
  w.view.setFloat64(w.pos, x);
  w.pos += 8;
}

class Reader {
  constructor(bytes) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = 0;
  }
  need(n) {
    if (this.pos + n > this.bytes.length) throw new RangeError("msgpack: truncated input");
    const at = this.pos;
    this.pos += n;
    return at;
  }
  u8() {
    return this.bytes[this.need(1)];
  }
  u16() {
    return this.view.getUint16(this.need(2));
  }
  u32() {
    return this.view.getUint32(this.need(4));
  }
  big(signed) {
    const at = this.need(8);
    const n = signed ? this.view.getBigInt64(at) : this.view.getBigUint64(at);
    return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
  }
  take(n) {
    const at = this.need(n);
    return this.bytes.subarray(at, at + n);
  }
  str(n) {
    return utf8Decoder.decode(this.take(n));
  }
  // count checks that n items, each at least size bytes, can be in what
  // is left, before anything is allocated for them.
  count(n, size) {
    if (n * size > this.bytes.length - this.pos) throw new RangeError("msgpack: length past the input");
    return n;
  }
  array(n, depth) {
    this.count(n, 1);
    const a = new Array(n);
    for (let i = 0; i < n; i++) a[i] = this.read(depth + 1);
    return a;
  }
  map(n, depth) {
    this.count(n, 2);
    const m = {};
    for (let i = 0; i < n; i++) {
      const k = this.read(depth + 1);
      const key = typeof k === "string" ? k : String(k);
      const v = this.read(depth + 1);
      // An own property, even for "__proto__", as JSON.parse makes it.
      Object.defineProperty(m, key, { value: v, enumerable: true, writable: true, configurable: true });
    }
    return m;
  }
  ext(n) {
    const type = this.view.getInt8(this.need(1));
    const data = this.take(n);
    if (type !== -1) return { type, data: data.slice() };
    // The timestamp extension: seconds and nanoseconds.
    const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
    if (n === 4) return new Date(v.getUint32(0) * 1000);
    if (n === 8) {
      const hi = v.getUint32(0);
      const nsec = hi >>> 2;
      const sec = (hi & 3) * 0x100000000 + v.getUint32(4);
      return new Date(sec * 1000 + nsec / 1e6);
    }
    if (n === 12) return new Date(Number(v.getBigInt64(4)) * 1000 + v.getUint32(0) / 1e6);
    throw new RangeError("msgpack: bad timestamp");
  }
  read(depth) {
    if (depth > MAX_DEPTH) throw new RangeError("msgpack: nested too deeply");
    const b = this.u8();
    if (b < 0x80) return b;
    if (b < 0x90) return this.map(b & 0x0f, depth);
    if (b < 0xa0) return this.array(b & 0x0f, depth);
    if (b < 0xc0) return this.str(b & 0x1f);
    if (b >= 0xe0) return b - 0x100;
    switch (b) {
      case 0xc0:
        return null;
      case 0xc2:
        return false;
      case 0xc3:
        return true;
      case 0xc4:
        return this.take(this.u8()).slice();
      case 0xc5:
        return this.take(this.u16()).slice();
      case 0xc6:
        return this.take(this.u32()).slice();
      case 0xc7:
        return this.ext(this.u8());
      case 0xc8:
        return this.ext(this.u16());
      case 0xc9:
        return this.ext(this.u32());
      case 0xca:
        return this.view.getFloat32(this.need(4));
      case 0xcb:
        return this.view.getFloat64(this.need(8));
      case 0xcc:
        return this.u8();
      case 0xcd:
        return this.u16();
      case 0xce:
        return this.u32();
      case 0xcf:
        return this.big(false);
      case 0xd0:
        return this.view.getInt8(this.need(1));
      case 0xd1:
        return this.view.getInt16(this.need(2));
      case 0xd2:
        return this.view.getInt32(this.need(4));
      case 0xd3:
        return this.big(true);
      case 0xd4:
        return this.ext(1);
      case 0xd5:
        return this.ext(2);
      case 0xd6:
        return this.ext(4);
      case 0xd7:
        return this.ext(8);
      case 0xd8:
        return this.ext(16);
      case 0xd9:
        return this.str(this.u8());
      case 0xda:
        return this.str(this.u16());
      case 0xdb:
        return this.str(this.u32());
      case 0xdc:
        return this.array(this.u16(), depth);
      case 0xdd:
        return this.array(this.u32(), depth);
      case 0xde:
        return this.map(this.u16(), depth);
      case 0xdf:
        return this.map(this.u32(), depth);
      default: // 0xc1, never used
        throw new RangeError("msgpack: invalid byte 0x" + b.toString(16));
    }
  }
}
