import { describe, expect, it } from 'vitest';
import { decodeBody, decodeEnvelope, encodeEnvelope, encodeMessage, parseWire } from '../../src/core/codec/index.js';
import { EncodeError } from '../../src/index.js';
import { loadVectors } from '../helpers/fixtures.js';

const cid = 'cid-1';
const xy = { x: 'y' };

/** The redstream call equivalent to each FastStream call that wrote a vector, and the body a handler gets. */
const calls: Record<string, { body: unknown; correlationId?: string; replyTo?: string; headers?: Record<string, string>; decoded: unknown }> = {
  'list-str.hex': { body: 'hello', headers: xy, decoded: 'hello' },
  'stream-str.hex': { body: 'hello', headers: xy, decoded: 'hello' },
  'channel-str.hex': { body: 'hello', headers: xy, decoded: 'hello' },
  'list-dict.hex': { body: { a: 1 }, headers: xy, decoded: { a: 1 } },
  'stream-dict.hex': { body: { a: 1 }, headers: xy, decoded: { a: 1 } },
  'channel-dict.hex': { body: { a: 1 }, headers: xy, decoded: { a: 1 } },
  'list-bytes.hex': { body: Buffer.from([0, 1]), headers: xy, decoded: Buffer.from([0, 1]) },
  'stream-bytes.hex': { body: Buffer.from([0, 1]), headers: xy, decoded: Buffer.from([0, 1]) },
  'channel-bytes.hex': { body: new Uint8Array([0, 1]), headers: xy, decoded: Buffer.from([0, 1]) },
  'list-none.hex': { body: null, headers: xy, decoded: undefined },
  'list-str-noheaders.hex': { body: 'hello', decoded: 'hello' },
  'list-str-replyto.hex': { body: 'hello', headers: xy, replyTo: 'fsv:reply-to', decoded: 'hello' },
  'list-dict-unicode-float.hex': {
    body: { k: 'é✓', f: 1.5, n: null, l: [1, '2'] },
    headers: xy,
    decoded: { k: 'é✓', f: 1.5, n: null, l: [1, '2'] },
  },
  'list-str-unicode.hex': { body: 'héllo', headers: xy, decoded: 'héllo' },
  'list-header-nonascii.hex': { body: 'hello', headers: { x: 'é' }, decoded: 'hello' },
  'list-header-override-cid.hex': { body: 'hello', headers: { correlation_id: 'from-headers' }, decoded: 'hello' },
  'list-batch-0.hex': { body: 'a', headers: xy, decoded: 'a' },
  'list-batch-1.hex': { body: { b: 2 }, headers: xy, decoded: { b: 2 } },
  'stream-maxlen.hex': { body: 'hello', headers: xy, decoded: 'hello' },
  'channel-reply.hex': { body: { pong: 'ping' }, correlationId: 'cid-rpc', decoded: { pong: 'ping' } },
};

const vectors = loadVectors();

/** vectors.json shows FastStream's own (broken) read of its character-counted header; we read `é`. */
function expectedHeaders(file: string, fromVector: Array<[string, string]>): Array<[string, string]> {
  if (file !== 'list-header-nonascii.hex') return fromVector;
  return [['correlation_id', 'cid-1'], ['content-type', 'text/plain'], ['x', 'é']];
}

describe('FastStream 0.7.4 binary envelope', () => {
  it('has a redstream call for every vector FastStream wrote', () => {
    expect(vectors.map((v) => v.file).sort()).toEqual(Object.keys(calls).sort());
  });

  describe.each(vectors)('$file', (vector) => {
    const call = calls[vector.file]!;

    it('decodes to the original headers and body', () => {
      const wire = parseWire(vector.bytes);
      expect(wire.format).toBe('binary');
      expect(wire.corruption).toBeUndefined();
      expect(Object.entries(wire.headers)).toEqual(expectedHeaders(vector.file, vector.decoded.headers));
      expect(wire.payload.toString('hex')).toBe(vector.decoded.data_hex);
      expect(decodeBody(wire.payload, wire.headers['content-type'])).toEqual(call.decoded);
      // Read up front without decoding the other headers; must agree with them.
      expect(wire.contentType).toBe(wire.headers['content-type']);
    });

    it('encodes the same call to the same bytes (UTF-8 lengths where FastStream counts characters)', () => {
      const ours = encodeMessage(call.body, {
        correlationId: call.correlationId ?? cid,
        replyTo: call.replyTo,
        headers: call.headers,
      });
      const prefixesAgree = vector.decoded.header_len_prefixes.every(
        ([k, v], i) => k === Buffer.byteLength(vector.decoded.headers[i]![0]) && v === Buffer.byteLength(vector.decoded.headers[i]![1]),
      );
      if (prefixesAgree) {
        expect(ours.toString('hex')).toBe(vector.bytes.toString('hex'));
      } else {
        // FastStream wrote a character count; we write the byte count, and both decode alike.
        expect(ours.equals(vector.bytes)).toBe(false);
        expect(decodeEnvelope(ours)).toEqual(decodeEnvelope(vector.bytes));
      }
    });
  });

  it('writes header lengths as UTF-8 byte counts', () => {
    const bytes = encodeMessage('hello', { correlationId: 'c', headers: { x: 'é' } });
    // ... 00 01 'x' 00 02 c3 a9 'hello'
    expect(bytes.subarray(bytes.length - 5 - 4, bytes.length - 5).toString('hex')).toBe('0002c3a9');
    expect(decodeEnvelope(bytes).headers).toEqual({ correlation_id: 'c', 'content-type': 'text/plain', x: 'é' });
  });
});

