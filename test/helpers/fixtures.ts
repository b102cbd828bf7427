import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('../fixtures/faststream-0.7.4/', import.meta.url));

export interface Vector {
  file: string;
  dest: 'list' | 'stream' | 'channel';
  key?: string;
  case: string;
  input: string;
  call: string;
  decoded: { headers: Array<[string, string]>; data_hex: string; header_len_prefixes: Array<[number, number]> };
}

/** The vectors FastStream 0.7.4 wrote, with their bytes. */
export function loadVectors(): Array<Vector & { bytes: Buffer }> {
  const doc = JSON.parse(readFileSync(`${dir}vectors.json`, 'utf8')) as { vectors: Vector[] };
  return doc.vectors.map((vector) => ({ ...vector, bytes: fixtureBytes(vector.file) }));
}

export function fixtureBytes(file: string): Buffer {
  return Buffer.from(readFileSync(`${dir}${file}`, 'utf8').replace(/\s+/g, ''), 'hex');
}
