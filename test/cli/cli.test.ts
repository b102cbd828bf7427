/**
 * The real `redstream` CLI, as a child process, against the single node.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeEnvelope } from '../../src/core/codec/index.js';
import { makeBroker, rawClient, SINGLE_URL, uid } from '../helpers/redis.js';
import { eventually, Inbox } from '../helpers/wait.js';

const APP = 'test/cli/fixtures/app.ts';
const running = new Set<ChildProcess>();
afterEach(() => {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
});

interface Run {
  readonly child: ChildProcess;
  readonly output: Inbox<string>;
  readonly exited: Promise<number | null>;
}

/** Starts the CLI (from source, through tsx, as `npx redstream` would run the built one). */
function cli(args: readonly string[], env: Record<string, string> = {}): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', ...args], {
    env: { ...process.env, CLI_REDIS_URL: SINGLE_URL, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const output = new Inbox<string>();
  child.stdout.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output, exited };
}

async function finished(run: Run): Promise<{ code: number | null; text: string }> {
  const code = await run.exited;
  return { code, text: run.output.items.join('') };
}

describe('redstream run', () => {
  it('runs two workers sharing one group, serves health, passes extra options to onStartup, and stops both gracefully on SIGTERM', async () => {
    const stream = uid('cli-run');
    const marker = `${stream}:startup`;
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    const run = cli(['run', APP, '--workers', '2', '--health-port', String(port), '--marker', marker], { CLI_STREAM: stream, CLI_DELAY: '20' });
    const raw = rawClient();
    await eventually(async () => (await raw.llen(marker)) === 2, 30_000, 'both workers through onStartup with --marker');
    await eventually(async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200, 20_000, '/readyz ready');
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    const publisher = makeBroker();
    for (let n = 0; n < 300; n += 1) await publisher.publish(n, { stream });
    const processed = async (): Promise<string[]> => (await raw.lrangeBuffer(`${stream}:done`, 0, -1)).map((value) => decodeEnvelope(value).payload.toString());
    await eventually(async () => (await processed()).length >= 50, 30_000, 'some messages processed');
    // A worker that dies is replaced (the new one runs onStartup too); its pending entries are claimed.
    const [victim] = (await raw.lrangeBuffer(marker, 0, 0)).map((value) => Number(decodeEnvelope(value).payload.toString()));
    process.kill(victim!, 'SIGKILL');
    await eventually(async () => (await raw.llen(marker)) === 3, 30_000, 'a replacement worker');
    await eventually(async () => new Set((await processed()).map((entry) => entry.split(':')[1])).size === 300, 30_000, 'every message processed');
    for (let n = 300; n < 400; n += 1) await publisher.publish(n, { stream });
    await eventually(async () => (await processed()).length >= 320, 30_000, 'the next messages being processed');
    // SIGTERM while messages are still being processed: what was read is finished first.
    run.child.kill('SIGTERM');
    const { code } = await finished(run);
    expect(code).toBe(0);
    const workers = new Set((await processed()).map((entry) => entry.split(':')[0]));
    expect(workers.size).toBeGreaterThanOrEqual(2);
    const pending = (await raw.xpending(stream, 'cli')) as [number];
    expect(pending[0]).toBe(0);
  }, 90_000);

  it('fails with a clear message for a missing module, a module without an app, and an unreachable Redis (no password shown)', async () => {
    const missing = await finished(cli(['run', 'test/cli/fixtures/nope.ts']));
    expect(missing.code).toBe(1);
    expect(missing.text).toMatch(/No module at .*nope\.ts/);
    const notApp = await finished(cli(['run', `${APP}:notAnApp`]));
    expect(notApp.code).toBe(1);
    expect(notApp.text).toMatch(/not a redstream App or broker/);
    const unreachable = await finished(cli(['run', APP], { CLI_REDIS_URL: 'redis://app:s3cret-pw@127.0.0.1:1' }));
    expect(unreachable.code).toBe(1);
    expect(unreachable.text).toMatch(/Cannot connect to Redis at 127\.0\.0\.1:1/);
    expect(unreachable.text).not.toContain('s3cret-pw');
  }, 60_000);

  it('with --reload restarts the worker when a file of the module folder changes, and refuses --workers', async () => {
    const stream = uid('cli-reload');
    const marker = `${stream}:startup`;
    const run = cli(['run', APP, '--reload', '--marker', marker], { CLI_STREAM: stream });
    const raw = rawClient();
    await eventually(async () => (await raw.llen(marker)) === 1, 30_000, 'the worker started');
    const touched = join('test/cli/fixtures', `.reload-${process.pid}`);
    writeFileSync(touched, 'x');
    try {
      await eventually(async () => (await raw.llen(marker)) === 2, 30_000, 'the worker started again');
    } finally {
      rmSync(touched, { force: true });
    }
    run.child.kill('SIGTERM');
    expect((await finished(run)).code).toBe(0);
    const both = await finished(cli(['run', APP, '--reload', '--workers', '2']));
    expect(both.code).toBe(1);
    expect(both.text).toMatch(/`--reload`.*single worker/);
  }, 60_000);

  it('has --help for every command', async () => {
    for (const command of [['run'], ['publish'], ['docs', 'gen'], ['docs', 'serve']]) {
      const help = await finished(cli([...command, '--help']));
      expect(help.code).toBe(0);
      expect(help.text).toContain(`Usage: redstream ${command.join(' ')}`);
    }
  }, 60_000);
});

