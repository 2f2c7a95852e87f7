import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { ERROR_CODES } from '../shared/errors.js';
import { jobId, QUEUES } from '../shared/queues.js';
import type { IndexWriter } from '../writer/index-writer.js';
import { releaseEndedRun } from './run-progress.js';

/** Options of {@link startCrawlJanitor}. */
export interface CrawlJanitorOptions {
  writer: IndexWriter;
  /** The writer's own connection (shared: the janitor's queues do not open connections of their own). */
  redis: Redis;
  prefix: string;
  log: Logger;
  /** How often to look, in ms. Default 10 s: one SQLite query when no run is in flight. */
  everyMs?: number;
  /** Called for each run the janitor ended (the writer forgets its epoch). */
  onEnded?: (runId: number) => void;
}

/** A running janitor. */
export interface CrawlJanitor {
  stop(): Promise<void>;
}

/** What one round of the janitor works with: {@link CrawlJanitorOptions} and the two queues it reads. */
export interface JanitorRound extends Omit<CrawlJanitorOptions, 'everyMs'> {
  crawl: Queue;
  write: Queue;
}

/** One round of the janitor (see {@link startCrawlJanitor}): the keys of the runs it ended. */
export async function endRunsOfFailedCrawls(round: JanitorRound): Promise<string[]> {
  const { writer, redis, prefix, log, crawl, write } = round;
  const running = writer.runningKeyedRuns();
  if (running.length === 0) return [];
  // The producer names a run after its crawl job with jobId(), which turns a scheduler job's `:` into `_`:
  // map the failed ids the same way rather than guessing the id back from the key. All of them (0, -1): the
  // default range is the first two only. Crawl jobs are few (failed ones are kept two weeks).
  const failed = new Map((await crawl.getRanges(['failed'], 0, -1)).map((id) => [jobId(id), id]));
  const ended: string[] = [];
  for (const run of running) {
    const crawlId = failed.get(run.runKey);
    if (crawlId === undefined) continue;
    if ((await write.getJobState(jobId('end', run.runKey, `a${run.attempt}`))) !== 'unknown') continue;
    const job = await crawl.getJob(crawlId);
    // Looked at again, just before acting: `failed retry` may have put it back in the queue since.
    if (!job || (await job.getState()) !== 'failed') continue;
    const message =
      `the crawl job ${crawlId} failed for good after ${job.attemptsMade} attempt(s) ` +
      `(${job.failedReason || 'no reason given'}): no producer will finish this run. It is failed without ` +
      'tombstones (what was written is kept); run the backfill again';
    // Only the attempt looked at: a retried crawl that began a new attempt meanwhile is alive.
    if (!writer.failRun(run.id, ERROR_CODES.CRAWL_FAILED, message, undefined, run.attempt)) continue;
    round.onEnded?.(run.id);
    writer.checkpoint();
    await releaseEndedRun(redis, prefix, run.runKey, run.sourceIds);
    log.error(
      { runKey: run.runKey, runId: run.id, attempt: run.attempt, code: ERROR_CODES.CRAWL_FAILED },
      message,
    );
    ended.push(run.runKey);
  }
  return ended;
}

/**
 * Ends the runs whose crawl died for good. A crawl job that BullMQ fails for good — its producer was killed while
 * holding it more than `maxStalledCount` times, so no process is left to send the run's `run-end` — would leave
 * the run `running` forever, its sources locked until the lock's 6 h TTL. The writer, the one process that is
 * always up, looks every `everyMs`: a `running` run whose crawl job (job id → run key, as the producer names
 * runs) is in the queue's `failed` set is ended `failed` with `E_CRAWL_FAILED`, without tombstones (what was
 * written stays), and its sources are released so the next backfill runs.
 *
 * Only the `failed` set counts: BullMQ puts a job there only when it will not run again (a failed attempt with
 * retries left waits in `delayed` or `wait`, a stalled one goes back to `wait`). A run whose current attempt
 * already queued its `run-end` (the crawl finished, or the producer abandoned it) is left to that job: the writer
 * ends it once its batches are in. Runs without a crawl job (`produce` without `--serve`) are never touched.
 */
export function startCrawlJanitor(options: CrawlJanitorOptions): CrawlJanitor {
  const { redis, prefix, log } = options;
  const connection = { connection: redis, prefix };
  const crawl = new Queue(QUEUES.crawl, connection);
  const write = new Queue(QUEUES.write, connection);
  for (const q of [crawl, write]) q.on('error', () => undefined); // unreachable: the next round tries again

  let busy: Promise<unknown> | undefined;
  const round = (): void => {
    if (busy) return;
    busy = endRunsOfFailedCrawls({ ...options, crawl, write })
      .catch((err: unknown) => log.warn({ err }, 'crawl janitor: round failed; trying again next round'))
      .finally(() => (busy = undefined));
  };
  round(); // a crawl that failed while the writer was down is found at once
  const timer = setInterval(round, options.everyMs ?? 10_000);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await busy;
      await Promise.all([crawl.close(), write.close()]);
    },
  };
}
