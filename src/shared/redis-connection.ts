import type { RedisOptions as BullRedisOptions } from 'bullmq';
import { Redis } from 'ioredis';
import { IndexerError, ERROR_CODES } from './errors.js';
import { redactUrl } from './redact.js';

/** How a role reaches Redis: the URL (`redis://` or `rediss://`, may carry a password) and the key prefix. */
export interface RedisTarget {
  url: string;
  prefix: string;
}

/**
 * Validates a Redis URL from a flag or `REDIS_URL`; the message never quotes the password. A password in
 * `REDIS_PASSWORD` is added to a URL that carries none, so a deployment keeps the secret out of its command
 * lines (docker-compose.yml: `--redis redis://redis:6379` plus the environment); a URL's own password wins.
 */
export function parseRedisUrl(
  value: string,
  from = '--redis',
  password = process.env.REDIS_PASSWORD,
): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    // Not echoed: a mistyped URL may still carry the password where no pattern would recognise it.
    throw new IndexerError(
      ERROR_CODES.BAD_OPTION,
      `${from} is not a valid URL (expected redis://[:password@]host:port)`,
    );
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new IndexerError(
      ERROR_CODES.BAD_OPTION,
      `${from} must be a redis:// or rediss:// URL (got ${url.protocol}//…)`,
    );
  }
  if (!password || url.password) return value;
  // The URL setter percent-encodes; ioredis decodes it back.
  url.password = password;
  return url.toString();
}

/** The URL with its password masked, for logs and messages. */
export function describeRedis(url: string): string {
  try {
    const u = new URL(url);
    if (u.username || u.password) {
      u.username = '***';
      u.password = '';
    }
    return u.toString();
  } catch {
    return redactUrl(url);
  }
}

/**
 * ioredis options for BullMQ: `maxRetriesPerRequest: null` is what BullMQ requires of workers' blocking
 * connections. Reconnects back off to 5 s: a Redis restart (AOF on) is survived without a storm.
 */
export function bullConnection(url: string): BullRedisOptions & { url: string } {
  return {
    url,
    maxRetriesPerRequest: null,
    retryStrategy: (times: number) => Math.min(200 * 2 ** times, 5000),
  };
}

/** What {@link checkRedis} found. */
export interface RedisHealth {
  version: string;
  maxmemoryPolicy: string;
  /** Present when the configuration can lose jobs: say it loudly. */
  warning?: string;
}

/**
 * Checks Redis once at start: reachable (a few quick attempts, then a clear failure instead of BullMQ's
 * endless silent reconnects), credentials accepted, and `maxmemory-policy` is `noeviction` (any other policy
 * lets Redis evict job keys under memory pressure: jobs silently vanish).
 */
export async function checkRedis(url: string, timeoutMs = 5000): Promise<RedisHealth> {
  const client = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    connectTimeout: Math.min(timeoutMs, 2000),
    enableOfflineQueue: false,
    retryStrategy: (times) => (times > 3 ? null : 200 * times),
  });
  // The first error says what is wrong (ECONNREFUSED, a TLS handshake on a plain port, a bad password); the
  // later ones only say the connection closed. Kept for the message, never thrown from the emitter.
  let firstError: Error | undefined;
  client.on('error', (err: Error) => {
    firstError ??= err;
  });
  // One deadline for the whole check: retries, a TLS handshake a plain port never answers, a stalled INFO.
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs / 1000} s`)), timeoutMs);
  });
  try {
    return await Promise.race([probe(client), deadline]);
  } catch (err) {
    const cause = firstError ?? (err as Error);
    const tlsHint =
      url.startsWith('rediss:') &&
      /no answer|closed|ETIMEDOUT|EPROTO|wrong version|ECONNRESET|SSL|TLS/i.test(cause.message)
        ? ' (rediss:// asks for TLS: is this port plain Redis? then use redis://)'
        : '';
    throw new IndexerError(
      ERROR_CODES.REDIS,
      `cannot reach Redis at ${describeRedis(url)}: ${redactUrl(cause.message)}${tlsHint}`,
      { cause },
    );
  } finally {
    clearTimeout(timer);
    client.disconnect();
  }
}

async function probe(client: Redis): Promise<RedisHealth> {
  await client.connect();
  await client.ping();
  const info = await client.info('server');
  const version = /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
  let policy = 'unknown';
  try {
    const reply = (await client.config('GET', 'maxmemory-policy')) as string[];
    policy = reply[1] ?? 'unknown';
  } catch {
    // Managed Redis services often disable CONFIG; INFO memory carries the policy too.
    const mem = await client.info('memory');
    policy = /maxmemory_policy:(\S+)/.exec(mem)?.[1] ?? 'unknown';
  }
  const health: RedisHealth = { version, maxmemoryPolicy: policy };
  if (policy !== 'noeviction') {
    health.warning =
      `Redis maxmemory-policy is "${policy}", not "noeviction": under memory pressure Redis may evict queued ` +
      `jobs and they are lost. Set "maxmemory-policy noeviction" (see ops/redis.conf).`;
  }
  return health;
}
