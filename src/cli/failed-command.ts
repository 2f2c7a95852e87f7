import type { Command } from 'commander';
import type { Job, Queue } from 'bullmq';
import { PipelineQueues } from '../distributed/pipeline-queues.js';
import { IndexerError, ERROR_CODES } from '../shared/errors.js';
import { printJson } from './options.js';
import { reachableRedisTarget, withRedisOptions, type RedisFlags } from './redis-flags.js';

interface FailedFlags extends RedisFlags {
  queue?: string;
  json?: boolean;
  all?: boolean;
  limit?: string;
}

/** One dead letter as listed. */
export interface DeadLetter {
  queue: string;
  id: string;
  name: string;
  attempts: number;
  failedAt: string | null;
  reason: string;
  runKey: string | null;
  source: string | null;
}

function queuesOf(queues: PipelineQueues, name: string | undefined): Queue[] {
  if (!name) return queues.all();
  const q = queues.byName(name);
  if (!q) {
    throw new IndexerError(
      ERROR_CODES.BAD_OPTION,
      `--queue must be one of ${queues
        .all()
        .map((x) => x.name)
        .join(', ')} (got ${name})`,
    );
  }
  return [q];
}

const describe = (queue: string, job: Job): DeadLetter => {
  const data = (job.data ?? {}) as { runKey?: unknown; sourceId?: unknown };
  return {
    queue,
    id: String(job.id),
    name: job.name,
    attempts: job.attemptsMade,
    failedAt: job.finishedOn ? new Date(job.finishedOn).toISOString() : null,
    reason: job.failedReason ?? '',
    runKey: typeof data.runKey === 'string' ? data.runKey : null,
    source: typeof data.sourceId === 'string' ? data.sourceId : null,
  };
};

/** The failed jobs to act on: one id (searched in every queue unless --queue), or all. */
async function select(
  queues: Queue[],
  id: string | undefined,
  all: boolean | undefined,
): Promise<[Queue, Job][]> {
  if (!id && !all) throw new IndexerError(ERROR_CODES.BAD_OPTION, 'give a job id, or --all');
  if (id && all) throw new IndexerError(ERROR_CODES.BAD_OPTION, 'give a job id or --all, not both');
  const found: [Queue, Job][] = [];
  for (const q of queues) {
    if (all) {
      for (const job of await q.getFailed(0, -1)) if (job) found.push([q, job as Job]);
    } else {
      const job = (await q.getJob(id as string)) as Job | undefined;
      if (job && (await job.isFailed())) found.push([q, job]);
    }
  }
  if (id && found.length === 0) throw new IndexerError(ERROR_CODES.BAD_OPTION, `no failed job with id ${id}`);
  if (id && found.length > 1) {
    throw new IndexerError(ERROR_CODES.BAD_OPTION, `job id ${id} is failed in several queues: add --queue`);
  }
  return found;
}

/**
 * `skillsmith-index failed [list|retry|drop]`: the dead letters — jobs that exhausted their retries or can
 * never succeed — with their error; replay them once the cause is fixed, or drop them.
 */
export function registerFailedCommand(program: Command): void {
  const failed = program.command('failed');

  withRedisOptions(
    failed
      .command('list', { isDefault: true })
      .description('list dead letters with their error (the default)')
      .option('--queue <name>', 'only this queue (crawl, embed, write, writer-rpc)')
      .option('--json', 'one JSON object on stdout'),
  ).action(async (flags: FailedFlags) => {
    const queues = new PipelineQueues(await reachableRedisTarget(flags));
    try {
      const letters: DeadLetter[] = [];
      for (const q of queuesOf(queues, flags.queue)) {
        for (const job of await q.getFailed(0, -1)) if (job) letters.push(describe(q.name, job as Job));
      }
      if (flags.json) printJson({ failed: letters });
      else if (letters.length === 0) process.stdout.write('no failed jobs\n');
      else {
        for (const l of letters) {
          process.stdout.write(
            `${l.queue}\t${l.id}\t${l.name}\tattempts ${l.attempts}\t${l.failedAt ?? ''}\t${l.reason.split('\n')[0]}\n`,
          );
        }
      }
    } finally {
      await queues.close();
    }
  });

  for (const action of ['retry', 'drop'] as const) {
    withRedisOptions(
      failed
        .command(action)
        .description(
          action === 'retry'
            ? 'move dead letters back to waiting, with their retries reset'
            : 'delete dead letters',
        )
        .argument('[id]', 'job id (see `failed`)')
        .option('--all', 'every dead letter (of --queue, or of every queue)')
        .option('--queue <name>', 'only this queue')
        .option('--json', 'one JSON object on stdout'),
    ).action(async (id: string | undefined, flags: FailedFlags) => {
      const queues = new PipelineQueues(await reachableRedisTarget(flags));
      try {
        const jobs = await select(queuesOf(queues, flags.queue), id, flags.all);
        const done: { queue: string; id: string }[] = [];
        for (const [q, job] of jobs) {
          if (action === 'retry')
            await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
          else await job.remove();
          done.push({ queue: q.name, id: String(job.id) });
        }
        if (flags.json) printJson({ [action === 'retry' ? 'retried' : 'dropped']: done });
        else process.stderr.write(`${action === 'retry' ? 'retried' : 'dropped'} ${done.length} job(s)\n`);
      } finally {
        await queues.close();
      }
    });
  }
}
