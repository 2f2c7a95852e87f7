import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { IndexerError, ERROR_CODES } from '../shared/errors.js';
import type { RunCounts, SkillRecord, EmbeddingRecord, ErrorRecord, RunSource } from '../shared/records.js';
import { migrate } from './schema.js';
import { vectorToBlob } from './vector-blob.js';

/** Options of {@link IndexWriter}. */
export interface IndexWriterOptions {
  /** Database file; created (with its folder) when missing. */
  path: string;
  /** How long a write waits for a lock held by another connection, in ms. Default 5000. */
  busyTimeoutMs?: number;
}

/** What the writer knows about one skill id, for the incremental check. */
export interface KnownSkill {
  contentHash: string;
  removed: boolean;
  /** text_hash of the skill vector for the model asked about, or null when there is none. */
  textHash: string | null;
}

/** Everything one batch writes, in one transaction. */
export interface WriteBatch {
  runId: number;
  skills: readonly SkillRecord[];
  embeddings: readonly EmbeddingRecord[];
  errors: readonly ErrorRecord[];
  /** Ids seen unchanged (or kept at their last good version): only `last_seen_run` moves. */
  seen: readonly string[];
}

const nowIso = (): string => new Date().toISOString();

/**
 * The single writer. Owns the only read-write connection to the database: every change goes through here,
 * one transaction per batch, so readers (other connections, WAL mode) see whole batches or nothing.
 * Every write is an idempotent upsert: replaying a batch after a crash changes nothing.
 */
export class IndexWriter {
  readonly path: string;
  private readonly db: Database.Database;
  private readonly stmts;

  private constructor(path: string, db: Database.Database) {
    this.path = path;
    this.db = db;
    this.stmts = {
      known: db.prepare<[string, string]>(
        `SELECT s.content_hash AS contentHash, s.removed_at IS NOT NULL AS removed, e.text_hash AS textHash
           FROM skills s LEFT JOIN skill_embeddings e ON e.skill_id = s.id AND e.model_id = ? AND e.chunk = 0
          WHERE s.id = ?`,
      ),
      vectorByText: db
        .prepare<[string, string]>(
          `SELECT vector FROM skill_embeddings WHERE model_id = ? AND text_hash = ? LIMIT 1`,
        )
        .pluck(),
      upsertSkill: db.prepare(
        `INSERT INTO skills (id, source_id, path, name, description, body, front_matter, license, allowed_tools,
                             warnings, content_hash, first_seen_run, last_seen_run, indexed_at, removed_at)
         VALUES (@id, @sourceId, @path, @name, @description, @body, @frontMatter, @license, @allowedTools,
                 @warnings, @contentHash, @runId, @runId, @now, NULL)
         ON CONFLICT (id) DO UPDATE SET
           source_id = excluded.source_id, path = excluded.path, name = excluded.name,
           description = excluded.description, body = excluded.body, front_matter = excluded.front_matter,
           license = excluded.license, allowed_tools = excluded.allowed_tools, warnings = excluded.warnings,
           content_hash = excluded.content_hash, last_seen_run = excluded.last_seen_run,
           indexed_at = excluded.indexed_at, removed_at = NULL
         WHERE skills.content_hash IS NOT excluded.content_hash OR skills.removed_at IS NOT NULL`,
      ),
      upsertEmbedding: db.prepare(
        `INSERT INTO skill_embeddings (skill_id, model_id, chunk, dim, vector, text_hash)
         VALUES (@skillId, @modelId, @chunk, @dim, @vector, @textHash)
         ON CONFLICT (skill_id, model_id, chunk) DO UPDATE SET
           dim = excluded.dim, vector = excluded.vector, text_hash = excluded.text_hash
         WHERE skill_embeddings.text_hash IS NOT excluded.text_hash`,
      ),
      insertError: db.prepare(
        `INSERT OR IGNORE INTO index_errors (run_id, source_id, path, code, message, line, created_at)
         VALUES (@runId, @sourceId, @path, @code, @message, @line, @now)`,
      ),
      touchSeen: db.prepare<[number, string]>(
        `UPDATE skills SET last_seen_run = ? WHERE id = ? AND removed_at IS NULL`,
      ),
      tombstone: db.prepare<[string, string, number]>(
        `UPDATE skills SET removed_at = ? WHERE source_id = ? AND removed_at IS NULL AND last_seen_run < ?`,
      ),
    };
  }

