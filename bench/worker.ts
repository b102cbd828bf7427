/**
 * Runs one scenario in its own process (so its peak RSS is its own) and prints the result as JSON.
 */
import { randomBytes } from 'node:crypto';
import * as bull from './lib/bullmq.js';
import { rawClient, redisCpuSeconds, type Result } from './lib/measure.js';
import * as raw from './lib/raw.js';
import { partitions } from './lib/partitions.js';
import * as rs from './lib/redstream.js';
import type { Scenario } from './lib/scenario.js';

const scenario = JSON.parse(process.argv[2]!) as Scenario;
const key = `bench:{${scenario.kind}-${randomBytes(4).toString('hex')}}`;
// The pipeline scenario spreads keys over every master, so they carry no shared hash tag.
const keys = Array.from({ length: 30 }, (_, i) => `bench:${randomBytes(4).toString('hex')}:${i}`);

async function run(): Promise<Result> {
  const impl = scenario.impl === 'raw' ? raw : rs;
  switch (scenario.kind) {
    case 'pingpong': return impl.pingPong(scenario, key);
    case 'throughput': return impl.throughput(scenario, key);
    case 'pipeline': return impl.pipelined(scenario, keys);
    case 'rpc': return impl.rpc(scenario, key);
    case 'jobs': return bull.jobs(scenario, key);
    case 'fleet': return rs.fleet(scenario, key);
    case 'partitions': return partitions(scenario, key);
  }
}

try {
  // CPU per message, of this process and of Redis, over the whole scenario (setup included: small next to its messages).
  const redisBefore = await redisCpuSeconds(scenario.topology);
  const clientBefore = process.cpuUsage();
  const result = await run();
  const client = process.cpuUsage(clientBefore);
  const redisSeconds = (await redisCpuSeconds(scenario.topology)) - redisBefore;
  const perMessage = (us: number): number => Math.round((us / result.messages) * 10) / 10;
  const cpu = { clientCpuUs: perMessage(client.user + client.system + (result.childCpuUs ?? 0)), redisCpuUs: perMessage(redisSeconds * 1e6) };
  const { childCpuUs: _children, ...row } = result;
  process.stdout.write(`${JSON.stringify({ ...row, ...cpu })}\n`);
} finally {
  const cleanup = rawClient(scenario.topology);
  await cleanup.del(key);
  for (const k of keys) await cleanup.del(k);
  await cleanup.quit();
}
process.exit(0);
