/**
 * FastStream's `BinaryMessageFormatV1` envelope (big-endian):
 *
 *   magic(8) version:u16 headersStart:u32 dataStart:u32 | count:u16 (keyLen:u16 key valLen:u16 value)* | payload
 *
 * We write header lengths as UTF-8 byte counts. FastStream 0.7.4 writes code-point counts, which
 * differ for non-ASCII text; the reader accepts both (see {@link readHeaders}).
 */
import { DecodeError, EncodeError, describe } from '../errors.js';

/** `\x89BIN\r\n\x1a\n` */
export const MAGIC = Buffer.from([0x89, 0x42, 0x49, 0x4e, 0x0d, 0x0a, 0x1a, 0x0a]);
const VERSION = 1;
const HEADERS_START = 18;

/** Ordered header pairs, as they go on the wire. */
export type HeaderPairs = ReadonlyArray<readonly [string, string]>;

/**
 * Encodes an envelope in one allocation. Header order is kept exactly. A string payload is written
 * as UTF-8 straight into the envelope (no intermediate buffer).
 */
export function encodeEnvelope(headers: HeaderPairs, payload: Uint8Array | string): Buffer {
  let headerBytes = 2;
  for (const [key, value] of headers) {
    headerBytes += 4 + Buffer.byteLength(key) + Buffer.byteLength(value);
  }
  const dataStart = HEADERS_START + headerBytes;
  const payloadLength = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  const out = Buffer.allocUnsafe(dataStart + payloadLength);
  MAGIC.copy(out, 0);
  out.writeUInt16BE(VERSION, 8);
  out.writeUInt32BE(HEADERS_START, 10);
  out.writeUInt32BE(dataStart, 14);
  out.writeUInt16BE(headers.length, 18);
  let offset = 20;
  for (const [key, value] of headers) {
    offset = writeString(out, offset, key);
    offset = writeString(out, offset, value);
  }
  if (typeof payload === 'string') out.write(payload, offset, 'utf8');
  else out.set(payload, offset);
  return out;
}

function writeString(out: Buffer, offset: number, text: string): number {
  const length = out.write(text, offset + 2, 'utf8');
  if (length > 0xffff) throw new EncodeError(`A header is ${length} bytes long; the envelope allows 65535.`);
  out.writeUInt16BE(length, offset);
  return offset + 2 + length;
}

/** Checks a user header map before it reaches the wire; non-string values are refused by name. */
export function assertHeaderValues(headers: Readonly<Record<string, unknown>>): asserts headers is Record<string, string> {
  for (const key in headers) {
    const value = headers[key];
    if (typeof value !== 'string') {
      throw new EncodeError(
        `Header "${key}" must be a string, got ${describe(value)}. Convert it with String() or JSON.stringify() first.`,
      );
    }
  }
}

/** Whether `data` starts like a binary envelope. */
export function hasMagic(data: Buffer): boolean {
  if (data.length < 10) return false;
  for (let i = 0; i < 8; i += 1) if (data[i] !== MAGIC[i]) return false;
  return data[8] === 0 && data[9] === VERSION;
}

/** Result of reading a binary envelope. */
export interface Envelope {
  readonly headers: Record<string, string>;
  readonly payload: Buffer;
}

/**
 * Reads a binary envelope. Throws on anything malformed; the caller decides the fallback.
 * Byte-counted headers are tried first; when they do not land exactly on `dataStart`
 * the code-point-counted layout that FastStream writes is tried.
 */
export function decodeEnvelope(data: Buffer): Envelope {
  if (!hasMagic(data)) throw new DecodeError('not a binary envelope (bad magic or version)');
  if (data.length < HEADERS_START + 2) throw new DecodeError('envelope shorter than its fixed header');
  const headersStart = data.readUInt32BE(10);
  const dataStart = data.readUInt32BE(14);
  if (headersStart + 2 > data.length || dataStart > data.length || dataStart < headersStart + 2) {
    throw new DecodeError(`envelope offsets out of range (headers ${headersStart}, data ${dataStart}, size ${data.length})`);
  }
  const headers =
    readAsciiHeaders(data, headersStart, dataStart) ??
    readHeaders(data, headersStart, dataStart, byteLength) ??
    readHeaders(data, headersStart, dataStart, codePointLength);
  if (!headers) throw new DecodeError('envelope headers do not end where the payload starts');
  return { headers, payload: data.subarray(dataStart) };
}

