/**
 * Child process: `runEmbedded` over the sources into one database, `runs` times in a row (1 for a fresh
 * index, more for unchanged re-indexes of an existing database). Reports each run's summary and wall time,
 * and the process's peak RSS (all threads, ORT sessions of the pool workers included).
 */
import { loadModelSpec } from '../src/model/model-spec.js';
import { runEmbedded } from '../src/embedded/embedded-run.js';
import type { SourceSpec } from '../src/producer/source.js';
import type { RunCounts } from '../src/shared/records.js';
import { childMain, maxRssKb, type BenchSource } from './child.js';

export interface PipelineInput {
  /** Folders, or full source specs (a git source in the git step). */
  sources: (BenchSource | SourceSpec)[];
  db: string;
  modelDir: string;
  threads: number;
  runs: number;
}

export interface PipelineRun {
  counts: RunCounts;
  status: string;
  /** runEmbedded's own durationMs. */
  durationMs: number;
  /** Around the runEmbedded call, ms (includes opening the database and closing the pool). */
  wallMs: number;
  tokens: number;
  failedSources: number;
  /**
   * Time the main thread (crawl, parse, SQLite writes) was busy during the run, ms (event-loop utilisation).
   * On two cores it competes with the two ORT worker threads, so it shows up in the wall time.
   */
  mainThreadBusyMs: number;
  /** CPU time of the whole process (all threads) during the run, ms. */
  cpuMs: number;
  /** Of cpuMs: the pool threads' CPU inside ORT's session.run (the run summary's `modelCpuMs`; Linux only). */
  modelCpuMs: number | undefined;
  /** Peak RSS of the process after this run, KB. */
  maxRssKb: number;
}

export interface PipelineResult {
  /** Peak RSS before the first run (modules loaded, nothing run yet), KB. */
  startRssKb: number;
  runs: PipelineRun[];
}

childMain<PipelineInput, PipelineResult>(async (input) => {
  const model = loadModelSpec(input.modelDir);
  const startRssKb = maxRssKb();
  const runs: PipelineRun[] = [];
  for (let i = 0; i < input.runs; i++) {
    const elu = performance.eventLoopUtilization();
    const cpu = process.cpuUsage();
    const started = performance.now();
    const summary = await runEmbedded({
      sources: input.sources,
      db: input.db,
      model,
      threads: input.threads,
    });
    const wallMs = performance.now() - started;
    const busy = performance.eventLoopUtilization(elu).active;
    const used = process.cpuUsage(cpu);
    runs.push({
      counts: summary.counts,
      status: summary.status,
      durationMs: summary.durationMs,
      wallMs,
      tokens: summary.tokens,
      failedSources: summary.failedSources.length,
      mainThreadBusyMs: busy,
      cpuMs: (used.user + used.system) / 1000,
      modelCpuMs: summary.modelCpuMs,
      maxRssKb: maxRssKb(),
    });
    process.stderr.write(
      `[bench] pipeline run ${i + 1}/${input.runs}: ${(wallMs / 1000).toFixed(2)} s, ` +
        `seen ${summary.counts.seen}, embedded ${summary.counts.embedded}\n`,
    );
  }
  return { startRssKb, runs };
});
