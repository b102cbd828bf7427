/**
 * redstream's side of every scenario.
 */
import { Registry } from 'prom-client';
import { ListSub, PubSub, RedisBroker, RedisClusterBroker, StreamSub, type Middleware, type Source } from 'redstream';
import { RedisTelemetryMiddleware } from 'redstream/opentelemetry';
import { RedisPrometheusMiddleware } from 'redstream/prometheus';
import type { Scenario } from './scenario.js';
import { Countdown, Latency, payload, peakRssMb, perSecond, rawClient, rssMb, URLS, withInFlight, type Result } from './measure.js';

type Body = { t: number } & Record<string, unknown>;

function makeBroker(s: Scenario, clientName?: string): RedisBroker {
  const options = { logger: null, gracefulTimeout: 2000, middlewares: middlewares(s), ...(clientName ? { clientName } : {}) };
  return s.topology === 'single' ? new RedisBroker(URLS.single, options) : new RedisClusterBroker(URLS.cluster, options);
}

function middlewares(s: Scenario): Middleware[] {
  if (s.middleware === 'opentelemetry') return [new RedisTelemetryMiddleware()];
  if (s.middleware === 'prometheus') return [new RedisPrometheusMiddleware({ registry: new Registry() })];
  return [];
}

function sources(s: Scenario, key: string): Source[] {
  const batch = s.dest.endsWith('batch');
  switch (s.dest) {
    case 'channel':
      return [new PubSub(key)];
    case 'list':
    case 'list-batch':
      return [new ListSub(key, { batch, maxRecords: s.batch })];
    case 'stream':
      return [new StreamSub(key, { maxRecords: s.batch, lastId: '0' })];
    case 'stream-group':
    case 'stream-group-batch':
      return Array.from({ length: s.consumers }, (_, i) => new StreamSub(key, { group: 'g', consumer: `c${i}`, maxRecords: s.batch, lastId: '0', batch, dedicatedConnection: s.dedicated ?? false }));
  }
}

function target(s: Scenario, key: string): { channel: string } | { list: string } | { stream: string } {
  if (s.dest === 'channel') return { channel: key };
  if (s.dest.startsWith('list')) return { list: key };
  return { stream: key };
}

/** Throughput: publish N with many in flight, consume them; separately (stored kinds) and overlapped. */
export async function throughput(s: Scenario, key: string): Promise<Result> {
  const broker = makeBroker(s);
  const body = payload(s.payload);
  const latency = new Latency(s.messages);
  const done = new Countdown(s.messages);
  const rss: number[] = [];
  const handle = (item: Body | Body[]): void => {
    const items = Array.isArray(item) ? item : [item];
    for (const one of items) if (!s.separate) latency.add(one.t);
    done.tick(items.length);
    // Twenty samples per window: one sample lands wherever the garbage collector happens to be.
    if (s.rssEvery && done.count % (s.rssEvery / 20) < items.length) rss.push(rssMb());
  };
  for (const source of sources(s, key)) broker.subscriber(source, { maxWorkers: s.inFlight }, handle as (b: unknown) => void);
  const to = target(s, key);
  const publish = (): Promise<void> => withInFlight(s.messages, s.inFlight, () => broker.publish({ ...body, t: performance.now() }, to as { list: string }));
  let publishRate: number;
  let start: number;
  if (s.separate) {
    await broker.connect();
    const p0 = performance.now();
    await publish();
    publishRate = perSecond(s.messages, p0, performance.now());
    start = performance.now();
    await broker.start();
  } else {
    await broker.start();
    start = performance.now();
    await publish();
    publishRate = perSecond(s.messages, start, performance.now());
  }
  await done.finished;
  const consumeRate = perSecond(s.messages, start, done.lastAt);
  await broker.close();
  return {
    scenario: s.id, impl: 'redstream', topology: s.topology, payload: s.payload, messages: s.messages,
    ...(s.compareTo ? { compareTo: s.compareTo } : {}),
    rate: s.separate ? consumeRate : perSecond(s.messages, start, done.lastAt), publishRate, consumeRate,
    ...(s.separate ? {} : { p50: latency.percentile(50), p99: latency.percentile(99) }),
    peakRssMb: peakRssMb(),
    ...(s.rssEvery ? { note: rssNote(rss, s.rssEvery) } : {}),
  };
}

/** RSS over the first and the last `window` messages (20 samples each): mean and highest. */
function rssNote(samples: number[], window: number): string {
  const first = samples.slice(0, 20);
  const last = samples.slice(-20);
  const mean = (xs: number[]): number => Math.round((xs.reduce((a, b) => a + b, 0) / xs.length) * 10) / 10;
  const growth = Math.round((mean(last) / mean(first) - 1) * 1000) / 10;
  return `RSS over the first ${window}: mean ${mean(first)} MB (max ${Math.max(...first)}); over the last ${window}: mean ${mean(last)} MB (max ${Math.max(...last)}); ${growth >= 0 ? '+' : ''}${growth}%`;
}

/** Ping-pong: one message in flight; the handler republishes it; round trips per second. */
export async function pingPong(s: Scenario, key: string): Promise<Result> {
  const broker = makeBroker(s);
  const body = payload(s.payload);
  const latency = new Latency(s.messages);
  const done = new Countdown(s.messages);
  const to = target(s, key) as { list: string };
  const [source] = sources({ ...s, consumers: 1, batch: 1 }, key);
  broker.subscriber(source!, async (message: Body) => {
    latency.add(message.t);
    done.tick();
    if (done.count < s.messages) await broker.publish({ ...message, t: performance.now() }, to);
  });
  await broker.start();
  const start = performance.now();
  await broker.publish({ ...body, t: performance.now() }, to);
  await done.finished;
  const rate = perSecond(s.messages, start, done.lastAt);
  await broker.close();
  return { scenario: s.id, impl: 'redstream', topology: s.topology, payload: s.payload, messages: s.messages, rate, p50: latency.percentile(50), p99: latency.percentile(99), peakRssMb: peakRssMb() };
}

