/**
 * The int8 default model against the float32 one, in the bench: raw ORT throughput of both, paired batch by
 * batch in one process (`model-agreement.ts`; the two separate ceiling runs are shown too), vector agreement over
 * every distinct corpus text, and search quality
 * (`npm run eval` on an index of each model). The acceptance: cosine mean ≥ 0.995 and min ≥ 0.98;
 * eval Recall@5 and MRR within 1 point of float32; raw ORT throughput ≥ 1.8× float32.
 */
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { AgreementInput, AgreementResult } from './model-agreement.js';
import type { CeilingInput, CeilingResult } from './ort-ceiling.js';
import type { PipelineInput, PipelineResult } from './pipeline-child.js';
import { benchFile, runChild, type BenchSource, type ChildRun } from './child.js';
import { MISSING, num, ratio, table } from './markdown.js';

export const INT8_TARGETS = { cosineMean: 0.995, cosineMin: 0.98, evalPoints: 1, speedup: 1.8 };

/** Search quality of one model over the eval queries (k = 10), all queries. */
export interface EvalScores {
  modelId: string;
  r5: Record<string, number>;
  mrr: Record<string, number>;
}

export interface Int8Bench {
  fp32Ceiling: CeilingResult | undefined;
  agreement: AgreementResult | undefined;
  eval: { int8: EvalScores | undefined; fp32: EvalScores | undefined };
}

type Step = <T>(name: string, fn: () => Promise<ChildRun<T>>) => Promise<T | undefined>;

export interface Int8BenchInput {
  sources: BenchSource[];
  threads: number;
  batchSize: number;
  reps: number;
  int8Dir: string;
  fp32Dir: string;
  /** The bench's int8 index of the corpus (source id `skills`), when eval can run on it. */
  int8Db: string | undefined;
  /** Where to build the float32 index for eval; undefined skips eval (not the shared corpus). */
  fp32Db: string | undefined;
  tmp: string;
  /** dist/bench/eval/run-eval.js */
  evalScript: string;
  step: Step;
}

