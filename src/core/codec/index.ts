/**
 * `redstream/codec`: FastStream's wire format on its own, for tools that read or write Redis
 * values directly (a migration script, a debugging CLI, another client library).
 * @packageDocumentation
 */
export { encodeEnvelope, decodeEnvelope, type HeaderPairs, type Envelope } from './binary.js';
export { encodeBody, decodeBody, buildHeaders, ContentType, type EncodedBody, type HeaderFields } from './body.js';
export { parseWire, encodeMessage, WireFormat, type WireMessage, type OutgoingFields } from './wire.js';
