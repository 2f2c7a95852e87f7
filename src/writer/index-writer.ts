import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { IndexerError, ERROR_CODES } from '../shared/errors.js';
import type { RunCounts, SkillRecord, EmbeddingRecord, ErrorRecord, RunSource } from '../shared/records.js';
import { redactUrl } from '../shared/redact.js';
import { migrate } from './schema.js';
import { WriterLock } from './writer-lock.js';
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
  statKey: string | null;
  removed: boolean;
  /** text_hash of the skill vector for the model asked about, or null when there is none. */
  textHash: string | null;
}

/** What the database knows about one source, for the incremental check. */
export interface KnownSource {
  skills: Map<string, KnownSkill>;
  /** The last rejection of each skill id that was rejected, with the stat key its files had then. */
  rejections: Map<string, ErrorRecord & { statKey: string }>;
}

/** A skill seen but not rewritten. */
export interface SeenSkill {
  id: string;
  statKey?: string | undefined;
}

/** Everything one batch writes, in one transaction. */
export interface WriteBatch {
  runId: number;
  skills: readonly SkillRecord[];
  embeddings: readonly EmbeddingRecord[];
  errors: readonly ErrorRecord[];
  /**
   * Skills seen unchanged (or kept at their last good version): their rows are not rewritten (a skill row
   * carries its body; rewriting 1,400 of them was most of an unchanged re-index). They are only noted as seen
   * for tombstoning, and `stat_key` is updated when given (same content, touched files).
   */
  seen: readonly SeenSkill[];
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

