import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { StreamSub } from '../../src/index.js';
import { realTargets, uid } from '../helpers/redis.js';
import { eventually, Inbox } from '../helpers/wait.js';

const victimScript = fileURLToPath(new URL('../helpers/crash-consumer.ts', import.meta.url));

// Another process cannot reach the in-memory Redis (MEMORY_CANNOT.processes).
describe.each(realTargets)('a consumer killed with SIGKILL mid-handler, on $name', ({ name, url, makeBroker, rawClient }) => {
  it('loses nothing: another consumer claims its entries after minIdleTime', async () => {
    const total = 3000;
    const stream = uid('crash');
    const tag = `{${stream}}`;
    const processed = `${tag}:processed`;
    const count = `${tag}:count`;
    const raw = rawClient();
    const broker = makeBroker();
    await raw.xgroup('CREATE', stream, 'g', '$', 'MKSTREAM');

    const victim = spawn(process.execPath, ['--import', 'tsx', victimScript, name, url, stream, 'victim', processed, count], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    // Were the test to fail before the kill, a live victim would keep consuming (and recreate the stream after cleanup).
    onTestFinished(() => void victim.kill('SIGKILL'));
    // What happens to the victim, in order: "ready" once it consumes, then how it exited.
    const events = new Inbox<string>();
    victim.stdout.once('data', () => events.push('ready'));
    victim.once('exit', (code, signal) => events.push(`exit:${signal ?? code}`));
    expect(await events.next(20_000)).toBe('ready');

    for (let i = 0; i < total; i += 500) {
      await Promise.all(Array.from({ length: 500 }, (_, j) => broker.publish(`m${i + j}`, { stream })));
    }
    await eventually(async () => (await raw.scard(processed)) >= 500, 20_000, 'the victim to be busy');
    victim.kill('SIGKILL');
    expect(await events.next()).toBe('exit:SIGKILL');
    const pendingAtKill = ((await raw.xpending(stream, 'g')) as [number])[0];

    broker.subscriber(new StreamSub(stream, { group: 'g', consumer: 'survivor', minIdleTime: 300, maxRecords: 50 }), { maxWorkers: 8 }, async (body: string) => {
      await raw.multi().sadd(processed, body).incr(count).exec();
    });
    const resumed = Date.now();
    await broker.start();
    await eventually(async () => (await raw.scard(processed)) === total, 30_000, 'every message processed');
    await eventually(async () => ((await raw.xpending(stream, 'g')) as [number])[0] === 0, 10_000, 'nothing left pending');
    const processings = Number(await raw.get(count));
    console.log(
      `crash test (${name}): ${total} published, ${total} processed at least once, ${processings - total} processed twice ` +
        `(${pendingAtKill} pending when killed), survivor finished ${Date.now() - resumed} ms after starting`,
    );
    // Only what the victim held when it died can run twice.
    expect(processings - total).toBeLessThanOrEqual(pendingAtKill);
    await raw.del(processed, count);
  }, 60_000);
});