  /** Opens (creating and migrating when needed) the database in WAL mode for writing. */
  static open(options: IndexWriterOptions): IndexWriter {
    mkdirSync(dirname(options.path), { recursive: true });
    let db: Database.Database;
    try {
      db = new Database(options.path);
    } catch (cause) {
      throw new IndexerError(ERROR_CODES.DATABASE, `cannot open database ${options.path}: ${String(cause)}`, {
        cause,
      });
    }
    try {
      db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 5000}`);
      // WAL: readers never block the writer and never see a half-written transaction.
      const mode = db.pragma('journal_mode = WAL', { simple: true });
      if (mode !== 'wal')
        throw new IndexerError(ERROR_CODES.DATABASE, `cannot switch ${options.path} to WAL mode`);
      // NORMAL is durable against process crashes in WAL mode; only an OS crash can lose the last commits.
      db.pragma('synchronous = NORMAL');
      db.pragma('foreign_keys = ON');
      // Keep the WAL file from staying huge after a big run once it has been checkpointed.
      db.pragma('journal_size_limit = 67108864');
      migrate(db);
    } catch (err) {
      db.close();
      throw err;
    }
    return new IndexWriter(options.path, db);
  }

  /** Records the model and what text its vectors are made from; a model id keeps its first definition. */
  registerModel(model: { id: string; dim: number; pooling: string; textConfig: unknown }): void {
    this.db
      .prepare(
        `INSERT INTO embedding_models (model_id, dim, pooling, text_config, created_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (model_id) DO NOTHING`,
      )
      .run(model.id, model.dim, model.pooling, JSON.stringify(model.textConfig), nowIso());
    const row = this.db.prepare('SELECT dim FROM embedding_models WHERE model_id = ?').get(model.id) as {
      dim: number;
    };
    if (row.dim !== model.dim) {
      throw new IndexerError(
        ERROR_CODES.MODEL,
        `model ${model.id} is recorded with dim ${row.dim} in ${this.path} but the loaded model has dim ${model.dim}`,
      );
    }
  }

  /**
   * Starts a run. Runs a previous process left `running` (it crashed or was killed) are marked `interrupted`:
   * this process holds the only write connection, so no one else can still be running them.
   */
  beginRun(run: {
    mode: 'embedded' | 'distributed';
    sources: readonly RunSource[];
    modelId: string;
  }): number {
    return this.db
      .transaction(() => {
        this.db
          .prepare(`UPDATE index_runs SET status = 'interrupted', finished_at = ? WHERE status = 'running'`)
          .run(nowIso());
        const info = this.db
          .prepare(
            `INSERT INTO index_runs (mode, sources, model_id, started_at, status) VALUES (?, ?, ?, ?, 'running')`,
          )
          .run(run.mode, JSON.stringify(run.sources), run.modelId, nowIso());
        return Number(info.lastInsertRowid);
      })
      .immediate();
  }

  /** The stored state of a skill for the incremental check, or undefined for a new id. */
  known(id: string, modelId: string): KnownSkill | undefined {
    const row = this.stmts.known.get(modelId, id) as
      { contentHash: string; removed: number; textHash: string | null } | undefined;
    return row && { contentHash: row.contentHash, removed: row.removed === 1, textHash: row.textHash };
  }

  /** A stored vector (BLOB) for exactly this text and model, so identical texts are never embedded twice. */
  vectorForText(modelId: string, textHash: string): Buffer | undefined {
    return this.stmts.vectorByText.get(modelId, textHash) as Buffer | undefined;
  }

  /** Writes one batch in one transaction; returns how many skill rows actually changed. */
  writeBatch(batch: WriteBatch): { changed: number } {
    const now = nowIso();
    return this.db
      .transaction(() => {
        let changed = 0;
        for (const s of batch.skills) {
          changed += this.stmts.upsertSkill.run({
            id: s.id,
            sourceId: s.sourceId,
            path: s.path,
            name: s.name,
            description: s.description,
            body: s.body,
            frontMatter: JSON.stringify(s.frontMatter),
            license: s.license,
            allowedTools: s.allowedTools && JSON.stringify(s.allowedTools),
            warnings: JSON.stringify(s.warnings),
            contentHash: s.contentHash,
            runId: batch.runId,
            now,
          }).changes;
        }
        for (const e of batch.embeddings) {
          this.stmts.upsertEmbedding.run({
            skillId: e.skillId,
            modelId: e.modelId,
            chunk: e.chunk,
            dim: e.vector instanceof Float32Array ? e.vector.length : e.vector.byteLength / 4,
            vector: e.vector instanceof Float32Array ? vectorToBlob(e.vector) : e.vector,
            textHash: e.textHash,
          });
        }
        for (const err of batch.errors) {
          this.stmts.insertError.run({ ...err, line: err.line ?? null, runId: batch.runId, now });
        }
        for (const id of batch.seen) this.stmts.touchSeen.run(batch.runId, id);
        return { changed };
      })
      .immediate();
  }

  /**
   * Tombstones the skills of a source that this run did not see. Call it only after the source was crawled
   * to the end and every one of its batches is written, or live skills would be marked removed.
   */
  tombstoneUnseen(runId: number, sourceId: string): number {
    return this.db.transaction(() => this.stmts.tombstone.run(nowIso(), sourceId, runId).changes).immediate();
  }

  /** Closes a run with its final status and counts. */
  finishRun(runId: number, status: 'completed' | 'interrupted' | 'failed', counts: RunCounts): void {
    this.db
      .prepare(
        `UPDATE index_runs SET status = @status, finished_at = @now, seen = @seen, indexed = @indexed,
           unchanged = @unchanged, removed = @removed, failed = @failed, embedded = @embedded, warnings = @warnings
         WHERE id = @runId`,
      )
      .run({ ...counts, status, runId, now: nowIso() });
  }

  /**
   * Moves the WAL into the main file. TRUNCATE when no reader holds an old snapshot; otherwise PASSIVE does
   * what it can without waiting on readers (a long-lived reader must never stall the writer).
   */
  checkpoint(): { busy: boolean; walPages: number; checkpointed: number } {
    const [row] = this.db.pragma('wal_checkpoint(TRUNCATE)') as {
      busy: number;
      log: number;
      checkpointed: number;
    }[];
    if (row && row.busy === 0) return { busy: false, walPages: row.log, checkpointed: row.checkpointed };
    const [p] = this.db.pragma('wal_checkpoint(PASSIVE)') as {
      busy: number;
      log: number;
      checkpointed: number;
    }[];
    return { busy: true, walPages: p?.log ?? -1, checkpointed: p?.checkpointed ?? -1 };
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
