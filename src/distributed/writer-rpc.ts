import { UnrecoverableError, type Job } from 'bullmq';
import {
  BeginRunRpcSchema,
  KnownRpcSchema,
  type BeginRunReply,
  type KnownReply,
  type SourcesReply,
} from '../shared/distributed-messages.js';
import { ACTIVE_RUNS_KEY, runProgressKey } from './run-progress.js';
import { malformedJob } from './malformed-job.js';
import type { WriterJobContext } from './writer-job-context.js';

/** The writer's answers on `writer-rpc`: the producers' questions only the database can answer. */
export async function answerWriterRpc(ctx: WriterJobContext, job: Job): Promise<unknown> {
  switch (job.name) {
    case 'begin':
      return beginRun(ctx, job);
    case 'known':
      return knownForSource(ctx, job);
    case 'sources': {
      const reply: SourcesReply = { sources: ctx.writer.listSources() };
      return reply;
    }
    default:
      throw new UnrecoverableError(`unknown writer-rpc job "${job.name}"`);
  }
}

/** `begin`: registers the run's model and starts the run (or finds it: a redelivered crawl is a new attempt). */
async function beginRun(ctx: WriterJobContext, job: Job): Promise<BeginRunReply> {
  const parsed = BeginRunRpcSchema.safeParse(job.data);
  if (!parsed.success) throw malformedJob('begin', parsed.error);
  const r = parsed.data;
  const { writer, redis } = ctx;
  const { prefix } = ctx.target;
  const { storedTextConfig } = writer.registerModel({ ...r.model, textConfig: r.textConfig });
  const { runId, attempt, finished } = writer.beginKeyedRun({
    runKey: r.runKey,
    sources: r.sources,
    modelId: r.model.id,
  });
  await redis
    .multi()
    .zadd(ACTIVE_RUNS_KEY(prefix), Date.now(), r.runKey)
    .hsetnx(runProgressKey(prefix, r.runKey), 'startedAt', String(Date.now()))
    .hsetnx(runProgressKey(prefix, r.runKey), 'runId', String(runId))
    .exec()
    .catch(() => undefined);
  await ctx.runEpochs.begun(runId);
  ctx.log.info({ runKey: r.runKey, runId, jobId: job.id, sources: r.sources.map((s) => s.id) }, 'run begun');
  return {
    runId,
    attempt,
    ...(finished ? { finished } : {}),
    textConfigChanged: JSON.stringify(storedTextConfig) !== JSON.stringify(r.textConfig),
  };
}

/** `known`: what the database holds for a source, for the producer's incremental check (compact rows). */
function knownForSource(ctx: WriterJobContext, job: Job): KnownReply {
  const parsed = KnownRpcSchema.safeParse(job.data);
  if (!parsed.success) throw malformedJob('known', parsed.error);
  const known = ctx.writer.knownForSource(parsed.data.sourceId, parsed.data.modelId);
  return {
    skills: [...known.skills].map(([id, k]) => [
      id,
      k.contentHash,
      k.statKey,
      k.removed ? 1 : 0,
      k.textHash,
      k.parseVersion,
    ]),
    rejections: [...known.rejections.values()],
    state: ctx.writer.sourceState(parsed.data.sourceId) ?? null,
  };
}
