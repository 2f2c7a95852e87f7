import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDefaultModel } from '../src/model/default-model.js';
import { corpusDir, tempDir } from './helpers.js';
import { testRedis, uniquePrefix, type TestRedis } from './support/redis.js';
import { query, runCli, startRole, waitFor, type RoleProcess } from './support/roles.js';

// At-least-once delivery, exactly-once effect, whatever dies: a worker and the writer killed with -9 mid-run,
// then Redis restarted (AOF on). Small batches and short locks make the run long enough to hit, and the
// redelivery of a dead process's jobs quick.
const SLICE = ['glebis__claude-skills', 'trailofbits__skills', 'K-Dense-AI__claude-scientific-skills'].map(
  (d) => join(corpusDir, d),
);
const tmp = tempDir();

describe('distributed crash safety', () => {
  let redis: TestRedis;
  const roles: RoleProcess[] = [];
  const prefix = uniquePrefix('crash');
  const db = join(tmp.dir, 'crash.db');
  const r = (): string[] => ['--redis', redis.url, '--prefix', prefix];
  const batchesWritten = (): number =>
    query<{ n: number }>(db, `SELECT count(*) AS n FROM run_batches WHERE kind = 'batch'`)[0]?.n ?? 0;
  const runStatus = (): string | undefined =>
    query<{ status: string }>(db, `SELECT status FROM index_runs ORDER BY id DESC LIMIT 1`)[0]?.status;

  beforeAll(async () => {
    await ensureDefaultModel();
    redis = await testRedis({ appendonly: true });
  });

  afterAll(async () => {
    for (const x of roles) if (x.child.exitCode === null) x.child.kill('SIGKILL');
    await Promise.all(roles.map((x) => x.exited));
    await redis?.stop();
    tmp.cleanup();
  });

  it('completes the run with every skill exactly once after kill -9 of a worker and the writer and a Redis restart', async () => {
    // One worker at first, and the producer crawls while it embeds: the crawl waits while 64 jobs are queued, so
    // when 10 batches are written most of the run is not even queued, and the kills surely land mid-run (with two
    // workers and a producer that queued everything first, the run was once written to the end before they came).
    const writer = startRole(tmp.dir, 'writer', ['write', '--db', db, '--lock-ms', '2000', ...r()]);
    const producer = startRole(tmp.dir, 'producer', [
      'produce',
      ...SLICE,
      '--batch-size',
      '1',
      '--no-wait',
      '--json',
      ...r(),
    ]);
    const worker1 = startRole(tmp.dir, 'worker1', ['work', '--threads', '1', '--lock-ms', '2000', ...r()]);
    roles.push(writer, producer, worker1);

    await waitFor('some batches', () => (batchesWritten() >= 10 ? true : undefined));
    // The worker dies with jobs in hand and the writer with results waiting to be written.
    worker1.child.kill('SIGKILL');
    writer.child.kill('SIGKILL');
    await Promise.all([worker1.exited, writer.exited]);
    expect(runStatus()).toBe('running');

    // Redis restarts while worker2 embeds and the producer crawls: both keep going across it.
    const worker2 = startRole(tmp.dir, 'worker2', ['work', '--threads', '1', '--lock-ms', '2000', ...r()]);
    roles.push(worker2);
    await waitFor('worker2 to take jobs', () =>
      readFileSync(worker2.log, 'utf8').includes('worker ready') ? true : undefined,
    );
    await redis.restart();
    // The dead writer's claim and file lock are taken over by a new one.
    const writer2 = startRole(tmp.dir, 'writer2', ['write', '--db', db, '--lock-ms', '2000', ...r()]);
    roles.push(writer2);

    expect(await producer.exited, readFileSync(producer.log, 'utf8').slice(-2000)).toBe(0);
    // The summary is the one line of the producer's output that is not a log line.
    const summary = readFileSync(producer.log, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('{"runKey"'));
    const { counts, batches } = JSON.parse(summary ?? '{}') as {
      counts: { seen: number; failed: number };
      batches: number;
    };
    expect(batches).toBeGreaterThan(200);
    await waitFor('the run to complete', () => (runStatus() === 'completed' ? true : undefined), 240_000);
    const run = query<{ seen: number; indexed: number; failed: number }>(
      db,
      'SELECT seen, indexed, failed FROM index_runs ORDER BY id DESC LIMIT 1',
    )[0];
    expect(run).toMatchObject({
      seen: counts.seen,
      failed: counts.failed,
      indexed: counts.seen - counts.failed,
    });
    // Every skill once, each with exactly one vector; every batch written once.
    const skills = query<{ n: number }>(db, 'SELECT count(*) AS n FROM skills')[0]?.n;
    expect(skills).toBe(counts.seen - counts.failed);
    expect(query(db, 'SELECT skill_id FROM skill_embeddings GROUP BY skill_id HAVING count(*) > 1')).toEqual(
      [],
    );
    expect(
      query(db, 'SELECT id FROM skills WHERE id NOT IN (SELECT skill_id FROM skill_embeddings)'),
    ).toEqual([]);
    expect(batchesWritten()).toBe(batches);
    expect(query<{ integrity_check: string }>(db, 'PRAGMA integrity_check')).toEqual([
      { integrity_check: 'ok' },
    ]);
    const failed = JSON.parse(runCli(['failed', '--json', ...r()]).stdout) as { failed: unknown[] };
    expect(failed.failed).toEqual([]);
  });
});
