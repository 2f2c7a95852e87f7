import Database from 'better-sqlite3';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { askWriter } from '../src/distributed/ask-writer.js';
import { PipelineQueues, waitForJob } from '../src/distributed/pipeline-queues.js';
import { startWriterRole, type WriterRole } from '../src/distributed/writer-role.js';
import type {
  BeginRunReply,
  DistributedRunSummary,
  RunEndJob,
  SourceDoneJob,
  WriteBatchJob,
} from '../src/shared/distributed-messages.js';
import type { SkillRecord } from '../src/shared/records.js';
import { vectorToBlob } from '../src/writer/vector-blob.js';
import { tempDir } from './helpers.js';
import { testRedis, uniquePrefix, type TestRedis } from './support/redis.js';

// Queue mechanics of the writer, against a real Redis and a real SQLite file. Vectors are made up here (a
// deterministic stand-in for the model: these tests are about delivery, not embeddings).
const log = pino({ level: 'silent' });
const DIM = 4;
const model = { id: 'fake-model@1', dim: DIM, pooling: 'mean' };
const vec = (seed: number): string =>
  vectorToBlob(new Float32Array([seed, 1, 0, 0].map((x) => x / Math.hypot(seed, 1)))).toString('base64');

function skill(source: string, name: string): SkillRecord {
  return {
    id: `${source}/${name}`,
    sourceId: source,
    path: name,
    name,
    description: `does ${name}`,
    body: `# ${name}`,
    frontMatter: { name, description: `does ${name}` },
    license: null,
    allowedTools: null,
    warnings: [],
    contentHash: `hash-${name}`,
  };
}

function batch(runKey: string, source: string, batchNo: number, names: string[]): WriteBatchJob {
  return {
    runKey,
    attempt: 1,
    sourceId: source,
    batchNo,
    model: { id: model.id, dim: DIM },
    skills: names.map((n) => ({ record: skill(source, n), textHash: `t-${n}` })),
    errors: [],
    seen: [],
    vectors: Object.fromEntries(names.map((n, i) => [`t-${n}`, vec(i + batchNo)])),
    embedded: names.length,
  };
}

const sourceDone = (runKey: string, id: string, batches: number): SourceDoneJob => ({
  runKey,
  attempt: 1,
  source: { id, kind: 'dir', location: `/skills/${id}` },
  batches,
  status: 'completed',
});

const runEnd = (runKey: string, ids: string[], seen: number): RunEndJob => ({
  runKey,
  attempt: 1,
  sources: ids.map((id) => ({ id, kind: 'dir', location: `/skills/${id}`, status: 'completed' })),
  counts: { seen, unchanged: 0, failed: 0, warnings: 0 },
  status: 'completed',
});

