/**
 * The baseline: the same Redis commands issued by a hand-written ioredis loop (same payload,
 * same in-flight count, same batch sizes), with JSON instead of FastStream's envelope.
 */
import type { Cluster, Redis } from 'ioredis';
import type { Scenario } from './scenario.js';
import { Countdown, Latency, payload, peakRssMb, perSecond, rawClient, withInFlight, type Result } from './measure.js';

type Client = Redis | Cluster;
type Body = { t: number };

function publisher(s: Scenario, client: Client, key: string, body: Record<string, unknown>): () => Promise<unknown> {
  const data = (): string => JSON.stringify({ ...body, t: performance.now() });
  if (s.dest === 'channel') return () => client.publish(key, data());
  if (s.dest.startsWith('list')) return () => client.rpush(key, data());
  return () => client.xadd(key, '*', '__data__', data());
}

/** Starts the consuming loops; `stop()` ends them. */
function consume(s: Scenario, key: string, onItems: (items: Buffer[]) => void | Promise<unknown>): { ready: Promise<void>; stop: () => Promise<void> } {
  let running = true;
  const clients: Client[] = [];
  const loops: Array<Promise<void>> = [];
  let ready: Promise<void> = Promise.resolve();
  if (s.dest === 'channel') {
    const sub = rawClient(s.topology, { autoPipelining: false });
    clients.push(sub);
    // Pushed: nothing to read again, so nothing waits for a publish.
    sub.on('messageBuffer', (_c: Buffer, data: Buffer) => void onItems([data]));
    ready = sub.subscribe(key).then(() => undefined);
  } else if (s.dest.startsWith('list')) {
    const client = rawClient(s.topology, { autoPipelining: false, blocking: true });
    clients.push(client);
    loops.push((async () => {
      while (running) {
        const popped = await client.lpopBuffer(key, s.batch);
        if (popped && popped.length > 0) {
          // A callback that publishes (ping-pong) is waited for before the next read, as a handler's is.
          const publishing = onItems(popped);
          if (publishing) await publishing;
          continue;
        }
        const first = await client.blpopBuffer(key, 0.1);
        const publishing = first ? onItems([first[1]]) : undefined;
        if (publishing) await publishing;
      }
    })());
  } else {
    const group = s.dest.startsWith('stream-group');
    for (let c = 0; c < (group ? s.consumers : 1); c += 1) {
      const client = rawClient(s.topology, { autoPipelining: false, blocking: true });
      clients.push(client);
      loops.push((async () => {
        let last = '0';
        while (running) {
          const reply = group
            ? await client.xreadgroupBuffer('GROUP', 'g', `c${c}`, 'COUNT', s.batch, 'BLOCK', 100, 'STREAMS', key, '>')
            : await client.xreadBuffer('COUNT', s.batch, 'BLOCK', 100, 'STREAMS', key, last);
          const entries = (reply as Array<[Buffer, Array<[Buffer, Buffer[]]>]> | null)?.[0]?.[1] ?? [];
          if (entries.length === 0) continue;
          const publishing = onItems(entries.map(([, fields]) => fields[1]!));
          if (publishing) await publishing;
          const ids = entries.map(([id]) => id);
          if (group) await client.xack(key, 'g', ...ids);
          else last = String(ids[ids.length - 1]);
        }
      })());
    }
  }
  return {
    ready,
    stop: async () => {
      running = false;
      await Promise.all(loops);
      await Promise.all(clients.map((client) => client.quit()));
    },
  };
}

export async function throughput(s: Scenario, key: string): Promise<Result> {
  const client = rawClient(s.topology);
  if (s.dest.startsWith('stream-group')) await client.xgroup('CREATE', key, 'g', '0', 'MKSTREAM');
  const send = publisher(s, client, key, payload(s.payload));
  const latency = new Latency(s.messages);
  const done = new Countdown(s.messages);
  const onItems = (items: Buffer[]): void => {
    for (const item of items) {
      const body = JSON.parse(item.toString()) as Body;
      if (!s.separate) latency.add(body.t);
    }
    done.tick(items.length);
  };
  let consumer: ReturnType<typeof consume>;
  let publishRate: number;
  let start: number;
  if (s.separate) {
    const p0 = performance.now();
    await withInFlight(s.messages, s.inFlight, send);
    publishRate = perSecond(s.messages, p0, performance.now());
    start = performance.now();
    consumer = consume(s, key, onItems);
  } else {
    consumer = consume(s, key, onItems);
    await consumer.ready;
    start = performance.now();
    await withInFlight(s.messages, s.inFlight, send);
    publishRate = perSecond(s.messages, start, performance.now());
  }
  await done.finished;
  const consumeRate = perSecond(s.messages, start, done.lastAt);
  await consumer.stop();
  await client.quit();
  return {
    scenario: s.id, impl: 'raw ioredis', topology: s.topology, payload: s.payload, messages: s.messages,
    rate: consumeRate, publishRate, consumeRate,
    ...(s.separate ? {} : { p50: latency.percentile(50), p99: latency.percentile(99) }),
    peakRssMb: peakRssMb(),
  };
}

