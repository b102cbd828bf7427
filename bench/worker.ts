/**
 * Runs one scenario in its own process (so its peak RSS is its own) and prints the result as JSON.
 */
import { randomBytes } from 'node:crypto';
import * as bull from './lib/bullmq.js';
import { rawClient, type Result } from './lib/measure.js';
import * as raw from './lib/raw.js';
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
    case 'rpc': return rs.rpc(scenario, key);
    case 'jobs': return bull.jobs(scenario, key);
  }
}

try {
  const result = await run();
  process.stdout.write(`${JSON.stringify(result)}\n`);
} finally {
  const cleanup = rawClient(scenario.topology);
  await cleanup.del(key);
  for (const k of keys) await cleanup.del(k);
  await cleanup.quit();
}
process.exit(0);
