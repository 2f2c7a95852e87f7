import type { Logger } from 'pino';
import { startHealthServer } from '../shared/health-server.js';
import type { Metrics } from '../shared/metrics.js';
import { onShutdown } from './shutdown.js';

/**
 * Runs a long-lived role until SIGINT/SIGTERM: serves health and metrics when a port is given, then on the
 * first signal stops taking jobs and lets the ones in hand finish (within the grace period), closes, exits 0.
 * A second signal exits at once (jobs in hand are redelivered: every handler is idempotent).
 */
export async function serveRole(args: {
  log: Logger;
  role: { ready(): boolean; close(graceMs?: number): Promise<void> };
  metrics: Metrics;
  port: number | undefined;
  graceMs: number;
}): Promise<void> {
  const { log, role } = args;
  const server =
    args.port === undefined
      ? undefined
      : await startHealthServer({
          port: args.port,
          registry: args.metrics.registry,
          ready: () => role.ready(),
          log,
        });
  if (server) log.info({ port: server.port }, 'serving /metrics, /healthz, /readyz');
  // The handlers stay installed: a second signal exits at once.
  await new Promise<void>((resolve) => onShutdown(log, resolve));
  await role.close(args.graceMs);
  await server?.close();
  log.info('stopped');
}
