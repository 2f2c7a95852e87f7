import type { Queue } from 'bullmq';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type Metric } from 'prom-client';

/** Which process exposes the metrics; it is also the `role` label on every series. */
export type MetricsRole = 'producer' | 'worker' | 'writer';

/** Job states reported by `skillsmith_queue_depth`. */
export const QUEUE_DEPTH_STATES = ['waiting', 'active', 'delayed', 'failed'] as const;

/** Row kinds counted by `skillsmith_writer_rows_total`. */
export type WriterRowKind = 'skills' | 'embeddings' | 'errors' | 'seen';

/**
 * One process's Prometheus metrics, on a registry of its own (never prom-client's global one, so two
 * instances in one process — tests, an embedded run — never clash). Every metric object exists for every role,
 * so callers need no checks, but only the ones that mean something for the role are registered (exposed):
 *
 * | metric                                   | producer | worker | writer |
 * | ---------------------------------------- | :------: | :----: | :----: |
 * | jobs processed / failed, batch seconds   |    ✓     |   ✓    |   ✓    |
 * | queue depth                              |    ✓     |   ✓    |   ✓    |
 * | texts embedded, pool utilisation         |          |   ✓    |        |
 * | writer rows, transaction seconds, WAL    |          |        |   ✓    |
 *
 * Node's default process metrics (`process_*`, `nodejs_*`) keep their standard names so stock dashboards work.
 */
export interface Metrics {
  readonly role: MetricsRole;
  readonly registry: Registry;
  /** `skillsmith_jobs_processed_total{queue}`: jobs this process finished successfully. */
  readonly jobsProcessed: Counter<'queue'>;
  /** `skillsmith_jobs_failed_total{queue}`: job attempts that threw (retried or not). */
  readonly jobsFailed: Counter<'queue'>;
  /** `skillsmith_batch_seconds{queue}`: wall time to handle one job (one batch), in seconds. */
  readonly batchSeconds: Histogram<'queue'>;
  /** `skillsmith_texts_embedded_total`: texts that went through the model. */
  readonly textsEmbedded: Counter;
  /** CPU seconds inside the model (ORT session.run) on the pool threads; Linux only. */
  readonly modelCpuSeconds: Counter;
  /** `skillsmith_queue_depth{queue,state}`: jobs per state, read from Redis at each scrape ({@link trackQueueDepth}). */
  readonly queueDepth: Gauge<'queue' | 'state'>;
  /** `skillsmith_writer_rows_total{kind}`: rows written, by kind. */
  readonly writerRows: Counter<'kind'>;
  /** `skillsmith_writer_transaction_seconds`: time one write transaction held the database. */
  readonly writerTransactionSeconds: Histogram;
  /** `skillsmith_wal_size_bytes`: size of the SQLite `-wal` file at scrape time ({@link trackWalSize}). */
  readonly walSizeBytes: Gauge;
  /** `skillsmith_pool_utilisation`: busy share of the embed pool, 0..1, at scrape time ({@link trackPoolUtilisation}). */
  readonly poolUtilisation: Gauge;
}

/** Sources read at scrape time; set through the `track*` helpers. */
interface Sources {
  queues: Set<Queue>;
  walSize?: () => number;
  poolUtilisation?: () => number;
}

const sources = new WeakMap<Metrics, Sources>();

/** How long one scrape waits for Redis before it reports the queue depth as unknown. */
const QUEUE_DEPTH_TIMEOUT_MS = 2000;

/**
 * Creates the metrics of one process. Expose them with `startHealthServer({ registry: metrics.registry, … })`.
 *
 * @param role the process's role: decides which metrics are exposed and sets the `role` label.
 */
