import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/index.js';
import type { BlockingConnection } from '../../src/redis/connection/strategy.js';
import { Claimer } from '../../src/redis/subscriber/claim.js';

/** Answers XAUTOCLAIM with the given cursors in turn and records the cursor each call sent. */
function scripted(cursors: string[]): BlockingConnection & { sent: string[] } {
  const sent: string[] = [];
  return {
    sent,
    send: (_command, args) => {
      sent.push(String(args[4]));
      return Promise.resolve([Buffer.from(cursors.shift() ?? '0-0'), [], []]);
    },
    interrupt: () => Promise.resolve(),
    reconnects: 0,
    reset: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
}

describe('claim scheduling', () => {
  it('continues the scan cursor across calls and rests for the interval after a full pass', async () => {
    const claimer = new Claimer(1000, 60_000);
    const connection = scripted(['5-0', '9-0', '0-0']);
    expect(claimer.due).toBe(true);
    for (let i = 0; i < 3; i += 1) await claimer.claim(connection, 's', 'g', 'c', 10, silentLogger);
    expect(connection.sent).toEqual(['0-0', '5-0', '9-0']);
    // The pass came back to 0-0: an idle group costs one call per interval, not a spin.
    expect(claimer.due).toBe(false);
  });
});
