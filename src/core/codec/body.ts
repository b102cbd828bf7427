/**
 * Body rules shared with FastStream (spec §5.1, §5.6): string → text/plain, bytes → no
 * content-type, nothing → empty, anything else → compact JSON.
 */
import { DecodeError, EncodeError } from '../errors.js';
import { assertHeaderValues, type HeaderPairs } from './binary.js';

/** The content-types redstream sets on bodies it encodes and recognises when decoding. */
export const ContentType = {
  TEXT: 'text/plain',
  JSON: 'application/json',
} as const;

/** A body turned into bytes (or text, written as UTF-8), with the content-type FastStream would give it. */
export interface EncodedBody {
  readonly payload: Uint8Array | string;
  readonly contentType: string | undefined;
}

const EMPTY = new Uint8Array(0);

/** Encodes a message body the way FastStream does. */
export function encodeBody(body: unknown): EncodedBody {
  if (body === undefined || body === null) return { payload: EMPTY, contentType: undefined };
  if (typeof body === 'string') return { payload: body, contentType: ContentType.TEXT };
  if (body instanceof Uint8Array) return { payload: body, contentType: undefined };
  let json: string | undefined;
  try {
    json = JSON.stringify(body);
  } catch (error) {
    throw new EncodeError(`The message body cannot be serialized to JSON: ${(error as Error).message}`, { cause: error });
  }
  if (json === undefined) {
    throw new EncodeError(`A ${typeof body} cannot be a message body; send a string, bytes or a JSON value.`);
  }
  return { payload: json, contentType: ContentType.JSON };
}

/** What a publish call says about the envelope's headers. */
export interface HeaderFields {
  readonly correlationId: string;
  readonly contentType?: string | undefined;
  readonly replyTo?: string | undefined;
  readonly headers?: Readonly<Record<string, string>> | undefined;
}

/**
 * Header order as FastStream writes it: correlation_id, content-type, reply_to, then user
 * headers. A user header with the same name replaces the value in place.
 */
export function buildHeaders(fields: HeaderFields): HeaderPairs {
  return headerPairs(fields.correlationId, fields.contentType, fields.replyTo, fields.headers);
}

/** {@link buildHeaders} with the fields as arguments (the publish hot path makes no fields object). */
export function headerPairs(
  correlationId: string,
  contentType: string | undefined,
  replyTo: string | undefined,
  user: Readonly<Record<string, string>> | undefined,
): HeaderPairs {
  const pairs: Array<[string, string]> = [['correlation_id', correlationId]];
  if (contentType !== undefined) pairs.push(['content-type', contentType]);
  if (replyTo) pairs.push(['reply_to', replyTo]);
  if (user) {
    assertHeaderValues(user);
    for (const key in user) {
      const value = user[key] as string;
      // Only the first three can repeat a user header; everything after them is a user header.
      const existing = key === 'correlation_id' || key === 'content-type' || key === 'reply_to' ? pairs.find((pair) => pair[0] === key) : undefined;
      if (existing) existing[1] = value;
      else pairs.push([key, value]);
    }
  }
  return pairs;
}

/**
 * Decodes a payload for the handler (spec §5.6): text/plain → string, application/json → parsed,
 * no content-type → parsed JSON when it is JSON, else the raw bytes; empty → undefined.
 */
export function decodeBody(payload: Buffer, contentType: string | undefined): unknown {
  if (contentType === ContentType.JSON) return parseJson(payload, contentType);
  if (contentType === undefined) {
    if (payload.length === 0) return undefined;
    return looksLikeJson(payload) ? tryJson(payload) : payload;
  }
  if (contentType.startsWith(ContentType.TEXT)) return payload.toString('utf8');
  if (contentType.startsWith(ContentType.JSON)) return parseJson(payload, contentType);
  return payload;
}

function parseJson(payload: Buffer, contentType: string): unknown {
  try {
    // toString() without arguments is Node's shortest path to UTF-8.
    return JSON.parse(payload.toString()) as unknown;
  } catch (error) {
    throw new DecodeError(`The body says content-type ${contentType} but is not valid JSON: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

function tryJson(payload: Buffer): unknown {
  try {
    return JSON.parse(payload.toString('utf8')) as unknown;
  } catch {
    return payload;
  }
}

/** Cheap first-byte test so binary payloads are not run through JSON.parse. */
export function looksLikeJson(payload: Buffer): boolean {
  for (let i = 0; i < payload.length; i += 1) {
    const byte = payload[i] as number;
    if (byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09) continue;
    // { [ " - 0-9 t f n
    return (
      byte === 0x7b || byte === 0x5b || byte === 0x22 || byte === 0x2d || (byte >= 0x30 && byte <= 0x39) ||
      byte === 0x74 || byte === 0x66 || byte === 0x6e
    );
  }
  return false;
}
