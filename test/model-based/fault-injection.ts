import Database from 'better-sqlite3';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { ModelSpec } from '../../src/model/model-spec.js';
import { WALK_MODEL } from './walk.js';
import { runEmbedded } from '../../src/embedded/embedded-run.js';
import type { EmbedPool } from '../../src/workers/embed-pool.js';
import type { TestRedis } from '../support/redis.js';
import { diffStates, integrityCheck, readState } from './compare.js';
import { Prng } from './prng.js';
import { runCliAsync, startCli, stopRoles, type Role } from './processes.js';

export interface FaultRunOptions {
  seed: number;
  /** Faults injected during the backfill. */
  faults: number;
  /** Source folders (a corpus slice). */
  sources: string[];
  dir: string;
  /** A Redis with AOF on, started by this process (it is restarted as one of the faults). */
  redis: TestRedis;
  prefix: string;
  model: ModelSpec;
  pool: EmbedPool;
  /** Job locks of every role, so a killed role's job comes back soon. Default 4000 ms. */
  lockMs?: number;
  log?: (line: string) => void;
}

export interface FaultRunResult {
  injected: string[];
  /** How the backfill's run ended before any rerun. */
  firstStatus: string;
  /** Backfills it took to complete the run (1 = the faulted one completed). */
  backfills: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * A backfill of `sources` through real roles (writer, two workers, `produce --serve`) while random roles are
 * killed with SIGKILL and restarted, or Redis is restarted (AOF on), at random moments. At the end the
 * database must equal an embedded index of the same tree: same live skills and content, same errors, vectors
 * equal up to batching noise. A run that ended `failed` must say so and be completed by a rerun; a run that
 * says `completed` with rows missing is the failure this looks for.
 */
export async function faultedBackfill(options: FaultRunOptions): Promise<FaultRunResult> {
  const rng = new Prng(options.seed);
  const lockMs = String(options.lockMs ?? 4000);
  rmSync(options.dir, { recursive: true, force: true });
  mkdirSync(options.dir, { recursive: true });
  const db = join(options.dir, 'dist.db');
  const r = ['--redis', options.redis.url, '--prefix', options.prefix];
  const specs: Record<string, string[]> = {
    writer: ['write', '--db', db, '--lock-ms', lockMs, '--grace-ms', '1000', ...r],
    worker1: ['work', '--threads', '1', '--lock-ms', lockMs, '--grace-ms', '1000', ...r],
    worker2: ['work', '--threads', '1', '--lock-ms', lockMs, '--grace-ms', '1000', ...r],
    producer: ['produce', '--serve', '--lock-ms', lockMs, '--grace-ms', '1000', ...r],
  };
  const roles = new Map<string, Role>();
  const start = (name: string): void =>
    void roles.set(name, startCli(options.dir, name, specs[name] as string[]));
  for (const name of Object.keys(specs)) start(name);
  const injected: string[] = [];
  try {
    const backfill = async (): Promise<void> => {
      const b = await runCliAsync(['backfill', ...options.sources, '--model', WALK_MODEL, ...r]);
      if (b.code !== 0) throw new Error(`backfill exited ${b.code}: ${b.out.slice(-1500)}`);
    };
    await backfill();
    const runEnded = async (n: number, timeoutMs: number): Promise<string> => {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const status = lastBackfillStatus(db, n);
        if (status && status !== 'running') return status;
        if (Date.now() > end) return `still ${status ?? 'not begun'} after ${timeoutMs} ms`;
        await sleep(250);
      }
    };
    // Every kind of fault once per round, in a seeded order.
    const order = shuffle(rng, ['producer', 'worker1', 'worker2', 'writer', 'redis'] as const);
    for (let i = 0; i < options.faults; i++) {
      await sleep(300 + rng.int(2500));
      const what = order[i % order.length] as (typeof order)[number];
      const t = new Date().toISOString();
      if (what === 'redis') {
        await options.redis.restart();
        injected.push(`${t} restart redis (AOF)`);
      } else {
        const role = roles.get(what) as Role;
        role.child.kill('SIGKILL');
        await role.exited;
        await sleep(rng.int(1500));
        start(what);
        injected.push(`${t} kill -9 ${what}, restarted`);
      }
      options.log?.(`seed ${options.seed} fault ${i + 1}: ${injected.at(-1)}`);
    }
    const firstStatus = await runEnded(1, 240_000);
    let backfills = 1;
    let status = firstStatus;
    if (status.startsWith('still')) {
      // Never a hang: the run must end, completed or failed.
      throw new Error(
        `fault injection: seed=${options.seed} the backfill's run never ended (${status}) ` +
          `(replay: npm run soak -- --faults --seed ${options.seed})\nfaults:\n  ${injected.join('\n  ')}`,
      );
    }
    if (status !== 'completed') {
      // A loud failure is allowed; a rerun must then complete the work.
      options.log?.(`seed ${options.seed}: the faulted run ended "${status}"; backfilling again`);
      await backfill();
      backfills++;
      status = await runEnded(2, 240_000);
    }
    if (status !== 'completed')
      throw new Error(
        `seed ${options.seed}: the backfill did not complete: ${status}\n${injected.join('\n')}`,
      );
    const check = integrityCheck(db);
    if (check !== 'ok') throw new Error(`seed ${options.seed}: integrity_check: ${check}`);

    const freshDb = join(options.dir, 'embedded.db');
    await runEmbedded({
      sources: options.sources.map((root) => ({ root })),
      db: freshDb,
      model: options.model,
      threads: 1,
      pool: options.pool,
    });
    const inc = readState(db, options.model.id);
    const fresh = readState(freshDb, options.model.id);
    const allBatched = new Set([...inc.live.values()].map((v) => v.textHash ?? ''));
    const diff = diffStates(inc, fresh, undefined, new Set(inc.live.keys()), {
      tolerant: allBatched,
      tolerance: 1e-6,
    });
    if (diff.length > 0) {
      throw new Error(
        `fault injection diverged: seed=${options.seed} (replay: npm run soak -- --faults --seed ${options.seed})\n` +
          `faults:\n  ${injected.join('\n  ')}\ndiff:\n  ${diff.join('\n  ')}`,
      );
    }
    return { injected, firstStatus, backfills };
  } finally {
    await stopRoles([...roles.values()], 'SIGKILL');
  }
}

/** Status of the n-th backfill run in the database (undefined before it began or before the file exists). */
function lastBackfillStatus(db: string, n: number): string | undefined {
  let conn: Database.Database | undefined;
  try {
    conn = new Database(db, { readonly: true, fileMustExist: true });
    conn.pragma('busy_timeout = 2000');
    const rows = conn
      .prepare(`SELECT status FROM index_runs WHERE run_key LIKE 'backfill%' ORDER BY id`)
      .pluck()
      .all() as string[];
    return rows[n - 1];
  } catch {
    return undefined;
  } finally {
    conn?.close();
  }
}

function shuffle<T>(rng: Prng, items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}
