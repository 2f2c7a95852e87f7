import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelSpec } from '../../src/model/model-spec.js';
import { runEmbedded } from '../../src/embedded/embedded-run.js';
import { createGitSource } from '../../src/producer/git-source.js';
import { parseSourceArg } from '../../src/producer/source-arg.js';
import { createSource } from '../../src/producer/create-source.js';
import type { SkillSource, SourceSpec } from '../../src/producer/source.js';
import type { EmbedPool } from '../../src/workers/embed-pool.js';
import { cliPath, runCliAsync } from './processes.js';
import { diffStates, integrityCheck, readState, type IndexState } from './compare.js';
import { Prng } from './prng.js';
import { applyRandomOp, BODY_MARKER, createTree, type Tree, type WalkKind } from './tree-ops.js';

/** How the incremental index is brought up to date each step. */
export type WalkMode =
  | { kind: 'embedded' }
  /**
   * Distributed roles (writer, workers) already running on `redisUrl`/`prefix` and writing `db`: each step
   * runs `produce` as a process and waits for the writer to finish the run.
   */
  | { kind: 'distributed'; redisUrl: string; prefix: string; db: string };

export interface WalkOptions {
  kind: WalkKind;
  seed: number;
  steps: number;
  /** Share of steps whose run is killed with SIGKILL at a random moment, then run again. Default 0.1. */
  killRate?: number;
  /** A folder of its own (removed and made again). */
  dir: string;
  model: ModelSpec;
  /** The embed pool the in-process runs share (the model is loaded once for the whole walk). */
  pool: EmbedPool;
  /**
   * Vectors not made in this process (killed CLI runs, distributed workers) are batched differently, and ORT's
   * results depend on the batch in the last bits (~3e-8): those are compared to within this. Default 1e-6.
   */
  batchTolerance?: number;
  mode?: WalkMode;
  log?: (line: string) => void;
}

/**
 * The walk compares vectors made in differently batched runs byte for byte (within batchTolerance), so it uses the
 * float32 model: the int8 default quantizes activations per batch, so its vector of a text moves with the text's
 * batch-mates (up to ~1e-2 per element). int8's agreement with float32 is measured in the bench instead.
 */
export const WALK_MODEL = 'use-lite-en';

export interface WalkResult {
  steps: number;
  kills: number;
  ops: string[];
}

/** A divergence: says how to replay it. */
export class WalkDivergence extends Error {
  constructor(
    readonly seed: number,
    readonly step: number,
    readonly kind: WalkKind,
    readonly diff: string[],
    readonly ops: string[],
  ) {
    super(
      `model-based walk diverged: kind=${kind} seed=${seed} step=${step} (replay: npm run soak -- --kind ${kind} --seed ${seed} --steps ${step})\n` +
        `ops:\n${ops.map((o, i) => `  ${i + 1}. ${o}`).join('\n')}\ndiff:\n${diff.map((d) => `  ${d}`).join('\n')}`,
    );
  }
}

/**
 * One seeded random walk: draw an operation, apply it to a real tree, bring the index up to date (sometimes
 * killing the run with SIGKILL first), then compare it with a fresh index of the same tree in a new database.
 */
