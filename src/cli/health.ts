/**
 * The health endpoint of `redstream run --health-port`: `/healthz` says the process is up,
 * `/readyz` whether every worker is running its subscribers and reaches Redis.
 */
import { createServer, type Server } from 'node:http';
import { NotConnectedError } from '../core/errors.js';

/** Starts the endpoint; `ready()` decides /readyz (200 or 503). */
export async function serveHealth(port: number, host: string, ready: () => Promise<boolean>): Promise<Server> {
  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (path === '/healthz') {
      response.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    if (path === '/readyz') {
      ready().then(
        (ok) => response.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ready\n' : 'not ready\n'),
        () => response.writeHead(503, { 'content-type': 'text/plain' }).end('not ready\n'),
      );
      return;
    }
    response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => reject(new NotConnectedError(`Cannot serve the health endpoint on ${host}:${port}: ${error.message}`, { cause: error })));
    server.listen(port, host, resolve);
  });
  return server;
}
