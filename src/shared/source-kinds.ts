import { z } from 'zod';

/**
 * The kinds of source the indexer can crawl, declared once: the type, the zod enum of every schema that reads a
 * kind (sources file, queued jobs) and the switches on a kind all come from this list. To add a kind, add it
 * here and change what the typecheck then points to (each switch on a kind ends in {@link unhandledKind}).
 */
export const SOURCE_KINDS = ['dir', 'git', 'github'] as const;

/** One of {@link SOURCE_KINDS}. */
export type SourceKind = (typeof SOURCE_KINDS)[number];

/** The zod enum of {@link SOURCE_KINDS}, for every schema that reads a kind. */
export const SourceKindSchema = z.enum(SOURCE_KINDS);

/**
 * The default branch of a switch on a source kind. Its parameter is `never`, so a kind the switch has no case
 * for is a type error at the call; at run time (a kind that slipped past validation) it throws.
 */
export function unhandledKind(kind: never): never {
  throw new Error(`unhandled source kind "${String(kind)}"`);
}
