/**
 * A small HTTP server for an AsyncAPI document: the rendered page (AsyncAPI's React component,
 * served from node_modules, so it works offline), the JSON and the YAML.
 * @packageDocumentation
 */
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { stringify } from 'yaml';
import { SetupError } from '../core/errors.js';

/** Where {@link serveDocs} listens. */
export interface DocsServerOptions {
  /** @defaultValue `'127.0.0.1'` */
  readonly host?: string;
  /** `0` picks a free port. @defaultValue `8000` */
  readonly port?: number;
}

/** A running docs server. */
export interface DocsServer {
  /** Its root, with the port it really listens on, e.g. `http://127.0.0.1:8000/`. */
  readonly url: string;
  /** Stops listening and drops open connections. Resolves once the server is closed. */
  close(): Promise<void>;
}

const PACKAGE = '@asyncapi/react-component';
const ASSETS = { script: `${PACKAGE}/browser/standalone/index.js`, style: `${PACKAGE}/styles/default.min.css` } as const;

interface Route {
  readonly type: string;
  readonly body: string | Buffer;
}

/**
 * Serves an AsyncAPI document (e.g. from `asyncapi(broker, …)`) over HTTP: `/` renders it with
 * AsyncAPI's React component (its bundle and styles are served by this server from
 * node_modules, so the page needs no network), `/asyncapi.json` and `/asyncapi.yaml` give the
 * document itself; anything else is a 404. Needs `@asyncapi/react-component` installed.
 *
 * @throws {SetupError} when `@asyncapi/react-component` is not installed, or the server cannot
 * listen (e.g. the port is taken).
 * @example
 * const docs = await serveDocs(asyncapi(broker, { title: 'Billing' }), { port: 0 });
 * console.log(`AsyncAPI docs at ${docs.url}`);
 * await docs.close();
 */
export async function serveDocs(document: Record<string, unknown>, options: DocsServerOptions = {}): Promise<DocsServer> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 8000;
  const [script, style] = await Promise.all([readAsset(ASSETS.script), readAsset(ASSETS.style)]);
  const routes = new Map<string, Route>([
    ['/', { type: 'text/html; charset=utf-8', body: page(document) }],
    ['/asyncapi.json', { type: 'application/json; charset=utf-8', body: JSON.stringify(document, null, 2) }],
    ['/asyncapi.yaml', { type: 'application/yaml; charset=utf-8', body: stringify(document) }],
    ['/assets/asyncapi-react.js', { type: 'text/javascript; charset=utf-8', body: script }],
    ['/assets/asyncapi-react.css', { type: 'text/css; charset=utf-8', body: style }],
  ]);
  const server = createServer((request, response) => respond(routes, request, response));
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => reject(new SetupError(`Cannot serve the AsyncAPI docs on ${host}:${port}: ${error.message}`, { cause: error })));
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  const realPort = typeof address === 'object' && address !== null ? address.port : port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${shownHost}:${realPort}/`,
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(new SetupError(`Cannot close the AsyncAPI docs server: ${error.message}`, { cause: error })) : resolve()));
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

function respond(routes: ReadonlyMap<string, Route>, request: IncomingMessage, response: ServerResponse): void {
  const path = new URL(request.url ?? '/', 'http://docs.invalid').pathname;
  const route = routes.get(path);
  const headers = { 'x-content-type-options': 'nosniff', 'cache-control': 'no-cache' };
  if (!route) {
    response.writeHead(404, { ...headers, 'content-type': 'text/plain; charset=utf-8' }).end(`Not found: ${path}\n`);
  } else if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.writeHead(405, { ...headers, allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('Method not allowed\n');
  } else {
    response.writeHead(200, { ...headers, 'content-type': route.type, 'content-length': Buffer.byteLength(route.body) });
    response.end(request.method === 'HEAD' ? undefined : route.body);
  }
}

async function readAsset(specifier: string): Promise<Buffer> {
  let path: string;
  try {
    path = createRequire(import.meta.url).resolve(specifier);
  } catch (error) {
    throw new SetupError(`The AsyncAPI docs page needs ${PACKAGE}: install it with \`npm install ${PACKAGE}\`.`, { cause: error });
  }
  try {
    return await readFile(path);
  } catch (error) {
    throw new SetupError(`Cannot read ${specifier} (${path}); reinstall it with \`npm install ${PACKAGE}\`.`, { cause: error });
  }
}

/** The page: the document is embedded as a JSON data block, with `<` escaped so it cannot end the script. */
function page(document: Record<string, unknown>): string {
  const info = document['info'] as { title?: unknown } | undefined;
  const title = typeof info?.title === 'string' ? `${info.title} – AsyncAPI` : 'AsyncAPI';
  const json = JSON.stringify(document).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/asyncapi-react.css">
</head>
<body>
<div id="asyncapi"></div>
<script type="application/json" id="asyncapi-document">${json}</script>
<script src="/assets/asyncapi-react.js"></script>
<script>
AsyncApiStandalone.render({
  schema: JSON.parse(document.getElementById('asyncapi-document').textContent),
  config: { show: { sidebar: true, messageExamples: true }, expand: { messageExamples: true } },
}, document.getElementById('asyncapi'));
</script>
</body>
</html>
`;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
