import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDefaultModel } from '../src/model/default-model.js';
import { EXIT } from '../src/shared/exit-status.js';
import { cliPath, corpusDir, tempDir } from './helpers.js';
import { testRedis, uniquePrefix, type TestRedis } from './support/redis.js';
import { query, runCli, startRole, waitFor, type RoleProcess } from './support/roles.js';

// Redis without persistence (no AOF, no RDB) restarted mid-run loses every queued job. That once ended in
// "completed" with a quarter of the skills and a run left `running` forever. Now: a loud failure, then a rerun
// completes.
const SLICE = ['trailofbits__skills', 'glebis__claude-skills'].map((d) => join(corpusDir, d));
const tmp = tempDir();

describe('Redis losing its data mid-run (no AOF)', () => {
  let redis: TestRedis;
  const roles: RoleProcess[] = [];
  const prefix = uniquePrefix('loss');
  const db = join(tmp.dir, 'loss.db');
  const r = (): string[] => ['--redis', redis.url, '--prefix', prefix];
  const batchesWritten = (): number =>
    query<{ n: number }>(db, `SELECT count(*) AS n FROM run_batches WHERE kind = 'batch'`)[0]?.n ?? 0;

  beforeAll(async () => {
    await ensureDefaultModel();
    redis = await testRedis({ dir: mkdtempSync(join(tmpdir(), 'skillsmith-redis-loss-')) });
  });
  afterAll(async () => {
    for (const x of roles) if (x.child.exitCode === null) x.child.kill('SIGKILL');
    await Promise.all(roles.map((x) => x.exited));
    await redis?.stop();
    tmp.cleanup();
  });

  it('fails the run loudly (exit 4, E_REDIS_DATA_LOST, run failed), keeps the writer up, and a rerun completes', async () => {
    const writer = startRole(tmp.dir, 'writer', ['write', '--db', db, ...r()]);
    const worker = startRole(tmp.dir, 'worker', ['work', '--threads', '1', ...r()]);
    roles.push(writer, worker);
    await waitFor('the writer', () =>
      query(db, 'SELECT 1 FROM index_runs LIMIT 1') ? true : undefined,
    ).catch(() => undefined);
    const produce = spawn(
      process.execPath,
      [cliPath, 'produce', ...SLICE, '--batch-size', '2', '--json', ...r()],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    produce.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    produce.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // 'close', not 'exit': the summary can still be in the pipe when the process has exited.
    const exited = new Promise<number | null>((res) => produce.once('close', (code) => res(code)));

    await waitFor('some batches', () => (batchesWritten() >= 5 ? true : undefined));
    await redis.restart(); // SHUTDOWN with nothing to save: the server comes back empty

    const code = await Promise.race([
      exited,
      new Promise<'hang'>((res) => setTimeout(() => res('hang'), 120_000)),
    ]);
    expect(code, stderr.slice(-1500)).toBe(EXIT.REDIS);
    expect(JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}')).toMatchObject({
      error: {
        code: 'E_REDIS_DATA_LOST',
        message: expect.stringMatching(/Redis lost this run's queued work/),
      },
    });
    await waitFor('the run to be failed', () =>
      query<{ status: string }>(db, 'SELECT status FROM index_runs ORDER BY id DESC LIMIT 1')[0]?.status ===
      'failed'
        ? true
        : undefined,
    );
    expect(
      query(db, `SELECT code FROM index_errors WHERE code = 'E_REDIS_DATA_LOST' AND source_id = '*'`),
      readFileSync(writer.log, 'utf8').slice(-3000),
    ).toHaveLength(1);
    expect(writer.child.exitCode).toBeNull(); // no "claim lost to another writer" exit
    expect(worker.child.exitCode).toBeNull();

    const rerun = runCli(['produce', ...SLICE, '--batch-size', '8', '--json', ...r()]);
    expect(rerun.status, rerun.stderr.slice(-1500)).toBe(EXIT.OK);
    const done = JSON.parse(rerun.stdout) as {
      counts: { seen: number; failed: number };
      summary: { status: string };
    };
    expect(done.summary.status).toBe('completed');
    const live = query<{ n: number }>(db, 'SELECT count(*) AS n FROM skills WHERE removed_at IS NULL')[0]?.n;
    expect(live).toBe(done.counts.seen - done.counts.failed);
    expect(
      query(db, 'SELECT id FROM skills WHERE id NOT IN (SELECT skill_id FROM skill_embeddings)'),
    ).toEqual([]);
  }, 400_000);
});