describe('distributed writer', () => {
  let redis: TestRedis;
  let prefix: string;
  let queues: PipelineQueues;
  let role: WriterRole;
  const tmp = tempDir();
  const db = `${tmp.dir}/w.db`;

  beforeAll(async () => {
    redis = await testRedis();
    prefix = uniquePrefix('writer');
    queues = new PipelineQueues({ url: redis.url, prefix });
    role = await startWriterRole({
      db,
      target: { url: redis.url, prefix },
      log,
      recheckMs: 100,
      runTimeoutMs: 2500,
    });
  });

  afterAll(async () => {
    await role?.close();
    await queues?.close();
    await redis?.stop();
    tmp.cleanup();
  });

  const begin = (runKey: string, ids: string[]): Promise<BeginRunReply> =>
    askWriter<BeginRunReply>(queues, 'begin', {
      runKey,
      sources: ids.map((id) => ({ id, kind: 'dir', location: `/skills/${id}` })),
      model,
      textConfig: { v: 1 },
    });

  const finish = async (end: RunEndJob): Promise<DistributedRunSummary> => {
    const job = await queues.write.add('run-end', end);
    return (await waitForJob(queues.write, job.id as string, 30_000)) as DistributedRunSummary;
  };

  it('refuses a second writer on the same queues, naming the first', async () => {
    const other = tempDir();
    await expect(
      startWriterRole({ db: `${other.dir}/other.db`, target: { url: redis.url, prefix }, log }),
    ).rejects.toThrow(/a writer already serves queue prefix .*pid \d+ .*w\.db/);
    other.cleanup();
  });

  it('begins a run once, and numbers each crawl of it as a new attempt', async () => {
    const a = await begin('run-once', ['s0']);
    const b = await begin('run-once', ['s0']);
    expect(b.runId).toBe(a.runId);
    expect([a.attempt, b.attempt]).toEqual([1, 2]);
    expect(a.textConfigChanged).toBe(false);
  });

  it('ignores every message of an older attempt, and does not reopen a finished run', async () => {
    await begin('run-att', ['s3']);
    await queues.write.add('batch', batch('run-att', 's3', 0, ['x', 'y']));
    await queues.write.add('source-done', sourceDone('run-att', 's3', 1));
    const finishedA1 = await finish(runEnd('run-att', ['s3'], 2));
    expect(finishedA1.status).toBe('completed');

    // A run with skills x, y. A second run whose first crawl dies after one batch; the redelivered crawl is
    // attempt 2. Attempt 1's late messages must not write, tombstone or end anything.
    await begin('run-att2', ['s3']);
    const second = await begin('run-att2', ['s3']);
    expect(second.attempt).toBe(2);
    const stale = { ...batch('run-att2', 's3', 0, ['x']), attempt: 1 };
    const staleJob = await queues.write.add('batch', stale);
    expect(await waitForJob(queues.write, staleJob.id as string, 10_000)).toEqual({
      stale: true,
    });
    await queues.write.add('source-done', { ...sourceDone('run-att2', 's3', 1), attempt: 1 });
    await queues.write.add('batch', { ...batch('run-att2', 's3', 0, ['x', 'y']), attempt: 2 });
    await queues.write.add('source-done', { ...sourceDone('run-att2', 's3', 1), attempt: 2 });
    const summary = await finish({ ...runEnd('run-att2', ['s3'], 2), attempt: 2 });
    expect(summary.status).toBe('completed');
    expect(summary.counts.removed).toBe(0);
    const conn = new Database(db, { readonly: true });
    expect(
      conn.prepare(`SELECT count(*) FROM skills WHERE source_id = 's3' AND removed_at IS NULL`).pluck().get(),
    ).toBe(2);
    conn.close();
    expect(await begin('run-att2', ['s3'])).toMatchObject({ finished: 'completed' });
  });

  it('ends an abandoned run as failed at once, and a run whose batches never come as failed', async () => {
    await begin('run-abandon', ['s4', 's5']);
    const abandoned = await finish({
      ...runEnd('run-abandon', ['s4', 's5'], 0),
      status: 'failed',
      abandon: true,
      message: 'the crawl failed: boom',
    });
    expect(abandoned).toMatchObject({ status: 'failed', message: 'the crawl failed: boom' });

    // source-done says 2 batches; only one ever arrives (the other was dead-lettered and never replayed).
    await begin('run-lost', ['s6']);
    await queues.write.add('batch', batch('run-lost', 's6', 0, ['only']));
    await queues.write.add('source-done', sourceDone('run-lost', 's6', 2));
    const lost = await finish(runEnd('run-lost', ['s6'], 2));
    expect(lost.status).toBe('failed');
    expect(lost.message).toMatch(/sources not completed: s6/);
  });

  it('writes a batch delivered twice exactly once, and counts it once', async () => {
    const { runId } = await begin('run-dup', ['s1']);
    // The same batch under two job ids: a redelivery after the first job was already removed.
    await queues.write.add('batch', batch('run-dup', 's1', 0, ['a', 'b']), { jobId: 'dup-1' });
    await queues.write.add('batch', batch('run-dup', 's1', 0, ['a', 'b']), { jobId: 'dup-2' });
    await queues.write.add('source-done', sourceDone('run-dup', 's1', 1));
    const summary = await finish(runEnd('run-dup', ['s1'], 2));
    expect(summary.status).toBe('completed');
    expect(summary.counts.indexed).toBe(2);
    expect(summary.counts.embedded).toBe(2);
    const conn = new Database(db, { readonly: true });
    expect(conn.prepare('SELECT count(*) FROM run_batches WHERE run_id = ?').pluck().get(runId)).toBe(2);
    expect(conn.prepare(`SELECT count(*) FROM skills WHERE source_id = 's1'`).pluck().get()).toBe(2);
    expect(conn.prepare(`SELECT status FROM index_runs WHERE id = ?`).pluck().get(runId)).toBe('completed');
    conn.close();
  });

  it('applies tombstones only once every batch of the source is written', async () => {
    await begin('run-t1', ['s2']);
    await queues.write.add('batch', batch('run-t1', 's2', 0, ['keep', 'gone']));
    await queues.write.add('source-done', sourceDone('run-t1', 's2', 1));
    await finish(runEnd('run-t1', ['s2'], 2));

    // Second run: its completion arrives before its batch (the batch is still at the embed workers).
    await begin('run-t2', ['s2']);
    const done = await queues.write.add('source-done', sourceDone('run-t2', 's2', 1));
    await new Promise((r) => setTimeout(r, 500));
    expect(await done.getState()).toBe('delayed');
    const conn = new Database(db, { readonly: true });
    const removed = (): unknown =>
      conn.prepare(`SELECT id FROM skills WHERE source_id = 's2' AND removed_at IS NOT NULL`).pluck().all();
    expect(removed()).toEqual([]); // nothing tombstoned while a batch is missing
    await queues.write.add('batch', batch('run-t2', 's2', 0, ['keep']));
    const summary = await finish(runEnd('run-t2', ['s2'], 1));
    expect(summary.counts.removed).toBe(1);
    expect(removed()).toEqual(['s2/gone']);
    conn.close();
  });

  it('sends a malformed job to the failed set at once, without retries', async () => {
    const job = await queues.write.add('batch', { runKey: 'x', skills: 'not a list' });
    await expect(waitForJob(queues.write, job.id as string, 10_000)).rejects.toThrow(/malformed batch job/);
    const failed = await queues.write.getJob(job.id as string);
    expect(failed?.attemptsMade).toBe(1);
    expect(await failed?.isFailed()).toBe(true);
  });
});