export function createMetrics(role: MetricsRole): Metrics {
  const registry = new Registry();
  registry.setDefaultLabels({ role });
  collectDefaultMetrics({ register: registry });

  // Created unregistered; registered below when they mean something for the role.
  const none = { registers: [] as Registry[] };
  // The track* helpers fill these in; the collect functions read them at each scrape.
  const src: Sources = { queues: new Set() };

  const queueDepth = new Gauge({
    ...none,
    name: 'skillsmith_queue_depth',
    help: 'Jobs in each BullMQ queue by state, read from Redis at scrape time',
    labelNames: ['queue', 'state'] as const,
    async collect() {
      await Promise.all([...src.queues].map((queue) => collectDepth(this, queue)));
    },
  });

  const metrics: Metrics = {
    role,
    registry,
    jobsProcessed: new Counter({
      ...none,
      name: 'skillsmith_jobs_processed_total',
      help: 'Jobs this process completed',
      labelNames: ['queue'] as const,
    }),
    jobsFailed: new Counter({
      ...none,
      name: 'skillsmith_jobs_failed_total',
      help: 'Job attempts this process failed (retried or not)',
      labelNames: ['queue'] as const,
    }),
    batchSeconds: new Histogram({
      ...none,
      name: 'skillsmith_batch_seconds',
      help: 'Time to handle one job (one batch), in seconds',
      labelNames: ['queue'] as const,
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    }),
    textsEmbedded: new Counter({
      ...none,
      name: 'skillsmith_texts_embedded_total',
      help: 'Texts that went through the embedding model',
    }),
    modelCpuSeconds: new Counter({
      ...none,
      name: 'skillsmith_model_cpu_seconds_total',
      help:
        'CPU seconds the pool threads spent inside the embedding model (Linux only); the rest of ' +
        'process_cpu_seconds_total is the work around the model',
    }),
    queueDepth,
    writerRows: new Counter({
      ...none,
      name: 'skillsmith_writer_rows_total',
      help: 'Rows the writer wrote, by kind',
      labelNames: ['kind'] as const,
    }),
    writerTransactionSeconds: new Histogram({
      ...none,
      name: 'skillsmith_writer_transaction_seconds',
      help: 'Time one write transaction held the database, in seconds',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    }),
    walSizeBytes: new Gauge({
      ...none,
      name: 'skillsmith_wal_size_bytes',
      help: 'Size of the SQLite write-ahead log file at scrape time, in bytes',
      collect() {
        const read = src.walSize;
        if (read) this.set(safeNumber(read));
      },
    }),
    poolUtilisation: new Gauge({
      ...none,
      name: 'skillsmith_pool_utilisation',
      help: 'Busy share of the embedding worker pool (0..1) at scrape time',
      collect() {
        const read = src.poolUtilisation;
        if (read) this.set(Math.min(1, Math.max(0, safeNumber(read))));
      },
    }),
  };
  sources.set(metrics, src);

  const exposed: Metric[] = [metrics.jobsProcessed, metrics.jobsFailed, metrics.batchSeconds, queueDepth];
  if (role === 'worker')
    exposed.push(metrics.textsEmbedded, metrics.modelCpuSeconds, metrics.poolUtilisation);
  if (role === 'writer') {
    exposed.push(metrics.writerRows, metrics.writerTransactionSeconds, metrics.walSizeBytes);
  }
  for (const metric of exposed) registry.registerMetric(metric);
  return metrics;
}

/**
 * Reports `skillsmith_queue_depth` for these queues at every scrape (`Queue.getJobCounts`). A scrape never
 * waits more than 2 s on Redis: when Redis does not answer, the queue's series are left out of that scrape
 * (absent, not stale). Returns a function that stops tracking them.
 */
export function trackQueueDepth(metrics: Metrics, queues: Queue[]): () => void {
  const tracked = sourcesOf(metrics).queues;
  for (const queue of queues) tracked.add(queue);
  return () => {
    for (const queue of queues) {
      tracked.delete(queue);
      for (const state of QUEUE_DEPTH_STATES) metrics.queueDepth.remove({ queue: queue.name, state });
    }
  };
}

/**
 * Reports `skillsmith_wal_size_bytes` from `read` at every scrape, e.g.
 * `() => { try { return statSync(db + '-wal').size } catch { return 0 } }`. A throwing `read` reports 0.
 */
export function trackWalSize(metrics: Metrics, read: () => number): void {
  sourcesOf(metrics).walSize = read;
}

/** Reports `skillsmith_pool_utilisation` from `read` (clamped to 0..1) at every scrape. */
export function trackPoolUtilisation(metrics: Metrics, read: () => number): void {
  sourcesOf(metrics).poolUtilisation = read;
}

function sourcesOf(metrics: Metrics): Sources {
  const found = sources.get(metrics);
  if (!found) throw new Error('metrics were not made by createMetrics()');
  return found;
}

function safeNumber(read: () => number): number {
  try {
    const value = read();
    return Number.isFinite(value) ? value : 0;
  } catch {
    return 0;
  }
}

async function collectDepth(gauge: Gauge<'queue' | 'state'>, queue: Queue): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    // BullMQ connections retry commands forever while Redis is away (maxRetriesPerRequest: null):
    // bound the wait so a scrape still answers with everything else.
    const counts = await Promise.race([
      queue.getJobCounts(...QUEUE_DEPTH_STATES),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('timeout')), QUEUE_DEPTH_TIMEOUT_MS);
      }),
    ]);
    for (const state of QUEUE_DEPTH_STATES) gauge.set({ queue: queue.name, state }, counts[state] ?? 0);
  } catch {
    for (const state of QUEUE_DEPTH_STATES) gauge.remove({ queue: queue.name, state });
  } finally {
    clearTimeout(timer);
  }
}
