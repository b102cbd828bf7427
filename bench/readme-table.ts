/**
 * Prints the README's "Performance" table from `bench/results/latest.json`:
 * `npx tsx bench/readme-table.ts`. Every number comes from that file; nothing is typed by hand.
 */
import { readFileSync } from 'node:fs';
import type { Result, Topology } from './lib/measure.js';

interface Run {
  readonly seconds: number;
  readonly results: readonly Result[];
}

const run = JSON.parse(readFileSync(new URL('results/latest.json', import.meta.url), 'utf8')) as Run;

function find(scenario: string, topology: Topology, impl: Result['impl']): Result | undefined {
  return run.results.find((r) => r.scenario === scenario && r.topology === topology && r.impl === impl);
}

const int = (n: number | undefined): string => (n === undefined ? '–' : Math.round(n).toLocaleString('en-US'));
const ms = (n: number | undefined): string =>
  n === undefined ? '–' : n.toLocaleString('en-US', { minimumFractionDigits: 1, maximumFractionDigits: 1 });
const ratio = (a: number | undefined, b: number | undefined): string => (a && b ? `${(Math.round((a / b) * 100) / 100).toFixed(2)}×` : '–');

/** `rate (× raw)` for one topology; `field` picks the rate compared. */
function cell(scenario: string, topology: Topology, field: 'rate' | 'publishRate' = 'rate', peer: Result['impl'] = 'raw ioredis'): string {
  const ours = find(scenario, topology, 'redstream');
  const theirs = find(scenario, topology, peer);
  if (!ours) return '–';
  return `${int(ours[field])} (${ratio(ours[field], theirs?.[field])})`;
}

function latency(scenario: string): string {
  const ours = find(scenario, 'single', 'redstream');
  return ours?.p50 === undefined ? '–' : `${ms(ours.p50)} / ${ms(ours.p99)}`;
}

/** Client CPU µs per message on the single node (× the peer's), for scenarios compared with one. */
function cpu(scenario: string, peer: Result['impl'] = 'raw ioredis'): string {
  const ours = find(scenario, 'single', 'redstream');
  if (ours?.clientCpuUs === undefined) return '–';
  const theirs = find(scenario, 'single', peer);
  return theirs?.clientCpuUs === undefined ? ms(ours.clientCpuUs) : `${ms(ours.clientCpuUs)} (${ratio(ours.clientCpuUs, theirs.clientCpuUs)})`;
}

const rows: Array<[string, string, string, string, string]> = [];
const both = (label: string, scenario: string, withLatency = true): void => {
  rows.push([label, cell(scenario, 'single'), cell(scenario, 'cluster'), withLatency ? latency(scenario) : '–', cpu(scenario)]);
};

both('channel, publish and consume at once', 'throughput channel');
both('list', 'throughput list');
both('list, consume a full list', 'throughput list (publish, then consume)', false);
both('list batches, consume a full list', 'throughput list-batch (publish, then consume)', false);
both('stream without group', 'throughput stream');
both('stream without group, consume a full stream', 'throughput stream (publish, then consume)', false);
both('stream group', 'throughput stream-group');
both('stream group, 4 consumers', 'throughput stream-group x4');
both('stream group, consume a full stream', 'throughput stream-group (publish, then consume)', false);
both('stream group batches, consume a full stream', 'throughput stream-group-batch (publish, then consume)', false);
both('stream group, 1 KiB payload', 'throughput stream-group 1k');
both('stream group, 64 KiB payload', 'throughput stream-group 64k');
const publishOnly = (topology: Topology): string =>
  ['list', 'stream', 'stream-group'].map((dest) => cell(`throughput ${dest} (publish, then consume)`, topology, 'publishRate')).join(' / ');
rows.push(['publish only (list / stream / stream group)', publishOnly('single'), publishOnly('cluster'), '–', '–']);

const jobs = 'jobs: stream group vs BullMQ';
const jobCell = (topology: Topology): string => {
  const ours = find(jobs, topology, 'redstream');
  const bull = find(jobs, topology, 'bullmq');
  return `**${int(ours?.rate)} vs ${int(bull?.rate)} (${ratio(ours?.rate, bull?.rate)})**`;
};
const bullSingle = find(jobs, 'single', 'bullmq');
rows.push([`**${jobs}** (concurrency 100)`, jobCell('single'), jobCell('cluster'), `${latency(jobs)} (BullMQ: ${ms(bullSingle?.p50)} / ${ms(bullSingle?.p99)})`, cpu(jobs, 'bullmq')]);

const pingPong = (topology: Topology): string => ['channel', 'list', 'stream'].map((dest) => cell(`ping-pong ${dest}`, topology)).join(' / ');
rows.push([
  'ping-pong, one message in flight (channel / list / stream)',
  pingPong('single'),
  pingPong('cluster'),
  '–',
  ['channel', 'list', 'stream'].map((dest) => cpu(`ping-pong ${dest}`)).join(' / '),
]);

const rpc = (topology: Topology): string => `${cell('rpc 1 caller', topology)} / ${cell('rpc 100 callers', topology)}`;
rows.push(['request/reply, 1 / 100 callers', rpc('single'), rpc('cluster'), `${latency('rpc 1 caller')} (1 caller)`, `${cpu('rpc 1 caller')} / ${cpu('rpc 100 callers')}`]);

const without = find('cluster publishes to every master without pipeline', 'cluster', 'redstream');
const withPipe = find('cluster publishes to every master with pipeline', 'cluster', 'redstream');
const rawPipe = find('cluster publishes to every master', 'cluster', 'raw ioredis');
rows.push(['cluster: publishes to every master, without / with `pipeline` (raw loop)', '–', `${int(without?.rate)} / ${int(withPipe?.rate)} (${int(rawPipe?.rate)})`, '–', '–']);

const long = run.results.find((r) => r.scenario.startsWith('long run'));
if (long) rows.push([`${long.scenario}: ${long.note ?? ''}`, int(long.rate), '–', `${ms(long.p50)} / ${ms(long.p99)}`, cpu(long.scenario)]);
const middlewareRows: Array<[string, string]> = [
  ['', 'throughput stream-group'],
  [', consume a full stream', 'throughput stream-group (publish, then consume)'],
];
for (const [shape, without] of middlewareRows) for (const middleware of ['OpenTelemetry, no-op provider', 'Prometheus']) {
  const scenario = `${without} + ${middleware}`;
  const base = (topology: Topology): Result | undefined => find(without, topology, 'redstream');
  const withIt = (topology: Topology): string => {
    const ours = find(scenario, topology, 'redstream');
    return ours ? `${int(ours.rate)} (${ratio(ours.rate, base(topology)?.rate)} of without)` : '–';
  };
  const ours = find(scenario, 'single', 'redstream');
  rows.push([
    `stream group${shape} + ${middleware} (on publish and consume)`,
    withIt('single'),
    withIt('cluster'),
    latency(scenario),
    ours?.clientCpuUs === undefined ? '–' : `${ms(ours.clientCpuUs)} (${ratio(ours.clientCpuUs, base('single')?.clientCpuUs)} of without)`,
  ]);
}

const lines = [
  '| Scenario | single: redstream msg/s (× raw) | cluster: redstream msg/s (× raw) | p50 / p99 ms (single) | client CPU µs/msg (single, × raw) |',
  '|---|---|---|---|---|',
  ...rows.map((row) => `| ${row.join(' | ')} |`),
];
process.stdout.write(`<!-- npx tsx bench/readme-table.ts, from bench/results/latest.json (${run.seconds} s) -->\n${lines.join('\n')}\n`);
