/**
 * `npm run soak`: millions of messages through a stream group on a redis-server of its own, with a
 * handler that sometimes fails and sometimes is slow, while a killer closes the service's Redis
 * connections (CLIENT KILL) at random moments. Not part of CI: it runs for minutes and stops by
 * itself (all messages processed, or SOAK_MINUTES passed).
 *
 * It checks: zero messages lost (every published body processed successfully at least once),
 * nothing left pending, duplicates counted, and RSS, heap and open handles flat (the mean of the
 * first 10% of the samples against the last 10%; the heap is measured after a full GC, so it is
 * what the process retains). Acknowledged entries are trimmed away as it goes (XTRIM MINID below
 * the oldest pending entry), so Redis's memory stays bounded too. Writes bench/results/soak.json and soak.md;
 * exits 1 when a check fails.
 *
 * Environment: SOAK_MESSAGES (default 5,000,000), SOAK_MINUTES (the bound, default 20),
 * SOAK_FAIL_RATE (default 0.01), SOAK_SLOW_RATE (default 0.002), SOAK_KILL_EVERY_MS (mean, default 1500).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { RedisBroker, StreamSub } from 'redstream';
import { freePort, killRedis, pidFile, startRedis } from '../test/helpers/throwaway.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const env = (name: string, fallback: number): number => (process.env[name] === undefined ? fallback : Number(process.env[name]));
const TOTAL = env('SOAK_MESSAGES', 5_000_000);
const MINUTES = env('SOAK_MINUTES', 20);
const FAIL_RATE = env('SOAK_FAIL_RATE', 0.01);
const SLOW_RATE = env('SOAK_SLOW_RATE', 0.002);
const KILL_EVERY_MS = env('SOAK_KILL_EVERY_MS', 1500);
/** Publishing stays this far ahead of processing at most, so the backlog (and Redis) stays bounded. */
const MAX_BACKLOG = 20_000;
const STREAM = 'soak';

// A server of the soak's own, started and killed the way the outage tests do it.
const port = await freePort();
startRedis(port);
const url = `redis://127.0.0.1:${port}`;
const redisPid = Number(readFileSync(pidFile(port), 'utf8'));
const raw = new Redis(url);
const startedAt = Date.now();
const deadline = startedAt + MINUTES * 60_000;

/** Successful processings per message (saturating at 255). */
const done = new Uint8Array(TOTAL);
let distinct = 0;
let processings = 0;
let failures = 0;
let slow = 0;
let publishRetries = 0;
let kills = 0;

