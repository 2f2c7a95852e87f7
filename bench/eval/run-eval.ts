/**
 * `npm run eval`: search quality of the reader library on the shared corpus, measured against the hand-written
 * relevance judgments in `bench/eval/queries.json`. A benchmark, not a test: it prints markdown tables (stdout),
 * writes `bench-out/eval.json`, and never asserts.
 *
 *   npm run eval                              index the corpus into bench-out/eval-index.db (incremental), then score
 *                                             the test split (the number to report)
 *   npm run eval -- --split tune              the tune split (every setting is chosen on it; also: test, all)
 *   npm run eval -- --db skills.db            score an existing index as it is (no indexing)
 *   npm run eval -- --mode hybrid --mode fts  only these modes (also: --mode hybrid,fts)
 *   npm run eval -- --fresh                   rebuild the cached index from scratch first
 *
 * The queries are split once, by target skill, into tune and test (`split.ts`); settings are chosen on tune and
 * only test is reported. Besides the reader's modes, the table has `rrf60`: a naive reciprocal rank fusion
 * (k 60, equal weights) of the fts and vector lists (50 deep each), the reference point a tuned hybrid must beat.
 *
 * Metrics per mode (k = 10): Recall@1/5/10 = share of queries with at least one relevant skill in the top k;
 * MRR = mean of 1 / rank of the first relevant skill in the top 10 (0 when none is there). Every relevant id
 * is checked against the corpus (a folder with a SKILL.md) before anything runs.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { resolveModelDir } from '../../src/model/default-model.js';
import { loadModelSpec } from '../../src/model/model-spec.js';
import { runEmbedded } from '../../src/embedded/embedded-run.js';
import { openIndex } from '../../src/reader/index.js';
import { reciprocalRankFusion } from '../../src/reader/fusion.js';
import type { SearchMode, SkillIndex } from '../../src/reader/index.js';
import { cpuBudget } from '../../src/workers/cpu-budget.js';
import { median, num, table } from '../markdown.js';
import { splitProblems, splitSizes, type Split } from './split.js';

/** dist/bench/eval/run-eval.js → the repository root. */
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
/** The relevance ids in queries.json are `skills/<owner>__<repo>/<path>`: the corpus root indexed as source `skills`. */
const SOURCE_ID = 'skills';
const K = 10;
const CUTOFFS = [1, 5, 10] as const;
/** How deep a hybrid miss is looked for, to say how far off it is. */
const DEEP_K = 200;
/** `rrf60` is not a reader mode: the eval fuses the fts and vector lists itself (naive RRF, k 60). */
type EvalMode = SearchMode | 'rrf60';
const MODES: readonly EvalMode[] = ['hybrid', 'fts', 'vector', 'rrf60'];
/** How deep each list goes for the naive RRF row. */
const RRF60_DEPTH = 50;
type SplitFlag = Split | 'all';

const USAGE = `usage: npm run eval -- [--split test|tune|all] [--db PATH] [--mode hybrid|fts|vector|rrf60 ...]
                          [--corpus DIR] [--queries FILE] [--model DIR] [--out FILE] [--fresh]
  --split S      which queries to score (default: test, the split to report; choose settings on tune)
  --db PATH      score this existing index as it is (default: index the corpus into bench-out/eval-index.db)
  --mode M       only these modes; repeat it or separate with commas (default: hybrid, fts, vector, rrf60)
  --corpus DIR   the shared corpus root (default: $SKILLSMITH_SHARED_DIR/corpus/skills, else <repo>/../shared/corpus/skills)
  --queries FILE judgments (default: bench/eval/queries.json)
  --model DIR    model folder or built-in name: use-lite-en-int8 (default), use-lite-en (float32)
  --out FILE     JSON report (default: bench-out/eval.json)
  --fresh        delete the cached index first (ignored with --db)`;

const querySchema = z.strictObject({
  query: z.string().min(1),
  relevant: z.array(z.string().startsWith(`${SOURCE_ID}/`)).min(1),
  lang: z.string().min(2),
  /** How the query is phrased: a task description, a symptom, or terse keywords (unset for the v1 queries). */
  style: z.enum(['task', 'symptom', 'keywords']).optional(),
  /** v1: the first 106 queries (the shipped settings were chosen on them); blind: written from needs cards. */
  origin: z.enum(['v1', 'blind']),
  split: z.enum(['tune', 'test']),
  note: z.string().optional(),
});
type Query = z.infer<typeof querySchema>;

