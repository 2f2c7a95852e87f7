/**
 * Start-up of the CLI as a user meets it: whole `node dist/bin/skillsmith-index.js …` processes, one at a time, the
 * commands alternating (so a drift of the machine's speed spreads over all of them), after one untimed warm-up
 * each (the OS file cache). Wall time from spawn to exit, median over the runs.
 */
import { spawnSync } from 'node:child_process';
import { median } from './markdown.js';

export interface CliStartupCase {
  name: string;
  args: string[];
  /** Target median wall, ms. */
  targetMs: number;
}

export interface CliStartupResult {
  name: string;
  command: string;
  targetMs: number;
  medianMs: number | undefined;
  allMs: number[];
  failed: number;
}

export function measureCliStartup(cli: string, cases: CliStartupCase[], runs: number): CliStartupResult[] {
  const timings = cases.map(() => [] as number[]);
  const failures = cases.map(() => 0);
  for (let run = -1; run < runs; run++) {
    cases.forEach((c, i) => {
      const t0 = performance.now();
      const r = spawnSync(process.execPath, [cli, ...c.args], { stdio: ['ignore', 'ignore', 'pipe'] });
      const ms = performance.now() - t0;
      if (r.status !== 0) failures[i]!++;
      else if (run >= 0) timings[i]!.push(ms);
    });
  }
  return cases.map((c, i) => ({
    name: c.name,
    command: `skillsmith-index ${c.args.map((a) => (/\s/.test(a) ? `"${a}"` : a)).join(' ')}`,
    targetMs: c.targetMs,
    medianMs: median(timings[i]!),
    allMs: timings[i]!,
    failed: failures[i]!,
  }));
}
