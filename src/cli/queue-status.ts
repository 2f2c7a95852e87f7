import { Redis } from 'ioredis';
import { PipelineQueues } from '../distributed/pipeline-queues.js';
import { ACTIVE_RUNS_KEY, parseRunProgress, runProgressKey } from '../distributed/run-progress.js';
import { WriterClaim, type WriterClaimInfo } from '../distributed/writer-claim.js';
import type { RedisTarget } from '../shared/redis-connection.js';

/** What `status --redis` reports about a deployment's queues. */
export interface QueueStatus {
  prefix: string;
  queues: {
    name: string;
    waiting: number;
    active: number;
    delayed: number;
    failed: number;
    workers: number;
  }[];
  writer: WriterClaimInfo | null;
  schedules: number;
  /** Runs begun and not yet ended, with their live progress. */
  runs: {
    runKey: string;
    runId: number | null;
    startedAt: string | null;
    queued: number;
    written: number;
    indexed: number;
    embedded: number;
    /** Skills written per second since the run began. */
    rate: number;
  }[];
}

/** Reads queue depths, connected workers, the writer claim and live runs. */
export async function readQueueStatus(target: RedisTarget): Promise<QueueStatus> {
  const queues = new PipelineQueues(target);
  const redis = new Redis(target.url, { maxRetriesPerRequest: 2 });
  redis.on('error', () => undefined);
  try {
    const rows: QueueStatus['queues'] = [];
    for (const q of queues.all()) {
      const c = await q.getJobCounts('waiting', 'active', 'delayed', 'failed', 'prioritized');
      rows.push({
        name: q.name,
        waiting: (c.waiting ?? 0) + (c.prioritized ?? 0),
        active: c.active ?? 0,
        delayed: c.delayed ?? 0,
        failed: c.failed ?? 0,
        workers: await q.getWorkersCount(),
      });
    }
    const runKeys = await redis.zrange(ACTIVE_RUNS_KEY(target.prefix), '0', '-1');
    const runs: QueueStatus['runs'] = [];
    for (const runKey of runKeys) {
      const p = parseRunProgress(await redis.hgetall(runProgressKey(target.prefix, runKey)));
      const secs = p.startedAt ? (Date.now() - p.startedAt) / 1000 : 0;
      runs.push({
        runKey,
        runId: p.runId ?? null,
        startedAt: p.startedAt ? new Date(p.startedAt).toISOString() : null,
        queued: p.sent,
        written: p.written,
        indexed: p.indexed,
        embedded: p.embedded,
        rate: secs > 0 ? Math.round((p.written / secs) * 10) / 10 : 0,
      });
    }
    return {
      prefix: target.prefix,
      queues: rows,
      writer: (await WriterClaim.holder(redis, target.prefix)) ?? null,
      schedules: await queues.crawl.getJobSchedulersCount(),
      runs,
    };
  } finally {
    redis.disconnect();
    await queues.close();
  }
}

/** Human lines for {@link QueueStatus}. */
export function queueStatusLines(s: QueueStatus): string[] {
  const lines = [`queues (prefix ${s.prefix}):`];
  for (const q of s.queues) {
    lines.push(
      `  ${q.name.padEnd(10)} waiting ${q.waiting}  active ${q.active}  delayed ${q.delayed}  failed ${q.failed}  workers ${q.workers}`,
    );
  }
  lines.push(
    s.writer
      ? `writer: pid ${s.writer.pid} on ${s.writer.host}, db ${s.writer.db}, since ${s.writer.since}`
      : 'writer: none running',
    `schedules: ${s.schedules}`,
  );
  if (s.runs.length === 0) lines.push('runs in progress: none');
  for (const r of s.runs) {
    lines.push(
      `run ${r.runKey}${r.runId ? ` (#${r.runId})` : ''}: queued ${r.queued}, written ${r.written} (${r.rate}/s), indexed ${r.indexed}, embedded ${r.embedded}`,
    );
  }
  return lines;
}