interface Flags {
  split: SplitFlag;
  db: string | undefined;
  modes: EvalMode[];
  corpus: string;
  queries: string;
  model: string | undefined;
  out: string;
  fresh: boolean;
}

function fail(message: string): never {
  console.error(`eval: ${message}`);
  process.exit(2);
}

function parseFlags(): Flags {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        split: { type: 'string', default: 'test' },
        db: { type: 'string' },
        mode: { type: 'string', multiple: true },
        corpus: { type: 'string' },
        queries: { type: 'string' },
        model: { type: 'string' },
        out: { type: 'string' },
        fresh: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    fail(`${(err as Error).message}\n${USAGE}`);
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const requested = (values.mode ?? []).flatMap((m) => m.split(',')).map((m) => m.trim());
  for (const m of requested) {
    if (!(MODES as readonly string[]).includes(m))
      fail(`--mode must be one of ${MODES.join(', ')} (got "${m}")`);
  }
  const modes = requested.length > 0 ? MODES.filter((m) => requested.includes(m)) : [...MODES];
  const split = values.split ?? 'test';
  if (split !== 'test' && split !== 'tune' && split !== 'all') {
    fail(`--split must be test, tune or all (got "${split}")`);
  }
  const shared = process.env.SKILLSMITH_SHARED_DIR ?? path.join(REPO, '..', 'shared');
  return {
    split,
    db: values.db,
    modes,
    corpus: path.resolve(values.corpus ?? path.join(shared, 'corpus', 'skills')),
    queries: path.resolve(values.queries ?? path.join(REPO, 'bench', 'eval', 'queries.json')),
    model: values.model,
    out: path.resolve(values.out ?? path.join(REPO, 'bench-out', 'eval.json')),
    fresh: values.fresh ?? false,
  };
}

function loadQueries(file: string): Query[] {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    fail(`cannot read ${file}: ${(err as Error).message}`);
  }
  const parsed = z.array(querySchema).min(1).safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    fail(`${file}: [${issue?.path.join('.')}] ${issue?.message}`);
  }
  // A leak between the splits would make the test numbers optimistic: refuse to score.
  const problems = splitProblems(parsed.data);
  if (problems.length > 0) fail(`${file}: the tune / test split is broken:\n  ${problems.join('\n  ')}`);
  return parsed.data;
}

/** Every judged id must be a skill folder of the corpus: a typo would silently count as a miss forever. */
function checkIdsInCorpus(queries: readonly Query[], corpus: string): void {
  const missing = new Set<string>();
  for (const q of queries) {
    for (const id of q.relevant) {
      const rel = id.slice(SOURCE_ID.length + 1);
      if (!existsSync(path.join(corpus, rel, 'SKILL.md'))) missing.add(id);
    }
  }
  if (missing.size > 0) {
    fail(`${missing.size} relevant id(s) have no SKILL.md under ${corpus}:\n  ${[...missing].join('\n  ')}`);
  }
}

async function buildIndex(flags: Flags, modelDir: string): Promise<string> {
  const db = path.join(REPO, 'bench-out', 'eval-index.db');
  await mkdir(path.dirname(db), { recursive: true });
  if (flags.fresh) for (const suffix of ['', '-wal', '-shm']) await rm(`${db}${suffix}`, { force: true });
  const model = loadModelSpec(modelDir);
  const threads = cpuBudget();
  console.error(
    `eval: indexing ${flags.corpus} → ${path.relative(REPO, db)} (${model.id}, ${threads} threads)`,
  );
  // Incremental: a cached index only re-reads what changed, so repeated runs cost a directory walk.
  const summary = await runEmbedded({ sources: [{ root: flags.corpus, id: SOURCE_ID }], db, model, threads });
  const c = summary.counts;
  console.error(
    `eval: indexed ${c.indexed}, unchanged ${c.unchanged}, failed ${c.failed}, embedded ${c.embedded} ` +
      `in ${(summary.durationMs / 1000).toFixed(1)} s`,
  );
  return db;
}

