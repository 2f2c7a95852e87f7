import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { ensureBuiltinModel, isBuiltinModelName } from '../model/default-model.js';
import { ERROR_CODES, IndexerError } from '../shared/errors.js';
import { storageError } from '../shared/storage-error.js';
import { SCHEMA_VERSION } from '../writer/schema.js';
import type { CheckedOpenOptions, OpenIndexOptions } from './open-options.js';
import { chooseModel, SkillIndexImpl } from './skill-index.js';
import type { SkillIndex } from './types.js';

/** Tables a reader needs; an SQLite file without them is not an index. */
const REQUIRED_TABLES = ['skills', 'skills_fts', 'skill_embeddings', 'embedding_models', 'index_runs'];

/** What no options mean: the schema's defaults (test/reader-search.test.ts checks they agree). */
export const DEFAULT_OPEN_OPTIONS: CheckedOpenOptions = { busyTimeoutMs: 5000 };

/**
 * Opens a skillsmith index read-only. The file may be written by an indexer at the same time: WAL mode lets
 * this connection read committed batches only, and every call is one short read, so it never blocks the
 * writer's checkpoints. Refuses files that are not an index, or whose schema is newer than this reader.
 * The query model is loaded on the first vector or hybrid search, not here.
 */
export async function openIndex(path: string, options?: OpenIndexOptions): Promise<SkillIndex> {
  const opts =
    options === undefined
      ? DEFAULT_OPEN_OPTIONS
      : (await import('./open-options.js')).parseOpenOptions(options);
  if (!existsSync(path)) throw new IndexerError(ERROR_CODES.DATABASE, `index ${path} does not exist`);
  let db: Database.Database;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true, timeout: opts.busyTimeoutMs });
  } catch (cause) {
    throw new IndexerError(ERROR_CODES.DATABASE, `cannot open index ${path}: ${(cause as Error).message}`, {
      cause,
    });
  }
  try {
    db.pragma(`busy_timeout = ${opts.busyTimeoutMs}`);
    let version: number;
    let tables: string[];
    try {
      version = db.pragma('user_version', { simple: true }) as number;
      tables = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).pluck().all() as string[];
    } catch (cause) {
      const storage = storageError(cause, path);
      if (storage) throw storage;
      throw new IndexerError(
        ERROR_CODES.DATABASE,
        `${path} is not a skillsmith index (not an SQLite database: ${(cause as Error).message})`,
        { cause },
      );
    }
    if (version > SCHEMA_VERSION) {
      throw new IndexerError(
        ERROR_CODES.DATABASE,
        `${path}: schema version ${version} is newer than this reader understands (${SCHEMA_VERSION}): upgrade skillsmith-index`,
      );
    }
    const missing = REQUIRED_TABLES.filter((t) => !tables.includes(t));
    if (version === 0 || missing.length > 0) {
      const why = version === 0 ? 'user_version is 0' : `no ${missing.join(', ')} table`;
      throw new IndexerError(ERROR_CODES.DATABASE, `${path} is not a skillsmith index (${why})`);
    }
    // Versions 1…SCHEMA_VERSION are readable: this reader reads only v1 tables and columns.
    const model = chooseModel(db, opts.modelId);
    const modelDir =
      opts.model !== undefined && isBuiltinModelName(opts.model)
        ? await ensureBuiltinModel(opts.model)
        : opts.model;
    // Cheap (reads JSON only): a wrong folder fails now rather than on the first vector search.
    if (modelDir !== undefined && model)
      (await import('./model-folder-check.js')).checkModelFolder(modelDir, model);
    return new SkillIndexImpl({ db, schemaVersion: version, model, modelDir });
  } catch (err) {
    db.close();
    throw err;
  }
}
