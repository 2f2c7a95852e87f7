import { Job } from 'bullmq';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PipelineQueues } from '../src/distributed/pipeline-queues.js';
import { ensureDefaultModel } from '../src/model/default-model.js';
import { corpusDir, tempDir } from './helpers.js';
import { testRedis, uniquePrefix, type TestRedis } from './support/redis.js';
import { query, runCli, startRole, waitFor, type RoleProcess } from './support/roles.js';

// The producer killed four times during one crawl: BullMQ fails the crawl job for good ("job stalled more than
// allowable limit", maxStalledCount 3), no process is left to end the run, and it once stayed `running`
// forever. The writer's crawl janitor now ends it `failed` (E_CRAWL_FAILED) and frees its source, so the next
// backfill completes. While the crawl job lives (active, or stalled and taken up again) the run is left alone.
const SOURCE = join(corpusDir, 'trailofbits__skills'); // 80 skills: the crawl sends its first batch at 32
const tmp = tempDir();

describe('a crawl job failed for good (the producer killed four times)', () => {
  let redis: TestRedis;
  let queues: PipelineQueues;
  const roles: RoleProcess[] = [];
  const prefix = uniquePrefix('crawlfail');
  const db = join(tmp.dir, 'crawlfail.db');
  const r = (): string[] => ['--redis', redis.url, '--prefix', prefix];
  const run = (): { status: string; attempt: number; runKey: string } | undefined =>
    query<{ status: string; attempt: number; runKey: string }>(
      db,
      'SELECT status, attempt, run_key AS runKey FROM index_runs ORDER BY id DESC LIMIT 1',
    )[0];
  // A 3 s crawl lock (and stalled check): a killed producer's crawl is found stalled within seconds, and a live
  // one that waits at the backlog renews it with ease. The default lock (none given) for the final backfill: a
  // real crawl on a loaded machine can block the event loop past half a short lock, and a crawl redelivered that
  // way would find its run already finished.
  const producer = (n: number, lock = ['--lock-ms', '3000']): RoleProcess => {
    const p = startRole(tmp.dir, `producer${n}`, ['produce', '--serve', ...lock, ...r()]);
    roles.push(p);
    return p;
  };

  beforeAll(async () => {
    await ensureDefaultModel();
    redis = await testRedis();
    queues = new PipelineQueues({ url: redis.url, prefix });
  });
  afterAll(async () => {
    for (const x of roles) if (x.child.exitCode === null) x.child.kill('SIGKILL');
    await Promise.all(roles.map((x) => x.exited));
    await queues?.close();
    await redis?.stop();
    tmp.cleanup();
  });

  it('ends the run failed with E_CRAWL_FAILED, leaves it alone while the crawl lives, and a new backfill completes', async () => {
    // No worker yet, and the embed backlog full (64 jobs nobody takes): each crawl begins its run, then waits
    // at its first batch, so every kill below lands mid-crawl, before the run is handed to the writer.
    await queues.embed.addBulk(Array.from({ length: 64 }, (_, i) => ({ name: 'filler', data: { i } })));
    const writer = startRole(tmp.dir, 'writer', ['write', '--db', db, ...r()]);
    roles.push(writer);
    let current = producer(1);
    const queued = runCli(['backfill', SOURCE, '--json', ...r()]);
    expect(queued.status, queued.stderr).toBe(0);
    const { jobId } = JSON.parse(queued.stdout) as { jobId: string };
    await waitFor('the run to begin', () => (run()?.attempt === 1 ? true : undefined));

    // Alive and crawling: over a janitor round (10 s) passes, and the run is still running.
    await new Promise((res) => setTimeout(res, 12_000));
    expect(await queues.crawl.getJobState(jobId)).toBe('active');
    expect(run()).toMatchObject({ status: 'running', attempt: 1, runKey: jobId });

    for (let kill = 1; kill <= 4; kill++) {
      current.child.kill('SIGKILL');
      await current.exited;
      current = producer(kill + 1);
      if (kill < 4) {
        // Stalled, not failed: taken up again as the run's next attempt, and the run stays running.
        await waitFor(`attempt ${kill + 1}`, () => (run()?.attempt === kill + 1 ? true : undefined), 90_000);
        expect(run()?.status).toBe('running');
      }
    }
    // The fourth stall is one more than maxStalledCount: the fifth producer fails the job for good.
    const deadline = Date.now() + 90_000;
    while ((await queues.crawl.getJobState(jobId)) !== 'failed') {
      if (Date.now() > deadline) throw new Error(`crawl job is ${await queues.crawl.getJobState(jobId)}`);
      await new Promise((res) => setTimeout(res, 200));
    }
    expect((await Job.fromId(queues.crawl, jobId))?.failedReason).toMatch(
      /stalled more than allowable limit/,
    );

    await waitFor(
      'the janitor to end the run',
      () => (run()?.status === 'failed' ? true : undefined),
      30_000,
    );
    expect(run()?.attempt).toBe(4);
    const errors = query<{ source: string; code: string; message: string }>(
      db,
      `SELECT source_id AS source, code, message FROM index_errors
        WHERE run_id = (SELECT max(id) FROM index_runs) AND code = 'E_CRAWL_FAILED'`,
    );
    expect(errors, readFileSync(writer.log, 'utf8').slice(-2000)).toHaveLength(1);
    expect(errors[0]?.source).toBe('*');
    expect(errors[0]?.message).toContain(`the crawl job ${jobId} failed for good`);
    expect(errors[0]?.message).toContain('job stalled more than allowable limit');
    // The janitor logs after the run is failed in the database and its source released in Redis: wait for it.
    await waitFor(
      'the writer to log E_CRAWL_FAILED',
      () => (readFileSync(writer.log, 'utf8').includes('E_CRAWL_FAILED') ? true : undefined),
      30_000,
    );
    expect(readFileSync(writer.log, 'utf8')).toContain('E_CRAWL_FAILED');

    const status = runCli(['status', '--db', db, '--json']);
    expect(status.status, status.stderr).toBe(0);
    const shown = JSON.parse(status.stdout) as {
      runs: { status: string; finishedAt: string | null }[];
      lastRunErrors: { code: string; count: number }[];
    };
    expect(shown.runs[0]?.status).toBe('failed');
    expect(shown.runs[0]?.finishedAt).not.toBeNull();
    expect(shown.lastRunErrors).toContainEqual({ code: 'E_CRAWL_FAILED', count: 1 });

    // The source is free again: a new backfill of it runs, with a worker and the fillers gone, to completion.
    current.child.kill('SIGKILL');
    await current.exited;
    producer(6, []);
    await queues.embed.drain();
    roles.push(startRole(tmp.dir, 'worker', ['work', '--threads', '1', ...r()]));
    const again = runCli(['backfill', SOURCE, '--follow', '--json', ...r()]);
    expect(again.status, again.stderr.slice(-1500)).toBe(0);
    const done = JSON.parse(again.stdout) as {
      counts: { seen: number; failed: number };
      summary?: { status: string };
    };
    expect(done.summary?.status, again.stdout).toBe('completed');
    const live = query<{ n: number }>(db, 'SELECT count(*) AS n FROM skills WHERE removed_at IS NULL')[0]?.n;
    expect(live).toBe(done.counts.seen - done.counts.failed);
    expect(run()?.status).toBe('completed');
  }, 400_000);
});
