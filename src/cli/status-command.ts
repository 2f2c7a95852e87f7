import type { Command } from 'commander';
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { ERROR_CODES, IndexerError } from '../shared/errors.js';
import { openIndex, type IndexStatus } from '../reader/index.js';
import { printJson } from './options.js';
import { queueStatusLines, readQueueStatus } from './queue-status.js';
import { reachableRedisTarget, withRedisOptions, type RedisFlags } from './redis-flags.js';

/** What `status` reports about a database: the file, then what the reader library reads from it. */
export interface DbStatus extends IndexStatus {
  db: string;
  schemaVersion: number;
  bytes: number;
  walBytes: number;
}

/** Reads the status of an index through the reader library (read-only: safe while the indexer writes). */
export async function readDbStatus(path: string, runs = 5): Promise<DbStatus> {
  const db = resolve(path);
  const index = await openIndex(db);
  try {
    return {
      db,
      schemaVersion: index.schemaVersion,
      bytes: statSync(db).size,
      walBytes: existsSync(`${db}-wal`) ? statSync(`${db}-wal`).size : 0,
      ...index.status({ runs }),
    };
  } finally {
    await index.close();
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
    const s = dbPath ? await readDbStatus(dbPath, flags.runs) : undefined;
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