/** `npm run eval` on an index, with the model pinned; its JSON report, reduced to R@5 and MRR per mode. */
async function runEval(script: string, db: string, model: string, out: string): Promise<EvalScores> {
  execFileSync(process.execPath, [script, '--db', db, '--model', model, '--out', out], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const report = JSON.parse(await readFile(out, 'utf8')) as {
    model: { id: string };
    metrics: Record<string, Record<string, { r5: number; mrr: number }>>;
  };
  const r5: Record<string, number> = {};
  const mrr: Record<string, number> = {};
  for (const [mode, groups] of Object.entries(report.metrics)) {
    r5[mode] = groups.all?.r5 ?? NaN;
    mrr[mode] = groups.all?.mrr ?? NaN;
  }
  return { modelId: report.model.id, r5, mrr };
}

export async function measureInt8(input: Int8BenchInput): Promise<Int8Bench> {
  const { step } = input;
  const fp32Ceiling = await step('raw ORT ceiling (float32 model)', () =>
    runChild<CeilingResult>(benchFile('ort-ceiling'), {
      sources: input.sources,
      modelDir: input.fp32Dir,
      threads: input.threads,
      batchSize: input.batchSize,
      reps: input.reps,
    } satisfies CeilingInput),
  );
  const agreement = await step('int8 vs float32 (paired)', () =>
    runChild<AgreementResult>(benchFile('model-agreement'), {
      sources: input.sources,
      referenceDir: input.fp32Dir,
      candidateDir: input.int8Dir,
      intraOpThreads: 1,
      batchSize: input.batchSize,
      passes: input.reps,
    } satisfies AgreementInput),
  );
  const scores: Int8Bench['eval'] = { int8: undefined, fp32: undefined };
  if (input.int8Db && input.fp32Db) {
    const { int8Db, fp32Db } = input;
    const built = await step('float32 index for eval', () =>
      runChild<PipelineResult>(benchFile('pipeline-child'), {
        sources: input.sources,
        db: fp32Db,
        modelDir: input.fp32Dir,
        threads: input.threads,
        runs: 1,
      } satisfies PipelineInput),
    );
    const evalStep = (which: 'int8' | 'fp32', db: string, dir: string): Promise<EvalScores | undefined> =>
      step(`eval (${which})`, async () => {
        const t0 = performance.now();
        const result = await runEval(input.evalScript, db, dir, path.join(input.tmp, `eval-${which}.json`));
        const wallMs = performance.now() - t0;
        return {
          result,
          conditions: { wallMs, ownCpuMs: NaN, machineBusyMs: undefined, otherLoad: undefined },
        };
      });
    scores.int8 = await evalStep('int8', int8Db, input.int8Dir);
    if (built) scores.fp32 = await evalStep('fp32', fp32Db, input.fp32Dir);
  }
  return { fp32Ceiling, agreement, eval: scores };
}

/** Best texts/s of a ceiling run (over its shapes). */
const bestRate = (c: CeilingResult | undefined): number | undefined =>
  c?.shapes.reduce((a, s) => Math.max(a, s.textsPerSec), 0) || undefined;

export interface Int8Target {
  name: string;
  measured: string;
  ok: boolean | undefined;
}

/** The markdown section and the targets of the int8 comparison. */
export function int8Section(
  b: Int8Bench,
  int8Ceiling: CeilingResult | undefined,
  int8Size: number | undefined,
  fp32Size: number | undefined,
): { lines: string[]; targets: Int8Target[] } {
  const fpRate = bestRate(b.fp32Ceiling);
  const i8Rate = bestRate(int8Ceiling);
  const ceilingSpeedup = ratio(i8Rate, fpRate);
  const speedup = b.agreement?.speedup;
  const a = b.agreement;
  const modes = Object.keys(b.eval.int8?.r5 ?? b.eval.fp32?.r5 ?? {});
  const pts = (x: number | undefined): string => (x === undefined ? MISSING : `${num(x * 100, 1)}`);
  /** int8 − float32 in points (×100) for every mode, or undefined without both evals. */
  const evalDeltas = (pick: (s: EvalScores) => Record<string, number>): number[] | undefined => {
    const i = b.eval.int8;
    const f = b.eval.fp32;
    if (!i || !f) return undefined;
    return modes.map((m) => ((pick(i)[m] ?? NaN) - (pick(f)[m] ?? NaN)) * 100);
  };
  const r5Deltas = evalDeltas((s) => s.r5);
  const mrrDeltas = evalDeltas((s) => s.mrr);
  // The target guards against a loss: int8 may score higher than float32 by any amount.
  const worstDrop = (d: number[] | undefined): number | undefined => d && Math.max(0, ...d.map((x) => -x));
  const r5Delta = worstDrop(r5Deltas);
  const mrrDelta = worstDrop(mrrDeltas);
  const signed = (d: number[] | undefined): string =>
    d ? modes.map((m, k) => `${m} ${d[k]! >= 0 ? '+' : ''}${num(d[k], 2)}`).join(', ') : MISSING;
  const lines = [
    '',
    '## int8 model (the default) against float32',
    '',
    table(
      [
        'model',
        'model.onnx',
        'raw ORT texts/s, paired by batch',
        'ceiling texts/s (separate runs)',
        ...modes.flatMap((m) => [`${m} R@5`, `${m} MRR`]),
      ],
      [
        [
          `${b.eval.fp32?.modelId ?? 'use-lite-en (float32)'}`,
          fp32Size === undefined ? MISSING : `${num(fp32Size / 1e6, 1)} MB`,
          num(a?.referenceTextsPerSec, 1),
          num(fpRate, 1),
          ...modes.flatMap((m) => [pts(b.eval.fp32?.r5[m]), num(b.eval.fp32?.mrr[m], 3)]),
        ],
        [
          `${b.eval.int8?.modelId ?? 'use-lite-en-int8'}`,
          int8Size === undefined ? MISSING : `${num(int8Size / 1e6, 1)} MB`,
          `${num(a?.candidateTextsPerSec, 1)} (**${num(speedup, 2)}×**)`,
          `${num(i8Rate, 1)} (${num(ceilingSpeedup, 2)}×)`,
          ...modes.flatMap((m) => [pts(b.eval.int8?.r5[m]), num(b.eval.int8?.mrr[m], 3)]),
        ],
      ],
    ),
    '',
    a
      ? `Vectors over all ${num(a.texts)} distinct corpus texts (same sorted batches of ${a.batchSize}): cosine to float32 ` +
        `mean ${num(a.cosineMean, 5)}, min ${num(a.cosineMin, 5)}; ${num(a.atLeast099 * 100, 1)} % of texts ≥ 0.99.`
      : `Vectors: ${MISSING}`,
  ];
  const targets: Int8Target[] = [
    {
      name: `int8 cosine to float32: mean ≥ ${INT8_TARGETS.cosineMean}, min ≥ ${INT8_TARGETS.cosineMin}`,
      measured: a
        ? `mean ${num(a.cosineMean, 5)}, min ${num(a.cosineMin, 5)} (${num(a.texts)} texts)`
        : MISSING,
      ok: a ? a.cosineMean >= INT8_TARGETS.cosineMean && a.cosineMin >= INT8_TARGETS.cosineMin : undefined,
    },
    {
      name: `int8 eval R@5 and MRR at most ${INT8_TARGETS.evalPoints} point below float32 (every mode)`,
      measured:
        r5Delta === undefined
          ? MISSING
          : `int8 − float32, points: R@5 ${signed(r5Deltas)}; MRR ${signed(mrrDeltas)}`,
      ok:
        r5Delta === undefined || mrrDelta === undefined
          ? undefined
          : r5Delta <= INT8_TARGETS.evalPoints && mrrDelta <= INT8_TARGETS.evalPoints,
    },
    {
      name: `int8 raw ORT throughput ≥ ${INT8_TARGETS.speedup}× float32 (session.run, paired by batch)`,
      measured: `${num(a?.candidateTextsPerSec, 1)} ÷ ${num(a?.referenceTextsPerSec, 1)} texts/s = ${num(speedup, 2)}×`,
      ok: speedup === undefined ? undefined : speedup >= INT8_TARGETS.speedup,
    },
  ];
  return { lines, targets };
}
