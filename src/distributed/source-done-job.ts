import type { Job } from 'bullmq';
import { SourceDoneJobSchema } from '../shared/distributed-messages.js';
import { malformedJob } from './malformed-job.js';
import {
  currentRun,
  runWaitKey,
  sourceWaitKey,
  waitFor,
  type WriterJobContext,
} from './writer-job-context.js';

/**
 * `write` job `source-done`: the producer finished crawling a source. Once every batch of the source is written,
 * the source is closed: its state saved and, after a complete crawl, the skills it no longer has tombstoned.
 */
export async function sourceDoneJob(ctx: WriterJobContext, job: Job, token?: string): Promise<unknown> {
  const parsed = SourceDoneJobSchema.safeParse(job.data);
  if (!parsed.success) throw malformedJob('source-done', parsed.error);
  const d = parsed.data;
  const jlog = ctx.log.child({ runKey: d.runKey, jobId: job.id, source: d.source.id });
  const run = currentRun(ctx, d.runKey, d.attempt, 'source-done', jlog);
  if (!run) return { stale: true };
  let written = 0;
  // Tombstones only once every batch of the source is in: a skill in a batch still on its way would
  // otherwise be marked removed.
  const outcome = await waitFor(ctx, job, token, {
    key: sourceWaitKey(d.runKey, d.attempt, d.source.id),
    ready: () => (written = ctx.writer.batchesWritten(run.id, d.attempt, d.source.id)) >= d.batches,
  });
  const complete = d.status === 'completed' && outcome === 'ready';
  if (outcome === 'timeout') {
    jlog.error(
      { written, expected: d.batches },
      'source closed without tombstones: some of its batches never arrived (see `skillsmith-index failed`)',
    );
  }
  const { removed } = ctx.writer.completeSource({
    runId: run.id,
    key: `a${d.attempt}/${d.source.id}/done`,
    attempt: d.attempt,
    source: d.source,
    complete,
    timedOut: outcome === 'timeout',
    state: d.state,
  });
  jlog.info({ removed, batches: d.batches, status: complete ? 'completed' : d.status }, 'source done');
  ctx.parked.wake(runWaitKey(d.runKey, d.attempt));
  return { removed, complete };
}
