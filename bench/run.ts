/**
 * `npm run bench [-- --quick] [-- --only <text>]`: starts the local Redis topologies, runs every
 * scenario in its own child process, prints a table, and writes bench/results/latest.json and
 * latest.md (partial.json and partial.md with --only, kept out of git). Ratios compare
 * implementations measured in this same run; CPU per message is the client process's (user +
 * system) and the Redis servers' (INFO cpu), each over the whole scenario.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Result } from './lib/measure.js';
import { scenarios, type Scenario } from './lib/scenario.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;

function runOne(scenario: Scenario): Promise<Result | { error: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/worker.ts', JSON.stringify(scenario)], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 10 * 60_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(line) as Result);
      } catch {
        resolve({ error: `exit ${code}: ${err.trim().split('\n').slice(-3).join(' | ')}` });
      }
    });
  });
}

const fmt = (n: number | undefined, digits = 0): string => (n === undefined || Number.isNaN(n) ? '' : n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }));

function ratio(row: Result, rows: Result[], field: 'rate' | 'publishRate' | 'consumeRate' | 'clientCpuUs', against: Result['impl']): number | undefined {
  // A row with `compareTo` (a middleware's cost) is compared with redstream's own row without it.
  const [impl, scenario] = row.compareTo ? ([row.impl, row.compareTo] as const) : ([against, row.scenario] as const);
  const peer = rows.find((r) => r.impl === impl && r.scenario === scenario && r.topology === row.topology && r.payload === row.payload);
  const mine = row[field];
  const theirs = peer?.[field];
  return mine !== undefined && theirs ? Math.round((mine / theirs) * 100) / 100 : undefined;
}

function table(rows: Result[]): string {
  const header =
    '| scenario | topology | payload | impl | msg/s | publish/s | consume/s | p50 ms | p99 ms | client CPU µs/msg | Redis CPU µs/msg | peak RSS MB | vs raw (consume / publish; client CPU) |';
  const lines = rows.map((r) => {
    const peerImpl = r.scenario.startsWith('jobs') ? 'bullmq' : 'raw ioredis';
    const rates = [ratio(r, rows, 'rate', peerImpl), ratio(r, rows, 'publishRate', peerImpl)].map((x) => (x === undefined ? '–' : `${x}×`)).join(' / ');
    const cpu = ratio(r, rows, 'clientCpuUs', peerImpl);
    const vs = r.impl === 'redstream' ? `${rates}${cpu === undefined ? '' : `; CPU ${cpu}×`}` : '';
    const against = r.compareTo ? ` (vs "${r.compareTo}")` : '';
    return `| ${r.scenario} | ${r.topology} | ${r.payload} | ${r.impl} | ${fmt(r.rate)} | ${fmt(r.publishRate)} | ${fmt(r.consumeRate)} | ${fmt(r.p50, 2)} | ${fmt(r.p99, 2)} | ${fmt(r.clientCpuUs, 1)} | ${fmt(r.redisCpuUs, 1)} | ${fmt(r.peakRssMb, 1)} | ${vs}${against}${r.note ? ` ${r.note}` : ''} |`;
  });
  return [header, `|${'---|'.repeat(13)}`, ...lines].join('\n');
}

async function main(): Promise<void> {
  execFileSync('bash', ['scripts/redis-up.sh'], { cwd: root, stdio: 'inherit' });
  const chosen = scenarios(quick).filter((s) => !only || s.id.includes(only));
  const results: Result[] = [];
  const failures: string[] = [];
  const started = Date.now();
  // A row with rounds runs with its peers, taking turns: the rows it is compared with or that are
  // compared with it (same id, or a middleware's row and the row without it), same topology and payload.
  const family = (s: Scenario): string => s.compareTo ?? s.id;
  const peersOf = (s: Scenario): Scenario[] => chosen.filter((o) => family(o) === family(s) && o.topology === s.topology && o.payload === s.payload);
  const done = new Set<Scenario>();
  for (const [index, scenario] of chosen.entries()) {
    if (done.has(scenario)) continue;
    const group = (scenario.rounds ?? 1) > 1 ? peersOf(scenario) : [scenario];
    const runs = new Map<Scenario, Result[]>(group.map((s) => [s, []]));
    for (let round = 0; round < (scenario.rounds ?? 1); round += 1) {
      for (const member of group) {
        const label = `${member.id} [${member.topology}, ${member.payload}, ${member.impl}]${group.length > 1 || (scenario.rounds ?? 1) > 1 ? ` round ${round + 1}` : ''}`;
        const outcome = await runOne(member);
        if ('error' in outcome) {
          failures.push(`${label}: ${outcome.error}`);
          process.stdout.write(`(${index + 1}/${chosen.length}) ${label}: FAILED ${outcome.error}\n`);
        } else {
          runs.get(member)!.push(outcome);
          process.stdout.write(`(${index + 1}/${chosen.length}) ${label}: ${fmt(outcome.rate)} msg/s\n`);
        }
      }
    }
    for (const [member, outcomes] of runs) {
      done.add(member);
      const median = [...outcomes].sort((a, b) => a.rate - b.rate)[Math.floor(outcomes.length / 2)];
      if (!median) continue;
      const note = outcomes.length > 1 ? `median of ${outcomes.length} runs taking turns with its peers (${outcomes.map((o) => fmt(o.rate)).join(', ')} msg/s)` : undefined;
      results.push(note ? { ...median, note: [median.note, note].filter(Boolean).join('; ') } : median);
    }
  }
  // In the order of the scenarios, whichever group ran them.
  const order = (r: Result): number => chosen.findIndex((s) => s.id === r.scenario && s.topology === r.topology && s.payload === r.payload && (s.impl === 'raw' ? 'raw ioredis' : s.impl) === r.impl);
  results.sort((a, b) => order(a) - order(b));
  const redis = execFileSync('redis-server', ['--version']).toString().trim();
  const meta = {
    command: `npm run bench${quick ? ' -- --quick' : ''}${only ? ` -- --only "${only}"` : ''}`,
    date: new Date().toISOString(),
    node: process.version,
    redis,
    cpus: cpus().length,
    seconds: Math.round((Date.now() - started) / 1000),
  };
  const md = [
    `# redstream benchmark results`,
    '',
    `\`${meta.command}\` on ${meta.date}: Node ${meta.node}, ${meta.redis.split(' ').slice(0, 3).join(' ')}, ${meta.cpus} cores, ${meta.seconds} s.`,
    'Each row ran in its own process; ratios compare rows of this same run. Latency is publish → handler start.',
    '',
    table(results),
    ...(failures.length > 0 ? ['', '## Failed scenarios', '', ...failures.map((f) => `- ${f}`)] : []),
    '',
  ].join('\n');
  // A partial run (--only) never replaces the committed full one.
  const name = only ? 'partial' : 'latest';
  mkdirSync(`${root}bench/results`, { recursive: true });
  writeFileSync(`${root}bench/results/${name}.json`, `${JSON.stringify({ ...meta, results, failures }, null, 2)}\n`);
  writeFileSync(`${root}bench/results/${name}.md`, md);
  process.stdout.write(`\n${md}\n`);
  if (failures.length > 0) process.exitCode = 1;
}

await main();
