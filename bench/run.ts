/**
 * `npm run bench`: throughput, re-index, memory and a baseline on the shared corpus, all measured in this run,
 * printed as markdown tables (stdout) and saved as JSON (`bench-out/latest.json`). A benchmark, not a test:
 * it never asserts; the "targets" table says ✓/✗.
 *
 *   npm run bench                    full corpus: <repo>/../shared/corpus/skills ($SKILLSMITH_SHARED_DIR/corpus/skills)
 *   npm run bench -- --quick         two small sub-folders only, no 10× run (smoke run, ~20 s)
 *   npm run bench -- --corpus DIR    another folder of skills
 *   npm run bench -- --scale-only    the 1× end-to-end run and the 20× corpus section only
 *
 * Every measurement runs in its own child process, one after another (two cores: concurrent measurements
 * would measure each other), so heaps, ORT sessions and peak RSS never mix.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { copyFile, cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ensureBuiltinModel, ensureDefaultModel } from '../src/model/default-model.js';
import { loadModelSpec } from '../src/model/model-spec.js';
import type { SourceSpec } from '../src/producer/source.js';
import { cpuBudget } from '../src/workers/cpu-budget.js';
import { DEFAULT_MAX_BATCH } from '../src/workers/ort-batch.js';
import { benchFile, runChild, type BenchSource, type ChildRun, type RunConditions } from './child.js';
import { median, mib, MISSING, num, percentile, ratio, seconds, table } from './markdown.js';
import { defaultCorpusDir } from './corpus-texts.js';
import type { CeilingInput, CeilingResult } from './ort-ceiling.js';
import type { PipelineInput, PipelineResult, PipelineRun } from './pipeline-child.js';
import { measureVsBaseline, vsBaselineSection } from './vs-baseline.js';
import type { QueryLatencyInput, QueryLatencyResult } from './query-latency.js';
import { measureDistributed, type DistributedBench } from './distributed.js';
import { measureCliStartup, type CliStartupResult } from './cli-startup.js';
import { int8Section, measureInt8, type Int8Bench } from './int8-model.js';
import { measureScale, SCALE_COPIES, scaleSection, type ScaleBench } from './scale.js';
import { closingLines, environmentLines, packageVersion, type Target } from './report.js';

/** dist/bench/run.js → the repository root. */
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Sub-folders of the shared corpus that make the --quick slice. */
const QUICK_SLICE = ['anthropics__skills', 'obra__superpowers'];
/** Skills in the full shared corpus (SKILL.md files), for the "all accounted" target. */
const SHARED_CORPUS_SKILLS = 1467;
const REINDEX_RUNS = 3;
const COPIES = 10;
/** The ceiling runs ORT calls of the size the pipeline's embedder makes. */
const CEILING_BATCH = DEFAULT_MAX_BATCH;
/** Runs of each ceiling shape; the best counts (a ceiling is the best the hardware does). */
const CEILING_REPS = 2;
const TARGETS = { ratio: 0.9, reindexSpeedup: 50, rssKb: 1024 * 1024, distributedRatio: 0.9 };
/** Alternating embedded / distributed runs (each a fresh database). */
const DIST_RUNS = 5; // issue 13 asks for at least 5 alternating runs
/** Pipeline / sequential-baseline pairs per model (fresh databases, alternating). */
const VS_BASELINE_RUNS = 3;
/** Runs of each CLI start-up command (after one warm-up each), alternating. */
const CLI_RUNS = 9;
/** CLI start-up targets: median wall of a whole process, ms. */
const CLI_TARGETS = { help: 150, fts: 300, hybrid: 600 };

const USAGE = `usage: npm run bench -- [--quick | --scale-only] [--corpus DIR]
  --quick       only ${QUICK_SLICE.join(' + ')} (or the first two sub-folders), no 10× or ${SCALE_COPIES}× run
  --scale-only  only the 1× end-to-end run and the ${SCALE_COPIES}× corpus section (its texts/s is compared with the 1× run)
  --corpus DIR  folder of skills (default: $SKILLSMITH_SHARED_DIR/corpus/skills, else <repo>/../shared/corpus/skills)`;

