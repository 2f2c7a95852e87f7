import { z } from 'zod';
import { ERROR_CODES, IndexerError } from '../shared/errors.js';
import type { SearchOptions } from './types.js';

/**
 * The zod schema of {@link SearchOptions}. A module of its own, imported on the first `search()` call only:
 * loading zod costs about 80 ms of CPU, more than a one-shot full-text search takes, and the CLI, whose flags
 * commander has already checked, calls {@link SkillIndexImpl.searchChecked} without it.
 */
const listOf = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);
const SearchOptionsSchema = z
  .object({
    k: z.number().int().min(1).max(1000).default(10),
    mode: z.enum(['hybrid', 'fts', 'vector']).default('hybrid'),
    filters: z
      .object({
        sourceId: listOf.optional(),
        pathPrefix: z.string().optional(),
        license: listOf.optional(),
        strict: z.boolean().optional(),
        excludeWarnings: listOf.optional(),
      })
      .strict()
      .optional(),
    fold: z.boolean().default(false),
  })
  .strict();

/** Search options once checked, defaults filled in. */
export type CheckedSearchOptions = z.infer<typeof SearchOptionsSchema>;

export function parseSearchOptions(options: SearchOptions | undefined): CheckedSearchOptions {
  const r = SearchOptionsSchema.safeParse(options ?? {});
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const name = issue?.path.join('.') || 'options';
  throw new IndexerError(ERROR_CODES.BAD_OPTION, `search option ${name}: ${issue?.message ?? 'is invalid'}`);
}
