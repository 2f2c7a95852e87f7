import { type ErrorCode } from './errors.js';

/**
 * Process exit statuses: an interface scripts and cron rely on (docs/errors.md has the table). Add new ones;
 * never renumber.
 */
export const EXIT = {
  OK: 0,
  /** A failure that is not one of ours (a bug): logged with its stack. */
  UNEXPECTED: 1,
  /** Bad input: a flag, config or source the user gave; also a run in which no source could be crawled. */
  BAD_INPUT: 2,
  /** The database or its disk: cannot open, corrupt, not an index, disk full. */
  STORAGE: 3,
  /** Redis: unreachable, refused, misconfigured, or it lost a run's data. */
  REDIS: 4,
  /** The embedding model could not be built or loaded. */
  MODEL: 5,
  /** The run completed, but some of its sources could not be crawled (the others are indexed). */
  PARTIAL: 6,
  /** The same work is already running (a second writer, a second backfill of a source), or a writer lost its claim. */
  ALREADY_RUNNING: 7,
  /** Stopped cleanly by SIGINT / SIGTERM: run the same command again to resume. */
  INTERRUPTED: 130,
  TERMINATED: 143,
} as const;

export type ExitStatus = (typeof EXIT)[keyof typeof EXIT];

/**
 * Every error code's exit status, in one place. `satisfies Record<ErrorCode, …>` makes a new code without a row
 * here a type error. Per-skill codes never end a command; they map to bad input for completeness.
 */
const EXIT_BY_CODE = {
  E_NO_FRONT_MATTER: EXIT.BAD_INPUT,
  E_INVALID_YAML: EXIT.BAD_INPUT,
  E_FRONT_MATTER_NOT_MAPPING: EXIT.BAD_INPUT,
  E_MISSING_DESCRIPTION: EXIT.BAD_INPUT,
  E_UNPARSEABLE: EXIT.BAD_INPUT,
  E_FILE_TOO_LARGE: EXIT.BAD_INPUT,
  E_READ_FAILED: EXIT.BAD_INPUT,
  E_PATH_ESCAPE: EXIT.BAD_INPUT,
  E_SOURCE_FAILED: EXIT.BAD_INPUT,
  E_BAD_OPTION: EXIT.BAD_INPUT,
  E_BAD_JOB: EXIT.BAD_INPUT,
  E_MODEL: EXIT.MODEL,
  E_DATABASE: EXIT.STORAGE,
  E_DATABASE_CORRUPT: EXIT.STORAGE,
  E_DISK_FULL: EXIT.STORAGE,
  E_REDIS: EXIT.REDIS,
  E_REDIS_DATA_LOST: EXIT.REDIS,
  E_ALREADY_RUNNING: EXIT.ALREADY_RUNNING,
  // A producer that keeps dying mid-crawl (OOM, a crash): not the user's input, not Redis.
  E_CRAWL_FAILED: EXIT.UNEXPECTED,
} as const satisfies Record<ErrorCode, ExitStatus>;

/** The exit status of an error code. */
export function exitStatusOf(code: ErrorCode): ExitStatus {
  return EXIT_BY_CODE[code];
}
