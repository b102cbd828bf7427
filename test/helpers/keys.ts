/**
 * Test key names, and their deletion after each test file.
 *
 * Every name comes from uid(), which puts this file's own random token in it: `rs-test:<token>:…`.
 * Names derived from one (`${stream}:dlq`, `{${stream}}:processed`, `app.${base}.jobs`) still hold
 * `rs-test:<token>:`, so after the file every key matching `*rs-test:<token>:*` is deleted on each
 * Redis the project uses (every master of a cluster). Vitest isolates test files (a fresh module
 * graph per file, whether files share a worker or run in parallel), so each file has its own token
 * and never deletes another file's keys, even in the same process.
 */
import { randomBytes } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { afterAll } from 'vitest';

const TOKEN = randomBytes(6).toString('hex');
/** SCAN pattern of every key this file's tests can have created. */
export const TEST_KEYS = `*rs-test:${TOKEN}:*`;

let counter = 0;
/** A key or channel name no other test, test file or test run uses. */
export function uid(tag: string): string {
  counter += 1;
  return `rs-test:${TOKEN}:${tag}:${counter}`;
}

/** Deletes this file's keys on each Redis after the file, if it named any. */
export function deleteTestKeysAfterFile(connections: ReadonlyArray<() => Redis | Cluster>): void {
  afterAll(async () => {
    if (counter === 0) return;
    await Promise.all(connections.map(async (connect) => {
      const client = connect();
      try {
        await client.connect();
        await deleteKeys(client, TEST_KEYS);
      } finally {
        client.disconnect();
      }
    }));
  });
}

/** Deletes the keys matching `pattern`: SCAN on each master, UNLINK on the node that holds them. */
export async function deleteKeys(client: Redis | Cluster, pattern: string): Promise<number> {
  const nodes = 'nodes' in client ? client.nodes('master') : [client];
  let deleted = 0;
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length === 0) continue;
      // One UNLINK per key: keys of different slots cannot share a command on a cluster node.
      const pipeline = node.pipeline();
      for (const key of keys) pipeline.unlink(key);
      for (const [error] of (await pipeline.exec()) ?? []) if (error) throw error;
      deleted += keys.length;
    } while (cursor !== '0');
  }
  return deleted;
}
