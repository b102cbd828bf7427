#!/usr/bin/env node
/**
 * `redstream`: run an app, publish to it, generate or serve its AsyncAPI docs.
 * @packageDocumentation
 */
import { Command, Option } from 'commander';
import { docsGen, docsServe, publishCommand } from './commands.js';
import { runPrimary, runWorker } from './run.js';

/** `--key value` pairs (a lone `--flag` is `"true"`) left over after the known options. */
export function extraOptions(args: readonly string[]): Record<string, string> {
  const extra: Record<string, string> = {};
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i]!;
    if (!arg.startsWith('--')) continue;
    const [key, inline] = arg.slice(2).split('=', 2) as [string, string | undefined];
    const next = args[i + 1];
    if (inline !== undefined) extra[key] = inline;
    else if (next !== undefined && !next.startsWith('--')) {
      extra[key] = next;
      i += 1;
    } else extra[key] = 'true';
  }
  return extra;
}

/** Prints the error (its message only: redstream errors say what to do) and exits 1. */
function fail(error: unknown): never {
  console.error(`redstream: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}

const program = new Command('redstream').description('Event-driven services on Redis: run, publish, document.').showHelpAfterError();

program
  .command('run')
  .description('Run the App (or broker) a module exports, until SIGINT/SIGTERM; extra --key value options reach the onStartup hooks.')
  .argument('<module>', 'a .ts or .js file; `file.ts:name` picks a named export instead of the default one')
  .option('-w, --workers <n>', 'worker processes sharing the consumer groups', '1')
  .option('--reload', 'restart the worker when a file under the module folder changes (one worker only)', false)
  .addOption(new Option('-l, --log-level <level>', 'level of the default console logger').choices(['debug', 'info', 'warn', 'error', 'silent']))
  .option('--health-port <port>', 'serve /healthz and /readyz on this port')
  .option('--health-host <host>', 'address of the health endpoint', '127.0.0.1')
  .allowUnknownOption()
  .allowExcessArguments()
  .action(async (target: string, options: { workers: string; reload: boolean; logLevel?: string; healthPort?: string; healthHost: string }, command: Command) => {
    const code = await runPrimary(target, {
      workers: Number(options.workers),
      reload: options.reload,
      logLevel: options.logLevel,
      healthPort: options.healthPort === undefined ? undefined : Number(options.healthPort),
      healthHost: options.healthHost,
      extra: extraOptions(command.args.slice(1)),
    }).catch(fail);
    process.exit(code);
  });

program
  .command('publish')
  .description("Publish one message (JSON if it parses, else text) with the module's broker; --rpc waits for the reply and prints it.")
  .argument('<module>', 'a .ts or .js file exporting an App or broker')
  .argument('<message>', 'the body: JSON or text')
  .option('--channel <name>', 'publish to this Pub/Sub channel')
  .option('--list <name>', 'push to this list')
  .option('--stream <name>', 'add to this stream')
  .option('--header <name=value...>', 'a header (repeatable)')
  .option('--correlation-id <id>', 'the correlation_id header')
  .option('--rpc', 'wait for the reply and print it', false)
  .option('--timeout <ms>', 'how long --rpc waits', '30000')
  .action(async (target: string, message: string, options: Parameters<typeof publishCommand>[2]) => {
    const output = await publishCommand(target, message, options).catch(fail);
    console.log(output);
    process.exit(0);
  });

const docs = program.command('docs').description('AsyncAPI documentation of an app.');
docs
  .command('gen')
  .description('Write the AsyncAPI 3.0 document (asyncapi.json, or asyncapi.yaml with --yaml).')
  .argument('<module>', 'a .ts or .js file exporting an App or broker')
  .option('--yaml', 'write YAML', false)
  .option('--out <file>', 'where to write it')
  .option('--title <title>', "the document's title (default: the module's file name)")
  .option('--app-version <version>', "the document's info.version", '0.1.0')
  .action(async (target: string, options: { yaml: boolean; out?: string; title?: string; appVersion: string }) => {
    const out = await docsGen(target, options).catch(fail);
    console.log(`redstream: wrote ${out}`);
    process.exit(0);
  });
docs
  .command('serve')
  .description('Serve a page that renders the AsyncAPI document, and the document at /asyncapi.json and /asyncapi.yaml; works offline.')
  .argument('<module>', 'a .ts or .js file exporting an App or broker, or an asyncapi .json / .yaml file')
  .option('--host <host>', 'address to listen on', '127.0.0.1')
  .option('--port <port>', 'port to listen on', '8000')
  .option('--title <title>', "the document's title (default: the module's file name)")
  .option('--app-version <version>', "the document's info.version", '0.1.0')
  .action(async (target: string, options: { host: string; port: string; title?: string; appVersion: string }) => {
    await docsServe(target, { ...options, port: Number(options.port) }).catch(fail);
    process.exit(0);
  });

// A worker of `redstream run` (not for users): the primary forks this entry with `__worker`.
if (process.argv[2] === '__worker') {
  const extra = JSON.parse(process.argv[4] ?? '{}') as Record<string, string>;
  await runWorker(process.argv[3] ?? '', extra);
} else {
  await program.parseAsync(process.argv);
}
