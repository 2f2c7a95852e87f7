/**
 * The pipeline against the naive indexer a user could write instead (`sequential-baseline.ts`), for the int8
 * default and the float32 model: fresh databases, pipeline and baseline runs alternating (each its own
 * process), medians. Issue 13's targets: ≥ 2.0× with the default model, ≥ 1.5× with float32.
 *
 * Both walls include loading the model (the pipeline's pool start, the baseline's session), neither includes
 * starting Node and loading modules: what differs is only how the work is organised.
 */
import path from 'node:path';
import type { BenchSource, ChildRun } from './child.js';
import { benchFile, runChild } from './child.js';
import { median, mib, MISSING, num, ratio, seconds, table } from './markdown.js';
import type { PipelineInput, PipelineResult, PipelineRun } from './pipeline-child.js';
import type { Target } from './report.js';
import type { SequentialInput, SequentialResult } from './sequential-baseline.js';

export interface VsBaselineModel {
  /** Label in the tables, e.g. `use-lite-en-int8 (default)`. */
  label: string;
  dir: string;
  /** Target speed-up (baseline wall ÷ pipeline wall, medians). */
  target: number;
}

export interface VsBaselineInput {
  sources: BenchSource[];
  tmp: string;
  threads: number;
  runs: number;
  models: VsBaselineModel[];
  step: <T>(name: string, fn: () => Promise<ChildRun<T>>) => Promise<T | undefined>;
}

export interface VsBaselineRow {
  label: string;
  target: number;
  pipeline: PipelineRun[];
  baseline: SequentialResult[];
  pipelineMedianMs: number | undefined;
  baselineMedianMs: number | undefined;
  /** Baseline median wall ÷ pipeline median wall (same skills, so also the throughput ratio). */
  speedup: number | undefined;
  /**
   * Median over the pipeline runs of the CPU outside the model per skill seen, ms: the run's process CPU (all
   * threads, Node's start-up excluded, the pool's start and model load included) minus the pool threads' CPU
   * inside ORT's session.run. Undefined where the platform does not report a thread's CPU.
   */
  outsideMsPerSkill: number | undefined;
}

/** Issue 13: the work around the model, ≤ 1 ms of CPU per skill. */
export const OUTSIDE_MODEL_TARGET_MS = 1;

/** CPU outside the model per skill seen of one pipeline run, ms. */
export function outsidePerSkill(run: PipelineRun): number | undefined {
  if (run.modelCpuMs === undefined || run.counts.seen === 0) return undefined;
  return (run.cpuMs - run.modelCpuMs) / run.counts.seen;
}

export async function measureVsBaseline(input: VsBaselineInput): Promise<VsBaselineRow[]> {
  const rows: VsBaselineRow[] = [];
  for (const model of input.models) {
    const pipeline: PipelineRun[] = [];
    const baseline: SequentialResult[] = [];
    for (let i = 0; i < input.runs; i++) {
      // Alternate which goes first, so a drift of the machine's speed spreads over both.
      const order = i % 2 === 0 ? (['pipeline', 'baseline'] as const) : (['baseline', 'pipeline'] as const);
      for (const which of order) {
        const db = path.join(input.tmp, `vs-${which}-${rows.length}-${i}.db`);
        if (which === 'pipeline') {
          const r = await input.step(`vs baseline: pipeline ${model.label} ${i + 1}/${input.runs}`, () =>
            runChild<PipelineResult>(benchFile('pipeline-child'), {
              sources: input.sources,
              db,
              modelDir: model.dir,
              threads: input.threads,
              runs: 1,
            } satisfies PipelineInput),
          );
          if (r?.runs[0]) pipeline.push(r.runs[0]);
        } else {
          const r = await input.step(`vs baseline: sequential ${model.label} ${i + 1}/${input.runs}`, () =>
            runChild<SequentialResult>(benchFile('sequential-baseline'), {
              sources: input.sources,
              db,
              modelDir: model.dir,
              threads: input.threads,
            } satisfies SequentialInput),
          );
          if (r) baseline.push(r);
        }
      }
    }
    const pipelineMedianMs = median(pipeline.map((r) => r.wallMs));
    const baselineMedianMs = median(baseline.map((r) => r.wallMs));
    rows.push({
      label: model.label,
      target: model.target,
      pipeline,
      baseline,
      pipelineMedianMs,
      baselineMedianMs,
      speedup: ratio(baselineMedianMs, pipelineMedianMs),
      outsideMsPerSkill: median(pipeline.map(outsidePerSkill).filter((v): v is number => v !== undefined)),
    });
  }
  return rows;
}