function parseFlags(): { quick: boolean; scaleOnly: boolean; corpus: string | undefined } {
  try {
    const { values } = parseArgs({
      options: {
        quick: { type: 'boolean', default: false },
        'scale-only': { type: 'boolean', default: false },
        corpus: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    });
    if (values.help) {
      console.log(USAGE);
      process.exit(0);
    }
    if (values.quick && values['scale-only']) throw new Error('--quick and --scale-only exclude each other');
    return { quick: values.quick ?? false, scaleOnly: values['scale-only'] ?? false, corpus: values.corpus };
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    process.exit(2);
  }
}

function corpusSources(corpus: string, quick: boolean): BenchSource[] {
  if (!existsSync(corpus) || !statSync(corpus).isDirectory()) {
    console.error(
      `bench: corpus folder ${corpus} does not exist; pass --corpus DIR or set SKILLSMITH_SHARED_DIR`,
    );
    process.exit(2);
  }
  if (!quick) return [{ root: corpus }];
  const named = QUICK_SLICE.filter((n) => existsSync(path.join(corpus, n)));
  const names =
    named.length > 0
      ? named
      : readdirSync(corpus, { withFileTypes: true })
          .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
          .map((e) => e.name)
          .sort()
          .slice(0, 2);
  return names.map((n) => ({ root: path.join(corpus, n) }));
}

interface StepLog {
  errors: Record<string, string>;
  conditions: Record<string, RunConditions>;
}

/**
 * Runs one measurement (a child process) and keeps the conditions it ran under; a failure is reported and
 * recorded, and the other measurements still run.
 */
async function step<T>(name: string, log: StepLog, fn: () => Promise<ChildRun<T>>): Promise<T | undefined> {
  process.stderr.write(`[bench] ${name}…\n`);
  try {
    const { result, conditions } = await fn();
    log.conditions[name] = conditions;
    const other =
      conditions.otherLoad === undefined ? '' : `, other load ${num(conditions.otherLoad * 100, 0)} %`;
    process.stderr.write(`[bench] ${name}: done in ${seconds(conditions.wallMs, 1)}${other}\n`);
    return result;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    log.errors[name] = message;
    process.stderr.write(`[bench] ${name} FAILED: ${message}\n`);
    return undefined;
  }
}

async function main(): Promise<void> {
  const flags = parseFlags();
  const corpus = path.resolve(flags.corpus ?? defaultCorpusDir());
  const sources = corpusSources(corpus, flags.quick);
  const expectedSeen = !flags.quick && flags.corpus === undefined ? SHARED_CORPUS_SKILLS : undefined;
  const threads = cpuBudget();
  const modelDir = await ensureDefaultModel({ log: (m) => process.stderr.write(`[bench] ${m}\n`) });
  const spec = loadModelSpec(modelDir);
  const fp32Dir = await ensureBuiltinModel('use-lite-en', {
    log: (m) => process.stderr.write(`[bench] ${m}\n`),
  });
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'skillsmith-bench-'));
  const errors: Record<string, string> = {};
  const conditions: Record<string, RunConditions> = {};
  const log: StepLog = { errors, conditions };
  const loadAtStart = os.loadavg();
  const benchStarted = performance.now();

  try {
    const queries = (
      JSON.parse(await readFile(path.join(REPO, 'bench', 'eval', 'queries.json'), 'utf8')) as {
        query: string;
      }[]
    ).map((q) => q.query);
    // 1–2. Texts + raw ORT ceiling.
    const ceiling = flags.scaleOnly
      ? undefined
      : await step('raw ORT ceiling', log, () =>
          runChild<CeilingResult>(benchFile('ort-ceiling'), {
            sources,
            modelDir,
            threads,
            batchSize: CEILING_BATCH,
            reps: CEILING_REPS,
          } satisfies CeilingInput),
        );

    // 3. Pipeline end-to-end, fresh database.
    const db = path.join(tmp, 'index.db');
    const first = await step('pipeline end-to-end', log, () =>
      runChild<PipelineResult>(benchFile('pipeline-child'), {
        sources,
        db,
        modelDir,
        threads,
        runs: 1,
      } satisfies PipelineInput),
    );
    const scaleInput = {
      corpus,
      tmp,
      modelDir,
      threads,
      queries,
      step: <T>(name: string, fn: () => Promise<ChildRun<T>>) => step(name, log, fn),
    };
    if (flags.scaleOnly) {
      const scale = await measureScale(scaleInput);
      const section = scaleSection(scale, first?.runs[0]);
      const envRows: [string, string][] = [
        ['model', spec.id],
        ['corpus', corpus],
        ['load average at start (1/5/15 min)', loadAtStart.map((l) => num(l, 2)).join(' / ')],
      ];
      const out = [
        ...environmentLines('# skillsmith bench (--scale-only)', threads, envRows),
        ...section.lines,
        ...closingLines(conditions, section.targets, errors),
        '',
        `_Bench wall time: ${seconds(performance.now() - benchStarted, 1)}. JSON: bench-out/latest-scale.json._`,
      ];
      console.log(out.join('\n'));
      const json = {
        date: new Date().toISOString(),
        pipeline: first ?? null,
        scale,
        targets: section.targets,
        conditions,
        loadAtStart,
        errors,
      };
      await mkdir(path.join(REPO, 'bench-out'), { recursive: true });
      await writeFile(
        path.join(REPO, 'bench-out', 'latest-scale.json'),
        `${JSON.stringify(json, null, 2)}\n`,
      );
      return;
    }

    // 4. Unchanged re-index of the same database, in a second process (as a scheduled job would run).
    const reindex = first
      ? await step('unchanged re-index', log, () =>
          runChild<PipelineResult>(benchFile('pipeline-child'), {
            sources,
            db,
            modelDir,
            threads,
            runs: REINDEX_RUNS,
          } satisfies PipelineInput),
        )
      : undefined;

    // 5. 10× corpus: ten symlinked copies of the corpus as ten sources (source ids = link names).
    const tenX = flags.quick
      ? undefined
      : await step('10× corpus memory', log, async () => {
          const copies = path.join(tmp, 'copies');
          await mkdir(copies);
          const tenSources: BenchSource[] = [];
          for (let i = 0; i < COPIES; i++) {
            const link = path.join(copies, `copy-${i}`);
            await symlink(corpus, link, 'dir');
            tenSources.push({ root: link });
          }
          return runChild<PipelineResult>(benchFile('pipeline-child'), {
            sources: tenSources,
            db: path.join(tmp, 'tenx.db'),
            modelDir,
            threads,
            runs: 1,
          } satisfies PipelineInput);
        });

    // 5b. 20× corpus of distinct texts: throughput, memory and the reader at scale.
    const scale: ScaleBench | undefined = flags.quick ? undefined : await measureScale(scaleInput);

    // 6. Against the sequential baseline, int8 default and float32, alternating runs (bench/vs-baseline.ts).
    const vsBaseline = await measureVsBaseline({
      sources,
      tmp,
      threads,
      runs: flags.quick ? 1 : VS_BASELINE_RUNS,
      models: [
        {
          label: `${path.basename(modelDir).replace(/-[0-9a-f]{12}$/, '')} (default)`,
          dir: modelDir,
          target: 2.0,
        },
        { label: 'use-lite-en (float32)', dir: fp32Dir, target: 1.5 },
      ],
      step: (name, fn) => step(name, log, fn),
    });

    // 7. Query latency: a reader on the full index, idle, then while a re-index writes to the same file
    //    (a copy of the index, crawled again under a second source id: ~1,400 new rows, vectors reused).
    const modes: QueryLatencyInput['modes'] = ['hybrid', 'fts', 'vector'];
    const idleQueries = first
      ? await step('query latency (idle)', log, () =>
          runChild<QueryLatencyResult>(benchFile('query-latency'), {
            db,
            modelDir,
            queries,
            modes,
            minPasses: 3,
          } satisfies QueryLatencyInput),
        )
      : undefined;
    const busyQueries = first
      ? await step('query latency (during re-index)', log, async () => {
          const busyDb = path.join(tmp, 'busy.db');
          await copyFile(db, busyDb);
          const link = path.join(tmp, 'second-source');
          await symlink(corpus, link, 'dir');
          const stopFile = path.join(tmp, 'writer-done');
          const reader = runChild<QueryLatencyResult>(benchFile('query-latency'), {
            db: busyDb,
            modelDir,
            queries,
            modes,
            minPasses: 1,
            stopFile,
          } satisfies QueryLatencyInput);
          const writer = runChild<PipelineResult>(benchFile('pipeline-child'), {
            sources: [{ root: link }],
            db: busyDb,
            modelDir,
            threads,
            runs: 1,
          } satisfies PipelineInput);
          const written = await writer.finally(() => writeFile(stopFile, ''));
          const read = await reader;
          read.result.writerWallMs = written.result.runs[0]?.wallMs;
          return read;
        })
      : undefined;

    // 8. A git source: the corpus committed into a temp repository, indexed through `file://`, then re-indexed
    //    unchanged (one fetch; no blob read, nothing embedded).
    const gitRuns = flags.quick
      ? undefined
      : await step('git source: first index + unchanged re-index', log, async () => {
          const repo = path.join(tmp, 'corpus-repo');
          await mkdir(repo);
          const git = (...args: string[]): void => {
            execFileSync('git', ['-c', 'core.hooksPath=/dev/null', ...args], { cwd: repo, stdio: 'ignore' });
          };
          git('init', '-q', '-b', 'main');
          await cp(corpus, repo, { recursive: true });
          git('add', '-A');
          git('-c', 'user.name=bench', '-c', 'user.email=bench@localhost', 'commit', '-q', '-m', 'corpus');
          const gitSource: SourceSpec = { id: 'corpus-git', kind: 'git', location: `file://${repo}` };
          const gitDb = path.join(tmp, 'git.db');
          const firstRun = await runChild<PipelineResult>(benchFile('pipeline-child'), {
            sources: [gitSource],
            db: gitDb,
            modelDir,
            threads,
            runs: 1,
          } satisfies PipelineInput);
          const again = await runChild<PipelineResult>(benchFile('pipeline-child'), {
            sources: [gitSource],
            db: gitDb,
            modelDir,
            threads,
            runs: REINDEX_RUNS,
          } satisfies PipelineInput);
          return {
            result: { first: firstRun.result.runs[0], again: again.result.runs },
            conditions: again.conditions,
          };
        });

    // 9. The int8 default against the float32 model: raw ORT, vector agreement, eval (shared corpus only: the
    //    eval judgments name its skills).
    const int8: Int8Bench = await measureInt8({
      sources,
      threads,
      batchSize: CEILING_BATCH,
      reps: CEILING_REPS,
      int8Dir: modelDir,
      fp32Dir,
      int8Db: first && expectedSeen !== undefined ? db : undefined,
      fp32Db: expectedSeen !== undefined ? path.join(tmp, 'fp32.db') : undefined,
      tmp,
      evalScript: path.join(REPO, 'dist', 'bench', 'eval', 'run-eval.js'),
      step: (name, fn) => step(name, log, fn),
    });
    const int8Out = int8Section(
      int8,
      ceiling,
      statSync(spec.onnxPath).size,
      statSync(loadModelSpec(fp32Dir).onnxPath).size,
    );

    // 10. CLI start-up: whole processes, on the index of step 3.
    let cli: CliStartupResult[] = [];
    if (first) {
      process.stderr.write('[bench] CLI start-up…\n');
      const query = 'turn slides into a pdf handout';
      cli = measureCliStartup(
        path.join(REPO, 'dist', 'bin', 'skillsmith-index.js'),
        [
          { name: '--help', args: ['--help'], targetMs: CLI_TARGETS.help },
          {
            name: 'search --mode fts',
            args: ['search', query, '--db', db, '--mode', 'fts'],
            targetMs: CLI_TARGETS.fts,
          },
          { name: 'search (hybrid)', args: ['search', query, '--db', db], targetMs: CLI_TARGETS.hybrid },
        ],
        CLI_RUNS,
      );
    }

    // ---- derived numbers ----
    // The ceiling is the pool's shape (N workers × intra-op 1), unless the other shape did better: with fewer
    // batches than workers (a tiny --quick slice) one thread idles, and the ceiling is the best the hardware does.
    const poolShape = ceiling?.shapes.find((s) => s.intraOpThreads === 1);
    const best = ceiling?.shapes.reduce((a, b) => (b.textsPerSec > a.textsPerSec ? b : a));
    const ceilingShape = poolShape && best && best.textsPerSec > poolShape.textsPerSec ? best : poolShape;
    const run1: PipelineRun | undefined = first?.runs[0];
    const e2eSec = run1 ? run1.wallMs / 1000 : undefined;
    const e2eSkillsPerSec = run1 && e2eSec ? run1.counts.seen / e2eSec : undefined;
    const e2eTextsPerSec = run1 && e2eSec ? run1.counts.embedded / e2eSec : undefined;
    const e2eRatio = ratio(e2eTextsPerSec, ceilingShape?.textsPerSec);
    const reTimes = reindex?.runs.map((r) => r.wallMs) ?? [];
    const reMedian = median(reTimes);
    const reSpeedup = ratio(run1?.wallMs, reMedian);
    const reEmbedded = reindex?.runs.map((r) => r.counts.embedded);
    const tenRun = tenX?.runs[0];
    const accounted = run1 ? run1.counts.indexed + run1.counts.failed : undefined;
    const accountedOk =
      run1 && accounted !== undefined
        ? accounted === run1.counts.seen && (expectedSeen === undefined || run1.counts.seen === expectedSeen)
        : undefined;

    // 9. Distributed mode (Redis + BullMQ: one writer, one worker with the pool, the producer) against the
    // embedded mode on the same corpus, both as CLI processes, alternating.
    let dist: DistributedBench | undefined;
    process.stderr.write('[bench] distributed vs embedded…\n');
    try {
      dist = await measureDistributed({
        cli: path.join(REPO, 'dist', 'bin', 'skillsmith-index.js'),
        roots: sources.map((s) => s.root),
        tmp,
        threads,
        runs: flags.quick ? 1 : DIST_RUNS,
        redisUrl: process.env.REDIS_URL,
      });
    } catch (err) {
      errors['distributed vs embedded'] = err instanceof Error ? err.message : String(err);
      process.stderr.write(`[bench] distributed vs embedded FAILED: ${errors['distributed vs embedded']}\n`);
    }
    const distEmbeddedMs = median(dist?.embedded.map((r) => r.wallMs) ?? []);
    const distDistributedMs = median(dist?.distributed.map((r) => r.wallMs) ?? []);
    // Same skills either way: throughput ratio = inverse ratio of wall times.
    const distRatio = ratio(distEmbeddedMs, distDistributedMs);

    // ---- tables ----
    const out: string[] = [];
    const cpus = os.cpus();
    const envRows: [string, string][] = [
      ['model', `${spec.id} (dim ${spec.dim}, ≤ ${spec.maxTokens} tokens, pooling ${spec.pooling})`],
      [
        'corpus',
        `${corpus}${flags.quick ? ` (slice: ${sources.map((s) => path.basename(s.root)).join(', ')})` : ''}`,
      ],
      ['load average at start (1/5/15 min)', loadAtStart.map((l) => num(l, 2)).join(' / ')],
    ];
    out.push(
      ...environmentLines(`# skillsmith bench${flags.quick ? ' (--quick)' : ''}`, threads, envRows),
      '',
      '## Texts (crawlDir + parseSkill, text = skillText, distinct)',
      '',
      table(
        [
          'skills seen',
          'valid',
          'rejected',
          'distinct texts',
          'tokens mean / max',
          'crawl + parse',
          'tokenize',
        ],
        [
          [
            num(ceiling?.corpus.seen),
            num(ceiling?.corpus.valid),
            num(ceiling?.corpus.rejected),
            num(ceiling?.corpus.uniqueTexts),
            ceiling ? `${num(ceiling.tokens.mean, 1)} / ${ceiling.tokens.max}` : undefined,
            seconds(ceiling?.corpus.crawlParseMs),
            seconds(ceiling?.tokens.tokenizeMs),
          ],
        ],
      ),
      '',
      `## Raw ORT ceiling (session.run only, best of ${CEILING_REPS}; sorted batches of ${CEILING_BATCH}, ${num(ceiling?.batches)} batches, padding efficiency ${num((ceiling?.tokens.paddingEfficiency ?? NaN) * 100, 1)} %)`,
      '',
      table(
        [
          'shape',
          'texts',
          'wall',
          'texts/s',
          'tokens/s',
          'per-thread busy',
          `texts/s of the ${CEILING_REPS} runs`,
        ],
        (ceiling?.shapes ?? []).map((s) => [
          `${s.workers} worker thread${s.workers > 1 ? 's' : ''} × intra-op ${s.intraOpThreads}${s === ceilingShape ? ' **← the ceiling**' : ''}${s === poolShape ? ' (pool shape)' : ' (reference)'}`,
          num(s.texts),
          seconds(s.wallMs),
          num(s.textsPerSec, 1),
          num(s.tokensPerSec, 0),
          s.busyMs.map((b) => seconds(b)).join(', '),
          s.allTextsPerSec.map((t) => num(t, 1)).join(', '),
        ]),
      ),
      ...int8Out.lines,
      '',
      `## Pipeline end-to-end (runEmbedded, fresh DB, threads = ${threads})`,
      '',
      table(
        [
          'wall',
          'seen',
          'indexed',
          'failed',
          'embedded',
          'skills/s',
          'texts/s',
          'texts/s ÷ ceiling',
          'peak RSS',
          'main thread busy',
          'process CPU',
        ],
        [
          [
            seconds(run1?.wallMs),
            num(run1?.counts.seen),
            num(run1?.counts.indexed),
            num(run1?.counts.failed),
            num(run1?.counts.embedded),
            num(e2eSkillsPerSec, 1),
            num(e2eTextsPerSec, 1),
            num(e2eRatio, 3),
            mib(run1?.maxRssKb),
            seconds(run1?.mainThreadBusyMs),
            seconds(run1?.cpuMs),
          ],
        ],
      ),
      '',
      `## Unchanged re-index (same DB, second process, ${REINDEX_RUNS} runs)`,
      '',
      table(
        ['run', 'wall', 'seen', 'unchanged', 'indexed', 'embedded', 'speed-up vs first index'],
        [
          ...(reindex?.runs ?? []).map((r, i) => [
            String(i + 1),
            `${num(r.wallMs, 1)} ms`,
            num(r.counts.seen),
            num(r.counts.unchanged),
            num(r.counts.indexed),
            num(r.counts.embedded),
            `${num(ratio(run1?.wallMs, r.wallMs), 1)}×`,
          ]),
          ['**median**', `${num(reMedian, 1)} ms`, '', '', '', '', `**${num(reSpeedup, 1)}×**`],
        ],
      ),
    );
    if (!flags.quick) {
      out.push(
        '',
        `## ${COPIES}× corpus memory (${COPIES} symlinked copies = ${COPIES} sources, fresh DB)`,
        '',
        table(
          ['run', 'sources', 'seen', 'indexed', 'embedded', 'wall', 'skills/s', 'peak RSS'],
          [
            [
              '1×',
              String(sources.length),
              num(run1?.counts.seen),
              num(run1?.counts.indexed),
              num(run1?.counts.embedded),
              seconds(run1?.wallMs),
              num(e2eSkillsPerSec, 1),
              mib(run1?.maxRssKb),
            ],
            [
              `${COPIES}×`,
              String(COPIES),
              num(tenRun?.counts.seen),
              num(tenRun?.counts.indexed),
              num(tenRun?.counts.embedded),
              seconds(tenRun?.wallMs),
              num(tenRun ? tenRun.counts.seen / (tenRun.wallMs / 1000) : undefined, 1),
              `${mib(tenRun?.maxRssKb)} (${num(ratio(tenRun?.maxRssKb, run1?.maxRssKb), 2)}× the 1× run)`,
            ],
          ],
        ),
        '',
        `Identical texts are embedded once per run, so the ${COPIES}× run embeds about what the 1× run does: ` +
          `its extra memory is crawl, parse, dedup lookups and writing ${COPIES}× the rows, not inference.`,
      );
    }
    const scaleOut = scale && scaleSection(scale, run1);
    if (scaleOut) out.push(...scaleOut.lines);
    const vsBaselineOut = vsBaselineSection(vsBaseline, threads, flags.quick ? 1 : VS_BASELINE_RUNS);
    out.push(...vsBaselineOut.lines);
    const gitFirst = gitRuns?.first;
    const gitAgain = gitRuns?.again ?? [];
    const gitMedian = median(gitAgain.map((r) => r.wallMs));
    const gitSpeedup = ratio(gitFirst?.wallMs, gitMedian);
    out.push(
      '',
      '## git source (the corpus committed into a temp repository, indexed through file://)',
      '',
      table(
        ['run', 'wall', 'seen', 'indexed', 'unchanged', 'embedded', 'speed-up vs first'],
        [
          [
            'first index',
            seconds(gitFirst?.wallMs),
            num(gitFirst?.counts.seen),
            num(gitFirst?.counts.indexed),
            num(gitFirst?.counts.unchanged),
            num(gitFirst?.counts.embedded),
            '1.0×',
          ],
          ...gitAgain.map((r, i) => [
            `unchanged re-index ${i + 1}`,
            `${num(r.wallMs, 1)} ms`,
            num(r.counts.seen),
            num(r.counts.indexed),
            num(r.counts.unchanged),
            num(r.counts.embedded),
            `${num(ratio(gitFirst?.wallMs, r.wallMs), 1)}×`,
          ]),
          ['**median**', `${num(gitMedian, 1)} ms`, '', '', '', '', `**${num(gitSpeedup, 1)}×**`],
        ],
      ),
    );
    out.push(
      '',
      `## Query latency (openIndex + search, k = 10, ${queries.length} eval queries per pass; ms per search)`,
      '',
      table(
        [
          'mode',
          'idle p50',
          'idle p95',
          'during re-index p50',
          'during re-index p95',
          'searches (idle / busy)',
        ],
        modes.map((m) => {
          const idle = idleQueries?.latenciesMs[m] ?? [];
          const busy = busyQueries?.latenciesMs[m] ?? [];
          return [
            m,
            num(percentile(idle, 0.5), 1),
            num(percentile(idle, 0.95), 1),
            num(percentile(busy, 0.5), 1),
            num(percentile(busy, 0.95), 1),
            `${idle.length} / ${busy.length}`,
          ];
        }),
      ),
      '',
      `During re-index: a second source (~1,400 new rows, vectors reused) written to a copy of the index in ` +
        `${seconds(busyQueries?.writerWallMs)} while the reader searched it; reader errors: ` +
        `${busyQueries ? busyQueries.errors.length + (idleQueries?.errors.length ?? 0) : MISSING}.`,
    );

    out.push(
      '',
      `## CLI start-up (whole processes, median of ${CLI_RUNS} alternating runs after a warm-up; ms)`,
      '',
      table(
        ['command', 'median', 'min – max', 'target'],
        cli.map((c) => [
          `\`${c.command.replace(db, 'INDEX')}\`${c.failed ? ` (${c.failed} failed)` : ''}`,
          num(c.medianMs, 0),
          c.allMs.length ? `${num(Math.min(...c.allMs), 0)} – ${num(Math.max(...c.allMs), 0)}` : MISSING,
          `≤ ${c.targetMs}`,
        ]),
      ),
    );
    out.push(
      '',
      '## Distributed mode vs embedded (CLI processes, same corpus, alternating runs)',
      '',
      `Embedded: \`index\` on a fresh database. Distributed: fresh \`write\` + one \`work\` (${threads} threads) ready, ` +
        `then \`produce\` until the writer finished the run; Redis ${dist?.redis ?? MISSING}. The worker loads its ` +
        'model before it is ready (as deployed workers have); the embedded time includes its session load. ' +
        'All processes share the same cores.',
      '',
      table(
        ['run', 'embedded wall', 'distributed wall', 'embedded texts', 'distributed texts'],
        [
          ...(dist?.embedded ?? []).map((e, i) => {
            const d = dist?.distributed[i];
            return [String(i + 1), seconds(e.wallMs), seconds(d?.wallMs), num(e.embedded), num(d?.embedded)];
          }),
          [
            '**median**',
            seconds(distEmbeddedMs),
            seconds(distDistributedMs),
            '',
            `**throughput ratio ${num(distRatio, 3)}**`,
          ],
        ],
      ),
    );

    const targets: Target[] = [
      {
        name: `e2e texts/s ÷ ceiling texts/s ≥ ${TARGETS.ratio}`,
        measured: `${num(e2eTextsPerSec, 1)} ÷ ${num(ceilingShape?.textsPerSec, 1)} = ${num(e2eRatio, 3)}`,
        ok: e2eRatio === undefined ? undefined : e2eRatio >= TARGETS.ratio,
      },
      {
        name: `unchanged re-index speed-up ≥ ${TARGETS.reindexSpeedup}×`,
        measured: `${seconds(run1?.wallMs)} ÷ ${num(reMedian, 1)} ms = ${num(reSpeedup, 1)}×`,
        ok: reSpeedup === undefined ? undefined : reSpeedup >= TARGETS.reindexSpeedup,
      },
      {
        name: 'embedded on re-index = 0',
        measured: reEmbedded ? reEmbedded.join(', ') : MISSING,
        ok: reEmbedded && reEmbedded.length > 0 ? reEmbedded.every((n) => n === 0) : undefined,
      },
      {
        name: 'peak RSS < 1 GiB (1× corpus)',
        measured: mib(run1?.maxRssKb),
        ok: run1 ? run1.maxRssKb < TARGETS.rssKb : undefined,
      },
    ];
    if (!flags.quick) {
      targets.push({
        name: `unchanged git source re-index ≥ ${TARGETS.reindexSpeedup}× faster, 0 embedded`,
        measured: `${seconds(gitFirst?.wallMs)} ÷ ${num(gitMedian, 1)} ms = ${num(gitSpeedup, 1)}×; embedded ${gitAgain.map((r) => r.counts.embedded).join(', ') || MISSING}`,
        ok:
          gitSpeedup === undefined || gitAgain.length === 0
            ? undefined
            : gitSpeedup >= TARGETS.reindexSpeedup && gitAgain.every((r) => r.counts.embedded === 0),
      });
      targets.push({
        name: `peak RSS < 1 GiB (${COPIES}× corpus)`,
        measured: mib(tenRun?.maxRssKb),
        ok: tenRun ? tenRun.maxRssKb < TARGETS.rssKb : undefined,
      });
    }
    targets.push({
      name: `distributed throughput ≥ ${TARGETS.distributedRatio} × embedded (queue overhead < 10 %)`,
      measured: `${seconds(distEmbeddedMs)} ÷ ${seconds(distDistributedMs)} = ${num(distRatio, 3)}`,
      ok: distRatio === undefined ? undefined : distRatio >= TARGETS.distributedRatio,
    });
    targets.push(...vsBaselineOut.targets);
    if (scaleOut) targets.push(...scaleOut.targets);
    targets.push(...int8Out.targets);
    for (const c of cli) {
      targets.push({
        name: `CLI \`${c.name}\` median ≤ ${c.targetMs} ms`,
        measured: `${num(c.medianMs, 0)} ms`,
        ok: c.medianMs === undefined || c.failed > 0 ? undefined : c.medianMs <= c.targetMs,
      });
    }
    targets.push({
      name: `all skills accounted: indexed + failed = seen${expectedSeen !== undefined ? ` = ${expectedSeen}` : ''}`,
      measured: run1
        ? `${run1.counts.indexed} + ${run1.counts.failed} = ${accounted}; seen ${run1.counts.seen}` +
          (ceiling ? ` (bench crawl: ${ceiling.corpus.seen})` : '')
        : MISSING,
      ok: accountedOk,
    });
    out.push(...closingLines(conditions, targets, errors));
    const totalMs = performance.now() - benchStarted;
    out.push('', `_Bench wall time: ${seconds(totalMs, 1)}. JSON: bench-out/latest.json._`);
    console.log(out.join('\n'));

    const json = {
      date: new Date().toISOString(),
      quick: flags.quick,
      env: {
        node: process.version,
        platform: `${process.platform} ${process.arch}`,
        cpu: cpus[0]?.model.trim(),
        cpus: cpus.length,
        threads,
        totalMemBytes: os.totalmem(),
        onnxruntimeNode: packageVersion('onnxruntime-node'),
        model: {
          id: spec.id,
          dim: spec.dim,
          maxTokens: spec.maxTokens,
          pooling: spec.pooling,
          dir: modelDir,
        },
      },
      corpus: { dir: corpus, sources: sources.map((s) => s.root), expectedSeen },
      ceiling,
      int8,
      cliStartup: cli,
      pipeline: first && {
        ...first,
        derived: {
          skillsPerSec: e2eSkillsPerSec,
          textsPerSec: e2eTextsPerSec,
          ratioToCeiling: e2eRatio,
          ceilingTextsPerSec: ceilingShape?.textsPerSec,
        },
      },
      reindex: reindex && { ...reindex, derived: { medianWallMs: reMedian, speedup: reSpeedup } },
      tenX: tenX ?? null,
      scale: scale ?? null,
      queryLatency: { idle: idleQueries ?? null, duringReindex: busyQueries ?? null },
      gitSource: gitRuns ?? null,
      distributed: dist
        ? {
            ...dist,
            derived: {
              embeddedMedianMs: distEmbeddedMs,
              distributedMedianMs: distDistributedMs,
              ratio: distRatio,
            },
          }
        : null,
      vsBaseline,
      targets,
      conditions,
      loadAtStart,
      errors,
      benchWallMs: totalMs,
    };
    const outDir = path.join(REPO, 'bench-out');
    await mkdir(outDir, { recursive: true });
    await writeFile(path.join(outDir, 'latest.json'), `${JSON.stringify(json, null, 2)}\n`);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

await main();
