import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { IndexerError, ERROR_CODES, type ErrorCode } from '../shared/errors.js';
import type { KnownSkill, KnownSource, SeenSkill } from '../shared/known-skills.js';
import type {
  RunCounts,
  SkillRecord,
  EmbeddingRecord,
  ErrorRecord,
  RunSource,
  StoredSource,
} from '../shared/records.js';
import { redactUrl } from '../shared/redact.js';
import { storageError } from '../shared/storage-error.js';
import { inspectIndexFile, migrate } from './schema.js';
import { WriterLock } from './writer-lock.js';
import { vectorToBlob } from './vector-blob.js';
import { dupKey, isSpecValid } from '../shared/parse-rules.js';

/** Options of {@link IndexWriter}. */
export interface IndexWriterOptions {
  /** Database file; created (with its folder) when missing. */
  path: string;
  /** How long a write waits for a lock held by another connection, in ms. Default 5000. */
  busyTimeoutMs?: number;
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
  /**
   * Distributed runs: the batch's key. A batch whose key is already recorded for the run is skipped whole,
   * and the key is recorded in the same transaction as the rows (exactly-once effect).
   */
  key?: { key: string; attempt: number; sourceId: string; embedded: number } | undefined;
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
                             source_kind, source_url, source_ref, commit_id, blob_sha, trust, spec_valid, dup_key,
                             parse_version)
         VALUES (@id, @sourceId, @path, @name, @description, @body, @frontMatter, @license, @allowedTools,
                 @warnings, @contentHash, @statKey, @runId, @runId, @now, NULL,
                 @sourceKind, @sourceUrl, @sourceRef, @commitId, @blobSha, @trust, @specValid, @dupKey,
                 @parseVersion)
         ON CONFLICT (id) DO UPDATE SET
           source_id = excluded.source_id, path = excluded.path, name = excluded.name,
           description = excluded.description, body = excluded.body, front_matter = excluded.front_matter,
           license = excluded.license, allowed_tools = excluded.allowed_tools, warnings = excluded.warnings,
           content_hash = excluded.content_hash, stat_key = excluded.stat_key, last_seen_run = excluded.last_seen_run,
           indexed_at = excluded.indexed_at, removed_at = NULL, source_kind = excluded.source_kind,
           source_url = excluded.source_url, source_ref = excluded.source_ref, commit_id = excluded.commit_id,
           blob_sha = excluded.blob_sha, trust = excluded.trust, spec_valid = excluded.spec_valid,
           dup_key = excluded.dup_key, parse_version = excluded.parse_version
         WHERE skills.content_hash IS NOT excluded.content_hash OR skills.removed_at IS NOT NULL
            OR skills.parse_version IS NOT excluded.parse_version`,
      ),
      upsertEmbedding: db.prepare(
        `INSERT INTO skill_embeddings (skill_id, model_id, chunk, dim, vector, text_hash)
         VALUES (@skillId, @modelId, @chunk, @dim, @vector, @textHash)
         ON CONFLICT (skill_id, model_id, chunk) DO UPDATE SET
           dim = excluded.dim, vector = excluded.vector, text_hash = excluded.text_hash
         WHERE skill_embeddings.text_hash IS NOT excluded.text_hash`,
      ),
      insertError: db.prepare(
        `INSERT OR IGNORE INTO index_errors (run_id, source_id, path, code, message, line, stat_key, parse_version,
                                             created_at)
         VALUES (@runId, @sourceId, @path, @code, @message, @line, @statKey, @parseVersion, @now)`,
      ),
      markSeen: db.prepare<[number, string]>(
        `INSERT OR IGNORE INTO run_seen (run_id, skill_id) VALUES (?, ?)`,
      ),
      batchWritten: db
        .prepare<[number, string]>(`SELECT 1 FROM run_batches WHERE run_id = ? AND batch_key = ?`)
        .pluck(),
      insertBatch: db.prepare(
        `INSERT INTO run_batches (run_id, batch_key, attempt, source_id, kind, changed, embedded, removed, written_at)
         VALUES (@runId, @key, @attempt, @sourceId, @kind, @changed, @embedded, @removed, @now)`,
      ),
      // Named parameters: `?1` mixed with bare `?` made SQLite expect one value while callers gave two, so every
      // "same bytes, new stat key" update (touch, cp -r, a branch switch) threw "Too many parameter values".
      updateStatKey: db.prepare<{ statKey: string; id: string }>(
        `UPDATE skills SET stat_key = @statKey WHERE id = @id AND stat_key IS NOT @statKey`,
      ),
      // INDEXED BY: left alone, SQLite joins through the table's primary key, whose rows carry the 2 KB vector
      // BLOBs; the covering index answers from small pages (measured 35 ms → 4 ms for the corpus).
      knownForSource: db.prepare<[string, string]>(
        `SELECT s.id, s.content_hash AS contentHash, s.stat_key AS statKey, s.removed_at IS NOT NULL AS removed,
                e.text_hash AS textHash, s.parse_version AS parseVersion
           FROM skills s LEFT JOIN skill_embeddings e INDEXED BY skill_embeddings_skill
             ON e.skill_id = s.id AND e.model_id = ? AND e.chunk = 0
          WHERE s.source_id = ?`,
      ),
      lastRejections: db.prepare<[string, string]>(
        `SELECT source_id AS sourceId, path, code, message, line, stat_key AS statKey,
                parse_version AS parseVersion FROM index_errors
          WHERE id IN (SELECT max(id) FROM index_errors WHERE source_id = ? GROUP BY path)
            AND source_id = ? AND stat_key IS NOT NULL`,
      ),
      tombstone: db.prepare<[string, string, number]>(
        `UPDATE skills SET removed_at = ? WHERE source_id = ? AND removed_at IS NULL
           AND id NOT IN (SELECT skill_id FROM run_seen WHERE run_id = ?)`,
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
      if (inspectIndexFile(db) === 'foreign') {
        throw new IndexerError(
          ERROR_CODES.DATABASE,
          `${options.path} is another program's SQLite database, not a skillsmith index: refusing to change it (give --db a new file)`,
        );
      }
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
    } catch (err) {
      db.close();
      lock.release();
      throw storageError(err, options.path) ?? err;
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
        // Only embedded runs: a distributed run belongs to the `write` process, which may be stopped while its
        // batches wait in Redis, and resumes when it restarts.
        this.db
          .prepare(
            `UPDATE index_runs SET status = 'interrupted', finished_at = ? WHERE status = 'running' AND mode = 'embedded'`,
          )
          .run(nowIso());
        this.db.exec(
          `DELETE FROM run_seen WHERE run_id NOT IN (SELECT id FROM index_runs WHERE status = 'running')`,
        );
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
  writeBatch(batch: WriteBatch): { changed: number; duplicate?: boolean } {
    const now = nowIso();
    return this.db
      .transaction(() => {
        const key = batch.key;
        // A redelivered batch (worker or writer crashed after the commit, before the ack): already written.
        if (key && this.stmts.batchWritten.get(batch.runId, key.key)) return { changed: 0, duplicate: true };
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
            specValid: isSpecValid(s.warnings) ? 1 : 0,
            dupKey: dupKey(s),
            parseVersion: s.parseVersion ?? 1,
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
            parseVersion: err.parseVersion ?? 1,
            runId: batch.runId,
            now,
          });
        }
        for (const s of batch.skills) this.stmts.markSeen.run(batch.runId, s.id);
        for (const s of batch.seen) {
          this.stmts.markSeen.run(batch.runId, s.id);
          if (s.statKey !== undefined) this.stmts.updateStatKey.run({ statKey: s.statKey, id: s.id });
        }
        if (key) {
          this.stmts.insertBatch.run({
            runId: batch.runId,
            key: key.key,
            attempt: key.attempt,
            sourceId: key.sourceId,
            kind: 'batch',
            changed,
            embedded: key.embedded,
            removed: 0,
            now,
          });
        }
        return { changed };
      })
      .immediate();
  }

  /**
   * Tombstones the skills of a source that this run did not see. Call it only after the source was crawled
   * to the end and every one of its batches is written, or live skills would be marked removed.
   */
  tombstoneUnseen(sourceId: string, runId: number): number {
    return this.db.transaction(() => this.stmts.tombstone.run(nowIso(), sourceId, runId).changes).immediate();
  }

  /**
   * Starts the distributed run named `runKey`, or a new attempt at it: the producer says `begin` once per crawl,
   * and a crawl redelivered after a crash (or retried) is a new attempt, numbered here so that every message of
   * an older attempt can be told apart and ignored. A run that already completed or failed is not reopened
   * (`finished`); an interrupted one is. Other running runs are left alone: several distributed runs (of
   * different sources) may be in flight at once.
   */
  beginKeyedRun(run: { runKey: string; sources: readonly RunSource[]; modelId: string }): {
    runId: number;
    attempt: number;
    finished?: string;
  } {
    return this.db
      .transaction(() => {
        const existing = this.db
          .prepare('SELECT id, status, attempt FROM index_runs WHERE run_key = ?')
          .get(run.runKey) as { id: number; status: string; attempt: number } | undefined;
        if (!existing) {
          const info = this.db
            .prepare(
              `INSERT INTO index_runs (mode, sources, model_id, started_at, status, run_key, attempt)
               VALUES ('distributed', ?, ?, ?, 'running', ?, 1)`,
            )
            .run(JSON.stringify(run.sources), run.modelId, nowIso(), run.runKey);
          return { runId: Number(info.lastInsertRowid), attempt: 1 };
        }
        if (existing.status !== 'running' && existing.status !== 'interrupted') {
          return { runId: existing.id, attempt: existing.attempt, finished: existing.status };
        }
        this.db
          .prepare(
            `UPDATE index_runs SET attempt = attempt + 1, status = 'running', finished_at = NULL WHERE id = ?`,
          )
          .run(existing.id);
        return { runId: existing.id, attempt: existing.attempt + 1 };
      })
      .immediate();
  }

  /** Every source the database knows, as last saved (credentials were removed before saving). */
  listSources(): StoredSource[] {
    return this.db
      .prepare('SELECT id, kind, location, ref, trust FROM sources ORDER BY id')
      .all() as StoredSource[];
  }

  /** The distributed run named `runKey` (id, status, current attempt, model), if the writer was told of it. */
  runByKey(runKey: string): { id: number; status: string; attempt: number; modelId: string } | undefined {
    return this.db
      .prepare('SELECT id, status, attempt, model_id AS modelId FROM index_runs WHERE run_key = ?')
      .get(runKey) as { id: number; status: string; attempt: number; modelId: string } | undefined;
  }

  /** How many batches of one attempt at one source of a run are written. */
  batchesWritten(runId: number, attempt: number, sourceId: string): number {
    return this.db
      .prepare(
        `SELECT count(*) FROM run_batches WHERE run_id = ? AND attempt = ? AND source_id = ? AND kind = 'batch'`,
      )
      .pluck()
      .get(runId, attempt, sourceId) as number;
  }

  /** The sources of a run's attempt that are closed: `timedOut` when closed without all their batches. */
  sourcesDone(runId: number, attempt: number): { sourceId: string; timedOut: boolean }[] {
    return (
      this.db
        .prepare(
          `SELECT source_id AS sourceId, kind FROM run_batches
            WHERE run_id = ? AND attempt = ? AND kind IN ('source-done', 'source-timeout')`,
        )
        .all(runId, attempt) as { sourceId: string; kind: string }[]
    ).map((r) => ({ sourceId: r.sourceId, timedOut: r.kind === 'source-timeout' }));
  }

  /**
   * What the workers and the writer did for a run: the counts only they know. `indexed` is the final attempt's
   * (a skill an earlier attempt wrote is `unchanged` to it, and counted there); embedded texts and tombstones
   * are summed over all attempts.
   */
  runTotals(
    runId: number,
    attempt: number,
  ): { indexed: number; embedded: number; removed: number; batches: number } {
    return this.db
      .prepare(
        `SELECT coalesce(sum(changed) FILTER (WHERE attempt = ?), 0) AS indexed,
                coalesce(sum(embedded), 0) AS embedded, coalesce(sum(removed), 0) AS removed,
                count(*) FILTER (WHERE kind = 'batch' AND attempt = ?) AS batches
           FROM run_batches WHERE run_id = ?`,
      )
      .get(attempt, attempt, runId) as {
      indexed: number;
      embedded: number;
      removed: number;
      batches: number;
    };
  }

  /**
   * Closes one source of a distributed run, once: tombstones what the run did not see and saves what the
   * source remembers (both only when the crawl completed), and notes it done — all in one transaction, so a
   * redelivered completion changes nothing. Returns how many skills were tombstoned.
   */
  completeSource(args: {
    runId: number;
    key: string;
    attempt: number;
    source: Parameters<IndexWriter['saveSource']>[1];
    /** The crawl went to the end: tombstone and save state. Otherwise only note it done. */
    complete: boolean;
    /** Closed without all its batches (they never arrived in time): noted so the run ends `failed`. */
    timedOut?: boolean;
    state: Record<string, unknown> | undefined;
  }): { removed: number; duplicate: boolean } {
    return this.db
      .transaction(() => {
        if (this.stmts.batchWritten.get(args.runId, args.key)) return { removed: 0, duplicate: true };
        let removed = 0;
        if (args.complete) {
          removed = this.stmts.tombstone.run(nowIso(), args.source.id, args.runId).changes;
          this.saveSource(args.runId, args.source, args.state);
        }
        this.stmts.insertBatch.run({
          runId: args.runId,
          key: args.key,
          attempt: args.attempt,
          sourceId: args.source.id,
          kind: args.timedOut ? 'source-timeout' : 'source-done',
          changed: 0,
          embedded: 0,
          removed,
          now: nowIso(),
        });
        return { removed, duplicate: false };
      })
      .immediate();
  }

  /**
   * The stored state of every skill of a source, read in one scan: one query per skill cost more than the
   * whole crawl of an unchanged source. Memory: about 300 bytes per skill of the source.
   */
  knownForSource(sourceId: string, modelId: string): KnownSource {
    const rejections = new Map<string, ErrorRecord & { statKey: string; parseVersion: number }>();
    for (const row of this.stmts.lastRejections.iterate(sourceId, sourceId) as Iterable<
      ErrorRecord & { statKey: string; line: number | null; parseVersion: number }
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
        parseVersion: row.parseVersion,
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
    // What the run saw matters only while it runs (tombstones).
    this.db.prepare('DELETE FROM run_seen WHERE run_id = ?').run(runId);
  }

  /** Records why a run failed as of its `index_errors` (source `*`, path `.`). */
  recordRunError(runId: number, code: ErrorCode, message: string): void {
    this.stmts.insertError.run({
      runId,
      sourceId: '*',
      path: '.',
      code,
      message,
      line: null,
      statKey: null,
      parseVersion: 1,
      now: nowIso(),
    });
  }

  /**
   * Ends every `running` run of a mode as failed, with one `index_errors` row saying why (source `*`): used when
   * the work those runs were waiting for is known to be gone (Redis lost its data). Returns their ids.
   */
  failRunningRuns(
    mode: 'embedded' | 'distributed',
    code: ErrorCode,
    message: string,
    /** Runs to leave running (e.g. begun after the loss). */
    spare: (runId: number) => boolean = () => false,
  ): number[] {
    const now = nowIso();
    return this.db.transaction(() => {
      const ids = (
        this.db
          .prepare(`SELECT id FROM index_runs WHERE status = 'running' AND mode = ?`)
          .pluck()
          .all(mode) as number[]
      ).filter((id) => !spare(id));
      for (const runId of ids) this.failRun(runId, code, message, now);
      return ids;
    })();
  }

  /**
   * Ends one run as failed if it is still `running` (and, when given, still at `attempt`): status, end time, one
   * `index_errors` row saying why, and its `run_seen` dropped (no tombstones). False when it was not running.
   */
  failRun(runId: number, code: ErrorCode, message: string, now = nowIso(), attempt?: number): boolean {
    return this.db.transaction(() => {
      const ended = this.db
        .prepare(
          `UPDATE index_runs SET status = 'failed', finished_at = ?
            WHERE id = ? AND status = 'running' AND (? IS NULL OR attempt = ?)`,
        )
        .run(now, runId, attempt ?? null, attempt ?? null);
      if (ended.changes === 0) return false;
      this.recordRunError(runId, code, message);
      this.db.prepare('DELETE FROM run_seen WHERE run_id = ?').run(runId);
      return true;
    })();
  }

  /** The distributed runs still `running`: their key, current attempt and sources (the janitor's rounds). */
  runningKeyedRuns(): { id: number; runKey: string; attempt: number; sourceIds: string[] }[] {
    const rows = this.db
      .prepare(
        `SELECT id, run_key AS runKey, attempt, sources FROM index_runs
          WHERE status = 'running' AND mode = 'distributed' AND run_key IS NOT NULL ORDER BY id`,
      )
      .all() as { id: number; runKey: string; attempt: number; sources: string }[];
    return rows.map(({ sources, ...r }) => ({
      ...r,
      sourceIds: (JSON.parse(sources) as { id: string }[]).map((s) => s.id),
    }));
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
