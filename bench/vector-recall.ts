/**
 * Child process: recall@k of the reader's vector search (int8 scan + exact rerank, `src/reader/vector-search.ts`)
 * against an exact float32 scan of every stored vector, over the eval queries. Its own process, so the exact
 * matrix held here never shows in the reader's RSS.
 */
import Database from 'better-sqlite3';
import { normalizeFilters } from '../src/reader/filters.js';
import { QueryEmbedder } from '../src/reader/query-embedder.js';
import { chooseModel } from '../src/reader/skill-index.js';
import { VectorSearch } from '../src/reader/vector-search.js';
import { blobToVector } from '../src/writer/vector-blob.js';
import { childMain } from './child.js';

export interface VectorRecallInput {
  db: string;
  modelDir: string;
  queries: string[];
  k: number;
}

export interface VectorRecallResult {
  vectors: number;
  queries: number;
  /** Mean over queries of |reader top k ∩ exact top k| ÷ k. */
  recall: number;
  /** Queries whose top k differs from the exact one in at least one skill. */
  queriesBelowOne: number;
  /** Same top k in the same order. */
  sameOrder: number;
}

childMain<VectorRecallInput, VectorRecallResult>(async (input) => {
  const db = new Database(input.db, { readonly: true, fileMustExist: true });
  try {
    const model = chooseModel(db, undefined);
    if (!model) throw new Error(`${input.db} has no vectors`);
    const rows = db
      .prepare(
        `SELECT e.skill_id AS id, e.vector AS vector FROM skill_embeddings e JOIN skills s ON s.id = e.skill_id
          WHERE e.model_id = ? AND e.dim = ? AND s.removed_at IS NULL`,
      )
      .all(model.id, model.dim) as { id: string; vector: Buffer }[];
    const exactVectors = rows.map((r) => ({ id: r.id, v: blobToVector(r.vector) }));
    const reader = new VectorSearch(db, model);
    const embedder = new QueryEmbedder(model, input.modelDir);
    const noFilters = normalizeFilters(undefined);
    let recallSum = 0;
    let below = 0;
    let sameOrder = 0;
    for (const query of input.queries) {
      const q = await embedder.embed(query);
      // Exact: best chunk per skill, then the k best skills.
      const best = new Map<string, number>();
      for (const { id, v } of exactVectors) {
        let dot = 0;
        for (let d = 0; d < v.length; d++) dot += (v[d] as number) * (q[d] as number);
        if (dot > (best.get(id) ?? -Infinity)) best.set(id, dot);
      }
      const exact = [...best]
        .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
        .slice(0, input.k)
        .map(([id]) => id);
      const got = reader.search(q, input.k, noFilters).map((h) => h.id);
      const hit = got.filter((id) => exact.includes(id)).length;
      recallSum += hit / input.k;
      if (hit < input.k) below++;
      if (got.join('\n') === exact.join('\n')) sameOrder++;
    }
    return {
      vectors: exactVectors.length,
      queries: input.queries.length,
      recall: recallSum / input.queries.length,
      queriesBelowOne: below,
      sameOrder,
    };
  } finally {
    db.close();
  }
});
