import { describe, expect, it } from 'vitest';
import { PipelineError } from '../../src/index.js';
import { targets, uid } from '../helpers/redis.js';

describe.each(targets)('on $name', ({ makeBroker, rawClient }) => {
  describe('pipelines', () => {
    it('sends queued publishes of every kind when the callback returns, results in call order', async () => {
      const broker = makeBroker();
      const list = uid('pipe-list');
      const stream = uid('pipe-stream');
      const raw = rawClient();
      const results = await broker.pipeline(async (pipe) => {
        expect(await broker.publish('a', { list, pipeline: pipe })).toBeUndefined();
        await broker.publish('b', { stream, pipeline: pipe, maxlen: 10 });
        await broker.publishBatch(['c', 'd'], { list, pipeline: pipe });
        await broker.publish('e', { channel: uid('pipe-ch'), pipeline: pipe });
        // Nothing is sent before the callback returns.
        expect((await raw.exists(list)) + (await raw.exists(stream))).toBe(0);
      });
      expect(results).toEqual([1, expect.stringMatching(/^\d+-\d+$/), 3, expect.any(Number)]);
      expect(await raw.llen(list)).toBe(3);
      expect(await raw.xlen(stream)).toBe(1);
    });

    it('sends nothing when the callback throws', async () => {
      const broker = makeBroker();
      const list = uid('pipe-throw');
      await expect(
        broker.pipeline(async (pipe) => {
          await broker.publish('a', { list, pipeline: pipe });
          throw new Error('changed my mind');
        }),
      ).rejects.toThrow('changed my mind');
      expect(await rawClient().exists(list)).toBe(0);
    });

    it('runs atomically with MULTI/EXEC and reports which command failed', async () => {
      const broker = makeBroker();
      const list = uid('pipe-atomic');
      expect(await broker.pipeline(async (pipe) => void (await broker.publish(1, { list, pipeline: pipe })), { atomic: true })).toEqual([1]);
      const notAList = uid('pipe-wrongtype');
      await rawClient().set(notAList, 'x');
      const error = await broker
        .pipeline(async (pipe) => {
          await broker.publish(2, { list, pipeline: pipe });
          await broker.publish(3, { list: notAList, pipeline: pipe });
        })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PipelineError);
      expect((error as PipelineError).results[0]).toBe(2);
      expect((error as PipelineError).results[1]).toBeInstanceOf(Error);
    });

    it('refuses a pipeline used after it was sent', async () => {
      const broker = makeBroker();
      let kept: Parameters<Parameters<typeof broker.pipeline>[0]>[0] | undefined;
      await broker.pipeline((pipe) => {
        kept = pipe;
      });
      await expect(broker.publish('late', { list: uid('late'), pipeline: kept! })).rejects.toThrow(/already sent/);
    });
  });
});