interface ModeResult {
  /** 1-based rank of the first relevant skill in the top K, or null. */
  rank: number | null;
  /** Top K ids returned. */
  top: string[];
  ms: number;
  /** For hybrid misses: rank of the first relevant skill in the top DEEP_K, and its fts/vector ranks there. */
  deep?: { rank: number | null; ftsRank: number | null; vectorRank: number | null };
}

interface QueryReport extends Query {
  /** Some relevant skill was indexed with a warning (missing / invalid name, long description …). */
  warning: boolean;
  warningCodes: string[];
  /** Relevant ids not found in the index (rejected by the indexer, or a stale --db). */
  notIndexed: string[];
  results: Partial<Record<EvalMode, ModeResult>>;
}

interface Metrics {
  n: number;
  r1: number;
  r5: number;
  r10: number;
  mrr: number;
  medianMs: number | undefined;
}

function firstRelevant(ids: readonly string[], relevant: ReadonlySet<string>): number | null {
  const i = ids.findIndex((id) => relevant.has(id));
  return i < 0 ? null : i + 1;
}

function metrics(reports: readonly QueryReport[], mode: EvalMode): Metrics {
  const rs = reports.flatMap((r) => (r.results[mode] ? [r.results[mode]] : []));
  const n = rs.length;
  const recall = (k: number): number =>
    n === 0 ? NaN : rs.filter((r) => r.rank !== null && r.rank <= k).length / n;
  const [r1, r5, r10] = CUTOFFS.map(recall) as [number, number, number];
  const mrr = n === 0 ? NaN : rs.reduce((s, r) => s + (r.rank === null ? 0 : 1 / r.rank), 0) / n;
  return { n, r1, r5, r10, mrr, medianMs: median(rs.map((r) => r.ms)) };
}

/** The subsets every table is split by, in print order. */
function groups(reports: readonly QueryReport[]): { name: string; reports: QueryReport[] }[] {
  const langs = [...new Set(reports.map((r) => r.lang))].filter((l) => l !== 'en').sort();
  return [
    { name: 'all', reports: [...reports] },
    { name: 'en', reports: reports.filter((r) => r.lang === 'en') },
    { name: 'non-en', reports: reports.filter((r) => r.lang !== 'en') },
    ...langs.map((l) => ({ name: `  ${l}`, reports: reports.filter((r) => r.lang === l) })),
    ...(['task', 'symptom', 'keywords'] as const).map((s) => ({
      name: `style ${s}`,
      reports: reports.filter((r) => r.style === s),
    })),
    { name: 'origin v1', reports: reports.filter((r) => r.origin === 'v1') },
    { name: 'origin blind', reports: reports.filter((r) => r.origin === 'blind') },
    { name: 'indexed with warning', reports: reports.filter((r) => r.warning) },
    { name: 'no warning', reports: reports.filter((r) => !r.warning) },
    // Rejected by the indexer (broken front matter): no ranking can find these until they are recovered.
    { name: 'target not indexed', reports: reports.filter((r) => r.notIndexed.length === r.relevant.length) },
  ].filter((g) => g.name === 'all' || g.reports.length > 0);
}

const pct = (x: number): string => (Number.isFinite(x) ? `${num(x * 100, 1)}%` : '—');

