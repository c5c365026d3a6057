// Value codecs: how state values (and map keys) become bytes in snapshots.
//
// The layouts are postcard's (https://postcard.jamesmunns.com/wire-format),
// the value codec of wit/STATE.md, so that a checkpoint written by one SDK
// restores in another: `codecs.u64` here reads what a Rust `ValueState<u64>`
// wrote, and the other way round.
//
//   bool        one byte, 0 or 1
//   u8, i8      one byte (two's complement for i8)
//   u16,u32,u64 LEB128 varint (7 bits per byte, least significant first)
//   i16,i32,i64 zig-zag, then varint: 0,-1,1,-2,... -> 0,1,2,3,...
//   f32, f64    4 / 8 bytes, IEEE 754 little-endian
//   string      varint byte length, then UTF-8
//   bytes       varint length, then the bytes (Rust Vec<u8> or serde_bytes)
//   option(c)   0x00 for none; 0x01 then the value
//   list(c)     varint count, then the values (Rust Vec<T>)
//   tuple(...)  the fields back to back (Rust tuples, tuple structs)
//   struct({})  the fields back to back, in declaration order (Rust structs)
//   map(k, v)   varint count, then key, value, key, value... (Rust HashMap)
//   json        a postcard string holding the JSON text (the default)
//
// A codec is an object { name, write(writer, value), read(reader) }; write
// your own from the Writer and Reader methods below.

import { Buffer, describe, fromUtf8, utf8 } from './bytes.js';

const MAX_U64 = 0xffffffffffffffffn;
const MIN_I64 = -0x8000000000000000n;
const MAX_I64 = 0x7fffffffffffffffn;

/** Where a codec writes: postcard's primitives on a growable buffer. */
export class Writer extends Buffer {
  /** An unsigned LEB128 varint of a non-negative safe integer. */
  varint(n) {
    this.reserve(10);
    const buf = this.buf;
    let len = this.len;
    if (n <= 0x7fffffff) {
      while (n >= 0x80) {
        buf[len++] = (n & 0x7f) | 0x80;
        n >>>= 7;
      }
    } else {
      // Past 31 bits the bitwise operators no longer apply; division by a
      // power of two is exact on doubles.
      while (n >= 0x80) {
        buf[len++] = (n % 0x80) | 0x80;
        n = Math.floor(n / 0x80);
      }
    }
    buf[len++] = n;
    this.len = len;
  }

  /** An unsigned LEB128 varint of a non-negative BigInt. */
  varintBig(n) {
    this.reserve(19);
    while (n >= 0x80n) {
      this.buf[this.len++] = Number(n & 0x7fn) | 0x80;
      n >>= 7n;
    }
    this.buf[this.len++] = Number(n);
  }

  f32(x) {
    this.reserve(4);
    this.view.setFloat32(this.len, x, true);
    this.len += 4;
  }

  f64(x) {
    this.reserve(8);
    this.view.setFloat64(this.len, x, true);
    this.len += 8;
  }

  /** A varint length, then the bytes. */
  varBytes(bytes) {
    this.varint(bytes.length);
    this.raw(bytes);
  }
}

/** What a codec reads from: the bytes of one encoded value. */
export class Reader {
  constructor(bytes) {
    this.bytes = bytes;
    this.pos = 0;
    this.view = null;
  }

  remaining() {
    return this.bytes.length - this.pos;
  }

  u8() {
    if (this.pos >= this.bytes.length) throw new Error('unexpected end of the value');
    return this.bytes[this.pos++];
  }

