import { lstatSync, statSync, type Stats } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ERROR_CODES, IndexerError } from '../shared/errors.js';
import { writerLockPath } from './writer-lock.js';

function statOrUndefined(path: string, follow: boolean): Stats | undefined {
  try {
    return follow ? statSync(path) : lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

const refuse = (to: string, why: string): IndexerError =>
  new IndexerError(ERROR_CODES.BAD_OPTION, `--to ${to}: ${why}`);

/**
 * Checks where a snapshot may go before anything is written. The snapshot replaces its target by rename, so a
 * wrong target is destroyed: once, the live database itself (the indexer's later writes vanished into the old
 * inode) and, as root, /dev/null. Allowed: a new path, or an existing regular file that is none of the live
 * database's files. Compared by device and inode, not by name, so links and `..` spellings are caught too.
 */
export function checkSnapshotTarget(db: string, to: string): void {
  const target = resolve(to);
  const source = resolve(db);
  const own = [source, `${source}-wal`, `${source}-shm`, `${source}-journal`, writerLockPath(source)];
  if (own.includes(target)) throw refuse(to, `is the live database ${db} or one of its files`);
  const parent = statOrUndefined(dirname(target), true);
  if (parent && !parent.isDirectory()) throw refuse(to, `${dirname(target)} is not a folder`);
  const existing = statOrUndefined(target, false);
  if (!existing) return;
  if (!existing.isFile()) {
    throw refuse(to, existing.isDirectory() ? 'is a folder: give a file name' : 'is not a regular file');
  }
  for (const path of own) {
    const s = statOrUndefined(path, true);
    if (s && s.dev === existing.dev && s.ino === existing.ino) {
      throw refuse(to, `is the same file as ${path} (the live database): it would be destroyed`);
    }
  }
}
