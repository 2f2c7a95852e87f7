/** The parts of the bench report every mode prints: the environment, the run conditions and the targets. */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import type { RunConditions } from './child.js';
import { num, seconds, table } from './markdown.js';

/** Share of the machine other processes may use before a measurement is flagged as disturbed. */
export const OTHER_LOAD_WARN = 0.1;

export interface Target {
  name: string;
  measured: string;
  ok: boolean | undefined;
}

const mark = (ok: boolean | undefined): string => (ok === undefined ? '✗ (not measured)' : ok ? '✓' : '✗');

export function packageVersion(name: string): string {
  try {
    const require = createRequire(import.meta.url);
    return (JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8')) as { version: string })
      .version;
  } catch {
    return 'unknown';
  }
}

/** The environment table: rows after the machine's own (model, corpus …) are the caller's. */
export function environmentLines(title: string, threads: number, rows: [string, string][]): string[] {
  const cpus = os.cpus();
  return [
    title,
    '',
    '## Environment',
    '',
    table(
      ['', ''],
      [
        ['node', `${process.version} (${process.platform} ${process.arch})`],
        ['CPU', `${cpus[0]?.model.trim() ?? 'unknown'} × ${cpus.length}`],
        ['thread budget (cpuBudget())', String(threads)],
        ['memory', `${num(os.totalmem() / 2 ** 30, 1)} GiB`],
        ['onnxruntime-node', packageVersion('onnxruntime-node')],
        ...rows,
        ['date', new Date().toISOString()],
      ],
    ),
  ];
}

/** Measurement conditions (with a warning when other processes took the machine), targets, failures. */
export function closingLines(
  conditions: Record<string, RunConditions>,
  targets: readonly Target[],
  errors: Record<string, string>,
): string[] {
  const out: string[] = [];
  // The concurrent re-index is the point of the "during re-index" step, not a disturbance.
  const disturbed = Object.entries(conditions).filter(
    ([name, c]) =>
      !name.includes('during re-index') && c.otherLoad !== undefined && c.otherLoad > OTHER_LOAD_WARN,
  );
  out.push(
    '',
    '## Measurement conditions (each measurement is its own child process, run one at a time)',
    '',
    table(
      ['measurement', 'wall', 'its CPU time', 'machine busy', 'other processes'],
      Object.entries(conditions).map(([name, c]) => [
        name,
        seconds(c.wallMs),
        seconds(c.ownCpuMs),
        seconds(c.machineBusyMs),
        c.otherLoad === undefined
          ? undefined
          : `${num(c.otherLoad * 100, 1)} % of the machine${c.otherLoad > OTHER_LOAD_WARN ? ' ⚠' : ''}`,
      ]),
    ),
  );
  if (disturbed.length > 0) {
    out.push(
      '',
      `⚠ Other processes used more than ${OTHER_LOAD_WARN * 100} % of the machine during ` +
        `${disturbed.map(([n]) => n).join(', ')}: those numbers are low and not comparable; rerun on a quiet machine.`,
    );
  }
  out.push(
    '',
    '## Targets',
    '',
    table(
      ['target', 'measured', ''],
      targets.map((t) => [t.name, t.measured, mark(t.ok)]),
    ),
  );
  if (Object.keys(errors).length > 0) {
    out.push(
      '',
      '## Failed measurements',
      '',
      table(
        ['measurement', 'error'],
        Object.entries(errors).map(([k, v]) => [k, v.split('\n')[0]]),
      ),
    );
  }
  return out;
}
