/**
 * The scale section of the bench: a 20× corpus of distinct texts (`scale-corpus.ts`: perturbed copies, so
 * nothing dedups and the run embeds ~20× the texts of the 1× run), indexed into a fresh database, re-indexed
 * unchanged, then searched by a reader. Targets (issue 13): texts/s within 10 % of the 1× run, peak RSS < 1 GiB,
 * reader hybrid p95 < 50 ms and reader RSS < 300 MiB; the reader's int8 vector scan (with exact rerank) finds the
 * exact scan's top 10 (recall@10 ≥ 0.99).
 */
import { existsSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { benchFile, runChild, type ChildRun } from './child.js';
import { median, mib, MISSING, num, percentile, ratio, seconds, table } from './markdown.js';
import type { PipelineInput, PipelineResult, PipelineRun } from './pipeline-child.js';
import type { QueryLatencyInput, QueryLatencyResult } from './query-latency.js';
import { buildScaleCorpus, type ScaleCorpusStats } from './scale-corpus.js';
import type { VectorRecallInput, VectorRecallResult } from './vector-recall.js';

export const SCALE_COPIES = 20;
export const SCALE_TARGETS = {
  /** texts/s of the 20× run ÷ texts/s of the 1× run. */
  textsPerSecRatio: 0.9,
  rssKb: 1024 * 1024,
  readerP95Ms: 50,
  readerRssKb: 300 * 1024,
  recallAt10: 0.99,
};
const REINDEX_RUNS = 3;
const MODES: QueryLatencyInput['modes'] = ['hybrid', 'fts', 'vector'];

type Step = <T>(name: string, fn: () => Promise<ChildRun<T>>) => Promise<T | undefined>;

export interface ScaleBench {
  copies: number;
  corpus: (ScaleCorpusStats & { buildMs: number }) | undefined;
  first: PipelineRun | undefined;
  reindex: PipelineRun[];
  /** The database after the first index: main file and WAL, bytes. */
  dbBytes: number | undefined;
  walBytes: number | undefined;
  reader: QueryLatencyResult | undefined;
  recall: VectorRecallResult | undefined;
}

export interface ScaleInput {
  corpus: string;
  tmp: string;
  modelDir: string;
  threads: number;
  queries: string[];
  step: Step;
}

const fileBytes = (file: string): number => (existsSync(file) ? statSync(file).size : 0);

export async function measureScale(input: ScaleInput): Promise<ScaleBench> {
  const { step } = input;
  const dir = path.join(input.tmp, 'scale');
  await mkdir(dir);
  process.stderr.write(`[bench] building the ${SCALE_COPIES}× corpus (perturbed copies)…\n`);
  const built = buildScaleCorpus(input.corpus, dir, SCALE_COPIES);
  process.stderr.write(`[bench] ${SCALE_COPIES}× corpus built in ${seconds(built.buildMs, 1)}\n`);
  const db = path.join(input.tmp, 'scale.db');
  const pipeline = (runs: number): Promise<ChildRun<PipelineResult>> =>
    runChild<PipelineResult>(benchFile('pipeline-child'), {
      sources: built.sources,
      db,
      modelDir: input.modelDir,
      threads: input.threads,
      runs,
    } satisfies PipelineInput);
  const first = await step(`${SCALE_COPIES}× corpus: first index`, () => pipeline(1));
  const dbBytes = first ? fileBytes(db) : undefined;
  const walBytes = first ? fileBytes(`${db}-wal`) : undefined;
  const reindex = first
    ? await step(`${SCALE_COPIES}× corpus: unchanged re-index`, () => pipeline(REINDEX_RUNS))
    : undefined;
  const reader = first
    ? await step(`${SCALE_COPIES}× corpus: reader`, () =>
        runChild<QueryLatencyResult>(benchFile('query-latency'), {
          db,
          modelDir: input.modelDir,
          queries: input.queries,
          modes: MODES,
          minPasses: 1,
        } satisfies QueryLatencyInput),
      )
    : undefined;
  const recall = first
    ? await step(`${SCALE_COPIES}× corpus: vector recall@10 vs exact scan`, () =>
        runChild<VectorRecallResult>(benchFile('vector-recall'), {
          db,
          modelDir: input.modelDir,
          queries: input.queries,
          k: 10,
        } satisfies VectorRecallInput),
      )
    : undefined;
  return {
    copies: SCALE_COPIES,
    corpus: { ...built.stats, buildMs: built.buildMs },
    first: first?.runs[0],
    reindex: reindex?.runs ?? [],
    dbBytes,
    walBytes,
    reader,
    recall,
  };
}

interface ScaleTarget {
  name: string;
  measured: string;
  ok: boolean | undefined;
}

/** The scale tables and targets, against the 1× end-to-end run of the same bench. */
export function scaleSection(
  b: ScaleBench,
  run1: PipelineRun | undefined,
): { lines: string[]; targets: ScaleTarget[] } {
  const rate = (r: PipelineRun | undefined): number | undefined =>
    r ? r.counts.embedded / (r.wallMs / 1000) : undefined;
  const oneRate = rate(run1);
  const bigRate = rate(b.first);
  const rateRatio = ratio(bigRate, oneRate);
  const reMedian = median(b.reindex.map((r) => r.wallMs));
  const hybrid = b.reader?.latenciesMs.hybrid ?? [];
  const hybridP95 = percentile(hybrid, 0.95);
  const c = b.corpus;
  const row = (
    label: string,
    r: PipelineRun | undefined,
    extra: string | undefined,
  ): (string | undefined)[] => [
    label,
    num(r?.counts.seen),
    num(r?.counts.indexed),
    num(r?.counts.embedded),
    seconds(r?.wallMs),
    num(rate(r), 1),
    mib(r?.maxRssKb),
    seconds(r?.cpuMs),
    extra,
  ];
  const lines = [
    '',
    `## ${b.copies}× corpus of distinct texts (perturbed copies, ${b.copies} sources, fresh DB)`,
    '',
    c
      ? `${b.copies} copies of the corpus, built in ${seconds(c.buildMs, 1)} (not timed below). Every skill's name ` +
        `gets \`-<word>\` and its description \` <word>\`, one word per copy (alfa … tango): ${num(c.yaml)} ` +
        `SKILL.md edited as YAML, ${num(c.lines)} by their name/description lines (front matter the parser ` +
        `recovers), ${num(c.folderOnly)} without front matter through their folder name; ${num(c.renamed)} ` +
        `folders renamed with their skill, so name/folder warnings match the 1× corpus.`
      : MISSING,
    '',
    table(
      ['run', 'seen', 'indexed', 'embedded', 'wall', 'texts/s', 'peak RSS', 'process CPU', 'database'],
      [
        row('1× (end-to-end above)', run1, undefined),
        row(
          `${b.copies}×`,
          b.first,
          b.dbBytes === undefined
            ? undefined
            : `${num(b.dbBytes / 2 ** 20, 0)} MiB (+ WAL ${num((b.walBytes ?? 0) / 2 ** 20, 0)} MiB)`,
        ),
      ],
    ),
    '',
    `texts/s ${b.copies}× ÷ 1×: **${num(rateRatio, 3)}**; embedded ${num(b.first?.counts.embedded)} = ` +
      `${num(ratio(b.first?.counts.embedded, run1?.counts.embedded), 2)}× the 1× run. Unchanged re-index ` +
      `(second process, ${REINDEX_RUNS} runs): ${b.reindex.map((r) => `${num(r.wallMs, 0)} ms`).join(', ') || MISSING}, ` +
      `median **${seconds(reMedian)}**, embedded ${b.reindex.map((r) => r.counts.embedded).join(', ') || MISSING}.`,
    '',
    `Reader (\`openIndex\`, k = 10, every eval query once per mode after a warm-up; ms per search), peak RSS ` +
      `**${mib(b.reader?.maxRssKb)}**, errors ${b.reader ? b.reader.errors.length : MISSING}:`,
    '',
    table(
      ['mode', 'p50', 'p95', 'max', 'searches'],
      MODES.map((m) => {
        const l = b.reader?.latenciesMs[m] ?? [];
        return [
          m,
          num(percentile(l, 0.5), 1),
          num(percentile(l, 0.95), 1),
          num(l.length ? Math.max(...l) : undefined, 1),
          num(l.length),
        ];
      }),
    ),
    '',
    b.recall
      ? `Vector search (int8 scan of ${num(b.recall.vectors)} vectors, exact rerank of the best ≥ 64) against an ` +
        `exact float32 scan, over ${num(b.recall.queries)} eval queries: recall@10 **${num(b.recall.recall, 4)}**, ` +
        `${num(b.recall.queriesBelowOne)} queries with a different top 10, ${num(b.recall.sameOrder)} in the same order.`
      : `Vector recall@10: ${MISSING}`,
  ];
  const t = SCALE_TARGETS;
  const targets: ScaleTarget[] = [
    {
      name: `${b.copies}× corpus: texts/s ≥ ${t.textsPerSecRatio} × the 1× run`,
      measured: `${num(bigRate, 1)} ÷ ${num(oneRate, 1)} = ${num(rateRatio, 3)}`,
      ok: rateRatio === undefined ? undefined : rateRatio >= t.textsPerSecRatio,
    },
    {
      name: `${b.copies}× corpus: peak RSS < 1 GiB`,
      measured: mib(b.first?.maxRssKb),
      ok: b.first ? b.first.maxRssKb < t.rssKb : undefined,
    },
    {
      name: `${b.copies}× corpus: reader hybrid p95 < ${t.readerP95Ms} ms`,
      measured: `p50 ${num(percentile(hybrid, 0.5), 1)} ms, p95 ${num(hybridP95, 1)} ms`,
      ok: hybridP95 === undefined ? undefined : hybridP95 < t.readerP95Ms,
    },
    {
      name: `${b.copies}× corpus: reader peak RSS < ${t.readerRssKb / 1024} MiB`,
      measured: mib(b.reader?.maxRssKb),
      ok: b.reader ? b.reader.maxRssKb < t.readerRssKb : undefined,
    },
    {
      name: `${b.copies}× corpus: reader vector recall@10 against the exact scan ≥ ${t.recallAt10}`,
      measured: num(b.recall?.recall, 4),
      ok: b.recall ? b.recall.recall >= t.recallAt10 : undefined,
    },
  ];
  return { lines, targets };
}
