import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

/**
 * The process logger: JSON lines on stderr (stdout is reserved for `--json` output), pretty on a TTY.
 * Level from `LOG_LEVEL` (default `info`). Secrets are redacted by key wherever they appear.
 */
export function createLogger(bindings: Record<string, unknown> = {}): Logger {
  const options = {
    level: process.env.LOG_LEVEL ?? 'info',
    base: { pid: process.pid, ...bindings },
    redact: {
      paths: ['password', 'token', '*.password', '*.token', 'redisUrl', '*.redisUrl'],
      censor: '[redacted]',
    },
  };
  if (process.stderr.isTTY) {
    return pino(
      options,
      pretty({ destination: 2, sync: true, ignore: 'pid,hostname', translateTime: 'HH:MM:ss' }),
    );
  }
  return pino(options, pino.destination({ dest: 2, sync: true }));
}
