import Database from 'better-sqlite3';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModelSpec } from '../src/model/model-spec.js';
import { runEmbedded } from '../src/embedded/embedded-run.js';
import { createEmbedder } from '../src/workers/embedder.js';
import { TINY_EMBEDDINGS, TINY_VOCAB, writeTinyHfModel } from './fixtures/tiny-hf-model.js';
import { tempDir } from './helpers.js';

const tmp = tempDir();
afterAll(() => tmp.cleanup());

/** What the model should give: pooled rows of the tokens ([CLS] text [SEP]), L2-normalised. */
function expected(text: string, pooling: 'mean' | 'cls'): number[] {
  const ids = [
    1,
    ...text
      .toLowerCase()
      .split(/\s+/)
      .map((w) => TINY_VOCAB[w] ?? 0),
    2,
  ];
  const rows = (pooling === 'cls' ? ids.slice(0, 1) : ids).map((id) => TINY_EMBEDDINGS[id]!);
  const sum = rows.reduce((acc, r) => acc.map((v, i) => v + r[i]!), [0, 0, 0, 0]);
  const norm = Math.hypot(...sum);
  return sum.map((v) => v / norm);
}

describe('--model DIR: a Hugging Face-layout ONNX folder', () => {
  for (const pooling of ['mean', 'cls'] as const) {
    it(`reads its declared ${pooling} pooling and embeds padded batches exactly`, async () => {
      const dir = join(tmp.dir, pooling);
      writeTinyHfModel(dir, pooling);
      const spec = loadModelSpec(dir);
      expect(spec).toMatchObject({ dim: 4, pooling, normalize: true, maxTokens: 16 });
      // The folder name plus a hash of what defines the model: same-named folders never share vectors.
      expect(spec.id).toMatch(new RegExp(`^${pooling}@[0-9a-f]{12}$`));
      expect(spec.onnxPath).toBe(join(dir, 'onnx', 'model.onnx'));

      const embedder = await createEmbedder(spec);
      // Different lengths in one batch: padding must not leak into the mean.
      const texts = ['pdf', 'convert pdf text', 'deploy kubernetes', 'something unknown'];
      const { vectors, dim } = await embedder.embed(texts);
      await embedder.release();
      expect(dim).toBe(4);
      texts.forEach((t, i) => {
        const got = Array.from(vectors.subarray(i * 4, (i + 1) * 4));
        expected(t, pooling).forEach((v, d) => expect(got[d]).toBeCloseTo(v, 6));
      });
    });
  }

  it('indexes with it through the whole pipeline: its id and dim go with every vector', async () => {
    const dir = join(tmp.dir, 'pipeline-model');
    writeTinyHfModel(dir, 'mean');
    const root = join(tmp.dir, 'skills');
    const skills: [string, string][] = [
      ['pdf-tool', 'convert pdf text'],
      ['k8s', 'deploy kubernetes'],
    ];
    for (const [name, description] of skills) {
      mkdirSync(join(root, name), { recursive: true });
      writeFileSync(
        join(root, name, 'SKILL.md'),
        `---\nname: ${name}\ndescription: ${description}\n---\nbody\n`,
      );
    }
    const db = join(tmp.dir, 'tiny.db');
    const summary = await runEmbedded({ sources: [{ root }], db, model: loadModelSpec(dir), threads: 1 });
    const id = loadModelSpec(dir).id;
    expect(summary.model).toEqual({ id, dim: 4 });
    expect(summary.counts).toMatchObject({ seen: 2, indexed: 2, embedded: 2 });
    const r = new Database(db, { readonly: true });
    expect(r.prepare('SELECT DISTINCT model_id, dim FROM skill_embeddings').all()).toEqual([
      { model_id: id, dim: 4 },
    ]);
    expect(r.prepare('SELECT pooling FROM embedding_models').pluck().get()).toBe('mean');
    r.close();
  });

  it('fails the run, instead of hanging, when the workers cannot load the model', async () => {
    const dir = join(tmp.dir, 'truncated');
    writeTinyHfModel(dir, 'mean');
    writeFileSync(join(dir, 'onnx', 'model.onnx'), 'not an onnx file');
    const root = join(tmp.dir, 'skills-broken');
    mkdirSync(join(root, 'a'), { recursive: true });
    writeFileSync(join(root, 'a', 'SKILL.md'), '---\nname: a\ndescription: convert pdf\n---\n');
    const db = join(tmp.dir, 'broken.db');
    await expect(
      runEmbedded({ sources: [{ root }], db, model: loadModelSpec(dir), threads: 2 }),
    ).rejects.toThrow();
    const r = new Database(db, { readonly: true });
    expect(r.prepare('SELECT status FROM index_runs').pluck().all()).toEqual(['failed']);
    r.close();
  }, 60_000);

  it('names what is missing from a folder that is not a model', () => {
    expect(() => loadModelSpec(join(tmp.dir, 'nothing'))).toThrow(/does not exist/);
    writeTinyHfModel(join(tmp.dir, 'broken'), 'mean');
    expect(() => loadModelSpec(tmp.dir)).toThrow(/no tokenizer\.json/);
  });
});
