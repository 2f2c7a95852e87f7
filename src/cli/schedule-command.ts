import type { Command } from 'commander';
import { CronExpressionParser } from 'cron-parser';
import type { Logger } from 'pino';
import { PipelineQueues } from '../distributed/pipeline-queues.js';
import type { CrawlJob } from '../shared/distributed-messages.js';
import { IndexerError, ERROR_CODES } from '../shared/errors.js';
import { printJson } from './options.js';
import { sourcesFromArgs } from './source-args.js';
import { reachableRedisTarget, withRedisOptions, type RedisFlags } from './redis-flags.js';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Validates a cron expression now, with a one-line message, instead of when the scheduler first fires. */
export function checkCron(expr: string, tz?: string): void {
  try {
    CronExpressionParser.parse(expr, tz ? { tz } : {});
  } catch (err) {
    throw new IndexerError(
      ERROR_CODES.BAD_OPTION,
      `--cron "${expr}" is not a valid cron expression: ${(err as Error).message}`,
    );
  }
}

/**
 * `skillsmith-index schedule set|list|remove`: re-index runs on BullMQ job schedulers. `set` is an upsert keyed
 * by name, so re-deploying the same schedule changes nothing, and BullMQ makes one job per firing however many
 * producers serve the queue (no double fire).
 */
export function registerScheduleCommand(program: Command, log: Logger): void {
  const schedule = program.command('schedule');

  withRedisOptions(
    schedule
      .command('set')
      .description('create or replace a schedule')
      .argument('<name>', 'schedule name (letters, digits, . _ -)')
      .argument('[source...]', 'sources to crawl at each firing (paths as the producer sees them)')
      .requiredOption('--cron <expr>', 'cron pattern, e.g. "0 */6 * * *" (every 6 hours)')
      .option('--tz <zone>', 'time zone of the pattern (default UTC)', 'UTC')
      .option('--sources <file>', 'a sources file listing the sources')
      .option('--reembed', 're-embed every skill at each firing')
      .option('--model <dir>', 'model folder (same path on producers and workers)'),
  )
    .addHelpText(
      'after',
      '\nExample:\n  skillsmith-index schedule set skills-6h --cron "0 */6 * * *" /skills --redis redis://redis:6379',
    )
    .action(
      async (
        name: string,
        args: string[],
        flags: RedisFlags & { cron: string; tz: string; sources?: string; reembed?: boolean; model?: string },
      ) => {
        if (!NAME.test(name))
          throw new IndexerError(
            ERROR_CODES.BAD_OPTION,
            `schedule name must be 1-64 of letters, digits, ". _ -" (got ${name})`,
          );
        checkCron(flags.cron, flags.tz);
        const sources = sourcesFromArgs(args, flags.sources);
        if (sources.length === 0)
          throw new IndexerError(ERROR_CODES.BAD_OPTION, 'give the sources to crawl (or --sources FILE)');
        const queues = new PipelineQueues(await reachableRedisTarget(flags));
        try {
          const data: CrawlJob = {
            sources,
            reembed: flags.reembed === true,
            ...(flags.model ? { modelDir: flags.model } : {}),
            trigger: 'schedule',
            schedule: name,
          };
          await queues.crawl.upsertJobScheduler(
            name,
            { pattern: flags.cron, tz: flags.tz },
            { name: 'scheduled', data },
          );
          log.info(
            { schedule: name, cron: flags.cron, tz: flags.tz, sources: sources.map((s) => s.id) },
            'schedule set',
          );
          process.stderr.write(
            `schedule ${name} set: "${flags.cron}" (${flags.tz}), ${sources.length} source(s)\n`,
          );
        } finally {
          await queues.close();
        }
      },
    );

  withRedisOptions(
    schedule
      .command('list')
      .description('list schedules and their next firing')
      .option('--json', 'one JSON object on stdout'),
  ).action(async (flags: RedisFlags & { json?: boolean }) => {
    const queues = new PipelineQueues(await reachableRedisTarget(flags));
    try {
      const list = await queues.crawl.getJobSchedulers(0, -1, true);
      const rows = list.map((s) => {
        const data = s.template?.data as CrawlJob | undefined;
        return {
          name: s.key,
          cron: s.pattern ?? null,
          tz: s.tz ?? null,
          next: s.next ? new Date(s.next).toISOString() : null,
          sources:
            data && Array.isArray(data.sources) ? data.sources.map((x) => x.id) : (data?.sources ?? []),
          reembed: data?.reembed ?? false,
        };
      });
      if (flags.json) printJson({ schedules: rows });
      else if (rows.length === 0) process.stdout.write('no schedules\n');
      else
        for (const r of rows)
          process.stdout.write(
            `${r.name}\t${r.cron}\t${r.tz}\tnext ${r.next}\t${Array.isArray(r.sources) ? r.sources.join(',') : r.sources}\n`,
          );
    } finally {
      await queues.close();
    }
  });

  withRedisOptions(schedule.command('remove').description('remove a schedule').argument('<name>')).action(
    async (name: string, flags: RedisFlags) => {
      const queues = new PipelineQueues(await reachableRedisTarget(flags));
      try {
        const removed = await queues.crawl.removeJobScheduler(name);
        if (!removed) throw new IndexerError(ERROR_CODES.BAD_OPTION, `no schedule named ${name}`);
        process.stderr.write(`schedule ${name} removed\n`);
      } finally {
        await queues.close();
      }
    },
  );
}
