import { UnrecoverableError, type Job } from 'bullmq';
import { WriteBatchJobSchema, type WriteBatchJob } from '../shared/distributed-messages.js';
import type { EmbeddingRecord } from '../shared/records.js';
import type { IndexWriter } from '../writer/index-writer.js';
import { EXTEND_IF_OWNER } from './owned-key.js';
import { runProgressKey } from './run-progress.js';
import { sourceLockKey } from './source-lock.js';
import { malformedJob } from './malformed-job.js';
import { currentRun, sourceWaitKey, type WriterJobContext } from './writer-job-context.js';

/**
 * `write` job `batch`: one embedded batch of one source, written in one transaction with its batch key (a
 * redelivered batch changes nothing). Stale batches (an older attempt, a finished run) are dropped.
 */
export async function writeBatchJob(ctx: WriterJobContext, job: Job): Promise<unknown> {
  const parsed = WriteBatchJobSchema.safeParse(job.data);
  if (!parsed.success) throw malformedJob('batch', parsed.error);
  const b = parsed.data;
  const jlog = ctx.log.child({ runKey: b.runKey, jobId: job.id, source: b.sourceId });
  const run = currentRun(ctx, b.runKey, b.attempt, 'batch', jlog);
  if (!run) return { stale: true };
  const embeddings = embeddingsOf(ctx.writer, b);
  const t0 = performance.now();
  const { changed, duplicate } = ctx.writer.writeBatch({
    runId: run.id,
    skills: b.skills.map((s) => s.record),
    embeddings,
    errors: b.errors,
    seen: b.seen,
    key: {
      key: `a${b.attempt}/${b.sourceId}/${b.batchNo}`,
      attempt: b.attempt,
      sourceId: b.sourceId,
      embedded: b.embedded,
    },
  });
  if (!duplicate) {
    ctx.onBatch?.({
      skills: b.skills.length,
      embeddings: embeddings.length,
      errors: b.errors.length,
      seen: b.seen.length,
      txMs: performance.now() - t0,
    });
  }
  // The source's completion may wait for this very batch.
  ctx.parked.wake(sourceWaitKey(b.runKey, b.attempt, b.sourceId));
  await afterBatch(ctx, b, changed, duplicate === true);
  jlog.debug(
    { batchNo: b.batchNo, skills: b.skills.length, changed, duplicate: duplicate ?? false },
    'batch written',
  );
  return { changed, duplicate: duplicate ?? false };
}

/**
 * The vector of every skill of a batch: the one the worker sent, or the stored one of the same text (a skill
 * whose text did not change is sent without a vector).
 */
function embeddingsOf(writer: IndexWriter, b: WriteBatchJob): EmbeddingRecord[] {
  return b.skills.map((s) => {
    const encoded = b.vectors[s.textHash];
    const vector = encoded ? Buffer.from(encoded, 'base64') : writer.vectorForText(b.model.id, s.textHash);
    if (!vector || vector.byteLength !== b.model.dim * 4) {
      throw new UnrecoverableError(
        `no ${b.model.dim}-dim vector for ${s.record.id} (text ${s.textHash}): the text it reused is gone; re-run the source`,
      );
    }
    return { skillId: s.record.id, modelId: b.model.id, chunk: 0, vector, textHash: s.textHash };
  });
}

/**
 * One round trip after the commit: the run is alive, so keep its source locked however long the queue is (the
 * producer's stretch may end); and count progress (informative; the database is the truth).
 */
async function afterBatch(
  ctx: WriterJobContext,
  b: WriteBatchJob,
  changed: number,
  duplicate: boolean,
): Promise<void> {
  const { prefix } = ctx.target;
  const progress = runProgressKey(prefix, b.runKey);
  const tx = ctx.redis
    .multi()
    .eval(EXTEND_IF_OWNER, 1, sourceLockKey(prefix, b.sourceId), b.runKey, String(ctx.runTimeoutMs));
  if (!duplicate) {
    tx.hincrby(progress, 'written', b.skills.length + b.seen.length + b.errors.length)
      .hincrby(progress, 'indexed', changed)
      .hincrby(progress, 'embedded', b.embedded);
  }
  await tx.exec().catch(() => undefined);
}
