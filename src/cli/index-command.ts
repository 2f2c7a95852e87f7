import type { Command } from 'commander';
import { resolveModelDir } from '../model/default-model.js';
import { loadModelSpec } from '../model/model-spec.js';
import { runEmbedded, type RunSummary } from '../embedded/embedded-run.js';
import { countSkillsBeforeCrawl } from '../producer/create-source.js';
import { ERROR_CODES, IndexerError } from '../shared/errors.js';
import { redactUrl } from '../shared/redact.js';
import type { Logger } from 'pino';
import { cpuBudget } from '../workers/cpu-budget.js';
import { intFlag, printJson } from './options.js';
import { createProgress } from './progress.js';
import { runExitStatus } from './run-exit-status.js';
import { onShutdown } from './shutdown.js';
import { sourcesFromArgs } from './source-args.js';

interface IndexFlags {
  sources?: string;
  db: string;
  model?: string;
  threads?: number;
  batchSize: number;
  maxFileBytes: number;
  json?: boolean;
  progress: boolean;
}

/** `skillsmith-index index <source...>`: the embedded pipeline in this process, no Redis. */
export function registerIndexCommand(program: Command, log: Logger): void {
  program
    .command('index')
    .argument(
      '[source...]',
      'folders, git URLs (git+https://…, git@…, file://…) or github:owner/repo[/path][@ref], github:owner',
    )
    .option(
      '--sources <file>',
      'a sources file (skillsmith.sources.yaml or .json) listing the sources to crawl',
    )
    .option('--db <path>', 'SQLite database to write', 'skills.db')
    .option(
      '--model <dir|name>',
      'Hugging Face-layout ONNX model folder, or a built-in model: use-lite-en-int8 (default) or use-lite-en (float32)',
    )
    .option(
      '--threads <n>',
      'CPU threads for inference (default: CPUs this process may use)',
      intFlag('threads', 1),
    )
    .option('--batch-size <n>', 'skills per embed task and write transaction', intFlag('batch-size', 1), 128)
    .option('--max-file-bytes <n>', 'skip files larger than this', intFlag('max-file-bytes', 1), 1024 * 1024)
    .option('--no-progress', 'no progress bar even on a TTY')
    .option('--json', 'print the run summary as one JSON object on stdout')
    .addHelpText(
      'after',
      `
Examples:
  skillsmith-index index ./skills --db skills.db
  skillsmith-index index git+https://example.com/team/skills.git github:anthropics/skills --json
  skillsmith-index index --sources skillsmith.sources.yaml --threads 2

Only changed skills are read, parsed and embedded; skills gone from a source crawled to the end are
tombstoned. Ctrl-C stops cleanly (exit 130); run the same command again to resume.
Exit codes (docs/errors.md): 0 done, 1 unexpected, 2 bad input or no source could be crawled,
3 database or disk, 5 model, 6 done but some sources failed, 7 already running, 130 interrupted.`,
    )
    .action(async (args: string[], flags: IndexFlags) => {
      const specs = sourcesFromArgs(args, flags.sources);
      if (specs.length === 0) {
        throw new IndexerError(
          ERROR_CODES.BAD_OPTION,
          'nothing to index: give a source (folder, git URL, github:…) or --sources FILE',
        );
      }
      // Signals are handled from here on, model build included: a stop asked for while the model builds is
      // honoured as soon as the run starts (it stops before crawling, and the run is marked interrupted).
      const controller = new AbortController();
      const disposeShutdown = onShutdown(log, () => controller.abort());
      const modelDir = await resolveModelDir(flags.model, { log: (m) => log.info(m) });
      const model = loadModelSpec(modelDir);
      const threads = flags.threads ?? cpuBudget();
      const progress = createProgress(flags.progress && !flags.json);
      // A cheap pre-walk (names only, no reads) gives the bar a total, hence an ETA.
      let total = 0;
      if (process.stderr.isTTY && flags.progress) {
        for (const s of specs) total += await countSkillsBeforeCrawl(s);
      }
      log.info(
        {
          sources: specs.map((s) => `${s.id}=${redactUrl(s.location)}`),
          db: flags.db,
          model: model.id,
          threads,
        },
        'index run starting',
      );
      let summary: RunSummary;
      try {
        summary = await runEmbedded({
          sources: specs,
          log: (msg, fields) => log.info(fields, msg),
          db: flags.db,
          model,
          threads,
          batchSize: flags.batchSize,
          maxFileBytes: flags.maxFileBytes,
          signal: controller.signal,
          onProgress: (p) => progress.update(p, total || undefined),
        });
      } finally {
        progress.stop();
        disposeShutdown();
      }
      if (flags.json) printJson(summary);
      else printHumanSummary(summary);
      process.exitCode = runExitStatus(summary);
    });
}

function printHumanSummary(s: RunSummary): void {
  const c = s.counts;
  const secs = s.durationMs / 1000;
  const lines = [
    `run ${s.runId} ${s.status} in ${secs.toFixed(1)} s → ${s.db}`,
    `  model     ${s.model.id} (dim ${s.model.dim})`,
    `  seen      ${c.seen} skills (${(c.seen / Math.max(secs, 1e-3)).toFixed(1)}/s)`,
    `  indexed   ${c.indexed} (${c.warnings} with warnings)`,
    `  unchanged ${c.unchanged}${c.reembedded ? ` (${c.reembedded} re-embedded)` : ''}`,
    `  failed    ${c.failed} (reasons in index_errors, run ${s.runId})`,
    `  removed   ${c.removed}`,
    `  embedded  ${c.embedded} texts (${(c.embedded / Math.max(secs, 1e-3)).toFixed(1)}/s)`,
  ];
  for (const f of s.failedSources) lines.push(`  source ${f.id} FAILED: ${f.message}`);
  if (s.status === 'interrupted') lines.push('  interrupted: run the same command again to resume');
  process.stderr.write(`${lines.join('\n')}\n`);
}
