/**
 * `npm run soak -- [--kind dir|git|both] [--mode embedded|distributed|both] [--seeds N] [--steps M]
 *                  [--first-seed S | --seed S] [--faults [--rounds R]]`
 *
 * Long model-based walks of incremental indexing (test/model-based): N seeds per kind, M steps each, every step
 * compared with a fresh index of the same tree. `--seed S` replays one seed (a failure prints its seed and
 * step). `--faults` runs distributed fault injection instead: N seeded backfills of a corpus slice with R
 * rounds of faults each. Exits 1 on the first divergence, after printing it.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureBuiltinModel } from '../src/model/default-model.js';
import { WALK_MODEL } from '../test/model-based/walk.js';
import { loadModelSpec } from '../src/model/model-spec.js';
import { EmbedPool } from '../src/workers/embed-pool.js';
import { testRedis, uniquePrefix } from '../test/support/redis.js';
import { faultedBackfill } from '../test/model-based/fault-injection.js';
import { startCli, stopRoles } from '../test/model-based/processes.js';
import { walk, type WalkMode } from '../test/model-based/walk.js';
import type { WalkKind } from '../test/model-based/tree-ops.js';

const { values } = parseArgs({
  options: {
    kind: { type: 'string', default: 'both' },
    mode: { type: 'string', default: 'embedded' },
    seeds: { type: 'string', default: '5' },
    steps: { type: 'string', default: '400' },
    'first-seed': { type: 'string', default: '1000' },
    seed: { type: 'string' },
    faults: { type: 'boolean', default: false },
    rounds: { type: 'string', default: '3' },
    corpus: { type: 'string' },
    verbose: { type: 'boolean', default: false },
  },
});

const kinds: WalkKind[] = values.kind === 'both' ? ['dir', 'git'] : [values.kind as WalkKind];
const modes = values.mode === 'both' ? ['embedded', 'distributed'] : [values.mode as string];
const seeds = values.seed
  ? [Number(values.seed)]
  : Array.from({ length: Number(values.seeds) }, (_, i) => Number(values['first-seed']) + i);
const steps = Number(values.steps);
const log = values.verbose ? (l: string) => process.stderr.write(`${l}\n`) : undefined;

const model = loadModelSpec(await ensureBuiltinModel(WALK_MODEL));
const pool = new EmbedPool({ model, threads: 1 });
const base = mkdtempSync(join(tmpdir(), 'skillsmith-soak-'));
const started = Date.now();
let exit = 0;
try {
  if (values.faults) {
    const corpus = resolve(values.corpus ?? join(process.cwd(), '..', 'shared', 'corpus', 'skills'));
    const slice = ['AgentWorkers__skills', 'ARPeeketi__claude-resume-kit', 'glebis__claude-skills'].map((d) =>
      join(corpus, d),
    );
    const redis = await testRedis({ appendonly: true });
    try {
      for (const seed of seeds) {
        const t0 = Date.now();
        const r = await faultedBackfill({
          seed,
          faults: 5 * Number(values.rounds),
          sources: slice,
          dir: join(base, `faults-${seed}`),
          redis,
          prefix: uniquePrefix(`soak-${seed}`),
          model,
          pool,
          log: (l) => process.stderr.write(`${l}\n`),
        });
        console.log(
          JSON.stringify({
            faults: true,
            seed,
            injected: r.injected.length,
            firstStatus: r.firstStatus,
            backfills: r.backfills,
            ms: Date.now() - t0,
          }),
        );
      }
    } finally {
      await redis.stop();
    }
  } else {
    for (const mode of modes) {
      const redis = mode === 'distributed' ? await testRedis() : undefined;
      try {
        for (const kind of kinds) {
          for (const seed of seeds) {
            const t0 = Date.now();
            const dir = join(base, `${mode}-${kind}-${seed}`);
            let walkMode: WalkMode = { kind: 'embedded' };
            let roles: ReturnType<typeof startCli>[] = [];
            if (redis) {
              const rolesDir = `${dir}-roles`;
              mkdirSync(rolesDir, { recursive: true });
              const prefix = uniquePrefix(`soak-${kind}-${seed}`);
              const db = join(rolesDir, 'dist.db');
              const r = ['--redis', redis.url, '--prefix', prefix];
              roles = [
                startCli(rolesDir, 'writer', ['write', '--db', db, ...r]),
                startCli(rolesDir, 'worker1', ['work', '--threads', '1', ...r]),
                startCli(rolesDir, 'worker2', ['work', '--threads', '1', ...r]),
              ];
              walkMode = { kind: 'distributed', redisUrl: redis.url, prefix, db };
            }
            try {
              const r = await walk({
                kind,
                seed,
                steps,
                dir,
                model,
                pool,
                mode: walkMode,
                ...(log ? { log } : {}),
              });
              console.log(
                JSON.stringify({
                  mode,
                  kind,
                  seed,
                  steps: r.steps,
                  kills: r.kills,
                  divergences: 0,
                  ms: Date.now() - t0,
                }),
              );
            } finally {
              await stopRoles(roles);
              rmSync(dir, { recursive: true, force: true });
            }
          }
        }
      } finally {
        await redis?.stop();
      }
    }
  }
} catch (err) {
  console.error(err instanceof Error ? err.message : String(err));
  exit = 1;
} finally {
  await pool.close();
  rmSync(base, { recursive: true, force: true });
}
console.error(
  `soak: ${exit === 0 ? 'no divergence' : 'DIVERGED'} in ${Math.round((Date.now() - started) / 1000)} s`,
);
process.exit(exit);
