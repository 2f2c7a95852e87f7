import Database from 'better-sqlite3';
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  createReadStream,
  fsyncSync,
  mkdirSync,
  openSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { IndexerError, ERROR_CODES } from '../shared/errors.js';
import { checkSnapshotTarget } from './snapshot-target.js';

/** Options of {@link publishSnapshot}. */
export interface PublishOptions {
  /** The live database (may be written to while it is copied). */
  db: string;
  /** Where the snapshot goes; replaced atomically. The manifest goes to `<to>.manifest.json`. */
  to: string;
}

/** The manifest written beside a snapshot. */
export interface SnapshotManifest {
  file: string;
  schemaVersion: number;
  models: { id: string; dim: number; vectors: number }[];
  counts: { skills: number; removed: number; errorsLastRun: number; runs: number };
  lastRun: { id: number; status: string; finishedAt: string | null } | null;
  bytes: number;
  sha256: string;
  createdAt: string;
}

/**
 * Writes a consistent copy of the database with `VACUUM INTO` (one read transaction: a snapshot of whole
 * batches, even while the writer commits) to a temp name in the target folder, fsyncs it, then renames it
 * into place, then the manifest. Readers that have the old snapshot open keep reading the old file (rename
 * swaps the name, not the inode); new readers get the complete new one, never a partial file.
 */
export async function publishSnapshot(options: PublishOptions): Promise<SnapshotManifest> {
  checkSnapshotTarget(options.db, options.to);
  const to = resolve(options.to);
  mkdirSync(dirname(to), { recursive: true });
  const tmp = join(dirname(to), `.${basename(to)}.${randomBytes(6).toString('hex')}.tmp`);
  let src: Database.Database;
  try {
    src = new Database(options.db, { readonly: true, fileMustExist: true });
  } catch (cause) {
    throw new IndexerError(ERROR_CODES.DATABASE, `cannot open ${options.db}: ${(cause as Error).message}`, {
      cause,
    });
  }
  try {
    src.pragma('busy_timeout = 10000');
    src.prepare('VACUUM INTO ?').run(tmp);
  } catch (cause) {
    rmSync(tmp, { force: true });
    throw new IndexerError(ERROR_CODES.DATABASE, `cannot copy ${options.db}: ${(cause as Error).message}`, {
      cause,
    });
  } finally {
    src.close();
  }
  try {
    // The copy is a rollback-journal file; readers of a snapshot only read, so that is what they should get.
    const snap = new Database(tmp, { readonly: true });
    const manifestBody = describe(snap);
    snap.close();
    fsyncFile(tmp);
    const { bytes, sha256 } = await hashFile(tmp);
    const manifest: SnapshotManifest = {
      file: basename(to),
      ...manifestBody,
      bytes,
      sha256,
      createdAt: new Date().toISOString(),
    };
    renameSync(tmp, to);
    const manifestTmp = `${tmp}.manifest`;
    writeFileSync(manifestTmp, `${JSON.stringify(manifest, null, 2)}\n`);
    fsyncFile(manifestTmp);
    renameSync(manifestTmp, `${to}.manifest.json`);
    fsyncFile(dirname(to));
    return manifest;
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

function describe(db: Database.Database): Omit<SnapshotManifest, 'file' | 'bytes' | 'sha256' | 'createdAt'> {
  const one = <T>(sql: string): T => db.prepare(sql).get() as T;
  const lastRun = one<{ id: number; status: string; finishedAt: string | null } | undefined>(
    `SELECT id, status, finished_at AS finishedAt FROM index_runs ORDER BY id DESC LIMIT 1`,
  );
  return {
    schemaVersion: db.pragma('user_version', { simple: true }) as number,
    models: db
      .prepare(
        `SELECT m.model_id AS id, m.dim, (SELECT count(*) FROM skill_embeddings e WHERE e.model_id = m.model_id) AS vectors
           FROM embedding_models m ORDER BY m.model_id`,
      )
      .all() as SnapshotManifest['models'],
    counts: {
      skills: one<{ n: number }>(`SELECT count(*) AS n FROM skills WHERE removed_at IS NULL`).n,
      removed: one<{ n: number }>(`SELECT count(*) AS n FROM skills WHERE removed_at IS NOT NULL`).n,
      errorsLastRun: one<{ n: number }>(
        `SELECT count(*) AS n FROM index_errors WHERE run_id = (SELECT max(id) FROM index_runs)`,
      ).n,
      runs: one<{ n: number }>(`SELECT count(*) AS n FROM index_runs`).n,
    },
    lastRun: lastRun ?? null,
  };
}

function fsyncFile(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

async function hashFile(path: string): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(path)) {
    bytes += (chunk as Buffer).byteLength;
    hash.update(chunk as Buffer);
  }
  return { bytes, sha256: hash.digest('hex') };
}
