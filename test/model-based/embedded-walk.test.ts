import { afterAll, beforeAll, describe, it } from 'vitest';
import { ensureBuiltinModel } from '../../src/model/default-model.js';
import { WALK_MODEL } from './walk.js';
import { loadModelSpec, type ModelSpec } from '../../src/model/model-spec.js';
import { EmbedPool } from '../../src/workers/embed-pool.js';
import { tempDir } from '../helpers.js';
import { walk } from './walk.js';

// The model-based test of incremental indexing (embedded mode): seeded random walks over real trees, each
// step compared with a fresh index of the same tree. `npm run soak` runs long ones; a failure names its seed.
const SEEDS: { kind: 'dir' | 'git'; seed: number; steps: number }[] = [
  { kind: 'dir', seed: 1, steps: Number(process.env.WALK_STEPS ?? 80) },
  { kind: 'dir', seed: 2, steps: Number(process.env.WALK_STEPS ?? 80) },
  { kind: 'git', seed: 3, steps: Number(process.env.WALK_STEPS ?? 40) },
];

const tmp = tempDir('skillsmith-walk-');
let model: ModelSpec;
let pool: EmbedPool;
beforeAll(async () => {
  model = loadModelSpec(await ensureBuiltinModel(WALK_MODEL));
  pool = new EmbedPool({ model, threads: 1 });
});
afterAll(async () => {
  await pool?.close();
  tmp.cleanup();
});

describe('model-based walk, embedded mode', () => {
  for (const { kind, seed, steps } of SEEDS) {
    it(`${kind} source, seed ${seed}, ${steps} steps: every step equals a fresh index`, async () => {
      await walk({ kind, seed, steps, dir: `${tmp.dir}/${kind}-${seed}`, model, pool });
    }, 600_000);
  }
});