type LengthReader = (data: Buffer, start: number, count: number, end: number) => number;

const byteLength: LengthReader = (_data, start, count, end) => (start + count <= end ? start + count : -1);

/** Advances over `count` UTF-8 encoded code points. */
const codePointLength: LengthReader = (data, start, count, end) => {
  let offset = start;
  for (let i = 0; i < count; i += 1) {
    if (offset >= end) return -1;
    const lead = data[offset] ?? 0;
    offset += lead < 0x80 ? 1 : lead < 0xe0 ? 2 : lead < 0xf0 ? 3 : 4;
  }
  return offset <= end ? offset : -1;
};

/** Where an envelope's parts lie, found without decoding any header. */
export interface EnvelopeLayout {
  readonly headersStart: number;
  readonly dataStart: number;
  /** The `content-type` header's value (the last one, if repeated). */
  readonly contentType: string | undefined;
}

const CONTENT_TYPE = Buffer.from('content-type');
const JSON_TYPE = 'application/json';
const JSON_TYPE_BYTES = Buffer.from(JSON_TYPE);

/**
 * Finds an envelope's parts without decoding a header: the byte-counted header lengths must end
 * exactly where the payload starts. Only `content-type` is read, because decoding the body needs
 * it; the other headers wait until someone asks ({@link readEnvelopeHeaders}). Undefined when the
 * lengths do not add up (e.g. FastStream's code-point counts for non-ASCII text):
 * {@link decodeEnvelope} then decides, with its fallbacks and its errors.
 */
export function scanEnvelope(data: Buffer): EnvelopeLayout | undefined {
  if (!hasMagic(data) || data.length < HEADERS_START + 2) return undefined;
  const headersStart = data.readUInt32BE(10);
  const dataStart = data.readUInt32BE(14);
  if (headersStart + 2 > dataStart || dataStart > data.length) return undefined;
  const count = ((data[headersStart] as number) << 8) | (data[headersStart + 1] as number);
  let contentType: string | undefined;
  let offset = headersStart + 2;
  for (let i = 0; i < count; i += 1) {
    if (offset + 2 > dataStart) return undefined;
    const keyLength = ((data[offset] as number) << 8) | (data[offset + 1] as number);
    const keyStart = offset + 2;
    const valueStart = keyStart + keyLength + 2;
    if (valueStart > dataStart) return undefined;
    const valueLength = ((data[valueStart - 2] as number) << 8) | (data[valueStart - 1] as number);
    offset = valueStart + valueLength;
    if (offset > dataStart) return undefined;
    if (keyLength === CONTENT_TYPE.length && bytesAt(data, keyStart, CONTENT_TYPE)) {
      contentType =
        valueLength === JSON_TYPE_BYTES.length && bytesAt(data, valueStart, JSON_TYPE_BYTES)
          ? JSON_TYPE
          : lenientUtf8.decode(data.subarray(valueStart, offset));
    }
  }
  return offset === dataStart ? { headersStart, dataStart, contentType } : undefined;
}

/**
 * The headers of an envelope {@link scanEnvelope} accepted, read as {@link decodeEnvelope} would.
 * Where that would give up (byte counts that add up around text that is not UTF-8) the text is
 * decoded leniently instead, since the layout itself is sound.
 */
export function readEnvelopeHeaders(data: Buffer, layout: EnvelopeLayout): Record<string, string> {
  const { headersStart, dataStart } = layout;
  return (
    readAsciiHeaders(data, headersStart, dataStart) ??
    readHeaders(data, headersStart, dataStart, byteLength) ??
    readHeaders(data, headersStart, dataStart, codePointLength) ??
    readHeaders(data, headersStart, dataStart, byteLength, lenientUtf8) ??
    {}
  );
}

