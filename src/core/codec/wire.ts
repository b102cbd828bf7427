/**
 * From a Redis value to (headers, payload) and back, with FastStream's fallbacks (spec §5.4):
 * binary envelope → legacy JSON envelope `{"data": "...", "headers": {...}}` → raw bytes.
 */
import { decodeEnvelope, encodeEnvelope, hasMagic } from './binary.js';
import { encodeBody, headerPairs, looksLikeJson, type HeaderFields } from './body.js';

/** How a Redis value was understood. */
export const WireFormat = {
  BINARY: 'binary',
  JSON: 'json',
  RAW: 'raw',
} as const;
export type WireFormat = (typeof WireFormat)[keyof typeof WireFormat];

/** A Redis value read back into headers and payload. */
export interface WireMessage {
  readonly headers: Record<string, string>;
  readonly payload: Buffer;
  readonly format: WireFormat;
  /** Set when the value looked like a binary envelope but could not be read as one. */
  readonly corruption?: string;
}

/** Reads a Redis value. Never throws: what cannot be understood is delivered raw. */
export function parseWire(data: Buffer): WireMessage {
  let corruption: string | undefined;
  if (hasMagic(data)) {
    try {
      const { headers, payload } = decodeEnvelope(data);
      return { headers, payload, format: WireFormat.BINARY };
    } catch (error) {
      corruption = (error as Error).message;
    }
  }
  const legacy = looksLikeJson(data) ? parseLegacy(data) : undefined;
  if (legacy) return corruption === undefined ? legacy : { ...legacy, corruption };
  const raw: WireMessage = { headers: {}, payload: data, format: WireFormat.RAW };
  return corruption === undefined ? raw : { ...raw, corruption };
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
  return { headers: stringHeaders(record['headers']), payload: Buffer.from(body, 'utf8'), format: WireFormat.JSON };
}

function stringHeaders(value: unknown): Record<string, string> {
  const headers: Record<string, string> = {};
  if (typeof value !== 'object' || value === null) return headers;
  for (const [key, item] of Object.entries(value)) {
    headers[key] = typeof item === 'string' ? item : JSON.stringify(item);
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
