import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { Queue } from 'bullmq';
import express, { type NextFunction, type Request, type Response } from 'express';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { ERROR_CODES, IndexerError } from '../shared/errors.js';
import { QUEUES } from '../shared/queues.js';
import { bullConnection, checkRedis, describeRedis } from '../shared/redis-connection.js';

/** HTTP basic-auth credentials of the dashboard. */
export interface DashboardAuth {
  user: string;
  password: string;
}

/** Options of {@link startDashboard}. */
export interface DashboardOptions {
  /** Redis of the deployment (`redis://` or `rediss://`, may carry a password: it is never logged). */
  redisUrl: string;
  /** BullMQ key prefix of the deployment (`--prefix`). */
  prefix: string;
  /** TCP port; 0 picks any free port. */
  port: number;
  /** Interface to listen on. */
  host: string;
  /**
   * Basic-auth credentials every request but `/healthz` must carry. Undefined serves without auth, which is
   * only accepted on a loopback host (the dashboard can retry, promote and delete jobs).
   */
  auth?: DashboardAuth | undefined;
  log?: Logger;
}

/** A running dashboard. */
export interface Dashboard {
  port: number;
  /** Stops listening, closes open connections, then the queues and the Redis connection. */
  close(): Promise<void>;
}

/** Hosts `--no-auth` is allowed on: only this machine can reach them. */
export function isLoopbackHost(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1');
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/**
 * Serves bull-board for the four queues of the deployment (`QUEUES`) at `/`, behind HTTP basic auth.
 * Fails fast when Redis cannot be reached, instead of serving a board that shows nothing.
 */
export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const { redisUrl, prefix, host, auth, log } = options;
  if (auth && (!auth.user || !auth.password)) {
    throw new IndexerError(ERROR_CODES.BAD_OPTION, 'dashboard user and password must both be non-empty');
  }
  if (!auth && !isLoopbackHost(host)) {
    throw new IndexerError(
      ERROR_CODES.BAD_OPTION,
      `the dashboard without auth may only listen on a loopback host (127.0.0.1, ::1, localhost), not ${host}`,
    );
  }

  const health = await checkRedis(redisUrl);
  if (health.warning) log?.warn(health.warning);

  // One connection for the four queues. Unlike a worker's, its commands give up after a few retries: while
  // Redis is away the board shows an error instead of hanging every request.
  const connection = new Redis(redisUrl, {
    retryStrategy: bullConnection(redisUrl).retryStrategy,
    maxRetriesPerRequest: 3,
  });
  connection.on('error', (err) => log?.debug({ err }, 'dashboard redis connection error'));
  const queues = Object.values(QUEUES).map((name) => new Queue(name, { connection, prefix }));

  const board = new ExpressAdapter();
  board.setBasePath('/');
  createBullBoard({
    queues: queues.map((queue) => new BullMQAdapter(queue)),
    serverAdapter: board,
    options: { uiConfig: { boardTitle: 'Skillsmith', hideDocsLink: true } },
  });

  const app = express();
  app.disable('x-powered-by');
  app.use((_req: Request, res: Response, next: NextFunction) => {
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    next();
  });
  // Unauthenticated liveness for the orchestrator; it says nothing about the queues.
  app.get('/healthz', (_req: Request, res: Response) => {
    res.type('text/plain').send('ok\n');
  });
  if (auth) app.use(basicAuth(auth));
  app.use(sameOriginWrites);
  app.use(board.getRouter());

  const server = createServer(app);
  try {
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void =>
        reject(
          new IndexerError(
            ERROR_CODES.BAD_OPTION,
            `cannot serve the dashboard on ${host}:${options.port}: ${err.message}`,
            { cause: err },
          ),
        );
      server.once('error', onError);
      server.listen(options.port, host, () => {
        server.off('error', onError);
        resolve();
      });
    });
  } catch (err) {
    await Promise.all(queues.map((q) => q.close()));
    connection.disconnect();
    throw err;
  }
  const port = (server.address() as AddressInfo).port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  log?.info(
    { url: `http://${shownHost}:${port}/`, redis: describeRedis(redisUrl), prefix, auth: Boolean(auth) },
    'dashboard listening',
  );

  return {
    port,
    async close() {
      await new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        // Browsers keep connections alive: without this close() waits for them to time out.
        server.closeAllConnections();
      });
      await Promise.all(queues.map((q) => q.close()));
      await connection.quit().catch(() => connection.disconnect());
    },
  };
}

/** Hashing both sides first gives equal lengths, so the comparison time says nothing about the secret. */
export function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

function basicAuth(auth: DashboardAuth): (req: Request, res: Response, next: NextFunction) => void {
  return (req, res, next) => {
    const header = req.headers.authorization ?? '';
    const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
    const decoded = match?.[1] ? Buffer.from(match[1], 'base64').toString('utf8') : '';
    const colon = decoded.indexOf(':');
    const user = colon >= 0 ? decoded.slice(0, colon) : '';
    const password = colon >= 0 ? decoded.slice(colon + 1) : '';
    // Both compared every time (no short-circuit): timing does not tell a right user from a wrong one.
    const userOk = sameSecret(user, auth.user);
    const passwordOk = sameSecret(password, auth.password);
    if (match && userOk && passwordOk) return next();
    res.setHeader('WWW-Authenticate', 'Basic realm="skillsmith dashboard", charset="UTF-8"');
    res.status(401).type('text/plain').send('authentication required\n');
  };
}

/**
 * Browsers resend basic-auth credentials on cross-site requests: refuse state-changing requests from another
 * origin (a page elsewhere must not be able to retry or delete jobs through an operator's browser).
 */
function sameOriginWrites(req: Request, res: Response, next: NextFunction): void {
  if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS') return next();
  const site = req.headers['sec-fetch-site'];
  const origin = req.headers.origin;
  let crossOrigin = site === 'cross-site' || site === 'same-site';
  if (origin && origin !== 'null') {
    try {
      crossOrigin ||= new URL(origin).host !== req.headers.host;
    } catch {
      crossOrigin = true;
    }
  } else if (origin === 'null') {
    crossOrigin = true;
  }
  if (crossOrigin) {
    res.status(403).type('text/plain').send('cross-origin request refused\n');
    return;
  }
  next();
}
