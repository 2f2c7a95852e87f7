import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { ERROR_CODES, IndexerError } from './errors.js';

/** Options of {@link startHealthServer}. */
export interface HealthServerOptions {
  /** TCP port; 0 picks any free port (read it back from the result). Callers start the server only when the operator gave a port. */
  port: number;
  /** Interface to listen on. Default `0.0.0.0` (probes and Prometheus come from outside the container). */
  host?: string;
  /** The registry `/metrics` serves, e.g. `createMetrics(role).registry`. */
  registry: Registry;
  /** Whether the process can do its work now (`/readyz`): e.g. Redis reachable and the worker running. A throw counts as not ready. */
  ready: () => boolean | Promise<boolean>;
  log?: Logger;
}

/** A running health server. */
export interface HealthServer {
  /** The port it listens on (the chosen one when `port` was 0). */
  port: number;
  /** Stops listening and closes open (keep-alive) connections. */
  close(): Promise<void>;
}

/**
 * Serves, with nothing but node:http:
 * - `GET /metrics`: the registry in Prometheus text format;
 * - `GET /healthz`: 200 while the event loop runs (liveness: a blocked or dead process cannot answer);
 * - `GET /readyz`: 200 when `ready()` says so, else 503 (readiness: take it out of rotation, do not restart it);
 * - 404 for any other path, 405 for other methods.
 */
export async function startHealthServer(options: HealthServerOptions): Promise<HealthServer> {
  const { registry, ready, log } = options;
  const host = options.host ?? '0.0.0.0';

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const known = path === '/metrics' || path === '/healthz' || path === '/readyz';
    if (!known) return send(res, 404, 'not found\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return send(res, 405, 'method not allowed\n');
    }
    if (path === '/healthz') return send(res, 200, 'ok\n');
    if (path === '/readyz') {
      let isReady = false;
      try {
        isReady = await ready();
      } catch (err) {
        log?.debug({ err }, 'readiness check threw');
      }
      return send(res, isReady ? 200 : 503, isReady ? 'ready\n' : 'not ready\n');
    }
    const body = await registry.metrics();
    return send(res, 200, body, registry.contentType);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log?.warn({ err }, 'health server request failed');
      if (!res.headersSent) send(res, 500, 'internal error\n');
      else res.destroy();
    });
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void =>
      reject(
        new IndexerError(
          ERROR_CODES.BAD_OPTION,
          `cannot serve metrics on ${host}:${options.port}: ${err.message}`,
          { cause: err },
        ),
      );
    server.once('error', onError);
    server.listen(options.port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  log?.info({ host, port }, 'serving /metrics, /healthz and /readyz');

  return {
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // Prometheus keeps its connection alive between scrapes: without this, close() waits for it.
        server.closeAllConnections();
      }),
  };
}

function send(
  res: ServerResponse,
  status: number,
  body: string,
  contentType = 'text/plain; charset=utf-8',
): void {
  res.statusCode = status;
  res.setHeader('Content-Type', contentType);
  res.setHeader('Cache-Control', 'no-store');
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
