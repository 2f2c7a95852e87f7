import { IndexerError, ERROR_CODES } from '../shared/errors.js';

/**
 * A CLI integer flag: `threads must be an integer ≥ 1 (got 0)`. Plain code rather than zod: every command's
 * definition uses it, and zod would add its load time to `--help`.
 */
export function intFlag(name: string, min: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isInteger(n) || n < min) {
      throw new IndexerError(ERROR_CODES.BAD_OPTION, `--${name} must be an integer ≥ ${min} (got ${value})`);
    }
    return n;
  };
}

/** Prints one machine-readable JSON object on stdout (the `--json` contract). */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}
