import type { Command } from 'commander';
import type { Logger } from 'pino';
import { IndexerError, ERROR_CODES } from '../shared/errors.js';
import { DEFAULT_PREFIX } from '../shared/queues.js';
import { checkRedis, describeRedis, parseRedisUrl, type RedisTarget } from '../shared/redis-connection.js';
import { intFlag } from './options.js';

/** Flags every distributed command takes. */
export interface RedisFlags {
  redis?: string;
  prefix: string;
}

/** Adds `--redis URL` and `--prefix P` to a command. */
export function withRedisOptions(cmd: Command): Command {
  return cmd
    .option('--redis <url>', 'Redis of the deployment, redis:// or rediss:// (default: $REDIS_URL)')
    .option('--prefix <prefix>', 'BullMQ key prefix: one per deployment', DEFAULT_PREFIX);
}

/** Adds `--metrics-port N` (off unless given). */
export function withMetricsOption(cmd: Command): Command {
  return cmd.option(
    '--metrics-port <n>',
    'serve /metrics, /healthz and /readyz on this port (default: $SKILLSMITH_METRICS_PORT, else off)',
    intFlag('metrics-port', 0),
  );
}

/** The metrics port from the flag or `SKILLSMITH_METRICS_PORT`, or undefined (off). */
export function metricsPort(flag: number | undefined): number | undefined {
  if (flag !== undefined) return flag;
  const env = process.env.SKILLSMITH_METRICS_PORT;
  if (env === undefined || env === '') return undefined;
  return intFlag('metrics-port (SKILLSMITH_METRICS_PORT)', 0)(env);
}

/** Where the command's Redis is: the flag, else `REDIS_URL`; a clear one-line error when neither is given. */
export function redisTarget(flags: RedisFlags): RedisTarget {
  const raw = flags.redis ?? process.env.REDIS_URL;
  if (!raw) throw new IndexerError(ERROR_CODES.BAD_OPTION, 'give --redis URL (or set REDIS_URL)');
  if (!/^[A-Za-z0-9._-]+$/.test(flags.prefix)) {
    throw new IndexerError(
      ERROR_CODES.BAD_OPTION,
      `--prefix must be letters, digits, ".", "_" or "-" (got ${flags.prefix})`,
    );
  }
  return { url: parseRedisUrl(raw, flags.redis ? '--redis' : 'REDIS_URL'), prefix: flags.prefix };
}

/**
 * {@link redisTarget}, checked reachable first: admin commands (status, failed, schedule, backfill) fail within
 * about 5 s with one line instead of hanging in BullMQ's reconnect loop.
 */
export async function reachableRedisTarget(flags: RedisFlags): Promise<RedisTarget> {
  const target = redisTarget(flags);
  await checkRedis(target.url);
  return target;
}

/**
 * Checks Redis before a role starts: unreachable is a clear failure (no endless silent retry), and an eviction
 * policy that can drop jobs is a loud warning.
 */
export async function checkRedisAtStart(target: RedisTarget, log: Logger): Promise<void> {
  const health = await checkRedis(target.url);
  if (health.warning) log.warn({ maxmemoryPolicy: health.maxmemoryPolicy }, health.warning);
  log.debug({ redis: describeRedis(target.url), version: health.version }, 'redis ok');
}
