import { z } from 'zod';
import { ERROR_CODES, IndexerError } from '../shared/errors.js';

/**
 * Options of {@link openIndex}, validated once when the index opens. In a module of its own so that opening an
 * index without options (a one-shot CLI search) never loads zod (about 80 ms of CPU).
 */
export const OpenIndexOptionsSchema = z
  .object({
    /**
     * Model folder used to embed queries, or a built-in model's name (`use-lite-en-int8`, `use-lite-en`).
     * Default: the built-in model the index's vectors come from (built on first use); any other model must be
     * given here for vector and hybrid searches.
     */
    model: z.string().min(1).optional(),
    /** Which model's vectors to search when several coexist. Default: the one with the most vectors. */
    modelId: z.string().min(1).optional(),
    /** How long a statement waits on a lock before SQLITE_BUSY. Default 5000. */
    busyTimeoutMs: z.number().int().min(0).default(5000),
  })
  .strict();

/** Options of {@link openIndex} (see {@link OpenIndexOptionsSchema} for defaults). */
export type OpenIndexOptions = z.input<typeof OpenIndexOptionsSchema>;
export type CheckedOpenOptions = z.infer<typeof OpenIndexOptionsSchema>;

export function parseOpenOptions(options: OpenIndexOptions): CheckedOpenOptions {
  const r = OpenIndexOptionsSchema.safeParse(options);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  throw new IndexerError(
    ERROR_CODES.BAD_OPTION,
    `${issue?.path.join('.') || 'options'}: ${issue?.message ?? 'is invalid'}`,
  );
}
