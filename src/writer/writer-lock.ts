import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { ERROR_CODES, IndexerError } from '../shared/errors.js';
import { holderAlive, PROCESS_INSTANCE } from '../shared/process-instance.js';

interface LockInfo {
  pid: number;
  host: string;
  since: string;
  /** See PROCESS_INSTANCE: tells a restarted container's new writer from its dead predecessor of the same pid. */
  instance?: string;
}

/** The lock file beside a database. */
export function writerLockPath(dbPath: string): string {
  return `${dbPath}.writer.lock`;
}

/**
 * The single-writer rule, enforced: `<db>.writer.lock` is created exclusively (O_EXCL) by the process that
 * writes the database and removed when it closes. A second writer — an overlapping cron run, a second
 * `index` in another shell — refuses to start with a message naming the holder, instead of interleaving its
 * run with the first. A lock left by a process that no longer runs on this host (kill -9, a crash) is taken
 * over. A lock from another host is never taken over: the database is on shared storage, and the other
 * writer may still be alive.
 */
export class WriterLock {
  private constructor(private readonly file: string) {}

  static acquire(dbPath: string): WriterLock {
    const file = writerLockPath(dbPath);
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const fd = openSync(file, 'wx', 0o644);
        const info: LockInfo = {
          pid: process.pid,
          host: hostname(),
          since: new Date().toISOString(),
          instance: PROCESS_INSTANCE,
        };
        writeSync(fd, JSON.stringify(info));
        closeSync(fd);
        return new WriterLock(file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw new IndexerError(
            ERROR_CODES.DATABASE,
            `cannot create the writer lock ${file}: ${(err as Error).message}`,
          );
        }
      }
      const holder = readLock(file);
      if (holder && (holder.host !== hostname() || holderAlive(holder.pid, holder.instance))) {
        throw new IndexerError(
          ERROR_CODES.DATABASE,
          `another writer holds ${dbPath} (pid ${holder.pid} on ${holder.host} since ${holder.since}): ` +
            `only one process may write a database; wait for it to finish or stop it`,
        );
      }
      // Stale (its process is gone) or unreadable (a crash mid-write): take it over and try again.
      rmSync(file, { force: true });
    }
    throw new IndexerError(ERROR_CODES.DATABASE, `cannot take the writer lock ${file}: it keeps reappearing`);
  }

  release(): void {
    rmSync(this.file, { force: true });
  }
}

function readLock(file: string): LockInfo | undefined {
  try {
    const info = JSON.parse(readFileSync(file, 'utf8')) as Partial<LockInfo>;
    if (typeof info.pid === 'number' && typeof info.host === 'string' && typeof info.since === 'string') {
      return info as LockInfo;
    }
  } catch {
    /* missing or half-written */
  }
  return undefined;
}
