import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuiltinModel } from '../../src/model/default-model.js';
import { WALK_MODEL } from './walk.js';
import { loadModelSpec, type ModelSpec } from '../../src/model/model-spec.js';
import { EmbedPool } from '../../src/workers/embed-pool.js';
import { corpusDir, tempDir } from '../helpers.js';
import { testRedis, uniquePrefix, type TestRedis } from '../support/redis.js';
import { faultedBackfill } from './fault-injection.js';

// Distributed fault injection (bounded for CI; `npm run soak -- --faults` runs long ones): during a backfill of
// a corpus slice, random roles are killed with SIGKILL and restarted, or Redis (AOF on) is restarted; the
// database must end equal to an embedded index of the same tree.
const SLICE = ['AgentWorkers__skills', 'ARPeeketi__claude-resume-kit', 'glebis__claude-skills'].map((d) =>
  join(corpusDir, d),
);
const tmp = tempDir('skillsmith-faults-');
let model: ModelSpec;
let pool: EmbedPool;
let redis: TestRedis;
beforeAll(async () => {
  model = loadModelSpec(await ensureBuiltinModel(WALK_MODEL));
  pool = new EmbedPool({ model, threads: 1 });
  redis = await testRedis({ appendonly: true });
});
afterAll(async () => {
  await pool?.close();
  await redis?.stop();
  tmp.cleanup();
});

describe('distributed fault injection', () => {
  it('kill -9 of random roles and Redis restarts (AOF) during a backfill: the database equals an embedded index', async () => {
    const result = await faultedBackfill({
      seed: 21,
      faults: Number(process.env.FAULTS ?? 5),
      sources: SLICE,
      dir: join(tmp.dir, 'faults'),
      redis,
      prefix: uniquePrefix('faults'),
      model,
      pool,
    });
    expect(result.injected.length).toBeGreaterThan(0);
    // With AOF on nothing is lost: the faulted run itself completes, or ends failed (loudly) and a rerun completes.
    expect(['completed', 'failed']).toContain(result.firstStatus);
    console.info(`fault injection seed 21: ${result.firstStatus}, ${result.backfills} backfill(s)`);
  }, 900_000);

  // AOF off (Redis restarted empty mid-run: a loud E_REDIS_DATA_LOST failure, then a rerun completes) is
  // test/redis-data-loss.test.ts.
});
