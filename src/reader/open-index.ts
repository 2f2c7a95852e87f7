import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { z } from 'zod';
import { ensureBuiltinModel, isBuiltinModelName } from '../model/default-model.js';
import { ERROR_CODES, IndexerError } from '../shared/errors.js';
import { storageError } from '../shared/storage-error.js';
import { SCHEMA_VERSION } from '../writer/schema.js';
import { checkModelFolder } from './query-embedder.js';
import { chooseModel, SkillIndexImpl } from './skill-index.js';
import type { SkillIndex } from './types.js';

/** Options of {@link openIndex}, validated once when the index opens. */
export const OpenIndexOptionsSchema = z
  .object({
    /**
     * Model folder used to embed queries, or a built-in model's name (`use-lite-en-int8`, `use-lite-en`).
     * Default: the built-in model the index's vectors come from (built on first use); any other model must be
     * given here for vector and hybrid searches.
     */
    model: z.string().min(1).optional(),
    /** Which model's vectors to search when several coexist. Default: the one with the most vectors. */
    modelId: z.string().min(1).optional(),
    /** How long a statement waits on a lock before SQLITE_BUSY. Default 5000. */
    busyTimeoutMs: z.number().int().min(0).default(5000),
  })
  .strict();

/** Options of {@link openIndex} (see {@link OpenIndexOptionsSchema} for defaults). */
export type OpenIndexOptions = z.input<typeof OpenIndexOptionsSchema>;

/** Tables a reader needs; an SQLite file without them is not an index. */
const REQUIRED_TABLES = ['skills', 'skills_fts', 'skill_embeddings', 'embedding_models', 'index_runs'];

function parseOptions(options: OpenIndexOptions | undefined): z.infer<typeof OpenIndexOptionsSchema> {
  const r = OpenIndexOptionsSchema.safeParse(options ?? {});
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  throw new IndexerError(
    ERROR_CODES.BAD_OPTION,
    `${issue?.path.join('.') || 'options'}: ${issue?.message ?? 'is invalid'}`,
  );
}

/**
 * Opens a skillsmith index read-only. The file may be written by an indexer at the same time: WAL mode lets
 * this connection read committed batches only, and every call is one short read, so it never blocks the
 * writer's checkpoints. Refuses files that are not an index, or whose schema is newer than this reader.
 * The query model is loaded on the first vector or hybrid search, not here.
 */
export async function openIndex(path: string, options?: OpenIndexOptions): Promise<SkillIndex> {
  const opts = parseOptions(options);
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
    if (modelDir !== undefined && model) checkModelFolder(modelDir, model);
    return new SkillIndexImpl({ db, schemaVersion: version, model, modelDir });
  } catch (err) {
    db.close();
    throw err;
  }
}
