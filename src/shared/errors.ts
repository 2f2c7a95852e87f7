/**
 * Stable error codes. They are part of the contract: they land in `index_errors.code` and in CLI output,
 * and docs/errors.md lists them. Never rename one; add new ones.
 */
export const ERROR_CODES = {
  /** SKILL.md does not open with a `---` … `---` YAML block (after an optional BOM). */
  NO_FRONT_MATTER: 'E_NO_FRONT_MATTER',
  /** The front matter block is not valid YAML. */
  INVALID_YAML: 'E_INVALID_YAML',
  /** The front matter parses but is not a key/value mapping. */
  FRONT_MATTER_NOT_MAPPING: 'E_FRONT_MATTER_NOT_MAPPING',
  /** No non-empty string `description`: nothing to index the skill by. */
  MISSING_DESCRIPTION: 'E_MISSING_DESCRIPTION',
  /** The parser failed on this skill in an unexpected way (a bug or a pathological input); the run goes on. */
  UNPARSEABLE: 'E_UNPARSEABLE',
  /** A file is larger than the configured cap. */
  FILE_TOO_LARGE: 'E_FILE_TOO_LARGE',
  /** A file could not be read (permissions, vanished during the crawl, not UTF-8 …). */
  READ_FAILED: 'E_READ_FAILED',
  /** A path resolves outside its source root (symlink or `..`). */
  PATH_ESCAPE: 'E_PATH_ESCAPE',
  /** A whole source could not be crawled (missing folder, not a directory …). */
  SOURCE_FAILED: 'E_SOURCE_FAILED',
  /** An option or config value is invalid. */
  BAD_OPTION: 'E_BAD_OPTION',
  /** The embedding model could not be built or loaded. */
  MODEL: 'E_MODEL',
  /** The database has a schema this version does not know, or cannot be opened. */
  DATABASE: 'E_DATABASE',
  /** Redis cannot be reached, refused the credentials, or is configured so that jobs could be lost. */
  REDIS: 'E_REDIS',
  /** The same work is already queued or running (a second backfill of a source, a second writer). */
  ALREADY_RUNNING: 'E_ALREADY_RUNNING',
  /** A distributed job whose input can never succeed (malformed payload, unknown run): not retried. */
  BAD_JOB: 'E_BAD_JOB',
  /** The database file is damaged (truncated, a bad page) or is not an SQLite file at all. */
  DATABASE_CORRUPT: 'E_DATABASE_CORRUPT',
  /** The disk (or the filesystem quota) holding the database is full. */
  DISK_FULL: 'E_DISK_FULL',
  /** Redis lost a run's queued work (restarted without persistence, flushed, evicted): the run is failed. */
  REDIS_DATA_LOST: 'E_REDIS_DATA_LOST',
  /**
   * A distributed run's crawl job failed for good before it handed the run to the writer (its producer died
   * mid-crawl more than `maxStalledCount` times, or it failed with no retries left): the writer fails the run.
   */
  CRAWL_FAILED: 'E_CRAWL_FAILED',
} as const;

export type ErrorCode = (typeof ERROR_CODES)[keyof typeof ERROR_CODES];

const KNOWN_ERROR_CODES = new Set<string>(Object.values(ERROR_CODES));

/** True for a string that is one of {@link ERROR_CODES} (e.g. a code carried in a queue message). */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && KNOWN_ERROR_CODES.has(code);
}

/** Warning codes: the skill is indexed, but something about it breaks the Agent Skills rules. */
export const WARNING_CODES = {
  /** `name` missing: the folder name is used instead. */
  MISSING_NAME: 'W_MISSING_NAME',
  /** `name` is not ≤ 64 chars of lowercase letters, digits and hyphens. */
  INVALID_NAME: 'W_INVALID_NAME',
  /** `description` longer than 1024 chars: indexed in full, embedded truncated by the model. */
  LONG_DESCRIPTION: 'W_LONG_DESCRIPTION',
  /** A known optional field has the wrong type (e.g. `license: 3`): kept in front_matter JSON only. */
  BAD_FIELD_TYPE: 'W_BAD_FIELD_TYPE',
  /** (a) The front matter was invalid YAML only because of an unquoted `: ` in a one-line value: re-parsed quoted. */
  RECOVERED_UNQUOTED_VALUE: 'W_RECOVERED_UNQUOTED_VALUE',
  /** (b) No front matter: the name is the folder's, the description the first paragraph after the H1 title. */
  RECOVERED_NO_FRONT_MATTER: 'W_RECOVERED_NO_FRONT_MATTER',
  /** (c) The front matter is never closed: its leading `key: value` lines were read, the rest is the body. */
  RECOVERED_UNCLOSED_FRONT_MATTER: 'W_RECOVERED_UNCLOSED_FRONT_MATTER',
  /** (d) `description` missing or empty: the body's first paragraph is used. */
  RECOVERED_DESCRIPTION: 'W_RECOVERED_DESCRIPTION',
  /** `name` differs from the skill's folder name (the spec requires them equal). */
  NAME_MISMATCH: 'W_NAME_MISMATCH',
  /** `compatibility` is over 500 characters. */
  LONG_COMPATIBILITY: 'W_LONG_COMPATIBILITY',
  /** `metadata` maps some key to a value that is not a string (the spec wants string → string). */
  METADATA_NOT_STRING: 'W_METADATA_NOT_STRING',
  /** A key appears twice in one mapping of the front matter; the last one wins. */
  DUPLICATE_KEY: 'W_DUPLICATE_KEY',
} as const;

export type WarningCode = (typeof WARNING_CODES)[keyof typeof WARNING_CODES];

/** The one base class for errors the indexer raises on purpose: a stable `code` and an optional `cause`. */
export class IndexerError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'IndexerError';
    this.code = code;
  }
}