export async function pingPong(s: Scenario, key: string): Promise<Result> {
  const client = rawClient(s.topology);
  const latency = new Latency(s.messages);
  const done = new Countdown(s.messages);
  const body = payload(s.payload);
  const send = publisher({ ...s, dest: s.dest }, client, key, body);
  const consumer = consume({ ...s, batch: 1, consumers: 1 }, key, (items) => {
    for (const item of items) latency.add((JSON.parse(item.toString()) as Body).t);
    done.tick(items.length);
    // As redstream's handler does: the loop reads again once its publish is answered.
    return done.count < s.messages ? send() : undefined;
  });
  if (s.dest.startsWith('stream-group')) await client.xgroup('CREATE', key, 'g', '0', 'MKSTREAM');
  await consumer.ready;
  const start = performance.now();
  await send();
  await done.finished;
  const rate = perSecond(s.messages, start, done.lastAt);
  await consumer.stop();
  await client.quit();
  return { scenario: s.id, impl: 'raw ioredis', topology: s.topology, payload: s.payload, messages: s.messages, rate, p50: latency.percentile(50), p99: latency.percentile(99), peakRssMb: peakRssMb() };
}

export async function pipelined(s: Scenario, keys: string[]): Promise<Result> {
  const client = rawClient(s.topology);
  const body = payload(s.payload);
  const start = performance.now();
  await withInFlight(s.messages, s.inFlight, (i) => client.xadd(keys[i % keys.length]!, '*', '__data__', JSON.stringify({ ...body, t: 0 })));
  const rate = perSecond(s.messages, start, performance.now());
  await client.quit();
  return { scenario: s.id, impl: 'raw ioredis', topology: s.topology, payload: s.payload, messages: s.messages, rate, peakRssMb: peakRssMb() };
}

/**
 * Request/reply by hand: requests published to the channel as JSON `{ id, reply, body }`, the
 * responder publishing the body back to the caller's reply channel, a map of pending ids. Classic
 * Pub/Sub both ways, on both topologies.
 */
export async function rpc(s: Scenario, key: string): Promise<Result> {
  const responderIn = rawClient(s.topology);
  const responderOut = rawClient(s.topology);
  const callerIn = rawClient(s.topology);
  const callerOut = rawClient(s.topology);
  const replies = `${key}:reply`;
  responderIn.on('messageBuffer', (_channel: Buffer, data: Buffer) => {
    const request = JSON.parse(data.toString()) as { id: number; reply: string; body: unknown };
    void responderOut.publish(request.reply, JSON.stringify({ id: request.id, body: request.body }));
  });
  const pending = new Map<number, () => void>();
  callerIn.on('messageBuffer', (_channel: Buffer, data: Buffer) => {
    const reply = JSON.parse(data.toString()) as { id: number };
    pending.get(reply.id)?.();
    pending.delete(reply.id);
  });
  await responderIn.subscribe(key);
  await callerIn.subscribe(replies);
  const body = payload(s.payload);
  const latency = new Latency(s.messages);
  let nextId = 0;
  const start = performance.now();
  await withInFlight(s.messages, s.inFlight, async () => {
    const sent = performance.now();
    const id = (nextId += 1);
    const answered = new Promise<void>((resolve) => pending.set(id, resolve));
    await callerOut.publish(key, JSON.stringify({ id, reply: replies, body: { ...body, t: sent } }));
    await answered;
    latency.add(sent);
  });
  const rate = perSecond(s.messages, start, performance.now());
  await Promise.all([responderIn, responderOut, callerIn, callerOut].map((client) => client.quit()));
  return { scenario: s.id, impl: 'raw ioredis', topology: s.topology, payload: s.payload, messages: s.messages, rate, p50: latency.percentile(50), p99: latency.percentile(99), peakRssMb: peakRssMb(), note: 'p50/p99: whole request → reply' };
}
