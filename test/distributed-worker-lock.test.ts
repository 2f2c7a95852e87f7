import { Redis } from 'ioredis';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDefaultModel } from '../src/model/default-model.js';
import { corpusDir, tempDir } from './helpers.js';
import { testRedis, uniquePrefix, type TestRedis } from './support/redis.js';
import { query, runCli, startRole, waitFor, type RoleProcess } from './support/roles.js';

// With the default job locks (no --lock-ms): a worker killed with -9 while it holds an embed job must not stall
// the run until a long lock expires (it was 300 s). Its job is redelivered once the 30 s lock lapses.
const SLICE = [join(corpusDir, 'trailofbits__skills')];
const tmp = tempDir();

describe('a killed worker with default locks', () => {
  let redis: TestRedis;
  let client: Redis;
  const roles: RoleProcess[] = [];
  const prefix = uniquePrefix('lock');
  const db = join(tmp.dir, 'lock.db');
  const r = (): string[] => ['--redis', redis.url, '--prefix', prefix];
  const runStatus = (): string | undefined =>
    query<{ status: string }>(db, `SELECT status FROM index_runs ORDER BY id DESC LIMIT 1`)[0]?.status;

  beforeAll(async () => {
    await ensureDefaultModel();
    redis = await testRedis();
    client = new Redis(redis.url);
  });
  afterAll(async () => {
    for (const x of roles) if (x.child.exitCode === null) x.child.kill('SIGKILL');
    await Promise.all(roles.map((x) => x.exited));
    client?.disconnect();
    await redis?.stop();
    tmp.cleanup();
  });

  it('hands the dead worker’s job to another worker well within 60 s', async () => {
    const writer = startRole(tmp.dir, 'writer', ['write', '--db', db, ...r()]);
    const worker1 = startRole(tmp.dir, 'worker1', ['work', '--threads', '1', ...r()]);
    roles.push(writer, worker1);
    const produced = runCli(['produce', ...SLICE, '--batch-size', '2', '--no-wait', '--json', ...r()]);
    expect(produced.status, produced.stderr).toBe(0);
    const { counts } = JSON.parse(produced.stdout) as { counts: { seen: number; failed: number } };

    // Kill worker1 while it holds an embed job (the only worker, so an active job is its job).
    const deadline = Date.now() + 120_000;
    while ((await client.llen(`${prefix}:embed:active`)) === 0) {
      if (Date.now() > deadline) throw new Error('worker1 never took an embed job');
      await new Promise((res) => setTimeout(res, 20));
    }
    worker1.child.kill('SIGKILL');
    await worker1.exited;
    const killedAt = Date.now();
    expect(await client.llen(`${prefix}:embed:active`)).toBeGreaterThan(0); // its job is still held
    const worker2 = startRole(tmp.dir, 'worker2', ['work', '--threads', '1', ...r()]);
    roles.push(worker2);

    // Lock (30 s) + stalled check (15 s) + the rest of the slice; a 300 s lock would blow through this bound.
    await waitFor('the run to complete', () => (runStatus() === 'completed' ? true : undefined), 90_000);
    const tookMs = Date.now() - killedAt;
    expect(tookMs).toBeLessThan(90_000);
    const skills = query<{ n: number }>(db, 'SELECT count(*) AS n FROM skills')[0]?.n;
    expect(skills).toBe(counts.seen - counts.failed);
    expect(
      query(db, 'SELECT id FROM skills WHERE id NOT IN (SELECT skill_id FROM skill_embeddings)'),
    ).toEqual([]);
  }, 240_000);
});
