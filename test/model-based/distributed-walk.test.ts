import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { ensureBuiltinModel } from '../../src/model/default-model.js';
import { WALK_MODEL } from './walk.js';
import { loadModelSpec, type ModelSpec } from '../../src/model/model-spec.js';
import { EmbedPool } from '../../src/workers/embed-pool.js';
import { tempDir } from '../helpers.js';
import { testRedis, uniquePrefix, type TestRedis } from '../support/redis.js';
import { startCli, stopRoles, type Role } from './processes.js';
import { walk } from './walk.js';

// The same walk through the distributed roles (a writer, two workers, `produce` each step) on a real Redis,
// each step compared with a fresh embedded index of the same tree. Shorter: every step starts a producer.
const tmp = tempDir('skillsmith-dwalk-');
let model: ModelSpec;
let pool: EmbedPool;
let redis: TestRedis;
beforeAll(async () => {
  model = loadModelSpec(await ensureBuiltinModel(WALK_MODEL));
  pool = new EmbedPool({ model, threads: 1 });
  redis = await testRedis();
});
afterAll(async () => {
  await pool?.close();
  await redis?.stop();
  tmp.cleanup();
});

describe('model-based walk, distributed mode', () => {
  for (const { kind, seed, steps } of [
    { kind: 'dir' as const, seed: 11, steps: Number(process.env.WALK_DIST_STEPS ?? 5) },
    { kind: 'git' as const, seed: 12, steps: Number(process.env.WALK_DIST_STEPS ?? 3) },
  ]) {
    it(`${kind} source, seed ${seed}, ${steps} steps through write, 2 × work and produce`, async () => {
      const dir = join(tmp.dir, `${kind}-${seed}`);
      const rolesDir = `${dir}-roles`;
      mkdirSync(rolesDir, { recursive: true });
      const prefix = uniquePrefix(`walk-${kind}`);
      const db = join(rolesDir, 'dist.db');
      const r = ['--redis', redis.url, '--prefix', prefix];
      const roles: Role[] = [
        startCli(rolesDir, 'writer', ['write', '--db', db, ...r]),
        startCli(rolesDir, 'worker1', ['work', '--threads', '1', ...r]),
        startCli(rolesDir, 'worker2', ['work', '--threads', '1', ...r]),
      ];
      try {
        await walk({
          kind,
          seed,
          steps,
          dir,
          model,
          pool,
          mode: { kind: 'distributed', redisUrl: redis.url, prefix, db },
        });
      } finally {
        await stopRoles(roles);
      }
    }, 600_000);
  }
});
