/**
 * From a Redis value to (headers, payload) and back, with FastStream's fallbacks (spec §5.4):
 * binary envelope → legacy JSON envelope `{"data": "...", "headers": {...}}` → raw bytes.
 */
import { decodeEnvelope, encodeEnvelope, hasMagic, readEnvelopeHeaders, scanEnvelope, setHeader, type EnvelopeLayout } from './binary.js';
import { encodeBody, headerPairs, looksLikeJson, type HeaderFields } from './body.js';

/** How a Redis value was understood. */
export const WireFormat = {
  BINARY: 'binary',
  JSON: 'json',
  RAW: 'raw',
} as const;
/** One of the {@link WireFormat} values. */
export type WireFormat = (typeof WireFormat)[keyof typeof WireFormat];

/** A Redis value read back into headers and payload. */
export interface WireMessage {
  readonly headers: Record<string, string>;
  readonly payload: Buffer;
  readonly format: WireFormat;
  /** The `content-type` header, available without decoding the other headers. */
  readonly contentType: string | undefined;
  /** Set when the value looked like a binary envelope but could not be read as one. */
  readonly corruption?: string;
}

/**
 * A binary envelope whose layout was checked: its headers are decoded on first use, since most
 * handlers never look at them (the body's content-type is read up front).
 */
class EnvelopeWire implements WireMessage {
  readonly payload: Buffer;
  readonly contentType: string | undefined;
  readonly #data: Buffer;
  readonly #layout: EnvelopeLayout;
  #headers: Record<string, string> | undefined;

  constructor(data: Buffer, layout: EnvelopeLayout) {
    this.#data = data;
    this.#layout = layout;
    this.contentType = layout.contentType;
    this.payload = data.subarray(layout.dataStart);
  }

  get format(): WireFormat {
    return WireFormat.BINARY;
  }

  get headers(): Record<string, string> {
    return (this.#headers ??= readEnvelopeHeaders(this.#data, this.#layout));
  }
}

/** Reads a Redis value. Never throws: what cannot be understood is delivered raw. */
export function parseWire(data: Buffer): WireMessage {
  const layout = scanEnvelope(data);
  if (layout) return new EnvelopeWire(data, layout);
  let corruption: string | undefined;
  if (hasMagic(data)) {
    try {
      const { headers, payload } = decodeEnvelope(data);
      return wire(headers, payload, WireFormat.BINARY);
    } catch (error) {
      corruption = (error as Error).message;
    }
  }
  const legacy = looksLikeJson(data) ? parseLegacy(data) : undefined;
  if (legacy) return corruption === undefined ? legacy : { ...legacy, corruption };
  const raw = wire({}, data, WireFormat.RAW);
  return corruption === undefined ? raw : { ...raw, corruption };
}

function wire(headers: Record<string, string>, payload: Buffer, format: WireFormat): WireMessage {
  return { headers, payload, format, contentType: headers['content-type'] };
}

function parseLegacy(data: Buffer): WireMessage | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(data.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const record = parsed as Record<string, unknown>;
  const body = record['data'];
  if (typeof body !== 'string') return undefined;
  return wire(stringHeaders(record['headers']), Buffer.from(body, 'utf8'), WireFormat.JSON);
}

function stringHeaders(value: unknown): Record<string, string> {
  const headers: Record<string, string> = {};
  if (typeof value !== 'object' || value === null) return headers;
  for (const [key, item] of Object.entries(value)) {
    setHeader(headers, key, typeof item === 'string' ? item : JSON.stringify(item));
  }
  return headers;
}

/** Everything needed to put one body on the wire. */
export type OutgoingFields = Omit<HeaderFields, 'contentType'>;

/** Encodes a body into a binary envelope, byte-identical to FastStream for ASCII headers. */
export function encodeMessage(body: unknown, fields: OutgoingFields): Buffer {
  const encoded = encodeBody(body);
  return encodeEnvelope(headerPairs(fields.correlationId, encoded.contentType, fields.replyTo, fields.headers), encoded.payload);
}
