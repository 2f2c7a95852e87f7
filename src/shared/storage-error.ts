import { ERROR_CODES, IndexerError } from './errors.js';

/** SQLite result codes (better-sqlite3's `SqliteError.code`) and errno names that mean the disk is full. */
const DISK_FULL = new Set(['SQLITE_FULL', 'ENOSPC', 'EDQUOT']);

/**
 * Turns a storage failure (better-sqlite3's SqliteError, a Node fs error) into an IndexerError with its own code
 * and a message that says what to do; anything else gives undefined. `what` names the file, e.g. the --db path.
 */
export function storageError(err: unknown, what: string): IndexerError | undefined {
  if (err instanceof IndexerError || !(err instanceof Error)) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code !== 'string') return undefined;
  if (DISK_FULL.has(code)) {
    return new IndexerError(
      ERROR_CODES.DISK_FULL,
      `the disk holding ${what} is full (${code}): free space, then run again; what was written is kept`,
      { cause: err },
    );
  }
  if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB') {
    return new IndexerError(
      ERROR_CODES.DATABASE_CORRUPT,
      `${what} is corrupt, or not a skillsmith index at all (${code}): restore a published snapshot, or delete it and re-index`,
      { cause: err },
    );
  }
  if (code.startsWith('SQLITE_IOERR') || code === 'SQLITE_CANTOPEN' || code === 'SQLITE_READONLY') {
    return new IndexerError(ERROR_CODES.DATABASE, `cannot use ${what} (${code}): ${err.message}`, {
      cause: err,
    });
  }
  return undefined;
}
