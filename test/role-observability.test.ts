import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDefaultModel } from '../src/model/default-model.js';
import { corpusDir, tempDir } from './helpers.js';
import { freePort, testRedis, uniquePrefix, type TestRedis } from './support/redis.js';
import { runCli, startRole, waitFor, type RoleProcess } from './support/roles.js';

// What an operator watches: /metrics, /healthz and /readyz of a running writer and worker, log lines that carry
// the run, job and source and never a secret, and Redis checked at start. A Redis server of our own, with a
// password and an eviction policy that can lose jobs (the roles must warn about it).
const PASSWORD = 'redis-secret-7f3a9c';
const TOKEN = 'ghp_testtoken0123456789abcdefSECRET';
const tmp = tempDir();

describe('observability of the distributed roles', () => {
  let redis: TestRedis;
  let admin: Redis;
  let url: string;
  const prefix = uniquePrefix('obs');
  const roles: RoleProcess[] = [];
  const ports = { writer: 0, worker: 0 };
  const db = join(tmp.dir, 'obs.db');
  const env = { GITHUB_TOKEN: TOKEN, LOG_LEVEL: 'debug' };

  beforeAll(async () => {
    await ensureDefaultModel();
    mkdirSync(join(tmp.dir, 'redis'));
    redis = await testRedis({ dir: join(tmp.dir, 'redis') });
    admin = new Redis(redis.url);
    await admin.config('SET', 'maxmemory-policy', 'allkeys-lru');
    await admin.config('SET', 'requirepass', PASSWORD);
    await admin.auth(PASSWORD);
    url = redis.url.replace('redis://', `redis://:${PASSWORD}@`);
    ports.writer = await freePort();
    ports.worker = await freePort();
    const r = ['--redis', url, '--prefix', prefix];
    roles.push(
      startRole(tmp.dir, 'writer', ['write', '--db', db, '--metrics-port', String(ports.writer), ...r], env),
      startRole(
        tmp.dir,
        'worker',
        ['work', '--threads', '1', '--metrics-port', String(ports.worker), ...r],
        env,
      ),
    );
    const slice = join(corpusDir, 'AgentWorkers__skills');
    const produced = runCli(['produce', slice, '--json', ...r], 300_000, env);
    expect(produced.status, produced.stderr).toBe(0);
  });

  afterAll(async () => {
    for (const x of roles) if (x.child.exitCode === null) x.child.kill('SIGTERM');
    await Promise.all(roles.map((x) => x.exited));
    await admin?.config('SET', 'requirepass', '').catch(() => undefined);
    admin?.disconnect();
    await redis?.stop();
    tmp.cleanup();
  });

  const get = async (port: number, path: string): Promise<{ status: number; text: string }> => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`);
    return { status: res.status, text: await res.text() };
  };

  it('serves health, readiness and Prometheus metrics on the writer and the worker', async () => {
    for (const port of [ports.writer, ports.worker]) {
      expect((await get(port, '/healthz')).status).toBe(200);
      expect((await get(port, '/readyz')).status).toBe(200);
    }
    const worker = (await get(ports.worker, '/metrics')).text;
    expect(worker).toMatch(/skillsmith_jobs_processed_total\{[^}]*queue="embed"[^}]*\} [1-9]/);
    expect(worker).toMatch(/skillsmith_texts_embedded_total\{[^}]*\} [1-9]/);
    // The pool threads' CPU inside ORT: Linux reports a thread's CPU time, other platforms leave it at 0.
    const modelCpu = /skillsmith_model_cpu_seconds_total\{[^}]*\} (\S+)/.exec(worker)?.[1];
    if (process.platform === 'linux') expect(Number(modelCpu)).toBeGreaterThan(0);
    expect(worker).toMatch(/skillsmith_batch_seconds_count\{[^}]*queue="embed"/);
    expect(worker).toMatch(/skillsmith_queue_depth\{[^}]*queue="embed"[^}]*state="waiting"[^}]*\} 0/);
    expect(worker).toMatch(/skillsmith_pool_utilisation/);
    const writer = (await get(ports.writer, '/metrics')).text;
    expect(writer).toMatch(/skillsmith_jobs_processed_total\{[^}]*queue="write"[^}]*\} [1-9]/);
    expect(writer).toMatch(/skillsmith_writer_rows_total\{[^}]*kind="skills"[^}]*\} [1-9]/);
    expect(writer).toMatch(/skillsmith_writer_transaction_seconds_count/);
    expect(writer).toMatch(/skillsmith_wal_size_bytes/);
  });

  it('logs JSON lines with the run, job and source of each job, and never the password or a token', async () => {
    await waitFor('the run-end line', () =>
      readFileSync(join(tmp.dir, 'writer.log'), 'utf8').includes('run finished') ? true : undefined,
    );
    const text = ['writer', 'worker'].map((n) => readFileSync(join(tmp.dir, `${n}.log`), 'utf8')).join('\n');
    expect(text).not.toContain(PASSWORD);
    expect(text).not.toContain(TOKEN);
    const lines = text
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const jobLines = lines.filter((l) => l.msg === 'batch written' || l.msg === 'batch embedded');
    expect(jobLines.length).toBeGreaterThan(1);
    for (const l of jobLines) {
      expect(l).toMatchObject({
        runKey: expect.stringMatching(/^produce-/),
        jobId: expect.any(String),
        source: 'AgentWorkers__skills',
      });
    }
  });

  it('warns loudly at start when Redis may evict jobs', () => {
    const text = readFileSync(join(tmp.dir, 'writer.log'), 'utf8');
    expect(text).toMatch(/maxmemory-policy is \\"allkeys-lru\\", not \\"noeviction\\"/);
  });

  it('fails at once with a clear message when Redis is unreachable, or refuses the password', async () => {
    const closed = await freePort();
    const down = runCli(['work', '--redis', `redis://127.0.0.1:${closed}`], 60_000);
    expect(down.status).toBe(4); // EXIT.REDIS
    expect(down.stderr).toMatch(/cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+/);
    const wrong = runCli([
      'write',
      '--db',
      join(tmp.dir, 'x.db'),
      '--redis',
      redis.url.replace('redis://', 'redis://:wrong-pw@'),
    ]);
    expect(wrong.status).toBe(4);
    expect(wrong.stderr).toMatch(/cannot reach Redis at redis:\/\/\*\*\*@/);
    expect(wrong.stderr).not.toContain('wrong-pw');
  });
});
