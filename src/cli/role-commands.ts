import type { Command } from 'commander';
import type { Logger } from 'pino';
import { startWorkerRole } from '../distributed/worker-role.js';
import { startWriterRole } from '../distributed/writer-role.js';
import { ensureDefaultModel } from '../model/default-model.js';
import { createMetrics, trackPoolUtilisation, trackQueueDepth, trackWalSize } from '../shared/metrics.js';
import { PipelineQueues } from '../distributed/pipeline-queues.js';
import { statSync } from 'node:fs';
import { cpuBudget } from '../workers/cpu-budget.js';
import { intFlag } from './options.js';
import {
  checkRedisAtStart,
  metricsPort,
  redisTarget,
  withMetricsOption,
  withRedisOptions,
  type RedisFlags,
} from './redis-flags.js';
import { serveRole } from './serve-role.js';

interface RoleFlags extends RedisFlags {
  metricsPort?: number;
  lockMs?: number;
  graceMs: number;
}

const graceOption = (cmd: Command): Command =>
  cmd
    .option(
      '--lock-ms <n>',
      'job lock duration, renewed while a job runs: a job in hand of a process that died is redelivered after this (default 30000)',
      intFlag('lock-ms', 1000),
    )
    .option(
      '--grace-ms <n>',
      'on SIGTERM, how long jobs in hand may take to finish before the exit is forced',
      intFlag('grace-ms', 0),
      60_000,
    );

/** `skillsmith-index write --db PATH`: the one process that writes the database. */
export function registerWriteCommand(program: Command, log: Logger): void {
  const cmd = program.command('write').requiredOption('--db <path>', 'SQLite database to write');
  withRedisOptions(cmd);
  withMetricsOption(cmd);
  graceOption(cmd).addHelpText(
    'after',
    `
Run exactly one per deployment (--prefix): a second writer — of the same file or another — refuses to start.
Delivery is at-least-once and every write is idempotent, so restarting a crashed writer loses nothing.

Example:
  skillsmith-index write --db /data/skills.db --redis redis://redis:6379 --metrics-port 9464`,
  );
  cmd.action(async (flags: RoleFlags & { db: string }) => {
    const target = redisTarget(flags);
    const port = metricsPort(flags.metricsPort);
    await checkRedisAtStart(target, log);
    const metrics = createMetrics('writer');
    const role = await startWriterRole({
      db: flags.db,
      target,
      log,
      ...(flags.lockMs ? { lockMs: flags.lockMs } : {}),
      onJob: (e) => {
        if (e.ok) metrics.jobsProcessed.inc({ queue: e.queue });
        else metrics.jobsFailed.inc({ queue: e.queue });
        metrics.batchSeconds.observe({ queue: e.queue }, e.ms / 1000);
      },
      onBatch: (e) => {
        metrics.writerTransactionSeconds.observe(e.txMs / 1000);
        for (const kind of ['skills', 'embeddings', 'errors', 'seen'] as const) {
          metrics.writerRows.inc({ kind }, e[kind]);
        }
      },
    });
    const queues = new PipelineQueues(target);
    trackQueueDepth(metrics, queues.all());
    trackWalSize(metrics, () => {
      try {
        return statSync(`${role.writer.path}-wal`).size;
      } catch {
        return 0;
      }
    });
    await serveRole({ log, role, metrics, port, graceMs: flags.graceMs });
    await queues.close();
  });
}

/** `skillsmith-index work`: an embed worker (run as many as you have machines). */
export function registerWorkCommand(program: Command, log: Logger): void {
  const cmd = program
    .command('work')
    .option(
      '--threads <n>',
      'CPU threads for inference (default: CPUs this process may use)',
      intFlag('threads', 1),
    )
    .option(
      '--concurrency <n>',
      'jobs in hand at once; their texts are pooled for the threads (default: 16, or 4 per pool worker if more)',
      intFlag('concurrency', 1),
    );
  withRedisOptions(cmd);
  withMetricsOption(cmd);
  graceOption(cmd).addHelpText(
    'after',
    `
Jobs name the model they embed with: the built-in default (built on first use) or a folder that must exist at
the same path on every worker (a shared volume). Give each container as many CPUs as --threads.

Example:
  skillsmith-index work --redis redis://redis:6379 --threads 2 --metrics-port 9464`,
  );
  cmd.action(async (flags: RoleFlags & { threads?: number; concurrency?: number }) => {
    const target = redisTarget(flags);
    const port = metricsPort(flags.metricsPort);
    await checkRedisAtStart(target, log);
    const metrics = createMetrics('worker');
    let modelDir: Promise<string> | undefined;
    const role = await startWorkerRole({
      target,
      log,
      threads: flags.threads ?? cpuBudget(),
      ...(flags.lockMs ? { lockMs: flags.lockMs } : {}),
      ...(flags.concurrency ? { concurrency: flags.concurrency } : {}),
      defaultModelDir: () => (modelDir ??= ensureDefaultModel({ log: (m) => log.info(m) })),
      onJob: (e) => {
        if (e.ok) {
          metrics.jobsProcessed.inc({ queue: 'embed' });
          metrics.batchSeconds.observe({ queue: 'embed' }, e.ms / 1000);
          metrics.textsEmbedded.inc(e.texts);
        } else metrics.jobsFailed.inc({ queue: 'embed' });
      },
      onModelCpu: (ms) => metrics.modelCpuSeconds.inc(ms / 1000),
    });
    trackQueueDepth(metrics, [role.queues.embed]);
    trackPoolUtilisation(metrics, () => role.utilisation());
    await serveRole({ log, role, metrics, port, graceMs: flags.graceMs });
  });
}
