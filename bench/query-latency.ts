/**
 * Child process: a downstream reader. Opens the index with `openIndex` and runs every eval query in each mode,
 * pass after pass, timing each search. With `stopFile` it keeps going until that file exists (the parent
 * creates it when a concurrent re-index has finished), so the latencies include searching while the writer
 * commits batches and the reader reloads its vector matrix. Errors (SQLITE_BUSY or any other) are counted.
 */
import { existsSync } from 'node:fs';
import { openIndex } from '../src/reader/index.js';
import { childMain, maxRssKb } from './child.js';

export interface QueryLatencyInput {
  db: string;
  modelDir: string;
  queries: string[];
  modes: ('hybrid' | 'fts' | 'vector')[];
  minPasses: number;
  stopFile?: string;
}

export interface QueryLatencyResult {
  /** Milliseconds per search, per mode (the first search of each mode, which loads the model, is left out). */
  latenciesMs: Record<string, number[]>;
  passes: number;
  errors: string[];
  /** Peak RSS of the reader process (query model, vectors, SQLite cache), KB. */
  maxRssKb: number;
  /** Set by the parent: how long the concurrent re-index took, ms. */
  writerWallMs?: number | undefined;
}

childMain<QueryLatencyInput, QueryLatencyResult>(async (input) => {
  const index = await openIndex(input.db, { model: input.modelDir });
  const latenciesMs: Record<string, number[]> = Object.fromEntries(input.modes.map((m) => [m, []]));
  const errors: string[] = [];
  // Warm-up: load the query model and the vector matrix once, outside the measurement.
  for (const mode of input.modes) await index.search('warm up', { mode, k: 10 });
  let passes = 0;
  while (passes < input.minPasses || (input.stopFile !== undefined && !existsSync(input.stopFile))) {
    for (const q of input.queries) {
      for (const mode of input.modes) {
        const t = performance.now();
        try {
          await index.search(q, { mode, k: 10 });
          latenciesMs[mode]!.push(performance.now() - t);
        } catch (err) {
          errors.push(String(err));
        }
      }
    }
    passes++;
    if (passes > 10_000) break;
  }
  await index.close();
  return { latenciesMs, passes, errors: errors.slice(0, 20), maxRssKb: maxRssKb() };
});
