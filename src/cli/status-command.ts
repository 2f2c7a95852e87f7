import Database from 'better-sqlite3';
import type { Command } from 'commander';
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { ERROR_CODES, IndexerError } from '../shared/errors.js';
import { SCHEMA_VERSION } from '../writer/schema.js';
import { printJson } from './options.js';
import { queueStatusLines, readQueueStatus } from './queue-status.js';
import { reachableRedisTarget, withRedisOptions, type RedisFlags } from './redis-flags.js';

/** What `status` reports about a database. */
export interface DbStatus {
  db: string;
  schemaVersion: number;
  bytes: number;
  walBytes: number;
  models: { id: string; dim: number; vectors: number }[];
  sources: { id: string; kind: string | null; live: number; removed: number; lastCommit: string | null }[];
  runs: {
    id: number;
    mode: string;
    status: string;
    startedAt: string;
    finishedAt: string | null;
    counts: Record<string, number>;
  }[];
  lastRunErrors: { code: string; count: number }[];
}

/** Reads the status of an index over a read-only connection (safe while the indexer writes). */
export function readDbStatus(path: string, runs = 5): DbStatus {
  const db = resolve(path);
  if (!existsSync(db)) throw new IndexerError(ERROR_CODES.DATABASE, `database ${db} does not exist`);
  const conn = new Database(db, { readonly: true, fileMustExist: true });
  try {
    conn.pragma('busy_timeout = 5000');
    const version = conn.pragma('user_version', { simple: true }) as number;
    if (version === 0) throw new IndexerError(ERROR_CODES.DATABASE, `${db} is not a skillsmith index`);
    if (version > SCHEMA_VERSION) {
      throw new IndexerError(
        ERROR_CODES.DATABASE,
        `schema version ${version} is newer than this build understands (${SCHEMA_VERSION}): upgrade skillsmith-index`,
      );
    }
    // One read transaction: every number below comes from the same snapshot.
    return conn.transaction(() => ({
      db,
      schemaVersion: version,
      bytes: statSync(db).size,
      walBytes: existsSync(`${db}-wal`) ? statSync(`${db}-wal`).size : 0,
      models: conn
        .prepare(
          `SELECT m.model_id AS id, m.dim, (SELECT count(*) FROM skill_embeddings e WHERE e.model_id = m.model_id) AS vectors
             FROM embedding_models m ORDER BY m.model_id`,
        )
        .all() as DbStatus['models'],
      sources: conn
        .prepare(
          `SELECT s.source_id AS id, src.kind AS kind, sum(s.removed_at IS NULL) AS live,
                  sum(s.removed_at IS NOT NULL) AS removed, src.last_commit AS lastCommit
             FROM skills s LEFT JOIN sources src ON src.id = s.source_id
            GROUP BY s.source_id ORDER BY s.source_id`,
        )
        .all() as DbStatus['sources'],
      runs: (
        conn
          .prepare(
            `SELECT id, mode, status, started_at AS startedAt, finished_at AS finishedAt, seen, indexed, unchanged,
                    removed, failed, embedded, warnings
               FROM index_runs ORDER BY id DESC LIMIT ?`,
          )
          .all(runs) as (Record<string, number> & {
          id: number;
          mode: string;
          status: string;
          startedAt: string;
          finishedAt: string | null;
        })[]
      ).map(({ id, mode, status, startedAt, finishedAt, ...counts }) => ({
        id,
        mode,
        status,
        startedAt,
        finishedAt,
        counts,
      })),
      lastRunErrors: conn
        .prepare(
          `SELECT code, count(*) AS count FROM index_errors WHERE run_id = (SELECT max(id) FROM index_runs)
            GROUP BY code ORDER BY count DESC`,
        )
        .all() as DbStatus['lastRunErrors'],
    }))();
  } finally {
    conn.close();
  }
}

/** `skillsmith-index status [--db PATH] [--redis URL]`: the index, and (with Redis) the queues and live runs. */
export function registerStatusCommand(program: Command): void {
  const cmd = program
    .command('status')
    .option('--db <path>', 'SQLite database to read (default skills.db when no --redis is given)')
    .option('--runs <n>', 'how many recent runs to show', (v) => Number.parseInt(v, 10), 5)
    .option('--json', 'print the status as one JSON object on stdout');
  withRedisOptions(cmd).action(async (flags: RedisFlags & { db?: string; runs: number; json?: boolean }) => {
    if (!Number.isInteger(flags.runs) || flags.runs < 1) {
      throw new IndexerError(
        ERROR_CODES.BAD_OPTION,
        `--runs must be an integer ≥ 1 (got ${String(flags.runs)})`,
      );
    }
    const useRedis =
      flags.redis !== undefined || (flags.db === undefined && process.env.REDIS_URL !== undefined);
    const dbPath = flags.db ?? (useRedis ? undefined : 'skills.db');
    const queue = useRedis ? await readQueueStatus(await reachableRedisTarget(flags)) : undefined;
    const s = dbPath ? readDbStatus(dbPath, flags.runs) : undefined;
    if (flags.json) {
      // Database fields at the top level (as before), the deployment under `redis`.
      printJson({ ...(s ?? {}), ...(queue ? { redis: queue } : {}) });
      return;
    }
    const lines: string[] = [];
    if (queue) lines.push(...queueStatusLines(queue));
    if (s) lines.push(...dbStatusLines(s));
    process.stdout.write(`${lines.join('\n')}\n`);
  });
}

function dbStatusLines(s: DbStatus): string[] {
  const mb = (b: number): string => `${(b / 1e6).toFixed(1)} MB`;
  return [
    `${s.db}: schema v${s.schemaVersion}, ${mb(s.bytes)} (+ WAL ${mb(s.walBytes)})`,
    `models:  ${s.models.map((m) => `${m.id} (dim ${m.dim}, ${m.vectors} vectors)`).join(', ') || 'none'}`,
    'sources:',
    ...s.sources.map(
      (x) =>
        `  ${x.id} [${x.kind ?? '?'}] ${x.live} live, ${x.removed} removed${x.lastCommit ? ` @ ${x.lastCommit.slice(0, 12)}` : ''}`,
    ),
    'runs:',
    ...s.runs.map(
      (r) =>
        `  #${r.id} ${r.mode.padEnd(11)} ${r.status.padEnd(11)} ${r.startedAt} seen ${r.counts.seen} indexed ${r.counts.indexed} ` +
        `unchanged ${r.counts.unchanged} removed ${r.counts.removed} failed ${r.counts.failed} embedded ${r.counts.embedded}`,
    ),
    `last run's rejections: ${s.lastRunErrors.map((e) => `${e.code} ×${e.count}`).join(', ') || 'none'}`,
  ];
}
