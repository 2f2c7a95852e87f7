import type { Command } from 'commander';
import type { Logger } from 'pino';
import { isLoopbackHost, startDashboard, type DashboardAuth } from '../dashboard/dashboard-server.js';
import { ERROR_CODES, IndexerError } from '../shared/errors.js';
import { DEFAULT_PREFIX } from '../shared/queues.js';
import { parseRedisUrl } from '../shared/redis-connection.js';
import { intFlag } from './options.js';
import { onShutdown } from './shutdown.js';

interface DashboardFlags {
  redis?: string;
  prefix: string;
  port: number;
  host: string;
  auth: boolean;
}

/**
 * The dashboard's credentials, from the environment only (a flag would show in `ps` and shell history).
 * `--no-auth` is accepted on a loopback host only.
 */
export function dashboardAuth(
  flags: { auth: boolean; host: string },
  env: NodeJS.ProcessEnv = process.env,
): DashboardAuth | undefined {
  if (!flags.auth) {
    if (!isLoopbackHost(flags.host)) {
      throw new IndexerError(
        ERROR_CODES.BAD_OPTION,
        `--no-auth is only allowed with a loopback --host (127.0.0.1, ::1, localhost), not ${flags.host}`,
      );
    }
    return undefined;
  }
  const user = env.SKILLSMITH_DASHBOARD_USER;
  const password = env.SKILLSMITH_DASHBOARD_PASSWORD;
  if (!user || !password) {
    throw new IndexerError(
      ERROR_CODES.BAD_OPTION,
      'the dashboard needs SKILLSMITH_DASHBOARD_USER and SKILLSMITH_DASHBOARD_PASSWORD set ' +
        '(or --no-auth with --host 127.0.0.1)',
    );
  }
  return { user, password };
}

/** `skillsmith-index dashboard`: bull-board for the deployment's queues, behind basic auth. */
export function registerDashboardCommand(program: Command, log: Logger): void {
  program
    .command('dashboard')
    .option('--redis <url>', 'Redis of the deployment (default: $REDIS_URL)')
    .option('--prefix <prefix>', 'BullMQ key prefix of the deployment', DEFAULT_PREFIX)
    .option('--port <n>', 'TCP port to listen on', intFlag('port', 0), 3000)
    .option('--host <host>', 'interface to listen on (0.0.0.0 to serve other machines)', '127.0.0.1')
    .option('--no-auth', 'serve without basic auth (only with a loopback --host)')
    .addHelpText(
      'after',
      `
Credentials come from the environment: SKILLSMITH_DASHBOARD_USER and SKILLSMITH_DASHBOARD_PASSWORD.
Without them the command refuses to start, unless --no-auth on a loopback host. Put TLS in front of it
(a reverse proxy) when it is reachable from other machines: basic auth sends the password with every request.

Examples:
  SKILLSMITH_DASHBOARD_USER=ops SKILLSMITH_DASHBOARD_PASSWORD=… skillsmith-index dashboard --redis redis://redis:6379 --host 0.0.0.0
  skillsmith-index dashboard --redis redis://127.0.0.1:6379 --no-auth`,
    )
    .action(async (flags: DashboardFlags) => {
      if (flags.port > 65535) {
        throw new IndexerError(
          ERROR_CODES.BAD_OPTION,
          `--port must be an integer ≤ 65535 (got ${flags.port})`,
        );
      }
      const raw = flags.redis ?? process.env.REDIS_URL;
      if (!raw) {
        throw new IndexerError(ERROR_CODES.BAD_OPTION, 'give --redis URL (or set REDIS_URL)');
      }
      const redisUrl = parseRedisUrl(raw, flags.redis ? '--redis' : 'REDIS_URL');
      if (!flags.prefix) throw new IndexerError(ERROR_CODES.BAD_OPTION, '--prefix must not be empty');
      const auth = dashboardAuth(flags);
      const dashboard = await startDashboard({
        redisUrl,
        prefix: flags.prefix,
        port: flags.port,
        host: flags.host,
        auth,
        log,
      });
      // Serve until SIGINT/SIGTERM, then close connections and the queues before exiting.
      await new Promise<void>((resolve) => {
        const dispose = onShutdown(log, () => {
          dispose();
          resolve();
        });
      });
      await dashboard.close();
    });
}
