import { Job, Queue, type DefaultJobOptions, type WorkerOptions } from 'bullmq';
import { QUEUES, type QueueName } from '../shared/queues.js';
import { bullConnection, type RedisTarget } from '../shared/redis-connection.js';

/** Transient failures are retried with jittered exponential backoff: 1 s, 2 s, 4 s … ± 50 %. */
const backoff = { type: 'exponential', delay: 1000, jitter: 0.5 } as const;

/**
 * Retention: finished jobs are kept long enough to inspect (a day, or the last 1,000), failed ones — the dead
 * letters — for two weeks, so an operator back from a weekend still finds them. Redis never grows without bound.
 */
const removeOnComplete = { age: 24 * 3600, count: 1000 };
const removeOnFail = { age: 14 * 24 * 3600 };

/** Default job options per queue. */
export const JOB_DEFAULTS: Record<QueueName, DefaultJobOptions> = {
  // A crawl retried after a producer crash is a new attempt at the same run (same run key).
  [QUEUES.crawl]: { attempts: 3, backoff, removeOnComplete, removeOnFail },
  [QUEUES.embed]: { attempts: 5, backoff, removeOnComplete, removeOnFail },
  // Writes fail transiently (disk full, SQLITE_BUSY from a misbehaving reader): retried longer.
  [QUEUES.write]: { attempts: 8, backoff, removeOnComplete, removeOnFail },
  // A question nobody waits for anymore is worthless: one attempt, gone within the hour.
  [QUEUES.rpc]: { attempts: 1, removeOnComplete: { age: 3600 }, removeOnFail: { age: 3600 } },
};

/**
 * Job lock durations. Short on purpose: a process killed with a job in hand (kill -9, OOM, a lost node) holds
 * it until its lock expires, and once that was 300 s, so one dead worker stalled the whole run for 5 minutes.
 * A live process keeps its locks however long a job runs: BullMQ renews them every half duration from the event
 * loop, which stays free because inference runs in piscina threads, crawling yields between skills, and a
 * write batch is one short transaction. A dead one's job is redelivered within lock + stalled interval (≤ 45 s).
 */
export const LOCK_MS: Record<QueueName, number> = {
  [QUEUES.crawl]: 30_000,
  [QUEUES.embed]: 30_000,
  [QUEUES.write]: 30_000,
  [QUEUES.rpc]: 30_000,
};

/**
 * Options of a role's BullMQ Worker on one queue: the deployment's connection and prefix, the lock duration
 * (default {@link LOCK_MS}; a dead process's jobs are redelivered after it) and a stalled check as often.
 */
export function workerOptions(
  target: RedisTarget,
  queue: QueueName,
  opts: { concurrency: number; name: string; lockMs?: number | undefined },
): WorkerOptions {
  const lockDuration = opts.lockMs ?? LOCK_MS[queue];
  return {
    connection: bullConnection(target.url),
    prefix: target.prefix,
    concurrency: opts.concurrency,
    lockDuration,
    stalledInterval: Math.min(15_000, lockDuration),
    // A job can be found stalled a few times (a process killed twice mid-job, a long GC pause) before it fails.
    maxStalledCount: 3,
    name: `${opts.name}@${process.pid}`,
  };
}

/** The four queues of one deployment (one key prefix), for the roles and commands that add or inspect jobs. */
export class PipelineQueues {
  readonly crawl: Queue;
  readonly embed: Queue;
  readonly write: Queue;
  readonly rpc: Queue;

  constructor(readonly target: RedisTarget) {
    const make = (name: QueueName): Queue =>
      new Queue(name, {
        connection: bullConnection(target.url),
        prefix: target.prefix,
        defaultJobOptions: JOB_DEFAULTS[name],
      });
    this.crawl = make(QUEUES.crawl);
    this.embed = make(QUEUES.embed);
    this.write = make(QUEUES.write);
    this.rpc = make(QUEUES.rpc);
  }

  /** All four, in pipeline order. */
  all(): Queue[] {
    return [this.crawl, this.embed, this.write, this.rpc];
  }

  byName(name: string): Queue | undefined {
    return this.all().find((q) => q.name === name);
  }

  async close(): Promise<void> {
    await Promise.all(this.all().map((q) => q.close()));
  }
}

/** How a job ended, for {@link waitForJob}. */
export class JobFailedError extends Error {
  constructor(
    readonly jobId: string,
    readonly reason: string,
  ) {
    super(reason);
    this.name = 'JobFailedError';
  }
}

/** How {@link waitForJob} paces its polls. */
export interface WaitPacing {
  /** The first pause between two polls, doubled after each (default 50 ms). */
  firstPauseMs?: number;
  /** The longest pause (default 250 ms). */
  maxPauseMs?: number;
  /** Waits for up to `ms` between two polls; may return early (a wake-up). Default: a timer. */
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Waits until a job has finished and returns its return value (throws {@link JobFailedError} with its reason
 * when it failed for good, or a timeout error). Polls the job's state rather than listening to QueueEvents: an
 * events stream read from "now" misses a job that finishes between the add and the stream's first read,
 * which left waits hanging. Polls every 50 ms, backing off to 250 ms (see {@link WaitPacing}).
 */
export async function waitForJob<T>(
  queue: Queue,
  jobId: string,
  timeoutMs: number,
  pacing: WaitPacing = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  const maxPause = pacing.maxPauseMs ?? 250;
  const sleep = pacing.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  let pause = pacing.firstPauseMs ?? 50;
  for (;;) {
    // State first, then the job: read the other way round, a job finishing in between shows no result yet.
    const state = await queue.getJobState(jobId);
    if (state === 'completed' || state === 'failed') {
      const job = await Job.fromId(queue, jobId);
      if (!job) throw new JobFailedError(jobId, `job ${jobId} is gone from queue ${queue.name}`);
      if (state === 'completed') return job.returnvalue as T;
      throw new JobFailedError(jobId, job.failedReason ?? 'failed');
    }
    if (state === 'unknown') throw new JobFailedError(jobId, `job ${jobId} is gone from queue ${queue.name}`);
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for job ${jobId}`);
    await sleep(pause);
    pause = Math.min(maxPause, pause * 2);
  }
}
