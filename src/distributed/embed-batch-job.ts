import type { Job } from 'bullmq';
import type { Logger } from 'pino';
import { EmbedJobSchema, type WriteBatchJob } from '../shared/distributed-messages.js';
import { jobId } from '../shared/queues.js';
import { vectorToBlob } from '../writer/vector-blob.js';
import type { EmbedPoolSwitch } from './embed-pool-switch.js';
import { malformedJob } from './malformed-job.js';
import type { PipelineQueues } from './pipeline-queues.js';

/** What {@link embedBatchJob} works with. */
export interface EmbedBatchContext {
  pools: EmbedPoolSwitch;
  queues: PipelineQueues;
  log: Logger;
  onJob?: ((e: { ms: number; ok: boolean; texts: number }) => void) | undefined;
}

/**
 * `embed` job: embeds a batch's texts on the pool and sends the batch on to the `write` queue under a
 * deterministic job id, so a batch redelivered after a crash is not written twice.
 */
export async function embedBatchJob(ctx: EmbedBatchContext, job: Job): Promise<{ texts: number }> {
  const t0 = performance.now();
  const parsed = EmbedJobSchema.safeParse(job.data);
  if (!parsed.success) throw malformedJob('embed', parsed.error);
  const b = parsed.data;
  const jlog = ctx.log.child({ runKey: b.runKey, jobId: job.id, source: b.sourceId });
  const spec = await ctx.pools.resolve(b.model);
  // Identical texts in one batch go through the model once.
  const texts = [...new Set(b.skills.filter((s) => s.text !== undefined).map((s) => s.text as string))];
  const vectors: Record<string, string> = {};
  if (texts.length > 0) {
    const done = await ctx.pools.embed(spec, texts);
    const byText = new Map<string, Float32Array>(texts.map((t, i) => [t, done[i] as Float32Array]));
    for (const s of b.skills) {
      if (s.text === undefined) continue;
      vectors[s.textHash] = vectorToBlob(byText.get(s.text) as Float32Array).toString('base64');
    }
  }
  const out: WriteBatchJob = {
    ...b,
    // Texts are not needed past this point: keep the write payload small.
    skills: b.skills.map(({ record, textHash }) => ({ record, textHash })),
    vectors,
    embedded: texts.length,
  };
  await ctx.queues.write.add('batch', out, {
    jobId: jobId('w', b.runKey, `a${b.attempt}`, b.sourceId, b.batchNo),
  });
  const ms = performance.now() - t0;
  ctx.onJob?.({ ms, ok: true, texts: texts.length });
  jlog.debug({ batchNo: b.batchNo, texts: texts.length, ms: Math.round(ms) }, 'batch embedded');
  return { texts: texts.length };
}