  take(n) {
    if (n > this.bytes.length - this.pos) throw new Error('unexpected end of the value');
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  dataView(n) {
    if (n > this.bytes.length - this.pos) throw new Error('unexpected end of the value');
    if (this.view === null) this.view = new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
    const at = this.pos;
    this.pos += n;
    return at;
  }

  f32() {
    const at = this.dataView(4);
    return this.view.getFloat32(at, true);
  }

  f64() {
    const at = this.dataView(8);
    return this.view.getFloat64(at, true);
  }

  /**
   * A varint of an unsigned integer of `bits` bits (16, 32 or 64) as a
   * number, refused as postcard refuses it: more bytes than the type allows,
   * or a last byte carrying bits beyond it. Past 2^53 - 1 it throws: read
   * those with `varintBig`.
   */
  varint(bits = 64) {
    const max = MAX_VARINT_BYTES[bits];
    let result = 0;
    let scale = 1;
    for (let i = 0; i < max; i++) {
      const byte = this.u8();
      if (i < 4) result |= (byte & 0x7f) << (7 * i);
      else result += (byte & 0x7f) * scale;
      if ((byte & 0x80) === 0) {
        if (i === max - 1 && byte > LAST_BYTE_MAX[bits]) throw new Error(`bad varint: too large for a u${bits}`);
        if (i >= 4 && result > Number.MAX_SAFE_INTEGER) {
          throw new RangeError(`${result} is beyond 2^53 - 1 (use the BigInt codec)`);
        }
        return i < 4 ? result >>> 0 : result;
      }
      if (i === 3) {
        result >>>= 0;
        scale = 2 ** 28;
      } else if (i > 3) {
        scale *= 128;
      }
    }
    throw new Error(`bad varint: longer than ${max} bytes for a u${bits}`);
  }

  /** A varint of an unsigned integer of `bits` bits, as a BigInt. */
  varintBig(bits = 64) {
    const max = MAX_VARINT_BYTES[bits];
    let result = 0n;
    for (let i = 0; i < max; i++) {
      const byte = this.u8();
      result |= BigInt(byte & 0x7f) << BigInt(7 * i);
      if ((byte & 0x80) === 0) {
        if (i === max - 1 && byte > LAST_BYTE_MAX[bits]) throw new Error(`bad varint: too large for a u${bits}`);
        return result;
      }
    }
    throw new Error(`bad varint: longer than ${max} bytes for a u${bits}`);
  }

  /** A varint length, then that many bytes. */
  varBytes() {
    return this.take(this.varint(64));
  }
}

const MAX_VARINT_BYTES = { 16: 3, 32: 5, 64: 10 };
// postcard: the last byte of a maximal varint may only carry the bits the
// type has left: (1 << (bits % 7)) - 1.
const LAST_BYTE_MAX = { 16: 3, 32: 15, 64: 1 };

function typeError(codec, value, expected) {
  return new TypeError(`codec ${codec}: expected ${expected}, got ${describe(value)}`);
}

function unsigned(name, bits, maxValue) {
  return {
    name,
    write(w, v) {
      if (!Number.isInteger(v) || v < 0 || v > maxValue) throw typeError(name, v, `an integer from 0 to ${maxValue}`);
      w.varint(v);
    },
    read(r) {
      const v = r.varint(bits);
      if (v > maxValue) throw new Error(`bad varint: too large for a ${name}`);
      return v;
    },
  };
}

function signed(name, bits, min, max) {
  return {
    name,
    write(w, v) {
      if (!Number.isInteger(v) || v < min || v > max) throw typeError(name, v, `an integer from ${min} to ${max}`);
      w.varint(v >= 0 ? v * 2 : -v * 2 - 1);
    },
    read(r) {
      const z = r.varint(bits);
      const v = z % 2 === 0 ? z / 2 : -(z + 1) / 2;
      if (v < min || v > max) throw new Error(`bad varint: out of range for a ${name}`);
      return v;
    },
  };
}

const bool = {
  name: 'bool',
  write(w, v) {
    if (typeof v !== 'boolean') throw typeError('bool', v, 'a boolean');
    w.u8(v ? 1 : 0);
  },
  read(r) {
    const byte = r.u8();
    if (byte > 1) throw new Error(`bad bool byte ${byte}`);
    return byte === 1;
  },
};

const u8 = {
  name: 'u8',
  write(w, v) {
    if (!Number.isInteger(v) || v < 0 || v > 255) throw typeError('u8', v, 'an integer from 0 to 255');
    w.u8(v);
  },
  read(r) {
    return r.u8();
  },
};

const i8 = {
  name: 'i8',
  write(w, v) {
    if (!Number.isInteger(v) || v < -128 || v > 127) throw typeError('i8', v, 'an integer from -128 to 127');
    w.u8(v & 0xff);
  },
  read(r) {
    return (r.u8() << 24) >> 24;
  },
};

/**
 * u64 as a number. Writes numbers from 0 to 2^53 - 1 and BigInts up to
 * 2^64 - 1; reads a number, and throws on a value past 2^53 - 1 (which a
 * number cannot hold exactly): use `bigU64` where values can get that large.
 */
const u64 = {
  name: 'u64',
  write(w, v) {
    if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) w.varint(v);
    else if (typeof v === 'bigint' && v >= 0n && v <= MAX_U64) w.varintBig(v);
    else throw typeError('u64', v, 'an integer from 0 to 2^53 - 1 (or a BigInt up to 2^64 - 1)');
  },
  read(r) {
    return r.varint(64);
  },
};

