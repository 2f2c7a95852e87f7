import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { normalizeFilters } from '../src/reader/filters.js';
import { assemble, kernelModuleBytes } from '../src/reader/int8-kernels.js';
import { Int8Matrix } from '../src/reader/int8-matrix.js';
import { VectorSearch } from '../src/reader/vector-search.js';
import { vectorToBlob } from '../src/writer/vector-blob.js';
import { IndexWriter } from '../src/writer/index-writer.js';
import { tempDir } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

/** Deterministic pseudo-random numbers in [-0.5, 0.5) (xorshift32). */
function random(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32 - 0.5;
  };
}

function unitVector(dim: number, next: () => number): Float32Array {
  const v = new Float32Array(dim);
  let norm = 0;
  for (let d = 0; d < dim; d++) {
    v[d] = next();
    norm += (v[d] as number) ** 2;
  }
  for (let d = 0; d < dim; d++) v[d] = (v[d] as number) / Math.sqrt(norm);
  return v;
}

const blob = (v: Float32Array): Uint8Array => new Uint8Array(v.buffer, v.byteOffset, v.byteLength);

describe('int8 kernels', () => {
  it('assemble into a valid WebAssembly SIMD module (so the fast path is the one running here)', () => {
    const wasm = (globalThis as { WebAssembly?: { validate(b: Uint8Array): boolean } }).WebAssembly;
    expect(wasm?.validate(kernelModuleBytes())).toBe(true);
    expect(() => assemble('local.get x')).toThrow(/needs a number/);
  });

  it('give the same codes, scales and dot products in WebAssembly and in JavaScript', () => {
    for (const dim of [512, 100, 3]) {
      const next = random(dim);
      const rows = 64;
      const wasm = new Int8Matrix(rows, dim);
      const js = new Int8Matrix(rows, dim, true);
      for (let r = 0; r < rows; r++) {
        // Row 0 is all zeros (scale 0); the others are random unit vectors.
        const v = r === 0 ? new Float32Array(dim) : unitVector(dim, next);
        wasm.setRow(r, blob(v));
        js.setRow(r, blob(v));
      }
      expect(Array.from(wasm.codes)).toEqual(Array.from(js.codes));
      expect(Array.from(wasm.scales)).toEqual(Array.from(js.scales));
      expect(wasm.scales[0]).toBe(0);
      const q = unitVector(dim, next);
      const a = wasm.scan(q, rows, wasm.maxScale(rows));
      const b = js.scan(q, rows, js.maxScale(rows));
      expect(Array.from(a.dots)).toEqual(Array.from(b.dots));
      expect(a.factor).toBe(b.factor);
      expect(a.errorBound).toBe(b.errorBound);
    }
  });

  it('rounds halves to even and maps the largest component to ±127', () => {
    for (const js of [false, true]) {
      const m = new Int8Matrix(1, 16, js);
      const v = new Float32Array([
        127, -127, 2.5, -2.5, 3.5, -3.5, 0.5, -0.5, 1.5, 0, 126.5, -1.5, 4, 5, 6, 7,
      ]);
      m.setRow(0, blob(v));
      expect(Array.from(m.codes)).toEqual([127, -127, 2, -2, 4, -4, 0, 0, 2, 0, 126, -2, 4, 5, 6, 7]);
      expect(m.scales[0]).toBe(1);
    }
  });

  it('scans exact integer sums and stays within its error bound of the float32 dot product', () => {
    const dim = 512;
    const rows = 200;
    const next = random(7);
    const m = new Int8Matrix(rows, dim);
    const vectors = Array.from({ length: rows }, () => unitVector(dim, next));
    vectors.forEach((v, r) => m.setRow(r, blob(v)));
    for (let t = 0; t < 5; t++) {
      const q = unitVector(dim, next);
      const { dots, factor, errorBound } = m.scan(q, rows, m.maxScale(rows));
      for (let r = 0; r < rows; r++) {
        let exact = 0;
        for (let d = 0; d < dim; d++) exact += (vectors[r]![d] as number) * (q[d] as number);
        const approx = (dots[r] as number) * (m.scales[r] as number) * factor;
        expect(Math.abs(approx - exact)).toBeLessThanOrEqual(errorBound);
        expect(Math.abs(approx - exact)).toBeLessThan(0.01);
      }
    }
  });
});