describe('redstream publish', () => {
  it('publishes JSON or text to a list, with headers and a correlation id', async () => {
    const list = uid('cli-publish');
    const result = await finished(cli(['publish', APP, '{"a":1}', '--list', list, '--header', 'tenant=t1', '--correlation-id', 'cid-cli']));
    expect(result.code).toBe(0);
    const [value] = await rawClient().lrangeBuffer(list, 0, -1);
    const { headers, payload } = decodeEnvelope(value!);
    expect(JSON.parse(payload.toString())).toEqual({ a: 1 });
    expect(headers).toMatchObject({ correlation_id: 'cid-cli', tenant: 't1', 'content-type': 'application/json' });
  }, 30_000);

  it('with --rpc prints the reply', async () => {
    const stream = uid('cli-rpc');
    const responder = makeBroker();
    responder.subscriber(`${stream}.echo`, (body: unknown) => ({ echoed: body }));
    await responder.start();
    const result = await finished(cli(['publish', APP, 'hello', '--channel', `${stream}.echo`, '--rpc', '--timeout', '5000']));
    expect(result.code).toBe(0);
    expect(result.text.trim()).toBe('{"echoed":"hello"}');
  }, 30_000);

  it('refuses two destinations', async () => {
    const result = await finished(cli(['publish', APP, 'x', '--list', 'a', '--stream', 'b']));
    expect(result.code).toBe(1);
    expect(result.text).toMatch(/exactly one destination/);
  }, 30_000);
});

describe('redstream docs gen', () => {
  it('writes the AsyncAPI 3.0 document as JSON or YAML', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'redstream-docs-'));
    const json = await finished(cli(['docs', 'gen', APP, '--out', join(dir, 'asyncapi.json'), '--title', 'Fixture'], { CLI_STREAM: 'orders' }));
    expect(json.code).toBe(0);
    const doc = JSON.parse(readFileSync(join(dir, 'asyncapi.json'), 'utf8')) as { asyncapi: string; info: { title: string }; channels: Record<string, { address: string }> };
    expect(doc.asyncapi).toBe('3.0.0');
    expect(doc.info.title).toBe('Fixture');
    expect(Object.values(doc.channels).map((channel) => channel.address)).toEqual(expect.arrayContaining(['orders', 'orders.echo']));
    const yaml = await finished(cli(['docs', 'gen', APP, '--yaml', '--out', join(dir, 'asyncapi.yaml')], { CLI_STREAM: 'orders' }));
    expect(yaml.code).toBe(0);
    expect(readFileSync(join(dir, 'asyncapi.yaml'), 'utf8')).toContain("asyncapi: 3.0.0");
  }, 30_000);
});
