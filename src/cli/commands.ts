/**
 * `redstream publish` and `redstream docs gen|serve`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { asyncapi, type AsyncApiDocument } from '../asyncapi/index.js';
import { OptionError } from '../core/errors.js';
import { serveDocs } from './docs-server.js';
import { load, splitTarget } from './load.js';

/** Options of `redstream publish`. */
export interface PublishCliOptions {
  readonly channel?: string;
  readonly list?: string;
  readonly stream?: string;
  readonly header?: readonly string[];
  readonly correlationId?: string;
  readonly rpc?: boolean;
  readonly timeout?: string;
}

/** Publishes one message (JSON when it parses as JSON, else text); with `rpc`, prints the reply. */
export async function publishCommand(target: string, body: string, options: PublishCliOptions): Promise<string> {
  const destinations = (['channel', 'list', 'stream'] as const).filter((key) => options[key] !== undefined);
  if (destinations.length !== 1) throw new OptionError('--channel | --list | --stream', destinations.join(', ') || undefined, 'exactly one destination');
  const destination = destinations[0]!;
  const headers: Record<string, string> = {};
  for (const pair of options.header ?? []) {
    const at = pair.indexOf('=');
    if (at < 1) throw new OptionError('--header', pair, 'name=value');
    headers[pair.slice(0, at)] = pair.slice(at + 1);
  }
  const { broker } = await load(target);
  const publish = { [destination]: options[destination], headers, ...(options.correlationId ? { correlationId: options.correlationId } : {}) };
  try {
    if (options.rpc) {
      const timeout = options.timeout === undefined ? 30_000 : Number(options.timeout);
      if (!Number.isInteger(timeout) || timeout < 1) throw new OptionError('--timeout', options.timeout, 'a whole number of milliseconds');
      const reply = await broker.request(parseBody(body), { ...publish, timeout });
      return typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
    }
    return String(await broker.publish(parseBody(body), publish));
  } finally {
    await broker.close();
  }
}

function parseBody(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** Options of `redstream docs gen|serve`. */
export interface DocsOptions {
  readonly title?: string;
  readonly appVersion?: string;
}

/** The document of a module's App or broker, or read from a .json / .yaml document. */
export async function documentOf(target: string, options: DocsOptions): Promise<AsyncApiDocument> {
  const { file } = splitTarget(target);
  if (/\.(json|ya?ml)$/.test(file)) {
    const text = readFileSync(file, 'utf8');
    return (file.endsWith('.json') ? JSON.parse(text) : parseYaml(text)) as AsyncApiDocument;
  }
  const { broker } = await load(target);
  return asyncapi(broker, { title: options.title ?? basename(file).replace(/\.[^.]+$/, ''), ...(options.appVersion ? { version: options.appVersion } : {}) });
}

/** Writes the document as JSON (or YAML); returns where. */
export async function docsGen(target: string, options: DocsOptions & { readonly yaml?: boolean; readonly out?: string }): Promise<string> {
  const doc = await documentOf(target, options);
  const out = options.out ?? (options.yaml ? 'asyncapi.yaml' : 'asyncapi.json');
  writeFileSync(out, options.yaml || /\.ya?ml$/.test(out) ? toYaml(doc) : `${JSON.stringify(doc, null, 2)}\n`);
  return out;
}

/** Serves the docs page until SIGINT/SIGTERM. */
export async function docsServe(target: string, options: DocsOptions & { readonly host: string; readonly port: number }): Promise<void> {
  const doc = await documentOf(target, options);
  const server = await serveDocs(doc, { host: options.host, port: options.port });
  console.log(`AsyncAPI docs of ${target} at ${server.url} (document: ${server.url}asyncapi.json, ${server.url}asyncapi.yaml)`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await server.close();
}