export async function walk(options: WalkOptions): Promise<WalkResult> {
  const { seed, kind, model } = options;
  // One text per ORT call: a text's vector is then the same bytes whatever else is embedded in the run.
  const pool = singleTextPool(options.pool);
  const mode = options.mode ?? { kind: 'embedded' };
  const rng = new Prng(seed);
  const killRate = options.killRate ?? 0.1;
  rmSync(options.dir, { recursive: true, force: true });
  mkdirSync(options.dir, { recursive: true });
  const tree = createTree(kind, options.dir, rng);
  const location = kind === 'git' ? `file://${tree.root}` : tree.root;
  // The id the CLI gives this location, so in-process runs and killed CLI runs write the same source.
  const spec: SourceSpec = parseSourceArg(location);
  const cache = join(options.dir, 'git-cache');
  const db = mode.kind === 'distributed' ? mode.db : join(options.dir, 'index.db');
  const sourceWith =
    (cacheDir: string) =>
    (s: SourceSpec): SkillSource =>
      s.kind === 'git' ? createGitSource(s, { cacheDir }) : createSource(s);
  const ops: string[] = [];
  let kills = 0;
  let before: IndexState | undefined;
  const everLive = new Set<string>();
  // Text hashes whose stored vector a batching process (killed CLI run, worker) may have made.
  const batched = new Set<string>();

  for (let step = 1; step <= options.steps; step++) {
    const op = step === 1 ? 'first index' : applyRandomOp(tree, rng);
    const kill = step > 1 && mode.kind === 'embedded' && rng.chance(killRate);
    const killAfterMs = rng.int(2500);
    ops.push(kill ? `${op} [run killed after ${killAfterMs} ms]` : op);
    options.log?.(`seed ${seed} ${kind} step ${step}: ${ops.at(-1)}`);

    if (mode.kind === 'distributed') {
      await produce(mode, location, cache);
    } else {
      if (kill) {
        kills++;
        await killedCliRun(
          ['index', location, '--model', WALK_MODEL, '--db', db, '--json', '--no-progress', '--threads', '1'],
          killAfterMs,
          {
            SKILLSMITH_CACHE_DIR: cache,
          },
        );
        if (existsSync(db)) {
          const check = integrityCheck(db);
          if (check !== 'ok')
            throw new WalkDivergence(seed, step, kind, [`integrity_check after kill -9: ${check}`], ops);
        }
      }
      await runEmbedded({
        sources: [spec],
        db,
        model,
        threads: 1,
        pool,
        createSource: sourceWith(cache),
      });
    }

    const freshDir = join(options.dir, `fresh-${step}`);
    mkdirSync(freshDir);
    const freshDb = join(freshDir, 'fresh.db');
    await runEmbedded({
      sources: [spec],
      db: freshDb,
      model,
      threads: 1,
      pool,
      createSource: sourceWith(join(freshDir, 'git-cache')),
    });
    const inc = readState(db, model.id, BODY_MARKER);
    const fresh = readState(freshDb, model.id, BODY_MARKER);
    rmSync(freshDir, { recursive: true, force: true });
    if (kill || mode.kind === 'distributed') {
      const known = new Set([...(before?.live.values() ?? [])].map((v) => v.textHash));
      for (const v of inc.live.values()) if (v.textHash && !known.has(v.textHash)) batched.add(v.textHash);
    }
    const diff = diffStates(inc, fresh, before, everLive, {
      tolerant: batched,
      tolerance: options.batchTolerance ?? 1e-6,
    });
    if (diff.length > 0) throw new WalkDivergence(seed, step, kind, diff, ops);
    for (const id of inc.live.keys()) everLive.add(id);
    before = inc;
  }
  return { steps: options.steps, kills, ops };
}

function singleTextPool(pool: EmbedPool): Pick<EmbedPool, 'workers' | 'tokenize' | 'embedTokens'> {
  return {
    workers: pool.workers,
    tokenize: (text) => pool.tokenize(text),
    async embedTokens(ids) {
      const parts = await Promise.all(ids.map((seq) => pool.embedTokens([seq])));
      const dim = parts[0]?.dim ?? 0;
      const vectors = new Float32Array(ids.length * dim);
      parts.forEach((p, i) => vectors.set(p.vectors, i * dim));
      return { vectors, dim, tokens: parts.reduce((n, p) => n + p.tokens, 0) };
    },
  };
}

/** Runs the built CLI and kills it with SIGKILL after `ms` (if it is still running). */
async function killedCliRun(args: string[], ms: number, env: NodeJS.ProcessEnv): Promise<void> {
  const child = spawn(process.execPath, [cliPath, ...args], {
    stdio: 'ignore',
    env: { ...process.env, ...env, LOG_LEVEL: 'silent' },
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const timer = setTimeout(() => child.kill('SIGKILL'), ms);
  await exited;
  clearTimeout(timer);
}

/** `produce <location>` against running roles, to the end of the run. */
async function produce(
  mode: Extract<WalkMode, { kind: 'distributed' }>,
  location: string,
  cache: string,
): Promise<void> {
  const r = await runCliAsync(
    ['produce', location, '--model', WALK_MODEL, '--redis', mode.redisUrl, '--prefix', mode.prefix, '--json'],
    {
      SKILLSMITH_CACHE_DIR: cache,
    },
  );
  if (r.code !== 0) throw new Error(`produce exited ${r.code}: ${r.out.slice(-2000)}`);
}

export type { Tree };