const consumer = new RedisBroker(url, { logger: null, clientName: 'soak-consumer', gracefulTimeout: 10_000 });
const producer = new RedisBroker(url, { logger: null, clientName: 'soak-producer' });
consumer.subscriber(
  new StreamSub(STREAM, { group: 'soak', consumer: 'c1', minIdleTime: 2000, maxRecords: 100 }),
  { maxWorkers: 32 },
  async (n: number) => {
    if (Math.random() < FAIL_RATE) {
      failures += 1;
      throw new Error('soak: a failure on purpose'); // nackOnError: stays pending, claimed again after minIdleTime.
    }
    if (Math.random() < SLOW_RATE) {
      slow += 1;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    processings += 1;
    if (done[n] === 0) distinct += 1;
    if (done[n]! < 255) done[n] = done[n]! + 1;
  },
);
await consumer.start();

/** Publishes every number once (again when a publish failed: at-least-once), keeping the backlog bounded. */
async function publishAll(): Promise<void> {
  const batch = 100;
  for (let n = 0; n < TOTAL && Date.now() < deadline; n += batch) {
    while (n - distinct > MAX_BACKLOG && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    await Promise.all(Array.from({ length: Math.min(batch, TOTAL - n) }, (_, i) => publishOne(n + i)));
  }
}

async function publishOne(n: number): Promise<void> {
  for (;;) {
    try {
      await producer.publish(n, { stream: STREAM });
      return;
    } catch {
      publishRetries += 1;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** Kills one of the service's connections (reader, command or producer) at random moments. */
let killing = true;
async function killer(): Promise<void> {
  while (killing) {
    await new Promise((resolve) => setTimeout(resolve, Math.random() * 2 * KILL_EVERY_MS));
    if (!killing) return;
    const ours = String(await raw.call('CLIENT', 'LIST'))
      .split('\n')
      .filter((line) => / name=soak-/.test(line))
      .map((line) => /id=(\d+)/.exec(line)![1]!);
    const victim = ours[Math.floor(Math.random() * ours.length)];
    if (victim === undefined) continue;
    await raw.call('CLIENT', 'KILL', 'ID', victim).catch(() => undefined);
    kills += 1;
  }
}

/** Trims acknowledged entries: everything older than the oldest pending one and already delivered. */
let trimming = true;
async function trimmer(): Promise<void> {
  while (trimming) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const [count, oldest] = (await raw.xpending(STREAM, 'soak')) as [number, string | null];
    const groups = (await raw.xinfo('GROUPS', STREAM)) as unknown[][];
    const info = groups[0]!;
    const delivered = String(info[info.indexOf('last-delivered-id') + 1]);
    const below = Number(count) > 0 && oldest ? oldest : delivered;
    // MINID keeps entries with an ID >= below: the oldest pending one (or the last delivered) stays.
    await raw.xtrim(STREAM, 'MINID', below);
  }
}

interface Sample {
  readonly seconds: number;
  readonly rssMB: number;
  readonly heapMB: number;
  readonly handles: number;
  readonly processed: number;
}
const samples: Sample[] = [];
const round = (n: number, digits = 1): number => Math.round(n * 10 ** digits) / 10 ** digits;
const collect = (globalThis as { gc?: () => void }).gc;
if (!collect) throw new Error('Run the soak with node --expose-gc (npm run soak does).');
const sampler = setInterval(() => {
  collect();
  const memory = process.memoryUsage();
  samples.push({
    seconds: round((Date.now() - startedAt) / 1000),
    rssMB: round(memory.rss / 2 ** 20),
    heapMB: round(memory.heapUsed / 2 ** 20),
    handles: process.getActiveResourcesInfo().length,
    processed: distinct,
  });
  const last = samples.at(-1)!;
  process.stdout.write(`\rsoak: ${distinct.toLocaleString('en-US')} / ${TOTAL.toLocaleString('en-US')} processed, ${kills} kills, RSS ${last.rssMB} MB   `);
}, 1000);

const killing$ = killer();
const trimming$ = trimmer();
await publishAll();
while (distinct < TOTAL && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
// Every message processed: stop killing, let the last acknowledgements land, then read the pending list.
killing = false;
trimming = false;
await killing$;
await trimming$;
let pending = Number(((await raw.xpending(STREAM, 'soak')) as [number])[0]);
while (pending > 0 && Date.now() < deadline + 30_000) {
  await new Promise((resolve) => setTimeout(resolve, 200));
  pending = Number(((await raw.xpending(STREAM, 'soak')) as [number])[0]);
}
clearInterval(sampler);
const seconds = (Date.now() - startedAt) / 1000;
const redisCpu = readFileSync(`/proc/${redisPid}/stat`, 'utf8').split(') ')[1]!.split(' ');
const redisCpuSeconds = (Number(redisCpu[11]) + Number(redisCpu[12])) / 100;
const redisPeakMB = round(Number(/used_memory_peak:(\d+)/.exec(await raw.info('memory'))![1]) / 2 ** 20);
await consumer.close();
await producer.close();
await raw.quit();
killRedis(port);

const tenth = Math.max(1, Math.floor(samples.length / 10));
const mean = (rows: Sample[], field: 'rssMB' | 'heapMB' | 'handles'): number => round(rows.reduce((sum, row) => sum + row[field], 0) / rows.length);
const first = samples.slice(0, tenth);
const last = samples.slice(-tenth);
const flat = {
  rssMB: { first: mean(first, 'rssMB'), last: mean(last, 'rssMB') },
  heapMB: { first: mean(first, 'heapMB'), last: mean(last, 'heapMB') },
  handles: { first: mean(first, 'handles'), last: mean(last, 'handles') },
};
const lost = TOTAL - distinct;
const checks = {
  'zero lost': lost === 0,
  'nothing pending': pending === 0,
  // Flat: the last tenth within 25% (RSS, heap) or 5 handles of the first.
  'RSS flat': flat.rssMB.last <= flat.rssMB.first * 1.25,
  'heap flat': flat.heapMB.last <= flat.heapMB.first * 1.25,
  'handles flat': flat.handles.last <= flat.handles.first + 5,
};
const result = {
  date: new Date().toISOString(),
  machine: `${cpus().length} cores, Node ${process.version}`,
  messages: TOTAL,
  seconds: round(seconds),
  perSecond: Math.round(distinct / seconds),
  processedAtLeastOnce: distinct,
  lost,
  duplicates: processings - distinct,
  handlerFailures: failures,
  slowHandlers: slow,
  connectionKills: kills,
  publishRetries,
  pendingAtEnd: pending,
  redisCpuSeconds,
  redisPeakMB,
  flat,
  checks,
  passed: Object.values(checks).every(Boolean),
  settings: { failRate: FAIL_RATE, slowRate: SLOW_RATE, killEveryMs: KILL_EVERY_MS, maxWorkers: 32, minIdleTime: 2000, maxBacklog: MAX_BACKLOG },
  samples: samples.filter((_, i) => i % Math.max(1, Math.floor(samples.length / 60)) === 0),
};
const markdown = [
  `# Soak (${result.date.slice(0, 10)}, ${result.machine})`,
  '',
  `\`npm run soak\`: ${TOTAL.toLocaleString('en-US')} messages through one stream group in ${round(seconds, 0)} s ` +
    `(${result.perSecond.toLocaleString('en-US')}/s), handler failing ${FAIL_RATE * 100}% and slow (50 ms) ${SLOW_RATE * 100}% of the time, ` +
    `${kills} connections killed at random (one every ~${KILL_EVERY_MS} ms).`,
  '',
  '| check | value | passed |',
  '|---|---|---|',
  `| lost | ${lost} | ${checks['zero lost'] ? 'yes' : 'NO'} |`,
  `| pending at the end | ${pending} | ${checks['nothing pending'] ? 'yes' : 'NO'} |`,
  `| duplicates (processed twice or more) | ${result.duplicates.toLocaleString('en-US')} | — |`,
  `| handler failures (redelivered) | ${failures.toLocaleString('en-US')} | — |`,
  `| publish retries | ${publishRetries} | — |`,
  `| RSS MB, first → last tenth | ${flat.rssMB.first} → ${flat.rssMB.last} | ${checks['RSS flat'] ? 'yes' : 'NO'} |`,
  `| heap MB, first → last tenth | ${flat.heapMB.first} → ${flat.heapMB.last} | ${checks['heap flat'] ? 'yes' : 'NO'} |`,
  `| open handles, first → last tenth | ${flat.handles.first} → ${flat.handles.last} | ${checks['handles flat'] ? 'yes' : 'NO'} |`,
  `| Redis CPU seconds | ${redisCpuSeconds} | — |`,
  `| Redis peak memory MB (acknowledged entries trimmed as it goes) | ${redisPeakMB} | — |`,
  '',
].join('\n');
mkdirSync(`${root}bench/results`, { recursive: true });
writeFileSync(`${root}bench/results/soak.json`, `${JSON.stringify(result, null, 2)}\n`);
writeFileSync(`${root}bench/results/soak.md`, markdown);
process.stdout.write(`\n${markdown}`);
process.exit(result.passed ? 0 : 1);
