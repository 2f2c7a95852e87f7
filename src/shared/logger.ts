import { createRequire } from 'node:module';
import { pino, type Logger } from 'pino';
import type PinoPretty from 'pino-pretty';
import { redactUrl } from './redact.js';

// pino-pretty (and its dependencies) only for a person at a terminal: services and scripts never load it, and
// start ~40 ms sooner. It is CommonJS, so `require` loads it synchronously where the logger is made.
const require = createRequire(import.meta.url);

/** Keys whose values are never written, at the top level and two levels down. */
const SECRET_KEYS = ['password', 'token', 'authorization', 'redisUrl', 'githubToken', 'GITHUB_TOKEN'];

/**
 * Whether log lines should be for a person: stderr is a terminal and the command was not asked for `--json`
 * (whoever asks for JSON output is a script, and gets JSON log lines too, exactly as without a terminal).
 */
export function humanLogs(
  stderr: { isTTY?: boolean } = process.stderr,
  argv: readonly string[] = process.argv,
): boolean {
  return stderr.isTTY === true && !argv.includes('--json');
}

/**
 * The process logger, always on stderr (stdout is reserved for `--json` output and the MCP stdio protocol):
 * JSON lines, or pino-pretty's one human line per entry when {@link humanLogs} says so.
 * Level from `LOG_LEVEL` (default `info`). Secrets are redacted by key wherever they appear, and errors are
 * logged with credentials stripped from their message and stack (a git or HTTP error may quote a URL with a
 * token in it); a child process's raw stderr is never logged.
 */
export function createLogger(bindings: Record<string, unknown> = {}, human: boolean = humanLogs()): Logger {
  const options = {
    level: process.env.LOG_LEVEL ?? 'info',
    base: { pid: process.pid, ...bindings },
    redact: {
      paths: [
        ...SECRET_KEYS,
        ...SECRET_KEYS.map((k) => `*.${k}`),
        ...SECRET_KEYS.map((k) => `*.*.${k}`),
        'err.stderr',
      ],
      censor: '[redacted]',
    },
    serializers: {
      err: (err: Error): Record<string, unknown> => {
        const out = pino.stdSerializers.err(err) as unknown as Record<string, unknown>;
        for (const key of ['message', 'stack']) {
          const value = out[key];
          if (typeof value === 'string') out[key] = redactUrl(value);
        }
        return out;
      },
    },
  };
  if (human) {
    const pretty = require('pino-pretty') as typeof PinoPretty;
    return pino(
      options,
      pretty({ destination: 2, sync: true, ignore: 'pid,hostname', translateTime: 'HH:MM:ss' }),
    );
  }
  return pino(options, pino.destination({ dest: 2, sync: true }));
}
