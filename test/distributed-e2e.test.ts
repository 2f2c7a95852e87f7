import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { askWriter } from '../src/distributed/ask-writer.js';
import { PipelineQueues } from '../src/distributed/pipeline-queues.js';
import { ensureDefaultModel } from '../src/model/default-model.js';
import { loadModelSpec } from '../src/model/model-spec.js';
import type { EmbedJob } from '../src/shared/distributed-messages.js';
import { blobToVector } from '../src/writer/vector-blob.js';
import { writeTinyHfModel } from './fixtures/tiny-hf-model.js';
import { corpusDir, tempDir } from './helpers.js';
import { testRedis, uniquePrefix, type TestRedis } from './support/redis.js';
import { query, runCli, startRole, waitFor, type RoleProcess } from './support/roles.js';

// The distributed mode as users run it: real processes (1 writer, 2 workers, a producer), a real Redis, the
// real model, real SQLite files, and a slice of the shared corpus with its malformed skills.
const SLICE = [
  'AgentWorkers__skills', // BOM, CRLF, non-English, one without front matter
  'ARPeeketi__claude-resume-kit', // no names
  'EveryInc__compound-engineering-plugin', // two without a description
  'glebis__claude-skills', // missing and invalid front matter
].map((d) => join(corpusDir, d));

const tmp = tempDir();
afterAll(() => tmp.cleanup());

interface SkillRow {
  id: string;
  content_hash: string;
  name: string;
  description: string;
}
interface VecRow {
  skill_id: string;
  vector: Buffer;
  text_hash: string;
}
interface ErrRow {
  source_id: string;
  path: string;
  code: string;
}

const skillsOf = (db: string): SkillRow[] =>
  query<SkillRow>(
    db,
    'SELECT id, content_hash, name, description FROM skills WHERE removed_at IS NULL ORDER BY id',
  );
const vectorsOf = (db: string): VecRow[] =>
  query<VecRow>(db, 'SELECT skill_id, vector, text_hash FROM skill_embeddings ORDER BY skill_id');
const errorsOf = (db: string): ErrRow[] =>
  query<ErrRow>(db, 'SELECT DISTINCT source_id, path, code FROM index_errors ORDER BY source_id, path, code');

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  for (let i = 0; i < a.length; i++) dot += (a[i] as number) * (b[i] as number);
  return dot;
}

async function stopAll(roles: RoleProcess[]): Promise<void> {
  for (const r of roles) if (r.child.exitCode === null) r.child.kill('SIGTERM');
  await Promise.all(roles.map((r) => r.exited));
}

