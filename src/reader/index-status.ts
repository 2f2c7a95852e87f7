import type Database from 'better-sqlite3';
import { ERROR_CODES, IndexerError } from '../shared/errors.js';
import type { IndexStatus, RunStatus } from './types.js';

type RunRow = Omit<RunStatus, 'counts'> & Record<string, number>;

/**
 * What an index holds and how its last runs went (`skillsmith-index status`). One read transaction: every number
 * comes from the same snapshot, and the transaction ends before this returns (checkpoints are never pinned).
 */
export function readIndexStatus(db: Database.Database, runs: number): IndexStatus {
  if (!Number.isInteger(runs) || runs < 1) {
    throw new IndexerError(ERROR_CODES.BAD_OPTION, `runs must be an integer ≥ 1 (got ${String(runs)})`);
  }
  return db.transaction(() => ({
    models: db
      .prepare(
        `SELECT m.model_id AS id, m.dim, (SELECT count(*) FROM skill_embeddings e WHERE e.model_id = m.model_id) AS vectors
           FROM embedding_models m ORDER BY m.model_id`,
      )
      .all() as IndexStatus['models'],
    sources: db
      .prepare(
        `SELECT s.source_id AS id, src.kind AS kind, sum(s.removed_at IS NULL) AS live,
                sum(s.removed_at IS NOT NULL) AS removed, src.last_commit AS lastCommit
           FROM skills s LEFT JOIN sources src ON src.id = s.source_id
          GROUP BY s.source_id ORDER BY s.source_id`,
      )
      .all() as IndexStatus['sources'],
    runs: (
      db
        .prepare(
          `SELECT id, mode, status, started_at AS startedAt, finished_at AS finishedAt, seen, indexed, unchanged,
                  removed, failed, embedded, warnings
             FROM index_runs ORDER BY id DESC LIMIT ?`,
        )
        .all(runs) as RunRow[]
    ).map(({ id, mode, status, startedAt, finishedAt, ...counts }) => ({
      id,
      mode,
      status,
      startedAt,
      finishedAt,
      counts,
    })),
    lastRunErrors: db
      .prepare(
        `SELECT code, count(*) AS count FROM index_errors WHERE run_id = (SELECT max(id) FROM index_runs)
          GROUP BY code ORDER BY count DESC`,
      )
      .all() as IndexStatus['lastRunErrors'],
  }))();
}
