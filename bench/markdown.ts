/** Markdown output helpers for the benchmark report. */

/** A value not measured (its step failed or was skipped). */
export const MISSING = '—';

/** A markdown table; cells are printed as given, a missing cell as `—`. */
export function table(header: readonly string[], rows: readonly (readonly (string | undefined)[])[]): string {
  const line = (cells: readonly (string | undefined)[]): string =>
    `| ${cells.map((c) => (c ?? MISSING).replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** A number with fixed digits, or `—`. */
export function num(n: number | undefined, digits = 0): string {
  if (n === undefined || !Number.isFinite(n)) return MISSING;
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function seconds(ms: number | undefined, digits = 2): string {
  return ms === undefined ? MISSING : `${num(ms / 1000, digits)} s`;
}

export function mib(kb: number | undefined): string {
  return kb === undefined ? MISSING : `${num(kb / 1024, 0)} MiB`;
}

export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/** Safe division: undefined when either side is missing or the divisor is 0. */
export function ratio(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined || b === 0 ? undefined : a / b;
}

/** The q-quantile (0..1) of `values` by nearest rank; undefined when empty. */
export function percentile(values: readonly number[], q: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}
