import { loadModelSpec, type ModelSpec } from '../model/model-spec.js';
import { ERROR_CODES, IndexerError } from '../shared/errors.js';
import type { IndexModel } from './types.js';

/**
 * The model folder whose vectors match the index's, checked: a query embedded by another model would rank
 * garbage without any error, so a mismatch is refused.
 */
export function checkModelFolder(dir: string, model: IndexModel): ModelSpec {
  const spec = loadModelSpec(dir);
  if (spec.id !== model.id || spec.dim !== model.dim) {
    throw new IndexerError(
      ERROR_CODES.MODEL,
      `model folder ${spec.dir} is ${spec.id} (dim ${spec.dim}) but the index's vectors are ${model.id} ` +
        `(dim ${model.dim}): pass that model's folder as model (--model)`,
    );
  }
  return spec;
}