describe('distributed writer, waiting completions', () => {
  it('applies a waiting source completion and run end as soon as the last batch is written, not at a recheck', async () => {
    const redis = await testRedis();
    const prefix = uniquePrefix('wake');
    const queues = new PipelineQueues({ url: redis.url, prefix });
    const tmp = tempDir();
    // A recheck far beyond the test's bound: only the wake-up by the write can finish the run in time.
    const role = await startWriterRole({
      db: `${tmp.dir}/w.db`,
      target: { url: redis.url, prefix },
      log,
      recheckMs: 60_000,
    });
    try {
      await askWriter<BeginRunReply>(queues, 'begin', {
        runKey: 'run-w',
        sources: [{ id: 's', kind: 'dir', location: '/skills/s' }],
        model,
        textConfig: { v: 1 },
      });
      const done = await queues.write.add('source-done', sourceDone('run-w', 's', 2));
      const end = await queues.write.add('run-end', runEnd('run-w', ['s'], 3));
      for (let i = 0; i < 100 && (await end.getState()) !== 'delayed'; i++)
        await new Promise((r) => setTimeout(r, 50));
      expect([await done.getState(), await end.getState()]).toEqual(['delayed', 'delayed']);
      await queues.write.add('batch', batch('run-w', 's', 0, ['a', 'b']));
      await queues.write.add('batch', batch('run-w', 's', 1, ['c']));
      const summary = (await waitForJob(queues.write, end.id as string, 10_000)) as DistributedRunSummary;
      expect(summary.status).toBe('completed');
      expect(summary.counts.indexed).toBe(3);
    } finally {
      await role.close();
      await queues.close();
      await redis.stop();
      tmp.cleanup();
    }
  });
});