/** u64 as a BigInt: the whole range, 0 to 2^64 - 1. Writes numbers too. */
const bigU64 = {
  name: 'bigU64',
  write(w, v) {
    if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) w.varint(v);
    else if (typeof v === 'bigint' && v >= 0n && v <= MAX_U64) w.varintBig(v);
    else throw typeError('bigU64', v, 'a BigInt from 0 to 2^64 - 1');
  },
  read(r) {
    return r.varintBig(64);
  },
};

function zigzagBig(v) {
  return v >= 0n ? v << 1n : ((-v) << 1n) - 1n;
}

function unzigzagBig(z) {
  return (z & 1n) === 0n ? z >> 1n : -((z + 1n) >> 1n);
}

function writeI64(name, w, v) {
  if (typeof v === 'number' && Number.isSafeInteger(v)) {
    // Below 2^52 the zig-zag value stays exact as a double.
    if (v < 2 ** 52 && v > -(2 ** 52)) w.varint(v >= 0 ? v * 2 : -v * 2 - 1);
    else w.varintBig(zigzagBig(BigInt(v)));
  } else if (typeof v === 'bigint' && v >= MIN_I64 && v <= MAX_I64) {
    w.varintBig(zigzagBig(v));
  } else {
    throw typeError(name, v, 'an integer from -(2^53 - 1) to 2^53 - 1 (or a BigInt in the i64 range)');
  }
}

/** i64 as a number: zig-zag varint; reading throws past ±(2^53 - 1). */
const i64 = {
  name: 'i64',
  write(w, v) {
    writeI64('i64', w, v);
  },
  read(r) {
    const z = r.varintBig(64);
    const v = unzigzagBig(z);
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new RangeError(`${v} is beyond ±(2^53 - 1) (use codecs.bigI64)`);
    }
    return Number(v);
  },
};

/** i64 as a BigInt: the whole range. Writes numbers too. */
const bigI64 = {
  name: 'bigI64',
  write(w, v) {
    writeI64('bigI64', w, v);
  },
  read(r) {
    return unzigzagBig(r.varintBig(64));
  },
};

const f32 = {
  name: 'f32',
  write(w, v) {
    if (typeof v !== 'number') throw typeError('f32', v, 'a number');
    w.f32(v);
  },
  read(r) {
    return r.f32();
  },
};

const f64 = {
  name: 'f64',
  write(w, v) {
    if (typeof v !== 'number') throw typeError('f64', v, 'a number');
    w.f64(v);
  },
  read(r) {
    return r.f64();
  },
};

const string = {
  name: 'string',
  write(w, v) {
    if (typeof v !== 'string') throw typeError('string', v, 'a string');
    w.varBytes(utf8(v));
  },
  read(r) {
    return fromUtf8(r.varBytes(), 'a string value');
  },
};

/** Bytes: reads a copy, so that a value never pins a larger buffer. */
const bytes = {
  name: 'bytes',
  write(w, v) {
    if (!(v instanceof Uint8Array)) throw typeError('bytes', v, 'a Uint8Array');
    w.varBytes(v);
  },
  read(r) {
    return r.varBytes().slice();
  },
};

/**
 * Any JSON value (numbers, strings, booleans, null, arrays, plain objects),
 * stored as a postcard string of its JSON text: the default codec. A Rust
 * operator sees a String. Not for BigInt, undefined, Map or Date.
 */
const json = {
  name: 'json',
  write(w, v) {
    const text = JSON.stringify(v);
    if (text === undefined) throw typeError('json', v, 'a JSON value');
    w.varBytes(utf8(text));
  },
  read(r) {
    return JSON.parse(fromUtf8(r.varBytes(), 'a json value'));
  },
};

const unit = {
  name: 'unit',
  write() {},
  read() {
    return null;
  },
};

