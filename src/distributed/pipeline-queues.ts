import { Queue, QueueEvents, type DefaultJobOptions, type WorkerOptions } from 'bullmq';
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
 * Lock durations, above the slowest job of each queue: a job whose lock expires is taken for stalled and
 * handed to another process. Locks are renewed every half duration by the event loop, which stays free
 * because inference runs in piscina threads and crawling yields between skills.
 */
export const LOCK_MS: Record<QueueName, number> = {
  [QUEUES.crawl]: 120_000,
  [QUEUES.embed]: 300_000,
  [QUEUES.write]: 120_000,
  [QUEUES.rpc]: 60_000,
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
    stalledInterval: Math.min(30_000, lockDuration),
    name: `${opts.name}@${process.pid}`,
  };
}

/** The four queues of one deployment (one key prefix), for the roles and commands that add or inspect jobs. */
export class PipelineQueues {
  readonly crawl: Queue;
  readonly embed: Queue;
  readonly write: Queue;
  readonly rpc: Queue;
  private events = new Map<QueueName, QueueEvents>();

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

  /** The events stream of a queue (one connection, opened on first use), for `waitUntilFinished`. */
  async eventsOf(name: QueueName): Promise<QueueEvents> {
    let ev = this.events.get(name);
    if (!ev) {
      ev = new QueueEvents(name, { connection: bullConnection(this.target.url), prefix: this.target.prefix });
      this.events.set(name, ev);
      await ev.waitUntilReady();
    }
    return ev;
  }

  async close(): Promise<void> {
    await Promise.all([...this.events.values()].map((e) => e.close()));
    await Promise.all(this.all().map((q) => q.close()));
  }
}