async function main(): Promise<void> {
  const flags = parseFlags();
  const allQueries = loadQueries(flags.queries);
  const queries = flags.split === 'all' ? allQueries : allQueries.filter((q) => q.split === flags.split);
  const sizes = splitSizes(allQueries);
  console.error(
    `eval: split ${flags.split}: ${queries.length} queries (tune ${sizes.tune.queries} / ${sizes.tune.targets} ` +
      `targets, test ${sizes.test.queries} / ${sizes.test.targets} targets)`,
  );
  if (!existsSync(flags.corpus)) fail(`corpus folder ${flags.corpus} does not exist; pass --corpus DIR`);
  checkIdsInCorpus(queries, flags.corpus);

  const needsModel = flags.db === undefined || flags.modes.some((m) => m !== 'fts');
  const log = (m: string): void => console.error(`eval: ${m}`);
  const modelDir =
    needsModel || flags.model !== undefined ? await resolveModelDir(flags.model, { log }) : undefined;
  let db: string;
  if (flags.db !== undefined) {
    db = path.resolve(flags.db);
    if (!existsSync(db)) fail(`--db ${db} does not exist`);
  } else {
    db = await buildIndex(flags, modelDir as string);
  }

  // The model is pinned: an index holding both built-in models' vectors is scored with the one asked for.
  const index: SkillIndex = await openIndex(
    db,
    modelDir !== undefined ? { model: modelDir, modelId: loadModelSpec(modelDir).id } : {},
  );
  const reports: QueryReport[] = [];
  try {
    for (const q of queries) {
      const codes = new Set<string>();
      const notIndexed: string[] = [];
      for (const id of q.relevant) {
        const skill = index.getSkill(id);
        if (!skill) notIndexed.push(id);
        else for (const w of skill.warnings) codes.add(w.code);
      }
      reports.push({ ...q, warning: codes.size > 0, warningCodes: [...codes], notIndexed, results: {} });
    }
    const unjudgeable = reports.filter((r) => r.notIndexed.length === r.relevant.length);
    for (const r of reports.filter((x) => x.notIndexed.length > 0)) {
      console.error(`eval: warning: not in the index: ${r.notIndexed.join(', ')} (query "${r.query}")`);
    }
    if (unjudgeable.length > 0)
      console.error(`eval: ${unjudgeable.length} queries have no indexed relevant skill`);

    for (const mode of flags.modes) {
      // Untimed warm-up: the first vector search loads the ONNX session.
      await index.search('warm up', { k: K, mode: mode === 'rrf60' ? 'vector' : mode });
      for (const r of reports) {
        const relevant = new Set(r.relevant);
        const t0 = performance.now();
        const top =
          mode === 'rrf60' ? await naiveRrf(index, r.query) : await index.search(r.query, { k: K, mode });
        const ms = performance.now() - t0;
        const hits = top.map((h) => h.id);
        const result: ModeResult = { rank: firstRelevant(hits, relevant), top: hits, ms };
        if (mode === 'hybrid' && result.rank === null) {
          const deep = await index.search(r.query, { k: DEEP_K, mode });
          const at = deep.findIndex((h) => relevant.has(h.id));
          const hit = at < 0 ? undefined : deep[at];
          result.deep = {
            rank: at < 0 ? null : at + 1,
            ftsRank: hit?.ftsRank ?? null,
            vectorRank: hit?.vectorRank ?? null,
          };
        }
        r.results[mode] = result;
      }
      console.error(`eval: ${mode}: ${reports.length} queries done`);
    }
  } finally {
    await index.close();
  }

  // ---- report
  const out: string[] = [];
  out.push(`# split: ${flags.split}`, '');
  const warned = reports.filter((r) => r.warning).length;
  const nonEn = reports.filter((r) => r.lang !== 'en').length;
  out.push(
    `## Search quality (${reports.length} queries: ${reports.length - nonEn} en, ${nonEn} non-en, ` +
      `${warned} targeting skills indexed with warnings; k = ${K})`,
    '',
    `index: \`${path.relative(process.cwd(), db) || db}\`, model: ${index.model?.id ?? '—'}`,
    '',
  );
  const byMode: Record<string, Record<string, Metrics>> = {};
  const rows: string[][] = [];
  for (const mode of flags.modes) {
    byMode[mode] = {};
    for (const g of groups(reports)) {
      const m = metrics(g.reports, mode);
      byMode[mode][g.name.trim()] = m;
      rows.push([
        mode,
        g.name,
        String(m.n),
        pct(m.r1),
        pct(m.r5),
        pct(m.r10),
        num(m.mrr, 3),
        num(m.medianMs, 1),
      ]);
    }
  }
  out.push(table(['mode', 'queries', 'n', 'R@1', 'R@5', 'R@10', 'MRR', 'median ms'], rows), '');

  if (flags.modes.length > 1) {
    const compare = groups(reports).map((g) => [
      g.name,
      String(g.reports.length),
      ...flags.modes.flatMap((m) => {
        const x = byMode[m]?.[g.name.trim()];
        return [pct(x?.r10 ?? NaN), num(x?.mrr, 3)];
      }),
    ]);
    out.push(table(['queries', 'n', ...flags.modes.flatMap((m) => [`${m} R@10`, `${m} MRR`])], compare), '');
  }

  const misses = reports.filter((r) => r.results.hybrid && r.results.hybrid.rank === null);
  if (flags.modes.includes('hybrid')) {
    // Worst first: not even in the top DEEP_K, then by how deep the first relevant skill sits.
    const depth = (r: QueryReport): number => r.results.hybrid?.deep?.rank ?? Number.POSITIVE_INFINITY;
    misses.sort((a, b) => depth(b) - depth(a));
    const rank = (x: number | null | undefined): string => (x === null || x === undefined ? '—' : String(x));
    out.push(`### Hybrid misses at ${K} (${misses.length}), worst first`, '');
    out.push(
      table(
        ['query', 'lang', 'warn', `hybrid rank (≤${DEEP_K})`, 'fts rank', 'vector rank', 'wanted', 'got #1'],
        misses.map((r) => [
          r.query,
          r.lang,
          r.warning ? 'yes' : '',
          rank(r.results.hybrid?.deep?.rank),
          rank(r.results.fts?.rank ?? r.results.hybrid?.deep?.ftsRank),
          rank(r.results.vector?.rank ?? r.results.hybrid?.deep?.vectorRank),
          short(r.relevant[0] ?? '') + (r.relevant.length > 1 ? ` (+${r.relevant.length - 1})` : ''),
          short(r.results.hybrid?.top[0] ?? '—'),
        ]),
      ),
      '',
      `fts / vector rank: in that mode's own top ${K} when it was run, else in the lists the k = ${DEEP_K} hybrid ` +
        `search fused (— = in neither). The fused candidate lists grow with k, so the k = ${DEEP_K} hybrid rank ` +
        `can differ from the k = ${K} one.`,
      '',
    );
  }
  // A collapsed embedding (e.g. a script the model's vocabulary lacks, all mapped to one unknown piece) shows as
  // one skill ranked first for many unrelated queries; vector "hits" among those are luck, not retrieval.
  for (const mode of flags.modes) {
    const firsts = new Map<string, number>();
    for (const r of reports) {
      const top = r.results[mode]?.top[0];
      if (top) firsts.set(top, (firsts.get(top) ?? 0) + 1);
    }
    const [topId, count] = [...firsts].sort((a, b) => b[1] - a[1])[0] ?? ['', 0];
    if (count >= 5) {
      out.push(`note: ${mode}: \`${short(topId)}\` is #1 for ${count} of ${reports.length} queries`, '');
    }
  }
  process.stdout.write(`${out.join('\n')}\n`);

  await mkdir(path.dirname(flags.out), { recursive: true });
  const report = {
    generatedAt: new Date().toISOString(),
    db,
    model: index.model ?? null,
    corpus: flags.corpus,
    queriesFile: path.relative(REPO, flags.queries),
    split: flags.split,
    k: K,
    modes: flags.modes,
    metrics: byMode,
    hybridMisses: misses.map((r) => r.query),
    queries: reports,
  };
  await writeFile(flags.out, `${JSON.stringify(report, null, 2)}\n`);
  console.error(`eval: wrote ${path.relative(process.cwd(), flags.out) || flags.out}`);
}

/** The reference fusion: fts and vector lists, RRF k 60, equal weights (what the issue calls naive RRF). */
async function naiveRrf(index: SkillIndex, query: string): Promise<{ id: string }[]> {
  const [fts, vector] = [
    await index.search(query, { k: RRF60_DEPTH, mode: 'fts' }),
    await index.search(query, { k: RRF60_DEPTH, mode: 'vector' }),
  ];
  return reciprocalRankFusion([fts.map((h) => h.id), vector.map((h) => h.id)], { k: 60 }).slice(0, K);
}

/** `skills/owner__repo/a/b/skill` → `owner__repo/…/skill`, for narrow table cells. */
function short(id: string): string {
  const parts = id.split('/');
  if (parts.length <= 3) return parts.slice(1).join('/') || id;
  return `${parts[1]}/…/${parts[parts.length - 1]}`;
}

main().catch((err: unknown) => {
  console.error(`eval: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  process.exit(1);
});
