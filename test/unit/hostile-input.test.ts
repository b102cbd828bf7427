/**
 * Property-based tests over every parsing path: the binary envelope, the legacy JSON envelope, raw
 * bytes, stream entries with and without `__data__`, batches and headers of every shape. At least
 * 10,000 generated cases per run; `REDSTREAM_FUZZ_RUNS=<n>` sets the cases per property.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeBody, encodeEnvelope, encodeMessage, parseWire } from '../../src/core/codec/index.js';
import { consume, type ConsumerConfig } from '../../src/core/consume.js';
import { RedstreamError, silentLogger, Message } from '../../src/index.js';
import { toWire } from '../../src/redis/subscriber/stream-entries.js';

const RUNS = Number(process.env['REDSTREAM_FUZZ_RUNS'] ?? 2_000);

/** Strings of any code points, including the ones UTF-8 needs four bytes for. */
const text = fc.string({ unit: 'binary', maxLength: 40 });
const headerName = text.filter((name) => name.length > 0);
const headers = fc.dictionary(headerName, text, { maxKeys: 6 });
const jsonValue = fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.parse(JSON.stringify(value)) as unknown);

/** Valid envelopes, then cut, extended or with bytes overwritten: what a broken producer may write. */
const envelope = fc.tuple(fc.array(fc.tuple(text, text), { maxLength: 5 }), fc.uint8Array({ maxLength: 64 })).map(([pairs, payload]) => encodeEnvelope(pairs, payload));
const mangled = fc.oneof(
  fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes)),
  fc.tuple(envelope, fc.nat()).map(([data, cut]) => data.subarray(0, cut % (data.length + 1))),
  fc.tuple(envelope, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 })).map(([data, edits]) => {
    const copy = Buffer.from(data);
    for (const [at, byte] of edits) copy[at % copy.length] = byte;
    return copy;
  }),
  fc.tuple(jsonValue, headers).map(([data, h]) => Buffer.from(JSON.stringify({ data: typeof data === 'string' ? data : JSON.stringify(data), headers: h }))),
  fc.string().map((s) => Buffer.from(s)),
);

/** Reading a value never throws; what it read can always be looked at, and decoding fails only with a RedstreamError. */
function readsSafely(data: Buffer): void {
  const wire = parseWire(data);
  expect(wire.headers).toBeTypeOf('object');
  expect(Buffer.isBuffer(wire.payload)).toBe(true);
  try {
    decodeBody(wire.payload, wire.contentType);
  } catch (error) {
    expect(error).toBeInstanceOf(RedstreamError);
  }
}

describe('hostile input', () => {
  it('round-trips any JSON body and any headers through the binary envelope', () => {
    fc.assert(
      fc.property(jsonValue, headers, text, (body, userHeaders, correlationId) => {
        const wire = parseWire(encodeMessage(body, { correlationId: correlationId || 'c', headers: userHeaders }));
        const expected = { ...userHeaders };
        delete expected['correlation_id'];
        delete expected['content-type'];
        expect(wire.headers).toMatchObject(expected);
        if (!('correlation_id' in userHeaders)) expect(wire.headers['correlation_id']).toBe(correlationId || 'c');
        const decoded = decodeBody(wire.payload, wire.contentType);
        if (body === null) expect(decoded).toBeUndefined();
        else expect(decoded).toEqual(body);
      }),
      { numRuns: RUNS },
    );
  });

  it('reads any bytes, cut or corrupted envelopes and legacy JSON envelopes without throwing', () => {
    fc.assert(fc.property(mangled, readsSafely), { numRuns: RUNS * 2 });
  });

  it('reads any stream entry fields, with or without __data__', () => {
    const field = fc.oneof(fc.constant('__data__'), text).map((name) => Buffer.from(name));
    const value = fc.oneof(mangled, text.map((s) => Buffer.from(s)));
    fc.assert(
      fc.property(fc.array(fc.tuple(field, value), { maxLength: 5 }), (pairs) => {
        const wire = toWire(pairs.flat());
        readsSafely(Buffer.concat([wire.payload]));
        expect(wire.headers).toBeTypeOf('object');
      }),
      { numRuns: RUNS },
    );
  });

  it('runs any message, single or batch, through the consume pipeline without throwing, settling each', async () => {
    const config = (withMiddleware: boolean): ConsumerConfig => ({
      name: 'fuzz',
      subscriber: { name: 'fuzz', kind: 'list', group: undefined, batch: false },
      handler: (body) => body,
      schema: undefined,
      middlewares: withMiddleware ? [{ onReceive: (m) => void m.headers }] : [],
      ackPolicy: 'nackOnError',
      logger: silentLogger,
      emit: () => Promise.resolve(),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(mangled, { minLength: 1, maxLength: 4 }), fc.boolean(), fc.boolean(), async (values, batch, withMiddleware) => {
        const items = (batch ? values : values.slice(0, 1)).map(parseWire);
        const message = new Message({ source: { kind: 'list', name: 'fuzz' }, items, batch });
        const outcome = await consume(config(withMiddleware), message);
        if (outcome.error !== undefined) expect(outcome.error).toBeInstanceOf(RedstreamError);
        await outcome.settled;
      }),
      { numRuns: RUNS * 2 },
    );
  });
});