/** Whether `expected` sits in `data` at `start`. */
function bytesAt(data: Buffer, start: number, expected: Buffer): boolean {
  for (let i = 0; i < expected.length; i += 1) if (data[start + i] !== expected[i]) return false;
  return true;
}

type Utf8Decoder = { decode(input: Uint8Array): string };
const lenientUtf8: Utf8Decoder = new TextDecoder('utf-8');
const utf8 = new TextDecoder('utf-8', { fatal: true });
const NOT_ASCII = /[^\x00-\x7f]/;

/**
 * The common case in one pass: ASCII headers (where byte and code-point counts agree), read as one
 * latin1 string and sliced. Undefined when anything is off; the general readers then decide.
 */
function readAsciiHeaders(data: Buffer, headersStart: number, dataStart: number): Record<string, string> | undefined {
  const count = data.readUInt16BE(headersStart);
  const text = data.toString('latin1', headersStart, dataStart);
  // Length bytes under 0x80 and ASCII text (the usual header block): nothing to check per string.
  const checked = !NOT_ASCII.test(text);
  const headers: Record<string, string> = {};
  let offset = headersStart + 2;
  for (let i = 0; i < count; i += 1) {
    if (offset + 2 > dataStart) return undefined;
    const keyStart = offset + 2;
    const keyEnd = keyStart + (((data[offset] as number) << 8) | (data[offset + 1] as number));
    const valueStart = keyEnd + 2;
    if (valueStart > dataStart) return undefined;
    const valueEnd = valueStart + (((data[keyEnd] as number) << 8) | (data[keyEnd + 1] as number));
    if (valueEnd > dataStart) return undefined;
    if (!checked && !(isAscii(data, keyStart, keyEnd) && isAscii(data, valueStart, valueEnd))) return undefined;
    setHeader(headers, text.slice(keyStart - headersStart, keyEnd - headersStart), text.slice(valueStart - headersStart, valueEnd - headersStart));
    offset = valueEnd;
  }
  return offset === dataStart ? headers : undefined;
}

function readHeaders(
  data: Buffer,
  headersStart: number,
  dataStart: number,
  advance: LengthReader,
  decoder: Utf8Decoder = utf8,
): Record<string, string> | undefined {
  const count = data.readUInt16BE(headersStart);
  const headers: Record<string, string> = {};
  let offset = headersStart + 2;
  try {
    for (let i = 0; i < count; i += 1) {
      const [key, afterKey] = readString(data, offset, dataStart, advance, decoder);
      const [value, afterValue] = readString(data, afterKey, dataStart, advance, decoder);
      setHeader(headers, key, value);
      offset = afterValue;
    }
  } catch {
    return undefined;
  }
  return offset === dataStart ? headers : undefined;
}

function readString(data: Buffer, offset: number, limit: number, advance: LengthReader, decoder: Utf8Decoder): [string, number] {
  if (offset + 2 > limit) throw new DecodeError('header length past the payload');
  const start = offset + 2;
  const end = advance(data, start, data.readUInt16BE(offset), limit);
  if (end < 0) throw new DecodeError('header past the payload');
  return [isAscii(data, start, end) ? data.toString('latin1', start, end) : decoder.decode(data.subarray(start, end)), end];
}

/** Headers are nearly always ASCII, which needs no UTF-8 validation. */
function isAscii(data: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i += 1) if ((data[i] as number) > 0x7f) return false;
  return true;
}

/**
 * Sets a header on a plain record. A header named `__proto__` (any producer may write one) becomes
 * an own property like any other, instead of replacing the record's prototype.
 */
export function setHeader(headers: Record<string, string>, key: string, value: string): void {
  if (key === '__proto__') Object.defineProperty(headers, key, { value, enumerable: true, writable: true, configurable: true });
  else headers[key] = value;
}