/** An index of `n` skills with random unit vectors (some with a second chunk), written by the real writer. */
function vectorIndex(n: number, dim: number): { path: string; vectors: Map<string, Float32Array[]> } {
  const path = join(tmp.dir, `vectors-${n}.db`);
  const w = IndexWriter.open({ path });
  w.registerModel({ id: 'm', dim, pooling: 'mean', textConfig: {} });
  const runId = w.beginRun({ mode: 'embedded', sources: [], modelId: 'm' });
  const next = random(n);
  const vectors = new Map<string, Float32Array[]>();
  const ids = Array.from({ length: n }, (_, i) => `s${String(i).padStart(4, '0')}`);
  for (const id of ids)
    vectors.set(
      id,
      id.endsWith('3') ? [unitVector(dim, next), unitVector(dim, next)] : [unitVector(dim, next)],
    );
  w.writeBatch({
    runId,
    skills: ids.map((id, i) => ({
      id,
      name: id,
      description: `skill ${id}`,
      sourceId: i % 2 === 0 ? 'even' : 'odd',
      path: id,
      body: '',
      frontMatter: {},
      license: null,
      allowedTools: null,
      warnings: [],
      contentHash: id,
    })),
    embeddings: ids.flatMap((id) =>
      vectors
        .get(id)!
        .map((vector, chunk) => ({ skillId: id, modelId: 'm', chunk, vector, textHash: `${id}/${chunk}` })),
    ),
    errors: [],
    seen: [],
  });
  w.close();
  return { path, vectors };
}

/** The exact top `k`: best chunk per skill, ties by id (the reader's order). */
function exactTop(
  vectors: Map<string, Float32Array[]>,
  q: Float32Array,
  k: number,
  keep = (_id: string) => true,
) {
  const scores = [...vectors]
    .filter(([id]) => keep(id))
    .map(([id, vs]) => ({
      id,
      score: Math.max(
        ...vs.map((v) => {
          let dot = 0;
          for (let d = 0; d < v.length; d++) dot += (v[d] as number) * (q[d] as number);
          return dot;
        }),
      ),
    }));
  return scores.sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : 1)).slice(0, k);
}

describe('VectorSearch', () => {
  it('returns the exact top k with exact scores, filtered, and follows a re-embed on its next search', () => {
    const dim = 64;
    const { path, vectors } = vectorIndex(400, dim);
    const db = new Database(path, { readonly: true });
    const search = new VectorSearch(db, { id: 'm', dim });
    const next = random(99);
    const none = normalizeFilters(undefined);
    for (let t = 0; t < 20; t++) {
      const q = unitVector(dim, next);
      for (const k of [1, 10, 50]) expect(search.search(q, k, none)).toEqual(exactTop(vectors, q, k));
      const odd = normalizeFilters({ sourceId: 'odd' });
      const keepOdd = (id: string) => Number(id.slice(1)) % 2 === 1;
      expect(search.search(q, 10, odd)).toEqual(exactTop(vectors, q, 10, keepOdd));
    }
    expect(search.size).toBe(440);

    // Another connection re-embeds one skill: its new vector is the query itself, so it comes first.
    const q = unitVector(dim, next);
    const writer = new Database(path);
    writer
      .prepare(`UPDATE skill_embeddings SET vector = ?, text_hash = 'new' WHERE skill_id = 's0007'`)
      .run(vectorToBlob(q));
    writer.close();
    vectors.set('s0007', [q]);
    const hits = search.search(q, 10, none);
    expect(hits[0]?.id).toBe('s0007');
    expect(hits).toEqual(exactTop(vectors, q, 10));

    // A malformed BLOB (not dim float32s) is left out of the matrix, and the rows after it move up.
    const again = new Database(path);
    again
      .prepare(`UPDATE skill_embeddings SET vector = x'00', text_hash = 'bad' WHERE skill_id = 's0002'`)
      .run();
    again.close();
    vectors.delete('s0002');
    expect(search.search(q, 50, none)).toEqual(exactTop(vectors, q, 50));
    expect(search.size).toBe(439);
    // A fresh reader loads everything in one scan of the table, and agrees.
    const fresh = new VectorSearch(db, { id: 'm', dim });
    expect(fresh.search(q, 50, none)).toEqual(exactTop(vectors, q, 50));
    db.close();
  });
});
