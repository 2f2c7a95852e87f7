import { builtinModelNameOf, builtinModelSpec, ensureBuiltinModel } from '../model/default-model.js';
import type { ModelSpec } from '../model/model-spec.js';
import { ERROR_CODES, IndexerError } from '../shared/errors.js';
import type { Embedder } from '../workers/embedder.js';
import type { IndexModel } from './types.js';

/** Query vectors remembered (hybrid + repeated queries embed once). 128 × 2 KB. */
const CACHE_SIZE = 128;

/**
 * Embeds query texts in this process with the index's model, loaded on first use (a reader that only runs
 * full-text searches never loads ONNX, not even its module). The index's vectors decide the model: an index
 * whose live vectors are `use-lite-en@…` (float32) is queried with that model even though the default is now
 * the int8 variant, because a query vector from another model would rank garbage. One ORT session, one intra-op thread: a query is one short text.
 */
export class QueryEmbedder {
  private embedder: Promise<Embedder> | undefined;
  private readonly cache = new Map<string, Float32Array>();

  constructor(
    private readonly model: IndexModel,
    private readonly modelDir: string | undefined,
  ) {}

  private load(): Promise<Embedder> {
    if (this.embedder) return this.embedder;
    const loading = (async () => {
      let spec: ModelSpec;
      if (this.modelDir === undefined) {
        const builtin = builtinModelNameOf(this.model.id);
        if (builtin === undefined) {
          throw new IndexerError(
            ERROR_CODES.MODEL,
            `the index's vectors are from model ${this.model.id}, which is not a built-in model: ` +
              `pass its folder as model (--model DIR) to run vector or hybrid searches`,
          );
        }
        // The built-in model's id is the index's by construction (builtinModelNameOf matched it).
        spec = builtinModelSpec(builtin, await ensureBuiltinModel(builtin));
      } else {
        spec = (await import('./model-folder-check.js')).checkModelFolder(this.modelDir, this.model);
      }
      const { createEmbedder } = await import('../workers/embedder.js');
      return createEmbedder(spec, { intraOpThreads: 1, maxBatch: 1 });
    })();
    this.embedder = loading;
    // A failed load is not cached: the next search retries (and reports the error again).
    loading.catch(() => {
      if (this.embedder === loading) this.embedder = undefined;
    });
    return loading;
  }

  /** The unit-length vector of one text. */
  async embed(text: string): Promise<Float32Array> {
    const hit = this.cache.get(text);
    if (hit) {
      // Map order is insertion order: re-insert to mark as recently used.
      this.cache.delete(text);
      this.cache.set(text, hit);
      return hit;
    }
    const embedder = await this.load();
    const { vectors } = await embedder.embed([text]);
    this.cache.set(text, vectors);
    if (this.cache.size > CACHE_SIZE) this.cache.delete(this.cache.keys().next().value as string);
    return vectors;
  }

  /** Releases the ORT session if one was loaded. */
  async release(): Promise<void> {
    const pending = this.embedder;
    this.embedder = undefined;
    if (pending) await pending.then((e) => e.release()).catch(() => {});
  }
}
