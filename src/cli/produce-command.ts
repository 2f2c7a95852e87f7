import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import type { Logger } from 'pino';
import { crawlDistributed, type DistributedCrawlResult } from '../distributed/distributed-crawl.js';
import { PipelineQueues } from '../distributed/pipeline-queues.js';
import { ensureDefaultModel, resolveModelDir } from '../model/default-model.js';
import { loadModelSpec } from '../model/model-spec.js';
import { IndexerError, ERROR_CODES } from '../shared/errors.js';
import { printCrawlSummary } from './crawl-summary.js';
import { intFlag, printJson } from './options.js';
import {
  checkRedisAtStart,
  metricsPort,
  redisTarget,
  withMetricsOption,
  withRedisOptions,
  type RedisFlags,
} from './redis-flags.js';
import { runExitStatus } from './run-exit-status.js';
import { onShutdown } from './shutdown.js';
import { sourcesFromArgs } from './source-args.js';

interface ProduceFlags extends RedisFlags {
  sources?: string;
  serve?: boolean;
  model?: string;
  reembed?: boolean;
  wait: boolean;
  json?: boolean;
  batchSize: number;
  maxFileBytes: number;
  metricsPort?: number;
  graceMs: number;
  lockMs?: number;
}

/** A new run key: sortable by time, unique, no `:` (BullMQ job ids are made of it). */
export function newRunKey(prefix: string): string {
  const t = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');
  return `${prefix}-${t}-${randomBytes(3).toString('hex')}`;
}

/** `skillsmith-index produce`: crawl and enqueue now, or serve schedules and backfills (`--serve`). */
export function registerProduceCommand(program: Command, log: Logger): void {
  const cmd = program
    .command('produce')
    .argument('[source...]', 'folders, git URLs or github:owner/repo, as for `index`')
    .option('--sources <file>', 'a sources file listing the sources to crawl')
    .option('--serve', 'long-running: serve the crawl queue (job schedulers and backfills)')
    .option(
      '--model <dir|name>',
      'model folder to embed with (same path on every worker), or a built-in model name (default: use-lite-en-int8)',
    )
    .option('--reembed', 're-embed every skill, even unchanged ones')
    .option('--no-wait', 'exit once every batch is queued, without waiting for the writer')
    .option('--json', 'print the run summary as one JSON object on stdout')
    .option('--batch-size <n>', 'skills per embed job', intFlag('batch-size', 1), 32)
    .option('--max-file-bytes <n>', 'skip files larger than this', intFlag('max-file-bytes', 1), 1024 * 1024)
    .option(
      '--lock-ms <n>',
      '--serve: crawl job lock; a crawl whose producer died is taken up again after this (default 120000)',
      intFlag('lock-ms', 1000),
    )
    .option(
      '--grace-ms <n>',
      '--serve: on SIGTERM, how long the crawl in hand may take',
      intFlag('grace-ms', 0),
      60_000,
    );
  withRedisOptions(cmd);
  withMetricsOption(cmd).addHelpText(
    'after',
    `
Without --serve, crawls the given sources now as one run and (unless --no-wait) waits until the writer has
written it, then prints the summary. Unchanged skills enqueue no embed work. A source already being indexed
by another run is refused.

Examples:
  skillsmith-index produce ./skills --redis redis://127.0.0.1:6379
  skillsmith-index produce --serve --redis redis://redis:6379 --metrics-port 9464`,
  );
  cmd.action(async (args: string[], flags: ProduceFlags) => {
    const target = redisTarget(flags);
    if (flags.serve) {
      if (args.length > 0 || flags.sources) {
        throw new IndexerError(
          ERROR_CODES.BAD_OPTION,
          '--serve takes no sources: use `schedule set` or `backfill`',
        );
      }
      const port = metricsPort(flags.metricsPort);
      // Loaded here: a one-shot `produce` does without the server's modules (prom-client, its Worker role).
      const [{ startProducerRole }, { createMetrics, trackQueueDepth }, { serveRole }] = await Promise.all([
        import('../distributed/producer-role.js'),
        import('../shared/metrics.js'),
        import('./serve-role.js'),
      ]);
      await checkRedisAtStart(target, log);
      const metrics = createMetrics('producer');
      let modelDir: Promise<string> | undefined;
      const role = await startProducerRole({
        target,
        log,
        maxFileBytes: flags.maxFileBytes,
        ...(flags.lockMs ? { lockMs: flags.lockMs } : {}),
        defaultModelDir: () => (modelDir ??= ensureDefaultModel({ log: (m) => log.info(m) })),
        onJob: (e) => {
          if (e.ok) metrics.jobsProcessed.inc({ queue: 'crawl' });
          else metrics.jobsFailed.inc({ queue: 'crawl' });
          metrics.batchSeconds.observe({ queue: 'crawl' }, e.ms / 1000);
        },
      });
      trackQueueDepth(metrics, role.queues.all());
      await serveRole({ log, role, metrics, port, graceMs: flags.graceMs });
      return;
    }
    const specs = sourcesFromArgs(args, flags.sources);
    if (specs.length === 0) {
      throw new IndexerError(
        ERROR_CODES.BAD_OPTION,
        'nothing to produce: give a source or --sources FILE (or --serve)',
      );
    }
    await checkRedisAtStart(target, log);
    const controller = new AbortController();
    const dispose = onShutdown(log, () => controller.abort());
    const modelDir = await resolveModelDir(flags.model, { log: (m) => log.info(m) });
    const model = loadModelSpec(modelDir);
    const queues = new PipelineQueues(target);
    let result: DistributedCrawlResult;
    try {
      result = await crawlDistributed({
        queues,
        log,
        runKey: newRunKey('produce'),
        sources: specs,
        model,
        modelDir: flags.model,
        reembed: flags.reembed === true,
        batchSize: flags.batchSize,
        maxFileBytes: flags.maxFileBytes,
        signal: controller.signal,
        wait: flags.wait,
      });
    } finally {
      dispose();
      await queues.close();
    }
    if (flags.json) printJson(result);
    else printCrawlSummary(result);
    process.exitCode = runExitStatus(result.summary ?? result);
  });
}