/** Request/reply round trips with `callers` concurrent callers. */
export async function rpc(s: Scenario, key: string): Promise<Result> {
  const server = makeBroker(s);
  const client = makeBroker(s);
  server.subscriber(key, { maxWorkers: s.inFlight }, (message: Body) => message);
  await server.start();
  await client.connect();
  const body = payload(s.payload);
  const latency = new Latency(s.messages);
  const start = performance.now();
  await withInFlight(s.messages, s.inFlight, async () => {
    const sent = performance.now();
    await client.request({ ...body, t: sent }, { channel: key, timeout: 30_000 });
    latency.add(sent);
  });
  const rate = perSecond(s.messages, start, performance.now());
  await Promise.all([server.close(), client.close()]);
  return { scenario: s.id, impl: 'redstream', topology: s.topology, payload: s.payload, messages: s.messages, rate, p50: latency.percentile(50), p99: latency.percentile(99), peakRssMb: peakRssMb(), note: 'p50/p99: whole request → reply' };
}

/** N stream publishes spread over keys on every master, with and without broker.pipeline(). */
export async function pipelined(s: Scenario, keys: string[]): Promise<Result> {
  const broker = makeBroker(s);
  await broker.connect();
  const body = payload(s.payload);
  const start = performance.now();
  if (s.usePipeline) {
    for (let sent = 0; sent < s.messages; sent += s.batch) {
      await broker.pipeline(async (pipe) => {
        for (let i = sent; i < Math.min(sent + s.batch, s.messages); i += 1) await broker.publish({ ...body, t: 0 }, { stream: keys[i % keys.length]!, pipeline: pipe });
      });
    }
  } else {
    await withInFlight(s.messages, s.inFlight, (i) => broker.publish({ ...body, t: 0 }, { stream: keys[i % keys.length]! }));
  }
  const rate = perSecond(s.messages, start, performance.now());
  await broker.close();
  return { scenario: s.id, impl: 'redstream', topology: s.topology, payload: s.payload, messages: s.messages, rate, peakRssMb: peakRssMb() };
}

/**
 * Many idle stream-group subscribers and one busy one (a steady flow with 50 in flight): one
 * message at a time to a random idle subscriber, publish → handler. Also prints the connections
 * the broker holds (CLIENT LIST on every node) and how long start() and stop() took.
 */
export async function fleet(s: Scenario, key: string): Promise<Result> {
  const clientName = `bench-fleet-${process.pid}`;
  const broker = makeBroker(s, clientName);
  const idle = Array.from({ length: s.idle ?? 1000 }, (_, i) => `${key}:idle:${i}`.replace(/[{}]/g, ''));
  const busy = `${key}:busy`.replace(/[{}]/g, '');
  const latency = new Latency(s.messages);
  let answered: (() => void) | undefined;
  const options = { group: 'g', consumer: 'c', lastId: '0', dedicatedConnection: s.dedicated ?? false };
  for (const stream of idle) {
    broker.subscriber(new StreamSub(stream, options), (message: Body) => {
      latency.add(message.t);
      answered?.();
    });
  }
  let busyCount = 0;
  broker.subscriber(new StreamSub(busy, options), { maxWorkers: 50 }, () => {
    busyCount += 1;
  });
  const t0 = performance.now();
  await broker.start();
  const startMs = performance.now() - t0;
  const connections = await countConnections(s, clientName);
  let flowing = true;
  const body = payload(s.payload);
  const flow = Promise.all(
    Array.from({ length: 50 }, async () => {
      while (flowing) await broker.publish({ ...body, t: 0 }, { stream: busy, maxlen: 10_000 });
    }),
  );
  const start = performance.now();
  for (let i = 0; i < s.messages; i += 1) {
    const handled = new Promise<void>((resolve) => (answered = resolve));
    await broker.publish({ ...body, t: performance.now() }, { stream: idle[Math.floor(Math.random() * idle.length)]! });
    await handled;
  }
  const rate = perSecond(s.messages, start, performance.now());
  flowing = false;
  const busyRate = perSecond(busyCount, start, performance.now());
  await flow;
  const t1 = performance.now();
  await broker.stop();
  const stopMs = performance.now() - t1;
  await broker.close();
  const cleanup = rawClient(s.topology);
  await Promise.all([busy, ...idle].map((stream) => cleanup.del(stream)));
  cleanup.disconnect();
  const note = `${idle.length + 1} subscribers on ${connections} connections; start ${Math.round(startMs)} ms, stop ${Math.round(stopMs)} ms; busy stream ${Math.round(busyRate)} msg/s meanwhile`;
  return { scenario: s.id, impl: 'redstream', topology: s.topology, payload: s.payload, messages: s.messages, rate, p50: latency.percentile(50), p99: latency.percentile(99), peakRssMb: peakRssMb(), note };
}

async function countConnections(s: Scenario, clientName: string): Promise<number> {
  const raw = rawClient(s.topology);
  try {
    await raw.exists('bench-connect');
    const nodes = 'nodes' in raw ? raw.nodes('all') : [raw];
    const lists = await Promise.all(nodes.map((node) => node.client('LIST') as Promise<string>));
    const mine = new RegExp(` name=(ioredis-cluster\\(s?subscriber\\):)?${clientName} `);
    return lists.join('\n').split('\n').filter((line) => mine.test(line)).length;
  } finally {
    raw.disconnect();
  }
}
