import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { endRunsOfFailedCrawls } from '../src/distributed/crawl-janitor.js';
import { PipelineQueues } from '../src/distributed/pipeline-queues.js';
import { ACTIVE_RUNS_KEY } from '../src/distributed/run-progress.js';
import { sourceLockKey } from '../src/distributed/source-lock.js';
import { bullConnection } from '../src/shared/redis-connection.js';
import { jobId, QUEUES } from '../src/shared/queues.js';
import { IndexWriter } from '../src/writer/index-writer.js';
import { tempDir } from './helpers.js';
import { testRedis, uniquePrefix, type TestRedis } from './support/redis.js';
import { query } from './support/roles.js';

// The janitor's decision, one crawl job state per run, against a real Redis (jobs brought to each state by a real
// BullMQ worker) and a real SQLite file. Only a crawl job that will never run again ends its run; a crawl that
// is alive, retrying, done, or that handed its run to the writer leaves the run alone.
// test/crawl-failed-for-good.test.ts shows the whole story with real processes (the producer killed four times).
const log = pino({ level: 'silent' });
const tmp = tempDir();
type Act = 'hang' | 'retry' | 'final' | 'ok';

describe('crawl janitor: which runs it ends', () => {
  let redis: TestRedis;
  let client: Redis;
  let queues: PipelineQueues;
  let writer: IndexWriter;
  let worker: Worker | undefined;
  const prefix = uniquePrefix('janitor');
  const dbPath = join(tmp.dir, 'janitor.db');
  let release: () => void = () => undefined;
  const hanging = new Promise<void>((r) => (release = r));

  beforeAll(async () => {
    redis = await testRedis();
    client = new Redis(redis.url);
    queues = new PipelineQueues({ url: redis.url, prefix });
    writer = IndexWriter.open({ path: dbPath });
    writer.registerModel({ id: 'fake-model@1', dim: 4, pooling: 'mean', textConfig: {} });
  });
  afterAll(async () => {
    release();
    await worker?.close();
    await queues?.close();
    client?.disconnect();
    writer?.close();
    await redis?.stop();
    tmp.cleanup();
  });

  /** Begins the run `runKey` for one source, as the writer does on `begin`, with its source locked. */
  const begin = async (runKey: string, source: string): Promise<number> => {
    const { runId } = writer.beginKeyedRun({
      runKey,
      sources: [{ id: source, kind: 'dir', location: `/skills/${source}` }],
      modelId: 'fake-model@1',
    });
    await client.set(sourceLockKey(prefix, source), runKey, 'PX', 600_000);
    await client.zadd(ACTIVE_RUNS_KEY(prefix), Date.now(), runKey);
    return runId;
  };
  const round = (): Promise<string[]> =>
    endRunsOfFailedCrawls({ writer, redis: client, prefix, log, crawl: queues.crawl, write: queues.write });
  const status = (runId: number): string | undefined =>
    writer.runningKeyedRuns().some((r) => r.id === runId) ? 'running' : 'ended';
  const settle = async (job: Job, state: string): Promise<void> => {
    const end = Date.now() + 30_000;
    while ((await job.getState()) !== state) {
      if (Date.now() > end) throw new Error(`job ${job.id} never reached ${state}: ${await job.getState()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  it('ends only the run whose crawl job failed for good, and releases its source', async () => {
    // Retries 60 s apart: a failed attempt waits in `delayed` for the whole test.
    const opts = { attempts: 3, backoff: { type: 'fixed', delay: 60_000 } };
    const add = (act: Act, id: string): Promise<Job> =>
      queues.crawl.add('backfill', { act }, { ...opts, jobId: id });
    const jobs = {
      active: await add('hang', 'backfill-active-1'),
      retrying: await add('retry', 'backfill-retrying-1'),
      done: await add('ok', 'backfill-done-1'),
      handedOver: await add('final', 'backfill-handed-over-1'),
      dead: await add('final', 'backfill-dead-1'),
    };
    worker = new Worker(
      QUEUES.crawl,
      async (job: Job<{ act: Act }>) => {
        if (job.data.act === 'hang') await hanging;
        if (job.data.act === 'retry') throw new Error('Redis hiccup');
        if (job.data.act === 'final') throw new UnrecoverableError('model: no such folder');
        return { ok: true };
      },
      { connection: bullConnection(redis.url), prefix, concurrency: 8 },
    );
    await settle(jobs.active, 'active');
    await settle(jobs.retrying, 'delayed');
    await settle(jobs.done, 'completed');
    await settle(jobs.handedOver, 'failed');
    await settle(jobs.dead, 'failed');
    // A scheduler's job id has `:` (repeat:<name>:<millis>); its run key has `_` instead.
    await queues.crawl.upsertJobScheduler(
      'nightly',
      { every: 3_600_000 },
      { name: 'scheduled', data: { act: 'final' } },
    );
    let scheduled: Job | undefined;
    for (const end = Date.now() + 30_000; !scheduled;) {
      scheduled = (await queues.crawl.getFailed()).find((j) => j.id?.startsWith('repeat:nightly:'));
      if (!scheduled && Date.now() > end) throw new Error('the scheduler never fired');
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(scheduled.id).toContain(':');

    const runs = {
      active: await begin(jobId(jobs.active.id as string), 'src-active'),
      retrying: await begin(jobId(jobs.retrying.id as string), 'src-retrying'),
      done: await begin(jobId(jobs.done.id as string), 'src-done'),
      handedOver: await begin(jobId(jobs.handedOver.id as string), 'src-handed-over'),
      dead: await begin(jobId(jobs.dead.id as string), 'src-dead'),
      scheduled: await begin(jobId(scheduled.id as string), 'src-scheduled'),
      // `produce` without --serve: a run with no crawl job at all.
      oneShot: await begin('produce-1700000000000-abc', 'src-one-shot'),
    };
    // The handed-over run's crawl queued its run-end before it failed: the writer ends that run, not the janitor.
    await queues.write.add('run-end', {}, { jobId: jobId('end', jobId(jobs.handedOver.id as string), 'a1') });

    const ended = await round();
    expect(ended.sort()).toEqual([jobId(jobs.dead.id as string), jobId(scheduled.id as string)].sort());
    for (const k of ['active', 'retrying', 'done', 'handedOver', 'oneShot'] as const)
      expect(status(runs[k]), k).toBe('running');
    expect(status(runs.dead)).toBe('ended');
    expect(status(runs.scheduled)).toBe('ended');

    const row = query<{
      status: string;
      finishedAt: string | null;
      source: string;
      code: string;
      message: string;
    }>(
      dbPath,
      `SELECT r.status, r.finished_at AS finishedAt, e.source_id AS source, e.code, e.message
         FROM index_runs r JOIN index_errors e ON e.run_id = r.id WHERE r.id = ?`,
      runs.dead,
    );
    expect(row).toHaveLength(1);
    expect(row[0]).toMatchObject({ status: 'failed', source: '*', code: 'E_CRAWL_FAILED' });
    expect(row[0]?.finishedAt).not.toBeNull();
    expect(row[0]?.message).toMatch(
      /crawl job backfill-dead-1 failed for good after 1 attempt\(s\) \(model: no such folder\)/,
    );
    // Released: the next backfill of the source may run. The live runs keep theirs.
    expect(await client.get(sourceLockKey(prefix, 'src-dead'))).toBeNull();
    expect(await client.zscore(ACTIVE_RUNS_KEY(prefix), jobId(jobs.dead.id as string))).toBeNull();
    expect(await client.get(sourceLockKey(prefix, 'src-active'))).toBe(jobId(jobs.active.id as string));
    expect(await client.get(sourceLockKey(prefix, 'src-handed-over'))).not.toBeNull();

    // A second round finds nothing more to do (a run is ended once, with one error row).
    const again = await round();
    expect(again).toEqual([]);
    expect(query(dbPath, `SELECT 1 FROM index_errors WHERE code = 'E_CRAWL_FAILED'`)).toHaveLength(2);
    await queues.crawl.removeJobScheduler('nightly');
  }, 60_000);
});
