import { z } from 'zod';
import { IndexerError, ERROR_CODES } from '../shared/errors.js';

/** A CLI integer flag: `threads must be an integer ≥ 1 (got 0)`. */
export function intFlag(name: string, min: number): (value: string) => number {
  return (value) => {
    const r = z.coerce.number().int().min(min).safeParse(value);
    if (!r.success || value.trim() === '') {
      throw new IndexerError(ERROR_CODES.BAD_OPTION, `--${name} must be an integer ≥ ${min} (got ${value})`);
    }
    return r.data;
  };
}

/** Prints one machine-readable JSON object on stdout (the `--json` contract). */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}
