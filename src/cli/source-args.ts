import { parseSourceArg } from '../producer/source-arg.js';
import { loadSourcesFile } from '../producer/sources-file.js';
import type { SourceSpec } from '../producer/source.js';

/**
 * The sources a command is given: the entries of `--sources FILE` first, then the positional arguments. One
 * reading for `index`, `produce`, `backfill` and `schedule set`, so a source means the same to each.
 */
export function sourcesFromArgs(args: string[], file: string | undefined): SourceSpec[] {
  return [...(file ? loadSourcesFile(file) : []), ...args.map(parseSourceArg)];
}
