#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { IndexerError } from '../shared/errors.js';
import { createLogger } from '../shared/logger.js';
import { redactUrl } from '../shared/redact.js';
import { printJson } from './options.js';
import { registerIndexCommand } from './index-command.js';
import { registerSearchCommand } from './search-command.js';
import { registerPublishCommand } from './publish-command.js';
import { registerStatusCommand } from './status-command.js';
import { registerProduceCommand } from './produce-command.js';
import { registerWorkCommand, registerWriteCommand } from './role-commands.js';
import { registerDashboardCommand } from './dashboard-command.js';
import { registerScheduleCommand } from './schedule-command.js';
import { registerBackfillCommand } from './backfill-command.js';
import { registerFailedCommand } from './failed-command.js';

const log = createLogger();
const program = new Command('skillsmith-index')
  .description('Skillsmith indexer: crawl agent skills, embed them, write one SQLite file readers can query')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

registerIndexCommand(program, log);
registerSearchCommand(program);
registerPublishCommand(program);
registerStatusCommand(program);
registerProduceCommand(program, log);
registerWorkCommand(program, log);
registerWriteCommand(program, log);
registerScheduleCommand(program, log);
registerBackfillCommand(program, log);
registerFailedCommand(program);
registerDashboardCommand(program, log);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Commander already printed its one-line message (or the help) to stderr.
    process.exit(err.exitCode);
  }
  // `--json` promises one JSON object on stdout: a failure is one too, so a script never parses nothing.
  const json = process.argv.includes('--json');
  if (err instanceof IndexerError) {
    process.stderr.write(`skillsmith-index: ${err.message} [${err.code}]\n`);
    if (json) printJson({ error: { code: err.code, message: err.message } });
    process.exit(2);
  }
  log.error({ err }, 'unexpected failure');
  if (json)
    printJson({
      error: { code: 'E_UNEXPECTED', message: redactUrl(String((err as Error)?.message ?? err)) },
    });
  process.exit(1);
}