describe('encoding rules', () => {
  it('gives strings text/plain, JSON values application/json and bytes or nothing no content-type', () => {
    const typeOf = (body: unknown) => decodeEnvelope(encodeMessage(body, { correlationId: 'c' })).headers['content-type'];
    expect(typeOf('s')).toBe('text/plain');
    expect(typeOf(42)).toBe('application/json');
    expect(typeOf([1])).toBe('application/json');
    expect(typeOf(false)).toBe('application/json');
    expect(typeOf(Buffer.from('x'))).toBeUndefined();
    expect(typeOf(undefined)).toBeUndefined();
    expect(typeOf(null)).toBeUndefined();
  });

  it('refuses a non-string header value, naming the header', () => {
    expect(() => encodeMessage('x', { correlationId: 'c', headers: { retries: 3 as unknown as string } })).toThrow(
      /Header "retries" must be a string, got 3/,
    );
    expect(() => encodeMessage('x', { correlationId: 'c', headers: { retries: 3 as unknown as string } })).toThrow(EncodeError);
  });

  it('refuses a body JSON cannot represent', () => {
    expect(() => encodeMessage(10n, { correlationId: 'c' })).toThrow(EncodeError);
    expect(() => encodeMessage(() => 1, { correlationId: 'c' })).toThrow(/cannot be a message body/);
  });
});

describe('reading what is not a valid envelope (spec §5.4)', () => {
  it('reads the legacy JSON envelope', () => {
    const wire = parseWire(Buffer.from(JSON.stringify({ data: '{"a":1}', headers: { correlation_id: 'old' } })));
    expect(wire.format).toBe('json');
    expect(wire.headers).toEqual({ correlation_id: 'old' });
    expect(decodeBody(wire.payload, undefined)).toEqual({ a: 1 });
  });

  it('delivers plain JSON and text from foreign producers raw, with no headers', () => {
    const json = parseWire(Buffer.from('{"order":7}'));
    expect(json).toMatchObject({ format: 'raw', headers: {} });
    expect(decodeBody(json.payload, undefined)).toEqual({ order: 7 });
    expect(decodeBody(parseWire(Buffer.from('plain words')).payload, undefined)).toEqual(Buffer.from('plain words'));
  });

  it.each([
    ['truncated in the fixed header', (b: Buffer) => b.subarray(0, 15)],
    ['truncated in the headers', (b: Buffer) => b.subarray(0, 30)],
    ['with a data offset past the end', (b: Buffer) => Buffer.concat([b.subarray(0, 14), Buffer.from([0, 0, 9, 9]), b.subarray(18)])],
    ['with a header count too large', (b: Buffer) => Buffer.concat([b.subarray(0, 18), Buffer.from([0, 9]), b.subarray(20)])],
  ])('falls back to the raw bytes, flagged as corrupt, when %s', (_name, mangle) => {
    const corrupt = mangle(vectors.find((v) => v.file === 'list-str.hex')!.bytes);
    const wire = parseWire(corrupt);
    expect(wire.format).toBe('raw');
    expect(wire.headers).toEqual({});
    expect(wire.payload.equals(corrupt)).toBe(true);
    expect(wire.corruption).toEqual(expect.any(String));
  });

  it('reads a content-type that is not JSON, and the last one when a header repeats', () => {
    const bytes = encodeEnvelope([['correlation_id', 'c'], ['content-type', 'text/plain; charset=utf-8'], ['content-type', 'text/csv']], 'a,b');
    const wire = parseWire(bytes);
    expect(wire.contentType).toBe('text/csv');
    expect(wire.headers).toEqual({ correlation_id: 'c', 'content-type': 'text/csv' });
  });

  it('keeps the payload of an envelope whose byte counts add up around text that is not UTF-8', () => {
    // key "x", value 0xff 0xfe: lengths land exactly on the payload, the text is not UTF-8.
    const bytes = encodeEnvelope([['correlation_id', 'c'], ['x', 'ab']], 'body');
    const valueAt = bytes.indexOf('ab', 20);
    bytes[valueAt] = 0xff;
    bytes[valueAt + 1] = 0xfe;
    const wire = parseWire(bytes);
    expect(wire.format).toBe('binary');
    expect(wire.corruption).toBeUndefined();
    expect(wire.payload.toString()).toBe('body');
    expect(wire.headers).toEqual({ correlation_id: 'c', x: '\ufffd\ufffd' });
  });

  it('throws a DecodeError for a body that claims JSON and is not', () => {
    expect(() => decodeBody(Buffer.from('{oops'), 'application/json')).toThrow(/not valid JSON/);
  });
});