  private constructor(
    path: string,
    db: Database.Database,
    private readonly lock: WriterLock,
  ) {
    this.path = path;
    this.db = db;
    this.stmts = {
      vectorByText: db
        .prepare<[string, string]>(
          `SELECT vector FROM skill_embeddings WHERE model_id = ? AND text_hash = ? LIMIT 1`,
        )
        .pluck(),
      upsertSkill: db.prepare(
        `INSERT INTO skills (id, source_id, path, name, description, body, front_matter, license, allowed_tools,
                             warnings, content_hash, stat_key, first_seen_run, last_seen_run, indexed_at, removed_at,
                             source_kind, source_url, source_ref, commit_id, blob_sha, trust)
         VALUES (@id, @sourceId, @path, @name, @description, @body, @frontMatter, @license, @allowedTools,
                 @warnings, @contentHash, @statKey, @runId, @runId, @now, NULL,
                 @sourceKind, @sourceUrl, @sourceRef, @commitId, @blobSha, @trust)
         ON CONFLICT (id) DO UPDATE SET
           source_id = excluded.source_id, path = excluded.path, name = excluded.name,
           description = excluded.description, body = excluded.body, front_matter = excluded.front_matter,
           license = excluded.license, allowed_tools = excluded.allowed_tools, warnings = excluded.warnings,
           content_hash = excluded.content_hash, stat_key = excluded.stat_key, last_seen_run = excluded.last_seen_run,
           indexed_at = excluded.indexed_at, removed_at = NULL, source_kind = excluded.source_kind,
           source_url = excluded.source_url, source_ref = excluded.source_ref, commit_id = excluded.commit_id,
           blob_sha = excluded.blob_sha, trust = excluded.trust
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
        `INSERT OR IGNORE INTO index_errors (run_id, source_id, path, code, message, line, stat_key, created_at)
         VALUES (@runId, @sourceId, @path, @code, @message, @line, @statKey, @now)`,
      ),
      markSeen: db.prepare<[string]>(`INSERT OR IGNORE INTO temp.seen_ids (id) VALUES (?)`),
      updateStatKey: db.prepare<[string, string]>(
        `UPDATE skills SET stat_key = ? WHERE id = ? AND stat_key IS NOT ?1`,
      ),
      // INDEXED BY: left alone, SQLite joins through the table's primary key, whose rows carry the 2 KB vector
      // BLOBs; the covering index answers from small pages (measured 35 ms → 4 ms for the corpus).
      knownForSource: db.prepare<[string, string]>(
        `SELECT s.id, s.content_hash AS contentHash, s.stat_key AS statKey, s.removed_at IS NOT NULL AS removed,
                e.text_hash AS textHash
           FROM skills s LEFT JOIN skill_embeddings e INDEXED BY skill_embeddings_skill
             ON e.skill_id = s.id AND e.model_id = ? AND e.chunk = 0
          WHERE s.source_id = ?`,
      ),
      lastRejections: db.prepare<[string, string]>(
        `SELECT source_id AS sourceId, path, code, message, line, stat_key AS statKey FROM index_errors
          WHERE id IN (SELECT max(id) FROM index_errors WHERE source_id = ? GROUP BY path)
            AND source_id = ? AND stat_key IS NOT NULL`,
      ),
      tombstone: db.prepare<[string, string]>(
        `UPDATE skills SET removed_at = ? WHERE source_id = ? AND removed_at IS NULL
           AND id NOT IN (SELECT id FROM temp.seen_ids)`,
      ),
    };
  }

  /** Opens (creating and migrating when needed) the database in WAL mode for writing. */
  static open(options: IndexWriterOptions): IndexWriter {
    mkdirSync(dirname(options.path), { recursive: true });
    const lock = WriterLock.acquire(options.path);
    let db: Database.Database;
    try {
      db = new Database(options.path);
    } catch (cause) {
      lock.release();
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
      // 64 MiB page cache: the incremental check looks up every skill once per run.
      db.pragma('cache_size = -65536');
      migrate(db);
      // Ids seen by the current run, for tombstoning. Per connection and never persisted: a crashed run
      // applies no tombstones, which is right, since it did not see its sources to the end.
      db.exec('CREATE TEMP TABLE IF NOT EXISTS seen_ids (id TEXT PRIMARY KEY) WITHOUT ROWID');
    } catch (err) {
      db.close();
      lock.release();
      throw err;
    }
    return new IndexWriter(options.path, db, lock);
  }

  /** Records the model and what text its vectors are made from; a model id keeps its first definition. */
  registerModel(model: { id: string; dim: number; pooling: string; textConfig: unknown }): {
    /** The text config the stored vectors were made with; differs from the given one after a text change. */
    storedTextConfig: unknown;
  } {
    this.db
      .prepare(
        `INSERT INTO embedding_models (model_id, dim, pooling, text_config, created_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (model_id) DO NOTHING`,
      )
      .run(model.id, model.dim, model.pooling, JSON.stringify(model.textConfig), nowIso());
    const row = this.db
      .prepare('SELECT dim, text_config AS textConfig FROM embedding_models WHERE model_id = ?')
      .get(model.id) as { dim: number; textConfig: string };
    if (row.dim !== model.dim) {
      throw new IndexerError(
        ERROR_CODES.MODEL,
        `model ${model.id} is recorded with dim ${row.dim} in ${this.path} but the loaded model has dim ${model.dim}`,
      );
    }
    return { storedTextConfig: JSON.parse(row.textConfig) as unknown };
  }

  /** Records that every vector of a model is now made with `textConfig` (after a complete re-embedding run). */
  updateTextConfig(modelId: string, textConfig: unknown): void {
    this.db
      .prepare('UPDATE embedding_models SET text_config = ? WHERE model_id = ?')
      .run(JSON.stringify(textConfig), modelId);
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
        this.db.exec('DELETE FROM temp.seen_ids');
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
            statKey: s.statKey ?? null,
            sourceKind: s.origin?.kind ?? null,
            sourceUrl: s.origin?.url ?? null,
            sourceRef: s.origin?.ref ?? null,
            commitId: s.origin?.commit ?? null,
            blobSha: s.origin?.blobSha ?? null,
            trust: s.origin?.trust ?? null,
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
          this.stmts.insertError.run({
            ...err,
            line: err.line ?? null,
            statKey: err.statKey ?? null,
            runId: batch.runId,
            now,
          });
        }
        for (const s of batch.skills) this.stmts.markSeen.run(s.id);
        for (const s of batch.seen) {
          this.stmts.markSeen.run(s.id);
          if (s.statKey !== undefined) this.stmts.updateStatKey.run(s.statKey, s.id);
        }
        return { changed };
      })
      .immediate();
  }

  /**
   * Tombstones the skills of a source that this run did not see. Call it only after the source was crawled
   * to the end and every one of its batches is written, or live skills would be marked removed.
   */
  tombstoneUnseen(sourceId: string): number {
    return this.db.transaction(() => this.stmts.tombstone.run(nowIso(), sourceId).changes).immediate();
  }

  /**
   * The stored state of every skill of a source, read in one scan: one query per skill cost more than the
   * whole crawl of an unchanged source. Memory: about 300 bytes per skill of the source.
   */
  knownForSource(sourceId: string, modelId: string): KnownSource {
    const rejections = new Map<string, ErrorRecord & { statKey: string }>();
    for (const row of this.stmts.lastRejections.iterate(sourceId, sourceId) as Iterable<
      ErrorRecord & { statKey: string; line: number | null }
    >) {
      rejections.set(`${sourceId}/${row.path}`, { ...row, line: row.line ?? undefined });
    }
    const map = new Map<string, KnownSkill>();
    for (const row of this.stmts.knownForSource.iterate(modelId, sourceId) as Iterable<
      { id: string; removed: number } & Omit<KnownSkill, 'removed'>
    >) {
      map.set(row.id, {
        contentHash: row.contentHash,
        statKey: row.statKey,
        removed: row.removed === 1,
        textHash: row.textHash,
      });
    }
    return { skills: map, rejections };
  }

  /** Closes a run with its final status and counts (and, when given, the sources as they ended). */
  finishRun(
    runId: number,
    status: 'completed' | 'interrupted' | 'failed',
    counts: RunCounts,
    sources?: readonly RunSource[],
  ): void {
    this.db
      .prepare(
        `UPDATE index_runs SET status = @status, finished_at = @now, seen = @seen, indexed = @indexed,
           unchanged = @unchanged, removed = @removed, failed = @failed, embedded = @embedded, warnings = @warnings,
           sources = coalesce(@sources, sources)
         WHERE id = @runId`,
      )
      .run({ ...counts, status, runId, now: nowIso(), sources: sources ? JSON.stringify(sources) : null });
  }

  /** What a source remembered after its last complete crawl (commit, ETags), or undefined. */
  sourceState(sourceId: string): Record<string, unknown> | undefined {
    const row = this.db.prepare('SELECT state FROM sources WHERE id = ?').pluck().get(sourceId) as
      string | null | undefined;
    return row ? (JSON.parse(row) as Record<string, unknown>) : undefined;
  }

  /**
   * Records a source and the state its crawl returned. Call only after the crawl completed and all its batches
   * are written: a state saved earlier could make the next run skip skills that never reached the database.
   */
  saveSource(
    runId: number,
    source: {
      id: string;
      kind: string;
      location: string;
      ref?: string | undefined;
      trust?: string | undefined;
    },
    state: Record<string, unknown> | undefined,
  ): void {
    const commit = typeof state?.commit === 'string' ? state.commit : null;
    // The trust label belongs to the source, not to a version of a skill: a re-labelled source re-labels
    // every skill it has (rows already right are not rewritten).
    this.db
      .prepare(`UPDATE skills SET trust = ? WHERE source_id = ? AND trust IS NOT ?`)
      .run(source.trust ?? null, source.id, source.trust ?? null);
    this.db
      .prepare(
        `INSERT INTO sources (id, kind, location, ref, trust, state, last_commit, last_run, updated_at)
         VALUES (@id, @kind, @location, @ref, @trust, @state, @commit, @runId, @now)
         ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, location = excluded.location, ref = excluded.ref,
           trust = excluded.trust, state = excluded.state, last_commit = excluded.last_commit,
           last_run = excluded.last_run, updated_at = excluded.updated_at`,
      )
      .run({
        id: source.id,
        kind: source.kind,
        location: redactUrl(source.location),
        ref: source.ref ?? null,
        trust: source.trust ?? null,
        state: state ? JSON.stringify(state) : null,
        commit,
        runId,
        now: nowIso(),
      });
  }

  /**
   * Moves the WAL into the main file. TRUNCATE when no reader holds an old snapshot; otherwise PASSIVE does
   * what it can without waiting on readers (a long-lived reader must never stall the writer).
   */
  checkpoint(): { busy: boolean; walPages: number; checkpointed: number } {
    // No waiting on readers: with the busy handler on, TRUNCATE would sit out busy_timeout behind any reader
    // holding an old snapshot before falling back. Try once, immediately.
    const timeout = this.db.pragma('busy_timeout', { simple: true }) as number;
    this.db.pragma('busy_timeout = 0');
    let truncated: unknown[];
    try {
      truncated = this.db.pragma('wal_checkpoint(TRUNCATE)') as unknown[];
    } finally {
      this.db.pragma(`busy_timeout = ${timeout}`);
    }
    const [row] = truncated as {
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
    if (this.db.open) {
      this.db.close();
      this.lock.release();
    }
  }
}
