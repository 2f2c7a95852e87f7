import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { z } from 'zod';
import { IndexerError, ERROR_CODES } from '../shared/errors.js';

/** How token vectors become one sentence vector. */
export const Pooling = z.enum(['in-graph', 'mean', 'cls']);
export type Pooling = z.infer<typeof Pooling>;

/**
 * `skillsmith.json` in a model folder: what the loader needs beyond the Hugging Face files.
 * Optional: without it the loader reads sentence-transformers' `1_Pooling/config.json`, else assumes mean.
 */
const SkillsmithModelFile = z.object({
  id: z.string().min(1),
  dim: z.number().int().positive(),
  pooling: Pooling,
  /** Whether the JS side must L2-normalise (false when the graph already does). */
  normalize: z.boolean().default(true),
  maxTokens: z.number().int().positive().default(512),
  onnx: z.string().optional(),
  output: z.string().optional(),
});

/** A loaded description of a model folder: everything a worker needs to embed with it. */
export interface ModelSpec {
  /** Recorded with every vector; readers embed queries with the model this names. */
  id: string;
  dim: number;
  pooling: Pooling;
  normalize: boolean;
  maxTokens: number;
  dir: string;
  onnxPath: string;
  tokenizerPath: string;
  /** Graph output to read; undefined = the first output. */
  output: string | undefined;
}

function readJson(path: string, what: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (cause) {
    throw new IndexerError(ERROR_CODES.MODEL, `cannot read ${what} ${path}: ${(cause as Error).message}`, {
      cause,
    });
  }
}

function parseOrThrow<T>(schema: z.ZodType<T>, data: unknown, file: string): T {
  const r = schema.safeParse(data);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new IndexerError(
      ERROR_CODES.MODEL,
      `${file}: ${issue?.path.join('.') || '(root)'} ${issue?.message ?? 'is invalid'}`,
    );
  }
  return r.data;
}

/**
 * Reads a Hugging Face-layout ONNX model folder (`onnx/model.onnx` or `model.onnx`, `tokenizer.json`,
 * `config.json`) and its declared pooling. Works for the built-in USE-lite folder and for exports of
 * all-MiniLM-L6-v2, bge-small and the like, so changing the model needs no code change.
 */
export function loadModelSpec(dirArg: string): ModelSpec {
  const dir = resolve(dirArg);
  if (!existsSync(dir)) throw new IndexerError(ERROR_CODES.MODEL, `model folder ${dir} does not exist`);
  const tokenizerPath = join(dir, 'tokenizer.json');
  if (!existsSync(tokenizerPath)) {
    throw new IndexerError(ERROR_CODES.MODEL, `model folder ${dir} has no tokenizer.json`);
  }
  const own = join(dir, 'skillsmith.json');
  if (existsSync(own)) {
    const f = parseOrThrow(SkillsmithModelFile, readJson(own, 'model file'), own);
    const onnxPath = f.onnx ? join(dir, f.onnx) : findOnnx(dir);
    return { ...f, dir, onnxPath, tokenizerPath, output: f.output };
  }
  // A plain Hugging Face / sentence-transformers export.
  const config = parseOrThrow(
    z.object({
      hidden_size: z.number().int().positive(),
      max_position_embeddings: z.number().int().optional(),
    }),
    readJson(join(dir, 'config.json'), 'model config'),
    join(dir, 'config.json'),
  );
  let pooling: Pooling = 'mean';
  const poolingFile = join(dir, '1_Pooling', 'config.json');
  if (existsSync(poolingFile)) {
    const p = readJson(poolingFile, 'pooling config') as Record<string, unknown>;
    if (p.pooling_mode_cls_token === true) pooling = 'cls';
    else if (p.pooling_mode_mean_tokens !== true) {
      throw new IndexerError(ERROR_CODES.MODEL, `${poolingFile}: only mean or CLS pooling is supported`);
    }
  }
  const onnxPath = findOnnx(dir);
  return {
    id: folderModelId(dir, onnxPath, tokenizerPath),
    dim: config.hidden_size,
    pooling,
    normalize: true,
    maxTokens: Math.min(config.max_position_embeddings ?? 512, 512),
    dir,
    onnxPath,
    tokenizerPath,
    output: undefined,
  };
}

/**
 * The id of a folder without `skillsmith.json`: its name plus a short hash of its config, tokenizer and ONNX
 * size, so two different models that happen to sit in folders with the same name never share a vector set.
 * (Hashing the ONNX bytes would cost a read of the whole model in every worker thread; its size and the
 * config change together with it in practice.)
 */
function folderModelId(dir: string, onnxPath: string, tokenizerPath: string): string {
  const hash = createHash('sha256')
    .update(readFileSync(join(dir, 'config.json')))
    .update(readFileSync(tokenizerPath))
    .update(String(statSync(onnxPath).size))
    .digest('hex')
    .slice(0, 12);
  return `${basename(dir)}@${hash}`;
}

function findOnnx(dir: string): string {
  for (const candidate of [join(dir, 'onnx', 'model.onnx'), join(dir, 'model.onnx')]) {
    if (existsSync(candidate)) return candidate;
  }
  throw new IndexerError(ERROR_CODES.MODEL, `model folder ${dir} has neither onnx/model.onnx nor model.onnx`);
}
