import { Queue, Worker } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHealthServer, type HealthServer } from '../src/shared/health-server.js';
import { createMetrics, trackPoolUtilisation, trackQueueDepth, trackWalSize } from '../src/shared/metrics.js';
import { QUEUES } from '../src/shared/queues.js';
import { bullConnection } from '../src/shared/redis-connection.js';
import { testRedis, uniquePrefix, type TestRedis } from './support/redis.js';

/** The value of one sample line of a Prometheus text exposition, or undefined when the series is absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const found = Object.fromEntries(
      [...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]),
    );
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) return Number(m[3]);
  }
  return undefined;
}

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('the metrics and health server', () => {
  let redis: TestRedis;
  let queue: Queue;
  let server: HealthServer | undefined;
  const prefix = uniquePrefix('metrics');

  beforeAll(async () => {
    redis = await testRedis();
    queue = new Queue(QUEUES.embed, { connection: bullConnection(redis.url), prefix });
  });

  afterAll(async () => {
    await server?.close();
    await queue?.obliterate({ force: true }).catch(() => undefined);
    await queue?.close();
    await redis?.stop();
  });

  it('reports queue depth from Redis and the job counters a worker updates, and flips /readyz', async () => {
    const metrics = createMetrics('worker');
    trackQueueDepth(metrics, [queue]);
    trackPoolUtilisation(metrics, () => 0.75);
    let ready = false;
    server = await startHealthServer({
      port: 0,
      host: '127.0.0.1',
      registry: metrics.registry,
      ready: () => ready,
    });
    const base = `http://127.0.0.1:${server.port}`;

    await queue.addBulk([
      ...[1, 2, 3].map((n) => ({ name: 'batch', data: { ok: true, n }, opts: { attempts: 1 } })),
      ...[4, 5].map((n) => ({ name: 'batch', data: { ok: false, n }, opts: { attempts: 1 } })),
      ...[6, 7].map((n) => ({ name: 'batch', data: { ok: true, n }, opts: { delay: 3_600_000 } })),
    ]);

    let res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(metrics.registry.contentType);
    let text = await res.text();
    expect(sample(text, 'skillsmith_queue_depth', { queue: 'embed', state: 'waiting', role: 'worker' })).toBe(
      5,
    );
    expect(sample(text, 'skillsmith_queue_depth', { queue: 'embed', state: 'delayed' })).toBe(2);
    expect(sample(text, 'skillsmith_queue_depth', { queue: 'embed', state: 'active' })).toBe(0);
    expect(sample(text, 'skillsmith_queue_depth', { queue: 'embed', state: 'failed' })).toBe(0);
    expect(sample(text, 'skillsmith_pool_utilisation')).toBe(0.75);
    expect(sample(text, 'process_cpu_user_seconds_total')).toBeGreaterThanOrEqual(0);
    // A worker does not expose the writer's metrics.
    expect(text).not.toContain('skillsmith_writer_rows_total');
    expect(text).not.toContain('skillsmith_wal_size_bytes');

    // A real worker processes the waiting jobs, recording what happened the way the `work` role does.
    const worker = new Worker(
      QUEUES.embed,
      async (job) => {
        const end = metrics.batchSeconds.startTimer({ queue: job.queueName });
        try {
          if (!(job.data as { ok: boolean }).ok) throw new Error('bad batch');
          metrics.textsEmbedded.inc(32);
        } finally {
          end();
        }
      },
      { connection: bullConnection(redis.url), prefix },
    );
    worker.on('completed', (job) => metrics.jobsProcessed.inc({ queue: job.queueName }));
    worker.on('failed', (job) => metrics.jobsFailed.inc({ queue: job?.queueName ?? 'unknown' }));
    try {
      await until(async () => {
        const c = await queue.getJobCounts('completed', 'failed');
        return c.completed === 3 && c.failed === 2;
      }, 'the worker to finish 5 jobs');
      // The worker's completed/failed events fire after Redis is updated: wait for the counters too.
      await until(async () => (await metrics.jobsFailed.get()).values[0]?.value === 2, 'failed events');
    } finally {
      await worker.close();
    }

    text = await (await fetch(`${base}/metrics`)).text();
    expect(sample(text, 'skillsmith_queue_depth', { queue: 'embed', state: 'waiting' })).toBe(0);
    expect(sample(text, 'skillsmith_queue_depth', { queue: 'embed', state: 'failed' })).toBe(2);
    expect(sample(text, 'skillsmith_queue_depth', { queue: 'embed', state: 'delayed' })).toBe(2);
    expect(sample(text, 'skillsmith_jobs_processed_total', { queue: 'embed' })).toBe(3);
    expect(sample(text, 'skillsmith_jobs_failed_total', { queue: 'embed' })).toBe(2);
    expect(sample(text, 'skillsmith_batch_seconds_count', { queue: 'embed' })).toBe(5);
    expect(sample(text, 'skillsmith_texts_embedded_total')).toBe(96);

    res = await fetch(`${base}/readyz`);
    expect(res.status).toBe(503);
    ready = true;
    res = await fetch(`${base}/readyz`);
    expect(res.status).toBe(200);

    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/nope`)).status).toBe(404);
    expect((await fetch(`${base}/metrics`, { method: 'POST' })).status).toBe(405);
  });

  it('counts as not ready when the readiness check throws', async () => {
    const metrics = createMetrics('producer');
    const s = await startHealthServer({
      port: 0,
      host: '127.0.0.1',
      registry: metrics.registry,
      ready: async () => {
        throw new Error('redis down');
      },
    });
    try {
      expect((await fetch(`http://127.0.0.1:${s.port}/readyz`)).status).toBe(503);
    } finally {
      await s.close();
    }
  });

  it("exposes the writer's rows, transaction time and WAL size, read at scrape time", async () => {
    const metrics = createMetrics('writer');
    let wal = 4096;
    trackWalSize(metrics, () => wal);
    metrics.writerRows.inc({ kind: 'skills' }, 10);
    metrics.writerRows.inc({ kind: 'embeddings' }, 10);
    metrics.writerTransactionSeconds.observe(0.02);
    let text = await metrics.registry.metrics();
    expect(sample(text, 'skillsmith_wal_size_bytes', { role: 'writer' })).toBe(4096);
    expect(sample(text, 'skillsmith_writer_rows_total', { kind: 'skills' })).toBe(10);
    expect(sample(text, 'skillsmith_writer_transaction_seconds_count')).toBe(1);
    expect(text).not.toContain('skillsmith_texts_embedded_total');
    wal = 0;
    text = await metrics.registry.metrics();
    expect(sample(text, 'skillsmith_wal_size_bytes')).toBe(0);
    // Two registries in one process do not clash (no global registry).
    expect(createMetrics('writer').registry).not.toBe(metrics.registry);
  });
});
