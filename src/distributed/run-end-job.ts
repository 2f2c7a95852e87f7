import type { Job } from 'bullmq';
import { isErrorCode } from '../shared/errors.js';
import {
  RunEndJobSchema,
  type DistributedRunSummary,
  type RunEndJob,
} from '../shared/distributed-messages.js';
import type { RunCounts } from '../shared/records.js';
import { releaseEndedRun } from './run-progress.js';
import { malformedJob } from './malformed-job.js';
import { currentRun, runWaitKey, waitFor, type WriterJobContext } from './writer-job-context.js';

/**
 * `write` job `run-end`: the producer's crawl ended. Once every source of the run is closed, the run is finished
 * with the written totals, its source locks released, and its summary returned (the CLI's exit status reads it).
 */
export async function runEndJob(ctx: WriterJobContext, job: Job, token?: string): Promise<unknown> {
  const parsed = RunEndJobSchema.safeParse(job.data);
  if (!parsed.success) throw malformedJob('run-end', parsed.error);
  const e = parsed.data;
  const { writer } = ctx;
  const jlog = ctx.log.child({ runKey: e.runKey, jobId: job.id });
  const run = currentRun(ctx, e.runKey, e.attempt, 'run-end', jlog);
  if (!run) return { stale: true };
  const runId = run.id;
  let done = writer.sourcesDone(runId, e.attempt);
  let missing = e.sources.filter((s) => !done.some((d) => d.sourceId === s.id));
  // An abandoned run (its crawl failed for good) ends now: its sources that never closed get no tombstones.
  const outcome = e.abandon
    ? 'ready'
    : await waitFor(ctx, job, token, {
        key: runWaitKey(e.runKey, e.attempt),
        ready: () => {
          done = writer.sourcesDone(runId, e.attempt);
          missing = e.sources.filter((s) => !done.some((d) => d.sourceId === s.id));
          return missing.length === 0;
        },
      });
  const counts = runCounts(e, writer.runTotals(runId, e.attempt));
  const timedOut = done.filter((d) => d.timedOut).map((d) => d.sourceId);
  const { status, message } =
    outcome === 'timeout' || timedOut.length > 0
      ? {
          status: 'failed' as const,
          message:
            `sources not completed: ${[...missing.map((s) => s.id), ...timedOut].join(', ')} ` +
            '(their batches were dead-lettered or lost: see `skillsmith-index failed`; no tombstones applied)',
        }
      : { status: e.status, message: e.message };
  if (
    status === 'completed' &&
    e.textConfig !== undefined &&
    e.sources.every((s) => s.status === 'completed')
  ) {
    writer.updateTextConfig(run.modelId, e.textConfig);
  }
  writer.finishRun(runId, status, counts, e.sources);
  ctx.runEpochs.ended(runId);
  if (status === 'failed' && message && isErrorCode(e.code)) writer.recordRunError(runId, e.code, message);
  writer.checkpoint();
  await releaseRun(ctx, e);
  jlog.info({ runId, status, counts }, 'run finished');
  const summary: DistributedRunSummary = {
    runKey: e.runKey,
    runId,
    status,
    sources: e.sources,
    counts,
    ...(message ? { message } : {}),
    ...(status === 'failed' && e.code ? { code: e.code } : {}),
  };
  return summary;
}

/** The run's counts: the producer's, with what the writer actually wrote. */
function runCounts(e: RunEndJob, totals: { indexed: number; embedded: number; removed: number }): RunCounts {
  // Skills the producer sent with their content already stored (re-embedded for another model or text
  // config) were written unchanged: count them so that seen = indexed + unchanged + failed.
  const unchanged = Math.max(e.counts.unchanged, e.counts.seen - e.counts.failed - totals.indexed);
  return {
    ...e.counts,
    indexed: totals.indexed,
    unchanged,
    reembedded: unchanged - e.counts.unchanged,
    embedded: totals.embedded,
    removed: totals.removed,
  };
}

/** The run is over: its sources may be crawled again, and it leaves the active runs (its progress expires). */
async function releaseRun(ctx: WriterJobContext, e: RunEndJob): Promise<void> {
  await releaseEndedRun(
    ctx.redis,
    ctx.target.prefix,
    e.runKey,
    e.sources.map((s) => s.id),
  );
}
