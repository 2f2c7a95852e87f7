/**
 * Moving an index from one built-in model to the other, through the CLI: the vectors of both models sit side by
 * side, and a reader always queries with the model whose vectors are live (never the default blindly).
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { corpusDir, tempDir } from './helpers.js';
import { runCli } from './support/roles.js';
import type { RunCounts } from '../src/shared/records.js';

const FP32 = 'use-lite-en@0.2.0';
const INT8 = 'use-lite-en-int8@0.2.0';
const SLICE = join(corpusDir, 'anthropics__skills');
const QUERY = 'turn slides into a pdf handout';

const tmp = tempDir('skillsmith-switch-');
afterAll(() => tmp.cleanup());
const db = join(tmp.dir, 'switch.db');

type Summary = { model: { id: string }; counts: RunCounts };

function index(...args: string[]): Summary {
  const r = runCli(['index', SLICE, '--db', db, '--json', ...args]);
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as Summary;
}

function search(): { model: { id: string }; results: { id: string }[] } {
  const r = runCli(['search', QUERY, '--db', db, '--mode', 'vector', '--k', '3', '--json']);
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { model: { id: string }; results: { id: string }[] };
}

function vectorCounts(): Record<string, number> {
  const r = new Database(db, { readonly: true });
  try {
    const rows = r
      .prepare('SELECT model_id AS id, count(*) AS n FROM skill_embeddings GROUP BY model_id')
      .all() as { id: string; n: number }[];
    return Object.fromEntries(rows.map((x) => [x.id, x.n]));
  } finally {
    r.close();
  }
}

describe('switching an index between the float32 and the int8 model', () => {
  let fp32Top: string[];

  it('an index built with the float32 model is searched with it', () => {
    const run = index('--model', 'use-lite-en');
    expect(run.model.id).toBe(FP32);
    expect(run.counts.embedded).toBeGreaterThan(0);
    const found = search();
    expect(found.model.id).toBe(FP32);
    expect(found.results).toHaveLength(3);
    fp32Top = found.results.map((x) => x.id);
  });

  it('re-indexing with the default model writes int8 vectors beside the float32 ones, then switches', () => {
    const run = index();
    expect(run.model.id).toBe(INT8);
    // Nothing changed on disk, yet every text is embedded again: the skills have no int8 vector yet.
    expect(run.counts.indexed).toBe(0);
    expect(run.counts.embedded).toBeGreaterThan(0);
    // The counts add up: every skill is unchanged, and all of them were re-embedded.
    expect(run.counts.indexed + run.counts.unchanged + run.counts.failed).toBe(run.counts.seen);
    expect(run.counts.reembedded).toBe(run.counts.seen - run.counts.failed);
    const counts = vectorCounts();
    expect(counts[FP32]).toBeGreaterThan(0);
    expect(counts[INT8]).toBe(counts[FP32]);
    const found = search();
    expect(found.model.id).toBe(INT8);
    expect(found.results[0]?.id).toBe(fp32Top[0]); // the same best hit with either model
  });

  it('switches back when the float32 model runs again, embedding nothing', () => {
    const run = index('--model', 'use-lite-en');
    expect(run.counts.embedded).toBe(0); // its vectors were kept
    expect(run.counts.unchanged).toBe(run.counts.seen - run.counts.failed);
    expect(search().model.id).toBe(FP32);
  });
});