/** `undefined` (or `null`) is none; anything else is some. */
function option(inner) {
  return {
    name: `option(${inner.name})`,
    write(w, v) {
      if (v === undefined || v === null) w.u8(0);
      else {
        w.u8(1);
        inner.write(w, v);
      }
    },
    read(r) {
      const tag = r.u8();
      if (tag === 0) return undefined;
      if (tag !== 1) throw new Error(`bad option tag ${tag}`);
      return inner.read(r);
    },
  };
}

/** An array of values (a Rust Vec<T>). */
function list(inner) {
  return {
    name: `list(${inner.name})`,
    write(w, v) {
      if (!Array.isArray(v)) throw typeError(this.name, v, 'an array');
      w.varint(v.length);
      for (const item of v) inner.write(w, item);
    },
    read(r) {
      const n = r.varint(64);
      // Every element takes at least one byte, except in zero-sized types.
      if (n > r.remaining() && inner !== unit) throw new Error('unexpected end of the value');
      const out = new Array(n);
      for (let i = 0; i < n; i++) out[i] = inner.read(r);
      return out;
    },
  };
}

/** A fixed-length array, one codec per position (a Rust tuple). */
function tuple(...codecs) {
  return {
    name: `tuple(${codecs.map((c) => c.name).join(', ')})`,
    write(w, v) {
      if (!Array.isArray(v) || v.length !== codecs.length) {
        throw typeError(this.name, v, `an array of ${codecs.length} values`);
      }
      for (let i = 0; i < codecs.length; i++) codecs[i].write(w, v[i]);
    },
    read(r) {
      return codecs.map((c) => c.read(r));
    },
  };
}

/** An object with these fields, written in this order (a Rust struct). */
function struct(fields) {
  const entries = Object.entries(fields);
  return {
    name: `struct{${entries.map(([k, c]) => `${k}: ${c.name}`).join(', ')}}`,
    write(w, v) {
      if (v === null || typeof v !== 'object') throw typeError(this.name, v, 'an object');
      for (const [key, codec] of entries) codec.write(w, v[key]);
    },
    read(r) {
      const out = {};
      for (const [key, codec] of entries) out[key] = codec.read(r);
      return out;
    },
  };
}

/** A JS Map (a Rust HashMap or BTreeMap). */
function map(keyCodec, valueCodec) {
  return {
    name: `map(${keyCodec.name}, ${valueCodec.name})`,
    write(w, v) {
      if (!(v instanceof Map)) throw typeError(this.name, v, 'a Map');
      w.varint(v.size);
      for (const [key, value] of v) {
        keyCodec.write(w, key);
        valueCodec.write(w, value);
      }
    },
    read(r) {
      const n = r.varint(64);
      if (n > r.remaining()) throw new Error('unexpected end of the value');
      const out = new Map();
      for (let i = 0; i < n; i++) {
        const key = keyCodec.read(r);
        out.set(key, valueCodec.read(r));
      }
      return out;
    },
  };
}

export const codecs = Object.freeze({
  bool,
  u8,
  i8,
  u16: unsigned('u16', 16, 0xffff),
  i16: signed('i16', 16, -0x8000, 0x7fff),
  u32: unsigned('u32', 32, 0xffffffff),
  i32: signed('i32', 32, -0x80000000, 0x7fffffff),
  u64,
  i64,
  bigU64,
  bigI64,
  f32,
  f64,
  string,
  bytes,
  json,
  unit,
  option,
  list,
  tuple,
  struct,
  map,
});

/** The codec of a handle declared without one. */
export const DEFAULT_CODEC = json;

/** Encodes one value with a codec. */
export function encode(codec, value) {
  const w = new Writer(16);
  codec.write(w, value);
  return w.bytes();
}

/** Decodes one value that must fill `bytes` exactly. */
export function decode(codec, bytes) {
  const r = new Reader(bytes);
  const value = codec.read(r);
  if (r.remaining() !== 0) throw new Error(`${r.remaining()} bytes left over after the value`);
  return value;
}

/** Checks that something is a codec; `what` names it in the message. */
export function checkCodec(codec, what) {
  if (codec === null || typeof codec !== 'object' || typeof codec.write !== 'function' || typeof codec.read !== 'function') {
    throw new TypeError(`${what} must be a codec (from \`codecs\`, or an object with write and read), not ${describe(codec)}`);
  }
  return codec;
}