/** The table and the target rows of {@link measureVsBaseline}. */
export function vsBaselineSection(
  rows: VsBaselineRow[],
  threads: number,
  runs: number,
): { lines: string[]; targets: Target[] } {
  const first = rows[0]?.baseline[0];
  const lines = [
    '',
    `## Against the sequential baseline (parse → embed alone → autocommit INSERT, one skill at a time; ${runs} alternating runs each, medians)`,
    '',
    `The baseline: 1 ORT session × intra-op ${threads}, batch 1, WAL, synchronous=${first?.synchronous ?? MISSING}, ` +
      'no text dedup, no pipelining. The pipeline: `runEmbedded` with its worker pool. Both walls include the ' +
      'model load; "model load", "in embed" and "in INSERT" split the baseline wall (the rest is crawl + parse). ' +
      '"Pipeline CPU": the process CPU of the run (all threads, Node\'s start-up excluded) and, of it, the pool ' +
      "threads' CPU inside ORT's session.run (each thread's own clock); the difference per skill seen is the work " +
      'outside the model.',
    '',
    table(
      [
        'model',
        'pipeline wall',
        'baseline wall',
        'baseline model load',
        'baseline in embed',
        'baseline in INSERT',
        'peak RSS pipeline / baseline',
        'pipeline CPU: all / in ORT',
        'outside the model, CPU per skill',
        'speed-up',
      ],
      rows.map((r) => [
        r.label,
        `${seconds(r.pipelineMedianMs)} (${r.pipeline.map((p) => num(p.wallMs / 1000, 2)).join(', ')})`,
        `${seconds(r.baselineMedianMs)} (${r.baseline.map((b) => num(b.wallMs / 1000, 2)).join(', ')})`,
        seconds(median(r.baseline.map((b) => b.loadMs))),
        seconds(median(r.baseline.map((b) => b.embedMs))),
        seconds(median(r.baseline.map((b) => b.insertMs))),
        `${mib(median(r.pipeline.map((p) => p.maxRssKb)))} / ${mib(median(r.baseline.map((b) => b.maxRssKb)))}`,
        `${seconds(median(r.pipeline.map((p) => p.cpuMs)))} / ${seconds(median(r.pipeline.flatMap((p) => p.modelCpuMs ?? [])))}`,
        r.outsideMsPerSkill === undefined ? MISSING : `${num(r.outsideMsPerSkill, 2)} ms`,
        `**${num(r.speedup, 2)}×**`,
      ]),
    ),
  ];
  const targets: Target[] = rows.map((r) => ({
    name: `end to end ≥ ${r.target}× the sequential baseline, ${r.label} (medians of ${runs})`,
    measured: `${seconds(r.baselineMedianMs)} ÷ ${seconds(r.pipelineMedianMs)} = ${num(r.speedup, 2)}×`,
    ok: r.speedup === undefined ? undefined : r.speedup >= r.target,
  }));
  const main = rows[0];
  if (main) {
    const runsCpu = main.pipeline.map((p) => `${num(outsidePerSkill(p), 2)}`).join(', ');
    targets.push({
      name: `work outside the model ≤ ${OUTSIDE_MODEL_TARGET_MS} ms CPU per skill, ${main.label} (run CPU − CPU inside ORT, median of ${runs})`,
      measured:
        main.outsideMsPerSkill === undefined ? MISSING : `${num(main.outsideMsPerSkill, 2)} ms (${runsCpu})`,
      ok:
        main.outsideMsPerSkill === undefined ? undefined : main.outsideMsPerSkill <= OUTSIDE_MODEL_TARGET_MS,
    });
  }
  return { lines, targets };
}
