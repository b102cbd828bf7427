/** redstream/prometheus's histogram scrapes exactly as prom-client's own, for the same observations. */
import fc from 'fast-check';
import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { LeanHistogram } from '../../src/prometheus/histogram.js';

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

describe('LeanHistogram', () => {
  it("scrapes to the same text as prom-client's Histogram, for any observations and label sets", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c"d'), fc.oneof(fc.double({ min: 0, max: 20, noNaN: true }), fc.constantFrom(...BUCKETS))), { maxLength: 60 }), async (observations) => {
        const native = new Registry();
        const lean = new Registry();
        const labelNames = ['app_name', 'handler'];
        const theirs = new Histogram({ name: 'h_seconds', help: 'How long.', labelNames, buckets: BUCKETS, registers: [native] });
        const ours = new LeanHistogram(lean, 'h_seconds', 'How long.', labelNames, BUCKETS);
        // Children made once and kept, as the middleware does; observed before and after a reset.
        const children = new Map(['a', 'b', 'c"d'].map((handler) => [handler, [theirs.labels({ app_name: 'svc', handler }), ours.labels({ app_name: 'svc', handler })] as const]));
        const observe = (from: number, to: number): void => {
          for (const [handler, value] of observations.slice(from, to)) for (const child of children.get(handler)!) child.observe(value);
        };
        const half = Math.floor(observations.length / 2);
        observe(0, half);
        expect(await lean.metrics()).toBe(await native.metrics());
        lean.resetMetrics();
        native.resetMetrics();
        expect(await lean.metrics()).toBe(await native.metrics());
        observe(half, observations.length);
        expect(await lean.metrics()).toBe(await native.metrics());
      }),
      { numRuns: 100 },
    );
  });
});

describe('RedisPrometheusMiddleware options', () => {
  it('refuse an `le` custom label, which every histogram bucket uses', async () => {
    const { RedisPrometheusMiddleware } = await import('../../src/prometheus/index.js');
    expect(() => new RedisPrometheusMiddleware({ registry: new Registry(), customLabels: { le: 'x' } })).toThrow(/customLabels/);
  });

  it('leave out values prom-client would refuse, instead of a NaN sum for good', async () => {
    const native = new Registry();
    const lean = new Registry();
    const theirs = new Histogram({ name: 'h', help: 'h', labelNames: ['a'], buckets: BUCKETS, registers: [native] }).labels({ a: 'x' });
    const ours = new LeanHistogram(lean, 'h', 'h', ['a'], BUCKETS).labels({ a: 'x' });
    theirs.observe(0.2);
    ours.observe(0.2);
    expect(() => theirs.observe(Number.NaN)).toThrow();
    ours.observe(Number.NaN);
    ours.observe(Number.POSITIVE_INFINITY);
    expect(await lean.metrics()).toBe(await native.metrics());
  });
});
