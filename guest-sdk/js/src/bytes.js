// Byte helpers shared by the SDK: UTF-8, growable buffers, and the string
// ids under which keyed state is looked up.

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

export const EMPTY = new Uint8Array(0);

/** UTF-8 bytes of a string. */
export function utf8(text) {
  return encoder.encode(text);
}

/** The text of UTF-8 bytes; throws `${what} is not UTF-8` otherwise. */
export function fromUtf8(bytes, what) {
  try {
    return decoder.decode(bytes);
  } catch (_) {
    throw new Error(`${what} is not UTF-8`);
  }
}

/**
 * Bytes from what an operator passes as a key or value: a string (written as
 * UTF-8), a Uint8Array, another ArrayBuffer view, or an ArrayBuffer.
 */
export function toBytes(data, what) {
  if (data instanceof Uint8Array) return data;
  if (typeof data === 'string') return encoder.encode(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  throw new TypeError(`${what} must be a string or a Uint8Array, not ${describe(data)}`);
}

export function describe(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  const type = typeof value;
  if (type === 'object') return `an object (${value.constructor?.name ?? 'Object'})`;
  return `${type === 'undefined' ? '' : 'a '}${type}${type === 'undefined' ? '' : ` (${String(value)})`}`;
}

/**
 * A string that identifies a byte string, one UTF-16 code unit per byte: the
 * key of the Map behind keyed state (JS Maps compare Uint8Arrays by identity).
 */
export function bytesId(bytes) {
  const n = bytes.length;
  if (n === 0) return '';
  if (n <= 8192) return String.fromCharCode.apply(null, bytes);
  let id = '';
  for (let i = 0; i < n; i += 8192) id += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192));
  return id;
}

/** Whether two byte strings are equal. */
export function bytesEqual(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * An append-only byte buffer that grows by doubling. `bytes()` returns a view
 * of what was written (no copy).
 */
export class Buffer {
  constructor(capacity = 256) {
    this.buf = new Uint8Array(capacity);
    this.view = new DataView(this.buf.buffer);
    this.len = 0;
  }

  /** Makes room for `n` more bytes. */
  reserve(n) {
    const need = this.len + n;
    if (need <= this.buf.length) return;
    let capacity = this.buf.length * 2;
    while (capacity < need) capacity *= 2;
    const grown = new Uint8Array(capacity);
    grown.set(this.buf.subarray(0, this.len));
    this.buf = grown;
    this.view = new DataView(grown.buffer);
  }

  u8(value) {
    this.reserve(1);
    this.buf[this.len++] = value;
  }

  u16(value) {
    this.reserve(2);
    this.view.setUint16(this.len, value, true);
    this.len += 2;
  }

  u32(value) {
    this.reserve(4);
    this.view.setUint32(this.len, value, true);
    this.len += 4;
  }

  raw(bytes) {
    this.reserve(bytes.length);
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
  }

  /** A u32 length, then the bytes (the `bytes` of STATE.md). */
  lenBytes(bytes) {
    this.reserve(4 + bytes.length);
    this.view.setUint32(this.len, bytes.length, true);
    this.buf.set(bytes, this.len + 4);
    this.len += 4 + bytes.length;
  }

  bytes() {
    return this.buf.subarray(0, this.len);
  }
}

/**
 * A little-endian cursor over untrusted bytes: every length is checked
 * against the bytes present. Errors read "truncated while reading <what>",
 * as in the Rust reference (`weir_wire`).
 */
export class Cursor {
  constructor(bytes) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = 0;
  }

  remaining() {
    return this.bytes.length - this.pos;
  }

  need(n, what) {
    if (n > this.bytes.length - this.pos) throw new DecodeError(`truncated while reading ${what}`);
  }

  u8(what) {
    this.need(1, what);
    return this.bytes[this.pos++];
  }

  u16(what) {
    this.need(2, what);
    const value = this.view.getUint16(this.pos, true);
    this.pos += 2;
    return value;
  }

  u32(what) {
    this.need(4, what);
    const value = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return value;
  }

  take(n, what) {
    this.need(n, what);
    const out = this.bytes.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** A u32 length, then that many bytes. */
  lenBytes(what) {
    return this.take(this.u32(what), what);
  }
}

/** A batch or state chunk that cannot be decoded. */
export class DecodeError extends Error {
  constructor(message) {
    super(message);
    this.name = 'DecodeError';
  }
}
