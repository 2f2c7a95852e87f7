import type { Command } from 'commander';
import { Redis } from 'ioredis';
import type { Job } from 'bullmq';
import type { Logger } from 'pino';
import { PipelineQueues } from '../distributed/pipeline-queues.js';
import type { DistributedCrawlResult } from '../distributed/distributed-crawl.js';
import { parseRunProgress, runProgressKey } from '../distributed/run-progress.js';
import { sourceLockKey } from '../distributed/source-lock.js';
import { isBuiltinModelName } from '../model/default-model.js';
import { loadModelSpec } from '../model/model-spec.js';
import type { CrawlJob } from '../shared/distributed-messages.js';
import { IndexerError, ERROR_CODES } from '../shared/errors.js';
import { jobId } from '../shared/queues.js';
import { printJson } from './options.js';
import { printCrawlSummary } from './crawl-summary.js';
import { sourcesFromArgs } from './source-args.js';
import { reachableRedisTarget, withRedisOptions, type RedisFlags } from './redis-flags.js';
import { onShutdown } from './shutdown.js';
import { runExitStatus } from './run-exit-status.js';

interface BackfillFlags extends RedisFlags {
  sources?: string;
  all?: boolean;
  reembed?: boolean;
  model?: string;
  follow?: boolean;
  json?: boolean;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const idsOf = (s: CrawlJob['sources']): string[] | 'all' => (s === 'all' ? 'all' : s.map((x) => x.id));

/**
 * The crawl job or running run that already covers one of these sources, if any: a second backfill of a
 * source is refused while one is queued or running (two runs of a source could tombstone each other's skills).
 */
async function conflicting(
  queues: PipelineQueues,
  redis: Redis,
  wanted: string[] | 'all',
): Promise<string | undefined> {
  const jobs = (await queues.crawl.getJobs([
    'waiting',
    'active',
    'delayed',
    'prioritized',
  ])) as Job<CrawlJob>[];
  for (const job of jobs) {
    if (!job) continue;
    // A scheduler's next firing waits as a delayed job; it does not block a backfill (when it fires while
    // the backfill still runs, the source lock makes it skip).
    if (job.data.trigger === 'schedule' && (await job.isDelayed())) continue;
    const theirs = idsOf(job.data.sources);
    const overlap = wanted === 'all' || theirs === 'all' ? true : theirs.some((id) => wanted.includes(id));
    if (overlap) {
      const state = await job.getState();
      return `job ${job.id} (${job.data.trigger}, ${state}) already covers ${theirs === 'all' ? 'all sources' : theirs.join(', ')}`;
    }
  }
  if (wanted !== 'all') {
    for (const id of wanted) {
      const holder = await redis.get(sourceLockKey(queues.target.prefix, id));
      if (holder) return `run ${holder} is indexing source ${id} right now`;
    }
  }
  return undefined;
}

/** `skillsmith-index backfill`: queue a run of some (or all) sources for `produce --serve`, once. */
export function registerBackfillCommand(program: Command, log: Logger): void {
  const cmd = program
    .command('backfill')
    .argument('[source...]', 'sources to backfill (paths as the producer sees them)')
    .option('--all', 'every source the database knows')
    .option('--sources <file>', 'a sources file listing the sources')
    .option(
      '--reembed',
      're-embed even unchanged skills (with --model: write the new model’s vectors beside the old)',
    )
    .option(
      '--model <dir|name>',
      'model folder to embed with (same path on producers and workers), or a built-in model name (use-lite-en, use-lite-en-int8)',
    )
    .option('--follow', 'wait, showing live progress, and print the summary at the end')
    .option('--json', 'print the result as one JSON object on stdout');
  withRedisOptions(cmd).addHelpText(
    'after',
    `
Examples:
  skillsmith-index backfill /skills/team-a --follow
  skillsmith-index backfill --all --reembed --model /models/new-model --follow

Vectors of another model are written beside the old ones; readers of the old model keep working.`,
  );
  cmd.action(async (args: string[], flags: BackfillFlags) => {
    const target = await reachableRedisTarget(flags);
    const specs = sourcesFromArgs(args, flags.sources);
    if (flags.all && specs.length > 0)
      throw new IndexerError(ERROR_CODES.BAD_OPTION, 'give sources or --all, not both');
    if (!flags.all && specs.length === 0)
      throw new IndexerError(ERROR_CODES.BAD_OPTION, 'give the sources to backfill, or --all');
    // A bad model folder fails here, not on the producer at 3 a.m.
    if (flags.model && !isBuiltinModelName(flags.model)) loadModelSpec(flags.model);
    const data: CrawlJob = {
      sources: flags.all ? 'all' : specs,
      reembed: flags.reembed === true,
      ...(flags.model ? { modelDir: flags.model } : {}),
      trigger: 'backfill',
    };
    const wanted = idsOf(data.sources);
    const queues = new PipelineQueues(target);
    const redis = new Redis(target.url, { maxRetriesPerRequest: 3 });
    redis.on('error', () => undefined);
    try {
      const conflict = await conflicting(queues, redis, wanted);
      if (conflict) throw new IndexerError(ERROR_CODES.ALREADY_RUNNING, `backfill refused: ${conflict}`);
      const key = wanted === 'all' ? 'all' : [...wanted].sort().join('+');
      const id = jobId('backfill', key.slice(0, 80), Date.now());
      // The deduplication id makes two backfills racing past the check above become one job.
      const job = await queues.crawl.add('backfill', data, {
        jobId: id,
        deduplication: { id: jobId('backfill', key) },
      });
      if (job.id !== id)
        throw new IndexerError(
          ERROR_CODES.ALREADY_RUNNING,
          `backfill refused: job ${job.id} already covers ${key}`,
        );
      log.info({ jobId: id, sources: wanted, reembed: data.reembed }, 'backfill queued');
      if (!flags.follow) {
        if (flags.json) printJson({ jobId: id, sources: wanted, state: 'waiting' });
        else process.stderr.write(`backfill queued as job ${id} (served by \`produce --serve\`)\n`);
        return;
      }
      const result = await follow(queues, redis, job);
      if (flags.json) printJson({ jobId: id, ...result });
      else if ('skipped' in result)
        process.stderr.write(`backfill ${id} skipped: ${String(result.skipped)}\n`);
      else printCrawlSummary(result as DistributedCrawlResult);
      if (!('skipped' in result)) {
        const crawl = result as DistributedCrawlResult;
        process.exitCode = runExitStatus(crawl.summary ?? crawl);
      }
    } finally {
      redis.disconnect();
      await queues.close();
    }
  });
}

/** Polls a crawl job until it ends, drawing one live line on a TTY; returns its result or throws its error. */
type FollowResult =
  DistributedCrawlResult | { skipped: string } | { jobId: string; state: string; following: false };

async function follow(queues: PipelineQueues, redis: Redis, job: Job): Promise<FollowResult> {
  let stop = false;
  const dispose = onShutdown({ warn: () => undefined } as unknown as Logger, () => {
    stop = true;
  });
  const tty = process.stderr.isTTY;
  const started = Date.now();
  try {
    for (;;) {
      const fresh = await queues.crawl.getJob(job.id as string);
      if (!fresh) throw new IndexerError(ERROR_CODES.BAD_JOB, `job ${job.id} vanished from the queue`);
      const state = await fresh.getState();
      if (state === 'completed') {
        if (tty) process.stderr.write('\n');
        return fresh.returnvalue as FollowResult;
      }
      if (state === 'failed') {
        if (tty) process.stderr.write('\n');
        throw new IndexerError(ERROR_CODES.BAD_JOB, `backfill ${job.id} failed: ${fresh.failedReason}`);
      }
      if (stop) {
        process.stderr.write(`\nstopped following; job ${job.id} goes on (state ${state})\n`);
        return { jobId: job.id as string, state, following: false };
      }
      if (tty) {
        const p = parseRunProgress(
          await redis.hgetall(runProgressKey(queues.target.prefix, jobId(job.id as string))),
        );
        const secs = (Date.now() - started) / 1000;
        const rate = p.written / Math.max(secs, 1e-3);
        process.stderr.write(
          `\r${state}: queued ${p.sent}, written ${p.written} (${rate.toFixed(1)}/s), embedded ${p.embedded}   `,
        );
      }
      await sleep(1000);
    }
  } finally {
    dispose();
  }
}