describe('distributed mode, end to end', () => {
  let redis: TestRedis;
  let prefix: string;
  let roles: RoleProcess[] = [];
  const db = join(tmp.dir, 'dist.db');
  const r = (): string[] => ['--redis', redis.url, '--prefix', prefix];

  beforeAll(async () => {
    await ensureDefaultModel(); // built once here, not by three processes at once
    redis = await testRedis();
    prefix = uniquePrefix('e2e');
    roles = [
      startRole(tmp.dir, 'writer', ['write', '--db', db, ...r()]),
      startRole(tmp.dir, 'worker1', ['work', '--threads', '1', ...r()]),
      startRole(tmp.dir, 'worker2', ['work', '--threads', '1', ...r()]),
    ];
  });

  afterAll(async () => {
    await stopAll(roles);
    await redis?.stop();
  });

  it('gives the same skills, vectors and errors as the embedded mode on the same input', () => {
    const dist = runCli(['produce', ...SLICE, ...r(), '--json']);
    expect(dist.status, dist.stderr).toBe(0);
    const summary = JSON.parse(dist.stdout) as {
      summary: { status: string; counts: Record<string, number> };
    };
    expect(summary.summary.status).toBe('completed');

    const embeddedDb = join(tmp.dir, 'embedded.db');
    const emb = runCli(['index', ...SLICE, '--db', embeddedDb, '--json']);
    expect(emb.status, emb.stderr).toBe(0);
    const counts = (JSON.parse(emb.stdout) as { counts: Record<string, number> }).counts;
    expect(summary.summary.counts).toMatchObject({
      seen: counts.seen,
      indexed: counts.indexed,
      failed: counts.failed,
      warnings: counts.warnings,
    });
    // The slice's malformed skills are recovered, each indexed with a warning.
    expect(counts.warnings).toBeGreaterThan(10);

    expect(skillsOf(db)).toEqual(skillsOf(embeddedDb));
    expect(errorsOf(db)).toEqual(errorsOf(embeddedDb));
    const a = vectorsOf(db);
    const b = vectorsOf(embeddedDb);
    expect(a.map((v) => [v.skill_id, v.text_hash])).toEqual(b.map((v) => [v.skill_id, v.text_hash]));
    // Batches are grouped differently (other padding), so float32 vectors may differ in the last bits, never
    // more. The int8 default quantizes activations per batch (one scale over the whole padded batch), so its
    // vectors depend a little on their batch-mates: the bound is its accuracy target against float32.
    const int8 = (JSON.parse(emb.stdout) as { model: { id: string } }).model.id.includes('int8');
    for (const [i, v] of a.entries()) {
      expect(cosine(blobToVector(v.vector), blobToVector((b[i] as VecRow).vector))).toBeGreaterThan(
        int8 ? 0.995 : 0.99999,
      );
    }

    // A second run of the unchanged input enqueues no embed work and rewrites nothing.
    const again = runCli(['produce', ...SLICE, ...r(), '--json']);
    const c2 = (JSON.parse(again.stdout) as { summary: { counts: Record<string, number> } }).summary.counts;
    expect(c2).toMatchObject({
      indexed: 0,
      embedded: 0,
      unchanged: (counts.seen ?? 0) - (counts.failed ?? 0),
    });
  });

  it('refuses a duplicate backfill, and a producer serves the one queued', async () => {
    const src = SLICE[1] as string;
    const first = runCli(['backfill', src, ...r(), '--json']);
    expect(first.status, first.stderr).toBe(0);
    const second = runCli(['backfill', src, ...r()]);
    expect(second.status).toBe(7); // EXIT.ALREADY_RUNNING
    expect(second.stderr).toMatch(
      /backfill refused: job backfill-.* already covers ARPeeketi__claude-resume-kit/,
    );

    const producer = startRole(tmp.dir, 'producer', ['produce', '--serve', ...r()]);
    roles.push(producer);
    const jobId = (JSON.parse(first.stdout) as { jobId: string }).jobId;
    await waitFor('the backfill run', () => {
      const rows = query<{ status: string }>(db, `SELECT status FROM index_runs WHERE run_key = ?`, jobId);
      return rows[0]?.status === 'completed' ? true : undefined;
    });
  });

  it('fires a job scheduler, and `schedule set` again is idempotent', async () => {
    const src = SLICE[0] as string;
    // Every second (BullMQ takes a seconds field): the producer started above serves it.
    for (let i = 0; i < 2; i++) {
      const set = runCli(['schedule', 'set', 'every-second', '--cron', '* * * * * *', src, ...r()]);
      expect(set.status, set.stderr).toBe(0);
    }
    const list = runCli(['schedule', 'list', '--json', ...r()]);
    expect(
      (JSON.parse(list.stdout) as { schedules: { name: string }[] }).schedules.map((s) => s.name),
    ).toEqual(['every-second']);
    await waitFor('a scheduled run', () => {
      const rows = query<{ n: number }>(
        db,
        `SELECT count(*) AS n FROM index_runs WHERE run_key LIKE 'repeat%' AND status = 'completed'`,
      );
      return (rows[0]?.n ?? 0) > 0 ? true : undefined;
    });
    expect(runCli(['schedule', 'remove', 'every-second', ...r()]).status).toBe(0);
    expect(runCli(['schedule', 'remove', 'every-second', ...r()]).status).toBe(2);
  });

  it('sends a poisoned batch to the failed set; `failed retry` replays it once the cause is fixed', async () => {
    const queues = new PipelineQueues({ url: redis.url, prefix });
    try {
      const model = loadModelSpec(await ensureDefaultModel());
      await askWriter(queues, 'begin', {
        runKey: 'poison-run',
        sources: [{ id: 'poison', kind: 'dir', location: '/poison' }],
        model: { id: model.id, dim: model.dim, pooling: model.pooling },
        textConfig: { never: 'matches' },
      });
      // The workers cannot load the model this job names: a volume that was not mounted.
      const missing = join(tmp.dir, 'models', 'mounted-later');
      const job: EmbedJob = {
        runKey: 'poison-run',
        attempt: 1,
        sourceId: 'poison',
        batchNo: 0,
        model: { id: model.id, dim: model.dim, dir: missing },
        skills: [
          {
            record: {
              id: 'poison/p',
              sourceId: 'poison',
              path: 'p',
              name: 'p',
              description: 'a poisoned batch',
              body: '',
              frontMatter: {},
              license: null,
              allowedTools: null,
              warnings: [],
              contentHash: 'p1',
            },
            textHash: 'tp1',
            text: 'p: a poisoned batch',
          },
        ],
        errors: [],
        seen: [],
      };
      await queues.embed.add('embed', job, { jobId: 'poison-1' });
      const failed = await waitFor('the dead letter', () => {
        const out = runCli(['failed', '--json', ...r()]);
        const list = (JSON.parse(out.stdout) as { failed: { id: string; queue: string; reason: string }[] })
          .failed;
        return list.find((f) => f.id === 'poison-1');
      });
      expect(failed.queue).toBe('embed');
      expect(failed.reason).toMatch(/model use-lite-en/);

      mkdirSync(join(tmp.dir, 'models'), { recursive: true });
      symlinkSync(model.dir, missing); // the volume is mounted now
      const retry = runCli(['failed', 'retry', 'poison-1', ...r()]);
      expect(retry.status, retry.stderr).toBe(0);
      await waitFor('the replayed batch', () =>
        query(db, `SELECT 1 FROM skill_embeddings WHERE skill_id = 'poison/p'`).length === 1
          ? true
          : undefined,
      );
      const after = JSON.parse(runCli(['failed', '--json', ...r()]).stdout) as { failed: unknown[] };
      expect(after.failed).toEqual([]);
    } finally {
      await queues.close();
    }
  });

  it('re-embeds with another model on `backfill --reembed --model`, beside the old vectors', () => {
    const tiny = join(tmp.dir, 'tiny-model');
    writeTinyHfModel(tiny, 'mean');
    const before = query<{ model_id: string; n: number }>(
      db,
      'SELECT model_id, count(*) AS n FROM skill_embeddings GROUP BY model_id',
    );
    expect(before).toHaveLength(1);
    const src = SLICE[1] as string;
    const out = runCli(['backfill', src, '--reembed', '--model', tiny, '--follow', '--json', ...r()]);
    expect(out.status, out.stderr).toBe(0);
    const res = JSON.parse(out.stdout) as { summary: { status: string; counts: { embedded: number } } };
    expect(res.summary.status).toBe('completed');
    expect(res.summary.counts.embedded).toBeGreaterThan(0);
    const tinyId = loadModelSpec(tiny).id;
    const after = query<{ model_id: string; n: number }>(
      db,
      'SELECT model_id, count(*) AS n FROM skill_embeddings GROUP BY model_id ORDER BY model_id',
    );
    // The old model's vectors are all still there; the new model has one per skill of the source.
    expect(after).toContainEqual(before[0]);
    const live = query<{ n: number }>(
      db,
      `SELECT count(*) AS n FROM skills WHERE source_id = 'ARPeeketi__claude-resume-kit' AND removed_at IS NULL`,
    )[0]?.n;
    expect(after).toContainEqual({ model_id: tinyId, n: live });
  });

  it('reports queues, workers, the writer and runs in `status --redis`', () => {
    const s = runCli(['status', '--db', db, '--json', ...r()]);
    expect(s.status, s.stderr).toBe(0);
    const status = JSON.parse(s.stdout) as {
      runs: { mode: string }[];
      redis: { queues: { name: string; workers: number }[]; writer: { db: string } | null };
    };
    expect(status.redis.writer?.db).toBe(db);
    expect(status.redis.queues.find((q) => q.name === 'embed')?.workers).toBe(2);
    expect(status.runs[0]?.mode).toBe('distributed');
  });

  it('stops every role on SIGTERM with exit 0', async () => {
    await stopAll(roles);
    expect(await Promise.all(roles.map((x) => x.exited))).toEqual(roles.map(() => 0));
  });
});
